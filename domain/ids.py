"""Workflow ids: readable in the Temporal UI, derived only from opaque ids."""

from __future__ import annotations


def interaction_workflow_id(team_id: str, external_id: str) -> str:
    return f"interaction:{team_id}:{external_id}"


def escalation_workflow_id(team_id: str, external_id: str, trigger: str) -> str:
    return f"escalation:{team_id}:{external_id}:{trigger}"


def absence_workflow_id(absence_id: str) -> str:
    return f"absence:{absence_id}"


def checkin_workflow_id(team_id: str) -> str:
    return f"checkin:{team_id}"
