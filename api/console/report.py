"""The report: the team's response times and escalations over a range of days."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.console import charts, views
from api.console.common import (
    db_of,
    render,
    signed_in,
)
from domain.errors import Invalid
from services import access, reports

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/console", include_in_schema=False)


def _day(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{name}: expected a date such as 2026-11-01") from None


@router.get("/report")
async def report(request: Request) -> Response:
    principal = await signed_in(request)
    team_id = principal.team_id or ""
    access.require_report_reader(principal, team_id)
    db = db_of(request)
    tz = ZoneInfo(await db.run(views.team_timezone, team_id))
    today = datetime.now(UTC).astimezone(tz).date()
    first = _day(request.query_params.get("from"), "From") or today - timedelta(days=29)
    last = _day(request.query_params.get("to"), "To") or today
    if last < first:
        raise Invalid("To: must not be before From")
    start = datetime.combine(first, time(0), tzinfo=tz)
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=tz)
    sla = await db.read(reports.sla_report, team_id, start, end)
    spread = await db.read(reports.first_response_distribution, team_id, start, end)
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
            "first": first.isoformat(),
            "last": last.isoformat(),
            "charts": (on_time, distribution, by_trigger),
            "title": "Report",
        },
        principal=principal,
    )
