"""SLA report: what a lead needs to see whether the promises are kept.

The route parses, calls ``services.reports.Reports.sla`` and answers.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from api.deps import PrincipalDep, ReportsDep
from services.public import SlaReport

router = APIRouter(prefix="/v1/reports", tags=["reports"])


@router.get("/sla", response_model_by_alias=True)
async def sla_report(
    principal: PrincipalDep,
    reports: ReportsDep,
    team_id: str,
    from_: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    to: AwareDatetime | None = None,
) -> SlaReport:
    """Counts interactions with ``from <= received_at < to`` (default: the last 30 days)."""
    return await reports.sla(principal, team_id, from_, to)
