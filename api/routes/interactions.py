"""Interactions: start, read the queue, and act (attempts, flags, assign, resolve)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from api import idempotency, presenters
from api.deps import DbDep, IdempotencyKeyDep, PrincipalDep, SettingsDep, TemporalDep
from api.schemas import (
    AssignCreate,
    AttemptCreate,
    FlagCreate,
    InteractionCreate,
    InteractionPublic,
    Page,
    ResolveCreate,
)
from domain.errors import Invalid
from domain.messages import ACTIVE_INTERACTION_STATUSES, INTERACTION_STATUSES
from services import access, interactions as service
from services.access import Principal
from services.common import parse_statuses
from services.db import Database
from store import repositories as repo
from store.models import Interaction

router = APIRouter(prefix="/v1/interactions", tags=["interactions"])


@router.post("", status_code=201, response_model=InteractionPublic)
async def create_interaction(
    body: InteractionCreate,
    principal: PrincipalDep,
    db: DbDep,
    client: TemporalDep,
    settings: SettingsDep,
) -> JSONResponse:
    """Start one interaction per missed call, voicemail or text; idempotent on (team, external_id)."""
    access.require_interaction_starter(principal)
    row, created = await service.create_interaction(db, client, settings, body)
    answer = await db.read(presenters.interaction_summary, row)
    return JSONResponse(answer.model_dump(mode="json"), status_code=201 if created else 200)


@router.get("")
async def list_interactions(
    principal: PrincipalDep,
    db: DbDep,
    team_id: str | None = None,
    assignee_id: str | None = None,
    status: Annotated[str | None, Query(description="comma-separated; default: all not resolved")] = None,
    overdue: bool | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page[InteractionPublic]:
    """The queue, ordered by ``due_at``; ``assignee_id=unassigned`` is the unassigned queue."""
    where = repo.InteractionFilter(
        team_id=team_id,
        team_ids=principal.team_scope(team_id),
        assignee_id=assignee_id,
        statuses=parse_statuses(status, INTERACTION_STATUSES, ACTIVE_INTERACTION_STATUSES),
        overdue=overdue,
    )

    def page(session: Session) -> Page[InteractionPublic]:
        try:
            rows, next_cursor = repo.list_interactions(session, where, cursor=cursor, limit=limit)
        except repo.BadCursor as err:
            raise Invalid(str(err)) from err
        return Page(items=presenters.interactions(session, rows), next_cursor=next_cursor)

    return await db.read(page)


@router.get("/{interaction_id}")
async def get_interaction(interaction_id: str, principal: PrincipalDep, db: DbDep) -> InteractionPublic:
    row = await db.run(service.require_interaction, interaction_id)
    principal.require(principal.can_read_team(row.team_id), "not a member of this interaction's team")
    return await db.read(presenters.interaction, row)


async def _acting(db: Database, principal: Principal, interaction_id: str) -> Interaction:
    row = await db.run(service.require_interaction, interaction_id)
    access.require_interaction_actor(principal, row)
    return row


@router.post("/{interaction_id}/attempts", response_model=InteractionPublic)
async def record_attempt(
    interaction_id: str,
    body: AttemptCreate,
    request: Request,
    principal: PrincipalDep,
    db: DbDep,
    client: TemporalDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKeyDep = None,
) -> JSONResponse:
    row = await _acting(db, principal, interaction_id)

    async def act(key: str) -> InteractionPublic:
        done = await service.record_attempt(
            db,
            client,
            settings,
            row,
            outcome=body.outcome,
            note=body.note,
            actor_id=principal.actor_id,
            key=key,
            override_reason=body.override_reason,
        )
        return await db.read(presenters.interaction, done)

    return await idempotency.once(db, request, principal, idempotency_key, body, act)


@router.post("/{interaction_id}/flags", response_model=InteractionPublic)
async def flag_interaction(
    interaction_id: str,
    body: FlagCreate,
    request: Request,
    principal: PrincipalDep,
    db: DbDep,
    client: TemporalDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKeyDep = None,
) -> JSONResponse:
    row = await _acting(db, principal, interaction_id)

    async def act(key: str) -> InteractionPublic:
        done = await service.flag(
            db, client, settings, row, flag=body.flag, note=body.note, actor_id=principal.actor_id, key=key
        )
        return await db.read(presenters.interaction, done)

    return await idempotency.once(db, request, principal, idempotency_key, body, act)


@router.post("/{interaction_id}/assign", response_model=InteractionPublic)
async def assign_interaction(
    interaction_id: str,
    body: AssignCreate,
    request: Request,
    principal: PrincipalDep,
    db: DbDep,
    client: TemporalDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKeyDep = None,
) -> JSONResponse:
    """Reassign (lead/manager of the team); ``assignee_id: null`` sends it to the unassigned queue."""
    row = await db.run(service.require_interaction, interaction_id)
    access.require_assigner(principal, row.team_id)

    async def act(key: str) -> InteractionPublic:
        done = await service.assign(
            db,
            client,
            settings,
            row,
            assignee_id=body.assignee_id,
            reason=body.reason,
            actor_id=principal.actor_id,
            key=key,
        )
        return await db.read(presenters.interaction, done)

    return await idempotency.once(db, request, principal, idempotency_key, body, act)


@router.post("/{interaction_id}/resolve", response_model=InteractionPublic)
async def resolve_interaction(
    interaction_id: str,
    body: ResolveCreate,
    request: Request,
    principal: PrincipalDep,
    db: DbDep,
    client: TemporalDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKeyDep = None,
) -> JSONResponse:
    row = await _acting(db, principal, interaction_id)

    async def act(key: str) -> InteractionPublic:
        done = await service.resolve(
            db, client, settings, row, resolution=body.resolution, actor_id=principal.actor_id, key=key
        )
        return await db.read(presenters.interaction, done)

    return await idempotency.once(db, request, principal, idempotency_key, body, act)
