"""Temporal workflows: one module per workflow."""

from workflows.escalation import EscalationWorkflow
from workflows.interaction import InteractionWorkflow

ALL_WORKFLOWS: list[type] = [InteractionWorkflow, EscalationWorkflow]

__all__ = ["ALL_WORKFLOWS", "EscalationWorkflow", "InteractionWorkflow"]
