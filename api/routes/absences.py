"""Absences: plan coverage when staff are out of office.

Who may do what: a lead or manager manages the absences of their own team; a CHW may add,
change and cancel their own; ops and the system read everything and the system acts too.
Each route parses, calls one method of ``services.absences.Absences`` and answers.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from api.deps import AbsencesDep, OperationDep, PrincipalDep
from api.idempotency import answer
from services.public import AbsenceCreate, AbsencePublic, AbsenceUpdate, Page

router = APIRouter(prefix="/v1/absences", tags=["absences"])

AbsenceId = Annotated[str, Path(max_length=64)]


@router.post("", status_code=201, response_model=AbsencePublic)
async def create_absence(
    body: AbsenceCreate, principal: PrincipalDep, absences: AbsencesDep, op: OperationDep
) -> JSONResponse:
    """Plan an absence: at ``starts_at`` the CHW's open cases move to the backup (or the unassigned queue)."""
    return answer(await absences.create(principal, body, op))


@router.get("")
async def list_absences(
    principal: PrincipalDep,
    absences: AbsencesDep,
    team_id: str | None = None,
    staff_id: str | None = None,
    status: Annotated[str | None, Query(description="comma-separated; default: scheduled,active")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page[AbsencePublic]:
    """Absences ordered by ``starts_at``; staff see their own team's."""
    return await absences.page(
        principal, team_id=team_id, staff_id=staff_id, status=status, cursor=cursor, limit=limit
    )


@router.get("/{absence_id}")
async def get_absence(absence_id: AbsenceId, principal: PrincipalDep, absences: AbsencesDep) -> AbsencePublic:
    return await absences.get(principal, absence_id)


@router.patch("/{absence_id}", response_model=AbsencePublic)
async def change_absence(
    absence_id: AbsenceId,
    body: AbsenceUpdate,
    principal: PrincipalDep,
    absences: AbsencesDep,
    op: OperationDep,
) -> JSONResponse:
    """Extend or shorten (``ends_at``) while the absence is scheduled or active."""
    return answer(await absences.change_end(principal, absence_id, body, op))


@router.post("/{absence_id}/cancel", response_model=AbsencePublic)
async def cancel_absence(
    absence_id: AbsenceId, principal: PrincipalDep, absences: AbsencesDep, op: OperationDep
) -> JSONResponse:
    """Call the absence off; an active one hands the cases it moved back before this answers."""
    return answer(await absences.cancel(principal, absence_id, op))
