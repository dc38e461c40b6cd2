"""Absences: plan coverage when staff are out of office (SPEC 2.5, 4.3).

Who may do what: a lead or manager manages the absences of their own team; a CHW may add,
change and cancel their own; ops and the system read everything and the system acts too.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from api import coverage, errors
from api.deps import Principal, PrincipalDep, SessionDep, SettingsDep, TemporalDep
from api.schemas import AbsenceCreate, AbsencePublic, AbsenceUpdate, Page
from store import repositories as repo
from store.models import Absence

router = APIRouter(prefix="/v1/absences", tags=["absences"])

AbsenceId = Annotated[str, Path(max_length=64)]


def _may_manage(principal: Principal, *, team_id: str, staff_id: str) -> bool:
    if principal.role == "system" or principal.is_team_lead(team_id):
        return True
    return principal.role == "chw" and principal.staff_id == staff_id


def _require_manage(principal: Principal, row: Absence) -> None:
    principal.require(
        _may_manage(principal, team_id=row.team_id, staff_id=row.staff_id),
        "only the absent CHW, or a lead or manager of their team, may change this absence",
    )


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
    staff = coverage.require_staff(session, body.staff_id)
    principal.require(
        _may_manage(principal, team_id=staff.team_id, staff_id=staff.id),
        "a CHW plans only their own absences; leads and managers those of their own team",
    )
    row = await coverage.create_absence(session, client, settings, body, actor_id=principal.actor_id)
    return coverage.to_public(session, [row])[0]


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
    statuses = errors.parse_statuses(status, repo.ABSENCE_STATUSES, repo.ABSENCE_PENDING)
    team_ids = principal.team_scope(team_id)
    try:
        rows, next_cursor = repo.list_absences(
            session,
            repo.AbsenceFilter(team_id=team_id, team_ids=team_ids, staff_id=staff_id, statuses=statuses),
            cursor=cursor,
            limit=limit,
        )
    except repo.BadCursor as err:
        raise errors.invalid(str(err)) from err
    return Page(items=coverage.to_public(session, rows), next_cursor=next_cursor)


@router.get("/{absence_id}")
def get_absence(absence_id: AbsenceId, principal: PrincipalDep, session: SessionDep) -> AbsencePublic:
    row = coverage.require_absence(session, absence_id)
    principal.require(principal.can_read_team(row.team_id), "not a member of this absence's team")
    return coverage.to_public(session, [row], with_timeline=True)[0]


@router.patch("/{absence_id}")
async def change_absence(
    absence_id: AbsenceId,
    body: AbsenceUpdate,
    principal: PrincipalDep,
    session: SessionDep,
    client: TemporalDep,
) -> AbsencePublic:
    """Extend or shorten (``ends_at``) while the absence is scheduled or active."""
    row = coverage.require_absence(session, absence_id)
    _require_manage(principal, row)
    row = await coverage.change_absence_end(session, client, row, body.ends_at, actor_id=principal.actor_id)
    return coverage.to_public(session, [row], with_timeline=True)[0]


@router.post("/{absence_id}/cancel")
async def cancel_absence(
    absence_id: AbsenceId, principal: PrincipalDep, session: SessionDep, client: TemporalDep
) -> AbsencePublic:
    """Call the absence off; an active one hands the cases it moved back before this answers."""
    row = coverage.require_absence(session, absence_id)
    _require_manage(principal, row)
    row = await coverage.cancel_absence(session, client, row, actor_id=principal.actor_id)
    return coverage.to_public(session, [row], with_timeline=True)[0]
