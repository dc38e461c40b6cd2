"""Interactions: start, read the queue, and act (attempts, flags, assign, resolve)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from api import presenters
from api.deps import PrincipalDep, SessionDep, SettingsDep, TemporalDep
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
from services import access, interactions as service
from services.common import parse_statuses
from store import repositories as repo

router = APIRouter(prefix="/v1/interactions", tags=["interactions"])

STATUSES = ("open", "attempting", "escalated", "resolved")
ACTIVE = ("open", "attempting", "escalated")


@router.post("", status_code=201)
async def create_interaction(
    body: InteractionCreate,
    response: Response,
    principal: PrincipalDep,
    session: SessionDep,
    client: TemporalDep,
    settings: SettingsDep,
) -> InteractionPublic:
    """Start one interaction per missed call, voicemail or text; idempotent on (team, external_id)."""
    access.require_interaction_starter(principal)
    row, created = await service.create_interaction(session, client, settings, body)
    if not created:
        response.status_code = 200
    return presenters.interactions(session, [row])[0]


@router.get("")
def list_interactions(
    principal: PrincipalDep,
    session: SessionDep,
    team_id: str | None = None,
    assignee_id: str | None = None,
    status: Annotated[str | None, Query(description="comma-separated; default: all not resolved")] = None,
    overdue: bool | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page[InteractionPublic]:
    """The queue, ordered by ``due_at``; ``assignee_id=unassigned`` is the unassigned queue."""
    statuses = parse_statuses(status, STATUSES, ACTIVE)
    team_ids = principal.team_scope(team_id)
    try:
        rows, next_cursor = repo.list_interactions(
            session,
            repo.InteractionFilter(
                team_id=team_id,
                team_ids=team_ids,
                assignee_id=assignee_id,
                statuses=statuses,
                overdue=overdue,
            ),
            cursor=cursor,
            limit=limit,
        )
    except repo.BadCursor as err:
        raise Invalid(str(err)) from err
    return Page(items=presenters.interactions(session, rows), next_cursor=next_cursor)


@router.get("/{interaction_id}")
def get_interaction(interaction_id: str, principal: PrincipalDep, session: SessionDep) -> InteractionPublic:
    row = service.require_interaction(session, interaction_id)
    principal.require(principal.can_read_team(row.team_id), "not a member of this interaction's team")
    return presenters.interaction(session, row)


@router.post("/{interaction_id}/attempts")
async def record_attempt(
    interaction_id: str,
    body: AttemptCreate,
    principal: PrincipalDep,
    session: SessionDep,
    client: TemporalDep,
) -> InteractionPublic:
    row = service.require_interaction(session, interaction_id)
    access.require_interaction_actor(principal, row)
    row = await service.record_attempt(
        session, client, row, outcome=body.outcome, note=body.note, actor_id=principal.actor_id
    )
    return presenters.interaction(session, row)


@router.post("/{interaction_id}/flags")
async def flag_interaction(
    interaction_id: str, body: FlagCreate, principal: PrincipalDep, session: SessionDep, client: TemporalDep
) -> InteractionPublic:
    row = service.require_interaction(session, interaction_id)
    access.require_interaction_actor(principal, row)
    row = await service.flag(
        session, client, row, flag=body.flag, note=body.note, actor_id=principal.actor_id
    )
    return presenters.interaction(session, row)


@router.post("/{interaction_id}/assign")
async def assign_interaction(
    interaction_id: str, body: AssignCreate, principal: PrincipalDep, session: SessionDep, client: TemporalDep
) -> InteractionPublic:
    """Reassign (lead/manager of the team); ``assignee_id: null`` sends it to the unassigned queue."""
    row = service.require_interaction(session, interaction_id)
    access.require_assigner(principal, row.team_id)
    row = await service.assign(
        session, client, row, assignee_id=body.assignee_id, reason=body.reason, actor_id=principal.actor_id
    )
    return presenters.interaction(session, row)


@router.post("/{interaction_id}/resolve")
async def resolve_interaction(
    interaction_id: str,
    body: ResolveCreate,
    principal: PrincipalDep,
    session: SessionDep,
    client: TemporalDep,
) -> InteractionPublic:
    row = service.require_interaction(session, interaction_id)
    access.require_interaction_actor(principal, row)
    row = await service.resolve(session, client, row, resolution=body.resolution, actor_id=principal.actor_id)
    return presenters.interaction(session, row)
