"""CSV exports (issue 22, docs/api.md "CSV exports"): the queue and the SLA report as a
spreadsheet reads them, with the JSON answers' data, filters and rights; timestamps in the
team's zone, named in the header; RFC 4180 quoting; no cell a spreadsheet would run as a
formula; streamed a page at a time."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import pytest_asyncio
from sqlalchemy.orm import Session

import services.interactions
from api.app import create_app
from config.settings import Settings
from store.db import make_engine, make_sessionmaker, unit_of_work
from store.models import Interaction
from tests.api.fhir import seed as s
from tests.api.fhir.conftest import seeded  # noqa: F401
from tests.api.support import ANA, LEAD, OTHER_LEAD
from tests.console.test_console_http import signed_in

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest_asyncio.fixture(loop_scope="session")
async def fhir(settings: Settings, seeded: str) -> AsyncIterator[httpx.AsyncClient]:  # noqa: F811
    """The API (and console) over the FHIR tests' seeded read model; no Temporal needed."""
    app = create_app(settings)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
            yield c
    finally:
        app.state.engine.dispose()


CSV = {"Accept": "text/csv"}
CHICAGO = ZoneInfo("America/Chicago")
# Member text a spreadsheet must show as text, never run: formulas, and what needs quoting.
NASTY = {
    '=HYPERLINK("http://evil.example","click")': '\'=HYPERLINK("http://evil.example","click")',
    "+1 call back": "'+1 call back",
    "-2+3": "'-2+3",
    "@SUM(A1:A9)": "'@SUM(A1:A9)",
    'said "hi", then\nhung up': 'said "hi", then\nhung up',
}


def rows_of(r: httpx.Response) -> list[dict[str, str]]:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"].startswith("attachment; filename=")
    return list(csv.DictReader(io.StringIO(r.text, newline="")))


def _nasty_cases(session: Session) -> list[str]:
    ids = []
    for i, text in enumerate(NASTY):
        cid = f"{i:02d}" + "9" * 30
        row = session.get(Interaction, s.NEW)
        assert row is not None
        session.add(
            Interaction(
                **{
                    c.key: getattr(row, c.key)
                    for c in Interaction.__table__.columns
                    if c.key not in {"id", "workflow_id", "external_id", "summary"}
                },
                id=cid,
                workflow_id=f"interaction:eastside:nasty-{i}",
                external_id=f"nasty-{i}",
                summary=text,
            )
        )
        ids.append(cid)
    return ids


def _seed_nasty(db_url: str) -> list[str]:
    engine = make_engine(db_url)
    with unit_of_work(make_sessionmaker(engine)) as session:
        ids = _nasty_cases(session)
    engine.dispose()
    return ids


