"""SLA report: what a lead needs to see whether the promises are kept."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from api.deps import DbDep, PrincipalDep
from services import access, reports
from services.public import SlaReport

router = APIRouter(prefix="/v1/reports", tags=["reports"])


@router.get("/sla", response_model_by_alias=True)
async def sla_report(
    principal: PrincipalDep,
    db: DbDep,
    team_id: str,
    from_: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    to: AwareDatetime | None = None,
) -> SlaReport:
    """Counts interactions with ``from <= received_at < to`` (default: the last 30 days)."""
    access.require_report_reader(principal, team_id)
    return await db.read(reports.sla_report, team_id, from_, to)
