"""Absences: plan coverage when staff are out of office.

Who may do what: a lead or manager manages the absences of their own team; a CHW may add,
change and cancel their own; ops and the system read everything and the system acts too.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from api import presenters
from api.deps import PrincipalDep, SessionDep, SettingsDep, TemporalDep
from api.schemas import AbsenceCreate, AbsencePublic, AbsenceUpdate, Page
from domain.errors import Invalid
from services import absences as service, access
from services.common import parse_statuses
from services.teams import require_staff
from store import repositories as repo

router = APIRouter(prefix="/v1/absences", tags=["absences"])

AbsenceId = Annotated[str, Path(max_length=64)]


@router.post("", status_code=201)
async def create_absence(
    body: AbsenceCreate,
    principal: PrincipalDep,
    session: SessionDep,
    client: TemporalDep,
    settings: SettingsDep,
) -> AbsencePublic:
    """Plan an absence: at ``starts_at`` the CHW's open cases move to the backup (or the unassigned queue)."""
    principal.require(principal.role != "ops", "ops read absences but do not plan them")
    staff = require_staff(session, body.staff_id)
    access.require_absence_planner(principal, team_id=staff.team_id, staff_id=staff.id)
    row = await service.create_absence(session, client, settings, body, actor_id=principal.actor_id)
    return presenters.absences(session, [row])[0]


@router.get("")
def list_absences(
    principal: PrincipalDep,
    session: SessionDep,
    team_id: str | None = None,
    staff_id: str | None = None,
    status: Annotated[str | None, Query(description="comma-separated; default: scheduled,active")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page[AbsencePublic]:
    """Absences ordered by ``starts_at``; staff see their own team's."""
    statuses = parse_statuses(status, repo.ABSENCE_STATUSES, repo.ABSENCE_PENDING)
    team_ids = principal.team_scope(team_id)
    try:
        rows, next_cursor = repo.list_absences(
            session,
            repo.AbsenceFilter(team_id=team_id, team_ids=team_ids, staff_id=staff_id, statuses=statuses),
            cursor=cursor,
            limit=limit,
        )
    except repo.BadCursor as err:
        raise Invalid(str(err)) from err
    return Page(items=presenters.absences(session, rows), next_cursor=next_cursor)


@router.get("/{absence_id}")
def get_absence(absence_id: AbsenceId, principal: PrincipalDep, session: SessionDep) -> AbsencePublic:
    row = service.require_absence(session, absence_id)
    principal.require(principal.can_read_team(row.team_id), "not a member of this absence's team")
    return presenters.absence(session, row)


@router.patch("/{absence_id}")
async def change_absence(
    absence_id: AbsenceId,
    body: AbsenceUpdate,
    principal: PrincipalDep,
    session: SessionDep,
    client: TemporalDep,
) -> AbsencePublic:
    """Extend or shorten (``ends_at``) while the absence is scheduled or active."""
    row = service.require_absence(session, absence_id)
    access.require_absence_manager(principal, row)
    row = await service.change_absence_end(session, client, row, body.ends_at, actor_id=principal.actor_id)
    return presenters.absence(session, row)


@router.post("/{absence_id}/cancel")
async def cancel_absence(
    absence_id: AbsenceId, principal: PrincipalDep, session: SessionDep, client: TemporalDep
) -> AbsencePublic:
    """Call the absence off; an active one hands the cases it moved back before this answers."""
    row = service.require_absence(session, absence_id)
    access.require_absence_manager(principal, row)
    row = await service.cancel_absence(session, client, row, actor_id=principal.actor_id)
    return presenters.absence(session, row)
