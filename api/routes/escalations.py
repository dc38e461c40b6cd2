"""Escalations: the list leads work from, acknowledge, documented resolve, reassign."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api import presenters
from api.deps import PrincipalDep, SessionDep, TemporalDep
from api.schemas import (
    AcknowledgeCreate,
    EscalationAssignCreate,
    EscalationPublic,
    EscalationResolveCreate,
    Page,
)
from domain.errors import Invalid
from domain.models import TRIGGERS
from services import access, escalations as service
from services.common import parse_statuses
from store import repositories as repo

router = APIRouter(prefix="/v1/escalations", tags=["escalations"])

STATUSES = ("open", "acknowledged", "resolved")
UNRESOLVED = ("open", "acknowledged")


@router.get("")
def list_escalations(
    principal: PrincipalDep,
    session: SessionDep,
    team_id: str | None = None,
    status: Annotated[str | None, Query(description="comma-separated; default: open,acknowledged")] = None,
    trigger: str | None = None,
    interaction_id: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page[EscalationPublic]:
    """Escalations ordered by severity (safety first), then age (oldest first)."""
    statuses = parse_statuses(status, STATUSES, UNRESOLVED)
    if trigger is not None and trigger not in TRIGGERS:
        raise Invalid(f"unknown trigger {trigger!r}; expected one of {', '.join(TRIGGERS)}")
    team_ids = principal.team_scope(team_id)
    try:
        rows, next_cursor = repo.list_escalations(
            session,
            repo.EscalationFilter(
                team_id=team_id,
                team_ids=team_ids,
                statuses=statuses,
                trigger=trigger,
                interaction_id=interaction_id,
            ),
            cursor=cursor,
            limit=limit,
        )
    except repo.BadCursor as err:
        raise Invalid(str(err)) from err
    return Page(items=presenters.escalations(session, rows), next_cursor=next_cursor)


@router.get("/{escalation_id}")
def get_escalation(escalation_id: str, principal: PrincipalDep, session: SessionDep) -> EscalationPublic:
    """One escalation with its level history (``notified``) and timeline."""
    row = service.require_escalation(session, escalation_id)
    principal.require(principal.can_read_team(row.team_id), "not a member of this escalation's team")
    return presenters.escalation_detail(session, row)


@router.post("/{escalation_id}/acknowledge")
async def acknowledge(
    escalation_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    client: TemporalDep,
    body: AcknowledgeCreate | None = None,
) -> EscalationPublic:
    """Take the escalation: the ladder stops, the resolve timer starts."""
    row = service.require_escalation(session, escalation_id)
    access.require_escalation_actor(principal, row, owner_may=False)
    row = await service.acknowledge(session, client, row, principal, note=body.note if body else None)
    return presenters.escalation_detail(session, row)


@router.post("/{escalation_id}/resolve")
async def resolve(
    escalation_id: str,
    body: EscalationResolveCreate,
    principal: PrincipalDep,
    session: SessionDep,
    client: TemporalDep,
) -> EscalationPublic:
    """Close the escalation with what was done (``action_taken``) and how it ended (``outcome``)."""
    row = service.require_escalation(session, escalation_id)
    access.require_escalation_actor(principal, row, owner_may=True)
    row = await service.resolve(
        session, client, row, principal, action_taken=body.action_taken, outcome=body.outcome
    )
    return presenters.escalation_detail(session, row)


@router.post("/{escalation_id}/assign")
async def assign(
    escalation_id: str,
    body: EscalationAssignCreate,
    principal: PrincipalDep,
    session: SessionDep,
    client: TemporalDep,
) -> EscalationPublic:
    """Hand the escalation to another staff member of the team (lead/manager)."""
    row = service.require_escalation(session, escalation_id)
    access.require_escalation_assigner(principal, row.team_id)
    row = await service.assign(session, client, row, principal, owner_id=body.owner_id, reason=body.reason)
    return presenters.escalation_detail(session, row)