async def _json_list(api: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    r = await api.get("/v1/interactions", params={**params, "limit": 500}, headers=headers)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def test_the_queue_as_csv_is_the_json_list_in_the_teams_zone(
    fhir: httpx.AsyncClient,
) -> None:
    for params in ({}, {"status": "resolved"}, {"assignee_id": "chw-ben", "status": "attempting,resolved"}):
        items = await _json_list(fhir, LEAD, team_id="eastside", **params)
        rows = rows_of(
            await fhir.get(
                "/v1/interactions", params={"team_id": "eastside", **params}, headers={**LEAD, **CSV}
            )
        )
        assert [r["id"] for r in rows] == [i["id"] for i in items], params
        for row, item in zip(rows, items, strict=True):
            assert row["status"] == item["status"] and row["assignee_id"] == (item["assignee_id"] or "")
            assert row["attempts"] == str(len(item["attempts"]))
            # every timestamp column in Chicago time, the zone named in its header
            due = datetime.fromisoformat(item["due_at"]).astimezone(CHICAGO)
            assert row["due_at (America/Chicago)"] == due.strftime("%Y-%m-%d %H:%M:%S")
    r = await fhir.get("/v1/interactions", params={"team_id": "eastside"}, headers={**LEAD, **CSV})
    header = next(csv.reader(io.StringIO(r.text)))
    stamped = [h for h in header if "(" in h]
    assert stamped and all(h.endswith("(America/Chicago)") for h in stamped)
    assert "received_at (America/Chicago)" in header and "summary" in header


async def test_the_queue_as_csv_has_the_lists_rights(fhir: httpx.AsyncClient) -> None:
    r = await fhir.get("/v1/interactions", params={"team_id": "eastside"}, headers={**OTHER_LEAD, **CSV})
    assert r.status_code == 403
    # a CHW's list is their team's, as in JSON
    ana = rows_of(await fhir.get("/v1/interactions", params={"status": "resolved"}, headers={**ANA, **CSV}))
    assert {r["team_id"] for r in ana} == {"eastside"}
    assert [r["id"] for r in ana] == [i["id"] for i in await _json_list(fhir, ANA, status="resolved")]
    r = await fhir.get("/v1/interactions", params={"cursor": "nonsense"}, headers={**LEAD, **CSV})
    assert r.status_code == 422
    r = await fhir.get("/v1/interactions", params={"status": "sleeping"}, headers={**LEAD, **CSV})
    assert r.status_code == 422


async def test_member_text_is_quoted_and_never_a_formula(
    fhir: httpx.AsyncClient,
    seeded: str,  # noqa: F811
) -> None:
    ids = _seed_nasty(seeded)
    rows = rows_of(
        await fhir.get("/v1/interactions", params={"team_id": "eastside"}, headers={**LEAD, **CSV})
    )
    by_id = {r["id"]: r for r in rows}
    for cid, (text, shown) in zip(ids, NASTY.items(), strict=True):
        assert by_id[cid]["summary"] == shown, text
    # no cell of the file starts like a formula
    r = await fhir.get("/v1/interactions", params={"team_id": "eastside"}, headers={**LEAD, **CSV})
    for row in csv.reader(io.StringIO(r.text, newline="")):
        assert not [c for c in row if c[:1] in ("=", "+", "-", "@")], row


async def test_a_long_queue_is_exported_whole_a_page_at_a_time(
    fhir: httpx.AsyncClient,
    seeded: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _seed_nasty(seeded)
    monkeypatch.setattr(services.interactions, "EXPORT_PAGE", 2)
    items = await _json_list(fhir, LEAD, team_id="eastside", status="open,attempting,escalated,resolved")
    assert len(items) > 6
    r = await fhir.get(
        "/v1/interactions",
        params={"team_id": "eastside", "status": "open,attempting,escalated,resolved", "limit": 1},
        headers={**LEAD, **CSV},
    )
    assert [row["id"] for row in rows_of(r)] == [i["id"] for i in items]


async def test_the_sla_report_as_csv_holds_the_same_figures(fhir: httpx.AsyncClient) -> None:
    params = {"team_id": "eastside", "from": "2026-03-01T00:00:00Z", "to": "2026-03-09T00:00:00Z"}
    report = (await fhir.get("/v1/reports/sla", params=params, headers=LEAD)).json()
    rows = rows_of(await fhir.get("/v1/reports/sla", params=params, headers={**LEAD, **CSV}))
    assert {r["from (America/Chicago)"] for r in rows} == {"2026-02-28 18:00:00"}
    figures = {(r["section"], r["name"], r["measure"]): r["value"] for r in rows}
    for channel, measures in report["channels"].items():
        for measure, value in measures.items():
            assert figures[("channel", channel, measure)] == ("" if value is None else str(value))
    for trigger, count in report["escalations_by_trigger"].items():
        assert figures[("escalations", trigger, "escalations")] == str(count)
    assert figures[("totals", "", "attempts_outside_contact_window")] == str(
        report["attempts_outside_contact_window"]
    )
    r = await fhir.get("/v1/reports/sla", params=params, headers={**ANA, **CSV})
    assert r.status_code == 403  # a CHW reads no report, in CSV neither


async def test_the_consoles_queues_and_report_link_their_csv(fhir: httpx.AsyncClient) -> None:
    lead = {"Cookie": (await signed_in(fhir, "t-lead"))["Cookie"]}
    for page, export in (
        ("/console/team", "/console/team.csv"),
        ("/console/unassigned", "/console/unassigned.csv"),
    ):
        html = (await fhir.get(page, headers=lead)).text
        assert f'href="{export}"' in html
        rows = rows_of(await fhir.get(export, headers=lead))
        assignee = "unassigned" if "unassigned" in export else None
        items = await _json_list(
            fhir, LEAD, team_id="eastside", **({"assignee_id": assignee} if assignee else {})
        )
        assert [r["id"] for r in rows] == [i["id"] for i in items]
    html = (await fhir.get("/console/report?from=2026-03-01&to=2026-03-08", headers=lead)).text
    assert 'href="/console/report.csv?from=2026-03-01&amp;to=2026-03-08"' in html
    rows = rows_of(await fhir.get("/console/report.csv?from=2026-03-01&to=2026-03-08", headers=lead))
    assert ("channel", "call", "received") in {(r["section"], r["name"], r["measure"]) for r in rows}
    ana = {"Cookie": (await signed_in(fhir, "t-chw-ana"))["Cookie"]}
    mine = rows_of(await fhir.get("/console/queue.csv", headers=ana))
    assert {r["assignee_id"] for r in mine} == {"chw-ana"}
    assert (await fhir.get("/console/team.csv", headers=ana)).status_code == 403
