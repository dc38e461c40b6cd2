"""Temporal workflows: one module per workflow."""

from workflows.absence import AbsenceWorkflow
from workflows.checkin import CheckinWorkflow
from workflows.escalation import EscalationWorkflow
from workflows.interaction import InteractionWorkflow

ALL_WORKFLOWS: list[type] = [InteractionWorkflow, EscalationWorkflow, AbsenceWorkflow, CheckinWorkflow]

__all__ = ["ALL_WORKFLOWS", "AbsenceWorkflow", "CheckinWorkflow", "EscalationWorkflow", "InteractionWorkflow"]
