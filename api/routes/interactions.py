"""Interactions: start, read the queue, and act (attempts, flags, assign, resolve).

Each route parses, calls one method of ``services.interactions.Interactions`` and answers.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from api.deps import InteractionsDep, OperationDep, PrincipalDep
from api.exports import cases_csv, wants_csv
from api.idempotency import answer
from services.public import (
    AssignCreate,
    AttemptCreate,
    FlagCreate,
    InteractionCreate,
    InteractionPublic,
    LinkCreate,
    Page,
    ResolveCreate,
)

router = APIRouter(prefix="/v1/interactions", tags=["interactions"])


@router.post("", status_code=201, response_model=InteractionPublic)
async def create_interaction(
    body: InteractionCreate, principal: PrincipalDep, cases: InteractionsDep
) -> JSONResponse:
    """Start one interaction per missed call, voicemail or text; idempotent on (team, external_id)."""
    return answer(await cases.create(principal, body))


@router.get(
    "",
    response_model=Page[InteractionPublic],
    responses={200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with Accept: text/csv"}},
)
async def list_interactions(
    request: Request,
    principal: PrincipalDep,
    cases: InteractionsDep,
    team_id: str | None = None,
    assignee_id: str | None = None,
    status: Annotated[str | None, Query(description="comma-separated; default: all not resolved")] = None,
    overdue: bool | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page[InteractionPublic] | Response:
    """The queue, by ``due_at`` then most contacts; ``assignee_id=unassigned`` is the unassigned queue.
    With ``Accept: text/csv``, every match (from ``cursor`` on, ``limit`` aside) as CSV, streamed."""
    if wants_csv(request):
        export = await cases.export(
            principal, team_id=team_id, assignee_id=assignee_id, status=status, overdue=overdue, cursor=cursor
        )
        return cases_csv(export)
    return await cases.page(
        principal,
        team_id=team_id,
        assignee_id=assignee_id,
        status=status,
        overdue=overdue,
        cursor=cursor,
        limit=limit,
    )


@router.get("/{interaction_id}")
async def get_interaction(
    interaction_id: str, principal: PrincipalDep, cases: InteractionsDep
) -> InteractionPublic:
    return await cases.get(principal, interaction_id)


@router.post("/{interaction_id}/attempts", response_model=InteractionPublic)
async def record_attempt(
    interaction_id: str,
    body: AttemptCreate,
    principal: PrincipalDep,
    cases: InteractionsDep,
    op: OperationDep,
) -> JSONResponse:
    return answer(await cases.record_attempt(principal, interaction_id, body, op))


@router.post("/{interaction_id}/flags", response_model=InteractionPublic)
async def flag_interaction(
    interaction_id: str, body: FlagCreate, principal: PrincipalDep, cases: InteractionsDep, op: OperationDep
) -> JSONResponse:
    return answer(await cases.flag(principal, interaction_id, body, op))


@router.post("/{interaction_id}/assign", response_model=InteractionPublic)
async def assign_interaction(
    interaction_id: str, body: AssignCreate, principal: PrincipalDep, cases: InteractionsDep, op: OperationDep
) -> JSONResponse:
    """Reassign (lead/manager of the team); ``assignee_id: null`` sends it to the unassigned queue."""
    return answer(await cases.assign(principal, interaction_id, body, op))


@router.post("/{interaction_id}/resolve", response_model=InteractionPublic)
async def resolve_interaction(
    interaction_id: str,
    body: ResolveCreate,
    principal: PrincipalDep,
    cases: InteractionsDep,
    op: OperationDep,
) -> JSONResponse:
    return answer(await cases.resolve(principal, interaction_id, body, op))


@router.post("/{interaction_id}/link", response_model=InteractionPublic)
async def link_interaction(
    interaction_id: str, body: LinkCreate, principal: PrincipalDep, cases: InteractionsDep, op: OperationDep
) -> JSONResponse:
    """Link the case of a caller the team did not know to a member (lead/manager of the team):
    the member gets the number, and the case goes to the member's owner (docs/channels.md)."""
    return answer(await cases.link(principal, interaction_id, body, op))
