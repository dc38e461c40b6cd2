"""Workflow ids: readable in the Temporal UI, derived only from opaque ids."""

from __future__ import annotations


def interaction_workflow_id(team_id: str, external_id: str) -> str:
    return f"interaction:{team_id}:{external_id}"


def escalation_workflow_id(team_id: str, external_id: str, trigger: str, seq: int = 1) -> str:
    """The ``seq``-th escalation of ``trigger`` on one interaction: each has a workflow id of its
    own (the first keeps the plain form), so raising a trigger again never collides with an
    earlier escalation that is still finishing."""
    base = f"escalation:{team_id}:{external_id}:{trigger}"
    return base if seq == 1 else f"{base}:{seq}"


def absence_workflow_id(absence_id: str) -> str:
    return f"absence:{absence_id}"


def checkin_workflow_id(team_id: str) -> str:
    return f"checkin:{team_id}"


def group_workflow_id(team_id: str, recipient_id: str) -> str:
    """The notification grouping workflow of one recipient in one team (docs/rules.md §2.8)."""
    return f"notify:{team_id}:{recipient_id}"


# The task queue of the escalations a case starts: the case's queue with this suffix. Served by
# the same worker process with a sticky cache of its own (workers.main.build_worker), so the
# escalations started at 17:00 do not push the cases out of the cache (docs/architecture.md §3.6).
ESCALATION_QUEUE_SUFFIX = "-escalations"


def escalation_task_queue(case_queue: str) -> str:
    """The task queue of the escalations started by the cases of ``case_queue``."""
    return case_queue + ESCALATION_QUEUE_SUFFIX


def case_task_queue(queue: str) -> str:
    """The cases' task queue for ``queue``, which may be their escalations' queue: the queue the
    long-lived workflows an activity starts (a recipient's grouping) belong on."""
    return queue.removesuffix(ESCALATION_QUEUE_SUFFIX)
