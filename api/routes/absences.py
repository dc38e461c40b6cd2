"""Absences: plan coverage when staff are out of office.

Who may do what: a lead or manager manages the absences of their own team; a CHW may add,
change and cancel their own; ops and the system read everything and the system acts too.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from api import idempotency
from api.deps import DbDep, IdempotencyKeyDep, PrincipalDep, SettingsDep, TemporalDep
from domain.errors import Invalid
from domain.messages import ABSENCE_STATUSES, PENDING_ABSENCE_STATUSES
from services import absences as service, access, presenters
from services.common import parse_statuses
from services.public import AbsenceCreate, AbsencePublic, AbsenceUpdate, Page
from store import repositories as repo

router = APIRouter(prefix="/v1/absences", tags=["absences"])

AbsenceId = Annotated[str, Path(max_length=64)]


@router.post("", status_code=201, response_model=AbsencePublic)
async def create_absence(
    body: AbsenceCreate,
    request: Request,
    principal: PrincipalDep,
    db: DbDep,
    client: TemporalDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKeyDep = None,
) -> JSONResponse:
    """Plan an absence: at ``starts_at`` the CHW's open cases move to the backup (or the unassigned queue)."""
    # Who may plan it is checked before the id is looked up (one answer for another team's ids).
    await db.run(service.planned_staff, principal, body.staff_id)

    async def act(key: str) -> AbsencePublic:
        row = await service.create_absence(db, client, settings, body, actor_id=principal.actor_id, key=key)
        return (await db.read(presenters.absences, [row]))[0]

    return await idempotency.once(db, request, principal, idempotency_key, body, act, status_code=201)


@router.get("")
async def list_absences(
    principal: PrincipalDep,
    db: DbDep,
    team_id: str | None = None,
    staff_id: str | None = None,
    status: Annotated[str | None, Query(description="comma-separated; default: scheduled,active")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page[AbsencePublic]:
    """Absences ordered by ``starts_at``; staff see their own team's."""
    statuses = parse_statuses(status, ABSENCE_STATUSES, PENDING_ABSENCE_STATUSES)
    where = repo.AbsenceFilter(
        team_id=team_id, team_ids=principal.team_scope(team_id), staff_id=staff_id, statuses=statuses
    )

    def page(session: Session) -> Page[AbsencePublic]:
        try:
            rows, next_cursor = repo.list_absences(session, where, cursor=cursor, limit=limit)
        except repo.BadCursor as err:
            raise Invalid(str(err)) from err
        return Page(items=presenters.absences(session, rows), next_cursor=next_cursor)

    return await db.read(page)


@router.get("/{absence_id}")
async def get_absence(absence_id: AbsenceId, principal: PrincipalDep, db: DbDep) -> AbsencePublic:
    row = await db.run(service.require_absence, absence_id)
    principal.require(principal.can_read_team(row.team_id), "not a member of this absence's team")
    return await db.read(presenters.absence, row)


@router.patch("/{absence_id}", response_model=AbsencePublic)
async def change_absence(
    absence_id: AbsenceId,
    body: AbsenceUpdate,
    request: Request,
    principal: PrincipalDep,
    db: DbDep,
    client: TemporalDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKeyDep = None,
) -> JSONResponse:
    """Extend or shorten (``ends_at``) while the absence is scheduled or active."""
    row = await db.run(service.require_absence, absence_id)
    access.require_absence_manager(principal, row)

    async def act(key: str) -> AbsencePublic:
        done = await service.change_absence_end(
            db, client, settings, row, body.ends_at, actor_id=principal.actor_id, key=key
        )
        return await db.read(presenters.absence, done)

    return await idempotency.once(db, request, principal, idempotency_key, body, act)


@router.post("/{absence_id}/cancel", response_model=AbsencePublic)
async def cancel_absence(
    absence_id: AbsenceId,
    request: Request,
    principal: PrincipalDep,
    db: DbDep,
    client: TemporalDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKeyDep = None,
) -> JSONResponse:
    """Call the absence off; an active one hands the cases it moved back before this answers."""
    row = await db.run(service.require_absence, absence_id)
    access.require_absence_manager(principal, row)

    async def act(key: str) -> AbsencePublic:
        done = await service.cancel_absence(db, client, settings, row, actor_id=principal.actor_id, key=key)
        return await db.read(presenters.absence, done)

    return await idempotency.once(db, request, principal, idempotency_key, None, act)
