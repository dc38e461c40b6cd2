"""CSV exports for people who live in spreadsheets (issue 22): the queue (``GET /v1/interactions``
with ``Accept: text/csv``, the console's ``.csv`` links) and the SLA report, with the same
filters and rights as the JSON answers.

Streamed: rows are written a page at a time as the service reads them, so a list of 100,000
cases never sits in memory. Every timestamp is in the team's time zone, named in its column's
header (``received_at (America/Chicago)``). Cells are quoted as RFC 4180 says, and a text cell
that a spreadsheet would take for a formula (``=``, ``+``, ``-``, ``@``, a tab or a carriage
return first) is prefixed with ``'`` (OWASP's "CSV injection"): member text is written here.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import StreamingResponse

from services.interactions import Export
from services.public import InteractionPublic, SlaReport

MEDIA_TYPE = "text/csv"
FORMULA_FIRST = ("=", "+", "-", "@", "\t", "\r")

# The queue's columns, as in the JSON list (its timestamps marked with their zone); the
# attempts and escalations as counts.
CASE_COLUMNS: tuple[str, ...] = (
    "id",
    "team_id",
    "external_id",
    "member_id",
    "channel",
    "status",
    "assignee_id",
    "received_at",
    "due_at",
    "first_response_at",
    "sla_met",
    "next_retry_at",
    "urgent",
    "flags",
    "overdue",
    "unreachable",
    "triggers",
    "attempts",
    "escalations",
    "contacts",
    "last_contact_at",
    "resolved_at",
    "resolved_by",
    "caller_phone",
    "summary",
    "resolution",
    "updated_at",
)
TIMESTAMPS = frozenset(
    {
        "received_at",
        "due_at",
        "first_response_at",
        "next_retry_at",
        "last_contact_at",
        "resolved_at",
        "updated_at",
    }
)


def wants_csv(request: Request) -> bool:
    """Whether the client asked for CSV (``Accept: text/csv``)."""
    return any(
        part.split(";", 1)[0].strip().lower() == MEDIA_TYPE
        for part in request.headers.get("accept", "").split(",")
    )


def cell(value: Any, zone: ZoneInfo) -> str:
    """One cell: a timestamp in ``zone`` (``2026-03-02 09:00:00``), a list joined by ``;``,
    booleans as ``true``/``false``, nothing for None; text that starts like a formula gets ``'``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, list | tuple):
        value = ";".join(str(v) for v in value)
    text = str(value)
    if isinstance(value, str) and text.startswith(FORMULA_FIRST):
        return "'" + text
    return text


def header(columns: Iterable[str], zone: ZoneInfo, timestamps: frozenset[str] = TIMESTAMPS) -> list[str]:
    return [f"{c} ({zone.key})" if c in timestamps else c for c in columns]


def line(cells: Sequence[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(cells)
    return out.getvalue()


def case_row(case: InteractionPublic, zone: ZoneInfo) -> list[str]:
    counts = {"attempts": len(case.attempts), "escalations": len(case.escalations)}
    return [cell(counts[c] if c in counts else getattr(case, c), zone) for c in CASE_COLUMNS]


def _response(body: AsyncIterator[str], filename: str) -> StreamingResponse:
    return StreamingResponse(
        body,
        media_type=f"{MEDIA_TYPE}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def cases_csv(export: Export, filename: str = "interactions.csv") -> StreamingResponse:
    """The cases of an export, streamed a page at a time."""
    zone = ZoneInfo(export.zone)

    async def body() -> AsyncIterator[str]:
        yield line(header(CASE_COLUMNS, zone))
        async for page in export.pages:
            yield "".join(line(case_row(c, zone)) for c in page)

    return _response(body(), filename)


SLA_COLUMNS = ("team_id", "from", "to", "section", "name", "measure", "value")


def sla_rows(report: SlaReport, zone: ZoneInfo) -> list[list[str]]:
    """The report in long form (a row per figure: pivot it in the spreadsheet): ``channel``
    rows per channel and measure, ``escalations`` per trigger, and the ``totals``."""
    first = [report.team_id, cell(report.from_, zone), cell(report.to, zone)]
    rows: list[list[str]] = []
    for channel, figures in report.channels.items():
        for measure, value in figures.model_dump().items():
            rows.append([*first, "channel", channel, measure, cell(value, zone)])
    for trigger, count in sorted(report.escalations_by_trigger.items()):
        rows.append([*first, "escalations", trigger, "escalations", cell(count, zone)])
    totals = report.model_dump(exclude={"team_id", "from_", "to", "channels", "escalations_by_trigger"})
    for measure, value in totals.items():
        rows.append([*first, "totals", "", measure, cell(value, zone)])
    return rows


def sla_csv(report: SlaReport, zone: str, filename: str = "sla-report.csv") -> StreamingResponse:
    tz = ZoneInfo(zone)

    async def body() -> AsyncIterator[str]:
        yield line(header(SLA_COLUMNS, tz, frozenset({"from", "to"})))
        yield "".join(line(r) for r in sla_rows(report, tz))

    return _response(body(), filename)
