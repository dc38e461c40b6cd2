"""Temporal workflows: one module per workflow."""

from workflows.interaction import InteractionWorkflow

ALL_WORKFLOWS: list[type] = [InteractionWorkflow]

__all__ = ["ALL_WORKFLOWS", "InteractionWorkflow"]
