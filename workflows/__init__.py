"""Temporal workflows: one module per workflow."""

from workflows.absence import AbsenceWorkflow
from workflows.checkin import CheckinWorkflow
from workflows.escalation import EscalationWorkflow
from workflows.interaction import InteractionWorkflow
from workflows.notification_group import NotificationGroupWorkflow

ALL_WORKFLOWS: list[type] = [
    InteractionWorkflow,
    EscalationWorkflow,
    AbsenceWorkflow,
    CheckinWorkflow,
    NotificationGroupWorkflow,
]

__all__ = [
    "ALL_WORKFLOWS",
    "AbsenceWorkflow",
    "CheckinWorkflow",
    "EscalationWorkflow",
    "InteractionWorkflow",
    "NotificationGroupWorkflow",
]
