"""Inputs, handler arguments and state of the workflows.

Everything here crosses the Temporal boundary and so lands in workflow histories: ids,
enums and times only. Member text (summaries, notes, resolutions) never appears here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from domain.models import CalendarSnapshot, Channel, EscalationRule, Flag, Outcome, Policy, Trigger

InteractionStatus = Literal["open", "attempting", "escalated", "resolved"]
NotificationKind = Literal["due_soon", "retry_due", "escalation", "assigned", "unassigned", "digest"]


class _Message(BaseModel):
    model_config = ConfigDict(frozen=False, extra="forbid")


class AttemptRecord(_Message):
    attempt_id: str
    seq: int
    outcome: Outcome
    staff_id: str | None
    at: AwareDatetime


class InteractionState(_Message):
    """The state a workflow owns; the ``state`` query returns it (ids only)."""

    interaction_id: str
    team_id: str
    channel: Channel
    received_at: AwareDatetime
    status: InteractionStatus = "open"
    assignee_id: str | None = None
    # owner | absence:{id} | lead:{staff_id} | unassigned — hand-back reverts only its own.
    assignment_source: str = "owner"
    due_at: AwareDatetime
    urgent: bool = False
    flags: list[Flag] = Field(default_factory=list)
    first_response_at: AwareDatetime | None = None
    attempts: list[AttemptRecord] = Field(default_factory=list)
    unsuccessful_attempts: int = 0
    next_retry_at: AwareDatetime | None = None
    retry_reminded_seq: int = 0
    due_soon_sent_for: AwareDatetime | None = None
    overdue: bool = False
    unreachable: bool = False
    triggers: list[Trigger] = Field(default_factory=list)
    open_escalations: list[str] = Field(default_factory=list)
    resolved_at: AwareDatetime | None = None
    resolved_by: str | None = None
    # Bumped on every change so the SQL projection ignores stale writes.
    version: int = 0


class InteractionInput(_Message):
    """What the API hands a new InteractionWorkflow: ids, enums, times and a calendar snapshot."""

    interaction_id: str
    team_id: str
    external_id: str
    member_id: str
    channel: Channel
    received_at: AwareDatetime
    urgent: bool = False
    flags: list[Flag] = Field(default_factory=list)
    assignee_id: str | None = None
    assignment_source: str = "owner"
    calendar: CalendarSnapshot
    policy: Policy = Field(default_factory=Policy)
    escalation_matrix: dict[Trigger, EscalationRule] = Field(default_factory=dict)
    matrix_version: int = 1
    # Set on continue-as-new: the state carried over.
    carried_state: InteractionState | None = None


class AttemptInput(_Message):
    attempt_id: str
    outcome: Outcome
    staff_id: str | None = None


class FlagInput(_Message):
    flag: Flag
    flag_id: str
    staff_id: str | None = None


class AssignInput(_Message):
    """Reassign (lead/manager); ``assignee_id`` None sends the case to the unassigned queue."""

    assignee_id: str | None
    reason: str = ""
    actor_id: str | None = None


class ResolveInput(_Message):
    actor_id: str | None = None


class TimelineEntry(_Message):
    """One audit line: ``key`` makes it idempotent (workflow id + step)."""

    key: str
    kind: str
    at: AwareDatetime
    actor_id: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class InteractionProjection(_Message):
    """The projection activity's input: current state plus the new timeline lines."""

    workflow_id: str
    external_id: str
    member_id: str
    state: InteractionState
    events: list[TimelineEntry] = Field(default_factory=list)


class NotificationRequest(_Message):
    """One notice to write to the outbox; a role fans out to every staff member with it."""

    key: str
    team_id: str
    kind: NotificationKind
    recipient_id: str | None = None
    recipient_role: Literal["lead", "manager"] | None = None
    interaction_id: str | None = None
    escalation_id: str | None = None
    trigger: Trigger | None = None
    details: dict[str, Any] = Field(default_factory=dict)


def iso(dt: datetime) -> str:
    return dt.isoformat()
