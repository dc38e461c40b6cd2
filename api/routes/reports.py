"""SLA report: what a lead needs to see whether the promises are kept.

The route parses, calls ``services.reports.Reports.sla`` and answers.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import AwareDatetime

from api.deps import PrincipalDep, ReportsDep
from api.exports import sla_csv, wants_csv
from services.public import SlaReport

router = APIRouter(prefix="/v1/reports", tags=["reports"])


@router.get(
    "/sla",
    response_model=SlaReport,
    response_model_by_alias=True,
    responses={200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with Accept: text/csv"}},
)
async def sla_report(
    request: Request,
    principal: PrincipalDep,
    reports: ReportsDep,
    team_id: str,
    from_: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    to: AwareDatetime | None = None,
) -> SlaReport | Response:
    """Counts interactions with ``from <= received_at < to`` (default: the last 30 days);
    with ``Accept: text/csv``, the same figures as CSV (a row per figure)."""
    report = await reports.sla(principal, team_id, from_, to)
    if wants_csv(request):
        return sla_csv(report, await reports.zone(team_id))
    return report
