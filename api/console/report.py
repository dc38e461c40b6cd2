"""The report: the team's response times and escalations over a range of days.

The page calls ``services.reports.Reports.days`` with the days asked for and draws the charts.
"""

from __future__ import annotations

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.console import charts
from api.console.common import context_of, render, signed_in
from services.reports import Reports

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/console", include_in_schema=False)


@router.get("/report")
async def report(request: Request) -> Response:
    principal = await signed_in(request)
    days = await Reports(context_of(request)).days(
        principal,
        principal.team_id or "",
        first=request.query_params.get("from"),
        last=request.query_params.get("to"),
    )
    sla, spread = days.sla, days.first_responses
    on_time = charts.bars(
        "On time and late first responses per channel",
        [(c, (r.answered_on_time, r.answered_late)) for c, r in sla.channels.items()],
        ("on time", "late"),
        chart_id="chart-on-time",
    )
    distribution = charts.bars(
        "First responses by time taken (open hours)",
        [(k, (v,)) for k, v in spread.items()],
        ("interactions",),
        chart_id="chart-first-response",
    )
    by_trigger = charts.bars(
        "Escalations by trigger",
        [(k, (v,)) for k, v in sorted(sla.escalations_by_trigger.items())] or [("none", (0,))],
        ("escalations",),
        chart_id="chart-triggers",
    )
    return render(
        request,
        "report.html",
        {
            "sla": sla,
            "spread": spread,
            "first": days.first.isoformat(),
            "last": days.last.isoformat(),
            "charts": (on_time, distribution, by_trigger),
            "title": "Report",
        },
        principal=principal,
    )
