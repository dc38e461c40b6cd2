"""Interactions: start, read the queue, and act (attempts, flags, assign, resolve)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy.orm import Session

from api import errors, service
from api.deps import Principal, PrincipalDep, SessionDep, SettingsDep, TemporalDep
from api.schemas import (
    AssignCreate,
    AttemptCreate,
    FlagCreate,
    InteractionCreate,
    InteractionPublic,
    Page,
    ResolveCreate,
)
from domain.messages import AssignInput, AttemptInput, FlagInput, ResolveInput
from store import repositories as repo
from store.db import committing
from store.models import Attempt, Interaction

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
    principal.require(principal.role == "system", "only backend systems start interactions")
    row, created = await service.create_interaction(session, client, settings, body)
    if not created:
        response.status_code = 200
    return service.to_public(session, [row])[0]


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
    statuses = errors.parse_statuses(status, STATUSES, ACTIVE)
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
        raise errors.invalid(str(err)) from err
    return Page(items=service.to_public(session, rows), next_cursor=next_cursor)


@router.get("/{interaction_id}")
def get_interaction(interaction_id: str, principal: PrincipalDep, session: SessionDep) -> InteractionPublic:
    row = service.require_interaction(session, interaction_id)
    principal.require(principal.can_read_team(row.team_id), "not a member of this interaction's team")
    return service.to_public(session, [row], with_timeline=True)[0]


def _require_actor(principal: Principal, row: Interaction) -> None:
    """CHWs act only on interactions assigned to them; leads and managers on their team's."""
    if principal.is_team_lead(row.team_id):
        return
    if principal.role == "chw" and principal.staff_id is not None and principal.staff_id == row.assignee_id:
        return
    if principal.role == "chw":
        raise errors.forbidden("a CHW acts only on interactions assigned to them")
    if principal.role in ("lead", "manager"):
        raise errors.forbidden("leads and managers act only on their own team's interactions")
    raise errors.forbidden(f"role '{principal.role}' may not act on interactions")


@router.post("/{interaction_id}/attempts")
async def record_attempt(
    interaction_id: str,
    body: AttemptCreate,
    principal: PrincipalDep,
    session: SessionDep,
    client: TemporalDep,
) -> InteractionPublic:
    row = service.require_interaction(session, interaction_id)
    _require_actor(principal, row)
    attempt_id = uuid.uuid4().hex
    await service.run_update(
        client,
        row,
        "record_attempt",
        AttemptInput(attempt_id=attempt_id, outcome=body.outcome, staff_id=principal.actor_id),
        update_id=f"attempt-{attempt_id}",
    )
    if body.note:
        with committing(session):
            attempt = session.get(Attempt, attempt_id)
            if attempt is not None:
                attempt.note = body.note
    return _fresh(session, interaction_id)


@router.post("/{interaction_id}/flags")
async def flag_interaction(
    interaction_id: str, body: FlagCreate, principal: PrincipalDep, session: SessionDep, client: TemporalDep
) -> InteractionPublic:
    row = service.require_interaction(session, interaction_id)
    _require_actor(principal, row)
    flag_id = uuid.uuid4().hex
    await service.run_update(
        client, row, "flag", FlagInput(flag=body.flag, flag_id=flag_id, staff_id=principal.actor_id)
    )
    if body.note:
        with committing(session):
            repo.add_note(
                session,
                key=f"note:flag:{flag_id}",
                interaction_id=interaction_id,
                kind="flag_note",
                actor_id=principal.actor_id,
                note=body.note,
                details={"flag": body.flag},
            )
    return _fresh(session, interaction_id)


@router.post("/{interaction_id}/assign")
async def assign_interaction(
    interaction_id: str, body: AssignCreate, principal: PrincipalDep, session: SessionDep, client: TemporalDep
) -> InteractionPublic:
    """Reassign (lead/manager of the team); ``assignee_id: null`` sends it to the unassigned queue."""
    row = service.require_interaction(session, interaction_id)
    principal.require(principal.is_team_lead(row.team_id), "only a lead or manager of the team may assign")
    if body.assignee_id is not None:
        staff = repo.get_staff(session, body.assignee_id)
        if staff is None or staff.team_id != row.team_id:
            raise errors.invalid(f"unknown staff '{body.assignee_id}' in team '{row.team_id}'")
    await service.run_update(
        client, row, "assign", AssignInput(assignee_id=body.assignee_id, actor_id=principal.actor_id)
    )
    if body.reason.strip():
        with committing(session):
            repo.add_note(
                session,
                key=f"note:assign:{uuid.uuid4().hex}",
                interaction_id=interaction_id,
                kind="assign_reason",
                actor_id=principal.actor_id,
                note=body.reason,
                details={"to": body.assignee_id},
            )
    return _fresh(session, interaction_id)


@router.post("/{interaction_id}/resolve")
async def resolve_interaction(
    interaction_id: str,
    body: ResolveCreate,
    principal: PrincipalDep,
    session: SessionDep,
    client: TemporalDep,
) -> InteractionPublic:
    row = service.require_interaction(session, interaction_id)
    _require_actor(principal, row)
    await service.run_update(client, row, "resolve", ResolveInput(actor_id=principal.actor_id))
    with committing(session):
        fresh = service.require_interaction(session, interaction_id)
        fresh.resolution = body.resolution
    return _fresh(session, interaction_id)


def _fresh(session: Session, interaction_id: str) -> InteractionPublic:
    session.expire_all()
    return service.to_public(
        session, [service.require_interaction(session, interaction_id)], with_timeline=True
    )[0]
