"""The report: the team's response times and escalations over a range of days.

The page calls ``services.reports.Reports.days`` with the days asked for and draws the charts.
"""

from __future__ import annotations

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.console import charts
from api.console.common import context_of, render, signed_in
from api.console.labels import label
from api.exports import sla_csv
from services.reports import Reports

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/console", include_in_schema=False)

NO_RESPONSE = "no response yet"  # services.reports.first_response_distribution's bucket


@router.get("/report.csv")
async def report_csv(request: Request) -> Response:
    """The report's figures over the days asked for, as CSV (``api.exports.sla_csv``)."""
    principal = await signed_in(request)
    reports = Reports(context_of(request))
    team_id = principal.team_id or ""
    days = await reports.days(
        principal, team_id, first=request.query_params.get("from"), last=request.query_params.get("to")
    )
    return sla_csv(days.sla, await reports.zone(team_id), filename=f"report-{days.first}-{days.last}.csv")


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
    # Open cases past their deadline count as late so far: a day with breaches is not all green.
    on_time = charts.bars(
        "On time, late and late so far per channel",
        [
            (label(c, "channel"), (r.answered_on_time, r.answered_late, r.open_overdue))
            for c, r in sla.channels.items()
        ],
        ("on time", "late", "late so far"),
        chart_id="chart-on-time",
        colors=(charts.ON_TIME, charts.LATE, charts.LATE_SO_FAR),
    )
    distribution = charts.bars(
        "First responses by time taken (open hours)",
        [(k, (0, v) if k == NO_RESPONSE else (v, 0)) for k, v in spread.items()],
        ("answered", NO_RESPONSE),
        chart_id="chart-first-response",
        colors=(charts.NEUTRAL, charts.WAITING),
    )
    by_trigger = charts.bars(
        "Escalations by trigger",
        [(label(k, "trigger"), (v,)) for k, v in sorted(sla.escalations_by_trigger.items())]
        or [("none", (0,))],
        ("escalations",),
        chart_id="chart-triggers",
        colors=(charts.NEUTRAL,),
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
