"""The notices a case sends its assignee (or, from the unassigned queue, every lead)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Literal

from temporalio import workflow

from workflows.common import NOTIFY_OPTIONS

with workflow.unsafe.imports_passed_through():
    from activities.notifications import NotificationActivities
    from domain.messages import InteractionState, NotificationRequest

AssigneeNotice = Literal["assigned", "due_soon", "retry_due", "contacted_again"]


def assignee_notice(
    s: InteractionState,
    workflow_id: str,
    kind: AssigneeNotice,
    *,
    step: str,
    extra: dict[str, Any] | None = None,
) -> NotificationRequest:
    """Tell the assignee; a case in the unassigned queue tells every lead instead."""
    unassigned = s.assignee_id is None
    return NotificationRequest(
        key=f"{workflow_id}:{step}",
        team_id=s.team_id,
        kind="unassigned" if unassigned and kind == "assigned" else kind,
        recipient_id=s.assignee_id,
        recipient_role="lead" if unassigned else None,
        interaction_id=s.interaction_id,
        details={"due_at": s.due_at.isoformat(), **(extra or {})},
    )


def send_notice(req: NotificationRequest) -> Awaitable[int]:
    """The notify activity for ``req`` (the caller queues it: ``TimerLoop._in_background``)."""
    return workflow.execute_activity_method(
        NotificationActivities.notify, req, summary=f"notify {req.kind}", **NOTIFY_OPTIONS
    )
