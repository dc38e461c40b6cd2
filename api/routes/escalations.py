"""Escalations: the list leads work from, acknowledge, documented resolve, reassign.

Each route parses, calls one method of ``services.escalations.Escalations`` and answers.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from api.deps import EscalationsDep, OperationDep, PrincipalDep
from api.idempotency import answer
from services.public import (
    AcknowledgeCreate,
    EscalationAssignCreate,
    EscalationPublic,
    EscalationResolveCreate,
    Page,
)

router = APIRouter(prefix="/v1/escalations", tags=["escalations"])


@router.get("")
async def list_escalations(
    principal: PrincipalDep,
    escalations: EscalationsDep,
    team_id: str | None = None,
    status: Annotated[str | None, Query(description="comma-separated; default: open,acknowledged")] = None,
    trigger: str | None = None,
    interaction_id: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page[EscalationPublic]:
    """Escalations ordered by severity (safety first), then age (oldest first)."""
    return await escalations.page(
        principal,
        team_id=team_id,
        status=status,
        trigger=trigger,
        interaction_id=interaction_id,
        cursor=cursor,
        limit=limit,
    )


@router.get("/{escalation_id}")
async def get_escalation(
    escalation_id: str, principal: PrincipalDep, escalations: EscalationsDep
) -> EscalationPublic:
    """One escalation with its level history (``notified``) and timeline."""
    return await escalations.get(principal, escalation_id)


@router.post("/{escalation_id}/acknowledge", response_model=EscalationPublic)
async def acknowledge(
    escalation_id: str,
    principal: PrincipalDep,
    escalations: EscalationsDep,
    op: OperationDep,
    body: AcknowledgeCreate | None = None,
) -> JSONResponse:
    """Take the escalation: the ladder stops, the resolve timer starts."""
    return answer(await escalations.acknowledge(principal, escalation_id, body, op))


@router.post("/{escalation_id}/resolve", response_model=EscalationPublic)
async def resolve(
    escalation_id: str,
    body: EscalationResolveCreate,
    principal: PrincipalDep,
    escalations: EscalationsDep,
    op: OperationDep,
) -> JSONResponse:
    """Close the escalation with what was done (``action_taken``) and how it ended (``outcome``)."""
    return answer(await escalations.resolve(principal, escalation_id, body, op))


@router.post("/{escalation_id}/assign", response_model=EscalationPublic)
async def assign(
    escalation_id: str,
    body: EscalationAssignCreate,
    principal: PrincipalDep,
    escalations: EscalationsDep,
    op: OperationDep,
) -> JSONResponse:
    """Hand the escalation to another staff member of the team (lead/manager)."""
    return answer(await escalations.assign(principal, escalation_id, body, op))
