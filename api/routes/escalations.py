"""Escalations: the list leads work from, acknowledge, documented resolve, reassign."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from api import idempotency
from api.deps import DbDep, IdempotencyKeyDep, PrincipalDep, SettingsDep, TemporalDep
from domain.errors import Invalid
from domain.messages import ESCALATION_STATUSES, UNRESOLVED_ESCALATION_STATUSES
from domain.models import TRIGGERS
from services import access, escalations as service, presenters
from services.common import parse_statuses
from services.public import (
    AcknowledgeCreate,
    EscalationAssignCreate,
    EscalationPublic,
    EscalationResolveCreate,
    Page,
)
from store import repositories as repo

router = APIRouter(prefix="/v1/escalations", tags=["escalations"])


@router.get("")
async def list_escalations(
    principal: PrincipalDep,
    db: DbDep,
    team_id: str | None = None,
    status: Annotated[str | None, Query(description="comma-separated; default: open,acknowledged")] = None,
    trigger: str | None = None,
    interaction_id: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page[EscalationPublic]:
    """Escalations ordered by severity (safety first), then age (oldest first)."""
    statuses = parse_statuses(status, ESCALATION_STATUSES, UNRESOLVED_ESCALATION_STATUSES)
    if trigger is not None and trigger not in TRIGGERS:
        raise Invalid(f"unknown trigger {trigger!r}; expected one of {', '.join(TRIGGERS)}")
    where = repo.EscalationFilter(
        team_id=team_id,
        team_ids=principal.team_scope(team_id),
        statuses=statuses,
        trigger=trigger,
        interaction_id=interaction_id,
    )

    def page(session: Session) -> Page[EscalationPublic]:
        try:
            rows, next_cursor = repo.list_escalations(session, where, cursor=cursor, limit=limit)
        except repo.BadCursor as err:
            raise Invalid(str(err)) from err
        return Page(items=presenters.escalations(session, rows), next_cursor=next_cursor)

    return await db.read(page)


@router.get("/{escalation_id}")
async def get_escalation(escalation_id: str, principal: PrincipalDep, db: DbDep) -> EscalationPublic:
    """One escalation with its level history (``notified``) and timeline."""
    row = await db.run(service.require_escalation, escalation_id)
    principal.require(principal.can_read_team(row.team_id), "not a member of this escalation's team")
    return await db.read(presenters.escalation_detail, row)


@router.post("/{escalation_id}/acknowledge", response_model=EscalationPublic)
async def acknowledge(
    escalation_id: str,
    request: Request,
    principal: PrincipalDep,
    db: DbDep,
    client: TemporalDep,
    settings: SettingsDep,
    body: AcknowledgeCreate | None = None,
    idempotency_key: IdempotencyKeyDep = None,
) -> JSONResponse:
    """Take the escalation: the ladder stops, the resolve timer starts."""
    row = await db.run(service.require_escalation, escalation_id)
    access.require_escalation_actor(principal, row, owner_may=False)

    async def act(key: str) -> EscalationPublic:
        done = await service.acknowledge(
            db, client, settings, row, principal, note=body.note if body else None, key=key
        )
        return await db.read(presenters.escalation_detail, done)

    return await idempotency.once(db, request, principal, idempotency_key, body, act)


@router.post("/{escalation_id}/resolve", response_model=EscalationPublic)
async def resolve(
    escalation_id: str,
    body: EscalationResolveCreate,
    request: Request,
    principal: PrincipalDep,
    db: DbDep,
    client: TemporalDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKeyDep = None,
) -> JSONResponse:
    """Close the escalation with what was done (``action_taken``) and how it ended (``outcome``)."""
    row = await db.run(service.require_escalation, escalation_id)
    access.require_escalation_actor(principal, row, owner_may=True)

    async def act(key: str) -> EscalationPublic:
        done = await service.resolve(
            db,
            client,
            settings,
            row,
            principal,
            action_taken=body.action_taken,
            outcome=body.outcome,
            key=key,
        )
        return await db.read(presenters.escalation_detail, done)

    return await idempotency.once(db, request, principal, idempotency_key, body, act)


@router.post("/{escalation_id}/assign", response_model=EscalationPublic)
async def assign(
    escalation_id: str,
    body: EscalationAssignCreate,
    request: Request,
    principal: PrincipalDep,
    db: DbDep,
    client: TemporalDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKeyDep = None,
) -> JSONResponse:
    """Hand the escalation to another staff member of the team (lead/manager)."""
    row = await db.run(service.require_escalation, escalation_id)
    access.require_escalation_assigner(principal, row.team_id)

    async def act(key: str) -> EscalationPublic:
        done = await service.assign(
            db, client, settings, row, principal, owner_id=body.owner_id, reason=body.reason, key=key
        )
        return await db.read(presenters.escalation_detail, done)

    return await idempotency.once(db, request, principal, idempotency_key, body, act)
