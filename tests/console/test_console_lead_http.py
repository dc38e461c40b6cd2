"""The console over plain HTTP, issue 25's items 3, 6 and 8: escalations as a compact sortable
list with each escalation's own page; form errors in plain words beside their fields; a lead's
Team page, navigation counts, Team queue's filters and bulk reassign, and the Report's late so far."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from domain.calendar import BusinessCalendar
from domain.models import CalendarConfig
from tests.api.support import LEAD, SYSTEM, create, detail, setup_team, zone_where_it_is
from tests.api.test_escalations_api import escalation_of
from tests.console.test_console_http import anas_case_page, posted, signed_in

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


async def get(api: httpx.AsyncClient, who: dict[str, str], path: str) -> str:
    r = await api.get(path, headers={"Cookie": who["Cookie"]})
    assert r.status_code == 200, r.text
    return html.unescape(r.text)


def row_of(page: str, row_id: str) -> str:
    found = re.search(rf'<tr data-row id="{re.escape(row_id)}"[^>]*>(.*?)</tr>', page, re.S)
    assert found is not None, f"no row {row_id}"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(1))).strip()


async def flagged(api: httpx.AsyncClient, flag: str, **over: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    case = await create(api, **over)
    r = await api.post(f"/v1/interactions/{case['id']}/flags", json={"flag": flag}, headers=LEAD)
    assert r.status_code == 200, r.text
    return case, await escalation_of(api, case["id"], flag)


# ---------------------------------------------------------------- item 3: escalations
async def test_escalations_are_one_compact_row_each_with_member_reason_who_and_a_countdown(
    api: httpx.AsyncClient,
) -> None:
    await setup_team(api)
    case, esc = await flagged(api, "safety", member_id="mem-2", summary="Partner threatened her")
    lead = await signed_in(api, "t-lead")
    page = await get(api, lead, "/console/escalations")
    row = row_of(page, f"esc-{esc['id']}")
    # Member, reason, trigger, level, who is on it, the acknowledge deadline, its state.
    assert row.startswith("mem-2 Partner threatened her case safety 1 of 2 lead-1 (told)")
    told = datetime.fromisoformat(esc["notified"][-1]["at"])
    ack_by = (told + timedelta(minutes=15)).astimezone(UTC)
    assert f'<time datetime="{ack_by.isoformat()}" data-countdown>Acknowledge by ' in page
    assert "Acknowledge by" in row and "not acknowledged" in row
    # The ladder and the resolve form are on its own page, not in the list.
    assert "Ladder" not in page and 'name="action_taken"' not in page
    assert f'href="/console/escalations/{esc["id"]}"' in page
    own = await get(api, lead, f"/console/escalations/{esc['id']}")
    assert "<caption>Ladder</caption>" in own and 'name="action_taken"' in own
    assert "Partner threatened her" in own and f'href="/console/interactions/{case["id"]}"' in own

    # Acknowledged: who has it, and the countdown is to the resolve deadline.
    r = await api.post(f"/v1/escalations/{esc['id']}/acknowledge", json={}, headers=LEAD)
    assert r.status_code == 200, r.text
    acked = datetime.fromisoformat(r.json()["acknowledged_at"])
    page = await get(api, lead, "/console/escalations")
    row = row_of(page, f"esc-{esc['id']}")
    assert " lead-1 Resolve by " in row and "(told)" not in row
    resolve_by = (acked + timedelta(minutes=240)).astimezone(UTC)
    assert f'<time datetime="{resolve_by.isoformat()}" data-countdown>Resolve by ' in page


async def test_the_escalations_list_sorts_by_a_column(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    _, complaint = await flagged(api, "complaint", member_id="mem-1")
    _, safety = await flagged(api, "safety", member_id="mem-2")
    lead = await signed_in(api, "t-lead")
    default = await get(api, lead, "/console/escalations")
    # Most severe first: the safety escalation, though it is the newer one.
    assert default.index(f'id="esc-{safety["id"]}"') < default.index(f'id="esc-{complaint["id"]}"')
    by_member = await get(api, lead, "/console/escalations?sort=member")
    assert by_member.index(f'id="esc-{complaint["id"]}"') < by_member.index(f'id="esc-{safety["id"]}"')
    assert (
        '<th scope="col" aria-sort="ascending"><a href="/console/escalations?sort=member">Member</a>'
        in by_member
    )
    # The live refresh keeps the order asked for.
    assert 'hx-get="/console/escalations?sort=member&part=list"' in by_member


# ---------------------------------------------------------------- item 6: errors beside fields
async def test_a_refused_form_says_what_is_wrong_beside_the_field_and_keeps_what_was_typed(
    api: httpx.AsyncClient,
) -> None:
    await setup_team(api)
    case = await create(api)
    ana = await signed_in(api, "t-chw-ana")
    path = f"/console/interactions/{case['id']}"

    r = await api.post(f"{path}/resolve", **posted(ana, key="r-1", resolution="   "))
    assert r.status_code == 422
    page = html.unescape(r.text)
    assert '<p class="field-error" id="resolution-error">Resolution is required.</p>' in page
    assert 'aria-invalid="true" aria-describedby="resolution-error"' in page
    assert "Input should be" not in page and "resolution:" not in page
    assert f'<meta name="ft-page-url" content="{path}">' in page  # the address goes back to the case

    r = await api.post(
        f"{path}/attempt", **posted(ana, key="a-1", outcome="bogus", note="Typed before the error")
    )
    assert r.status_code == 422
    page = html.unescape(r.text)
    assert '<p class="field-error" id="outcome-error">Choose an outcome from the list.</p>' in page
    assert re.search(r'<select id="outcome" name="outcome" required aria-invalid="true"', page)
    assert ">Typed before the error</textarea>" in page  # the attempt's note, as typed
    assert "Input should be" not in page

    lead = await signed_in(api, "t-lead")
    r = await api.post(f"{path}/assign", **posted(lead, key="s-1", assignee_id="chw-ben", reason="x" * 2001))
    assert r.status_code == 422
    page = html.unescape(r.text)
    assert (
        '<p class="field-error" id="assign-reason-error">Reason is too long: at most 2000 characters.</p>'
        in page
    )
    assert (await detail(api, case["id"]))["assignee_id"] == "chw-ana"


async def test_an_escalation_or_absence_refusal_is_beside_its_field(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    _, esc = await flagged(api, "safety")
    lead = await signed_in(api, "t-lead")
    r = await api.post(
        f"/console/escalations/{esc['id']}/resolve", **posted(lead, key="e-1", action_taken="Called her back")
    )
    assert r.status_code == 422
    page = html.unescape(r.text)
    # On the escalation's own page (which card is never in doubt), beside Outcome, as typed.
    assert f'<meta name="ft-page-url" content="/console/escalations/{esc["id"]}">' in page
    assert f'<p class="field-error" id="outcome-{esc["id"]}-error">Outcome is required' in page
    assert ">Called her back</textarea>" in page

    day = datetime.now(UTC).astimezone(ZoneInfo("America/Chicago")).date() + timedelta(days=3)
    plan = posted(
        lead, staff_id="chw-ana", starts_at=f"{day}T17:00", ends_at=f"{day}T09:00", reason="Training"
    )
    r = await api.post("/console/absences/preview", **plan)
    assert r.status_code == 422
    page = html.unescape(r.text)
    assert '<p class="field-error" id="ends-error">Ends must be after Starts.</p>' in page
    assert "Value error" not in page and "ends_at" not in re.sub(r"<[^>]+>", " ", page)
    assert f'value="{day}T09:00" aria-invalid="true" aria-describedby="ends-error"' in page
    assert 'value="Training"' in page

    # A refused change of one absence is said in that absence's row, beside its New end.
    r = await api.post(
        "/v1/absences",
        json={
            "staff_id": "chw-ben",
            "starts_at": f"{day}T09:00:00-06:00",
            "ends_at": f"{day}T17:00:00-06:00",
        },
        headers=LEAD,
    )
    assert r.status_code in (200, 201), r.text
    aid = r.json()["id"]
    r = await api.post(f"/console/absences/{aid}/change", **posted(lead, key="c-1", ends_at=f"{day}T08:00"))
    assert r.status_code == 422
    page = html.unescape(r.text)
    assert f'<p class="field-error" id="end-{aid}-error">Ends must be after Starts.</p>' in page
    assert f'value="{day}T08:00" aria-invalid="true" aria-describedby="end-{aid}-error"' in page


# ---------------------------------------------------------------- item 8: a lead's overview
async def test_a_lead_lands_on_the_team_page_with_counts_per_chw(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    old = (datetime.now(UTC) - timedelta(days=8)).isoformat()
    await create(api, received_at=old)  # Ana's, breached
    bens = await create(api, member_id="mem-2")
    await create(api, member_id="mem-orphan")  # unassigned
    lead = await signed_in(api, "t-lead")
    ana = await signed_in(api, "t-chw-ana")
    r = await api.get("/console", headers={"Cookie": lead["Cookie"]})
    assert r.headers["location"] == "/console/overview"
    r = await api.get("/console", headers={"Cookie": ana["Cookie"]})
    assert r.headers["location"] == "/console/queue"

    overview = await get(api, lead, "/console/overview")
    assert "<h1>Team</h1>" in overview
    cal = BusinessCalendar.from_config(
        CalendarConfig.model_validate(
            (await api.get("/v1/teams/eastside", headers=SYSTEM)).json()["calendar"]
        ),
        around=datetime.now(UTC).date(),
    )
    today = datetime.now(ZoneInfo("America/Chicago")).date()
    close = cal.close_of(today)
    due = datetime.fromisoformat(bens["due_at"])
    ben_due_today = int(close is not None and datetime.now(UTC) <= due <= close)
    assert (
        row_of(overview, "load-chw-ana") == "chw-ana 1 1 0 0"
    )  # open, breached, due before close, unreachable
    assert row_of(overview, "load-chw-ben") == f"chw-ben 1 0 {ben_due_today} 0"
    assert row_of(overview, "load-unassigned").startswith("Unassigned 1 0 ")
    assert 'href="/console/team?assignee=chw-ana&state=breached"' in overview
    # Everyone's navigation counts: a lead's My queue, Unassigned and Escalations.
    nav = await get(api, lead, "/console/nav")
    assert re.search(r'Unassigned <span class="count count-some" data-count="unassigned">1</span>', nav)
    assert re.search(r'My queue <span class="count" data-count="queue">0</span>', nav)
    assert 'data-count="escalations"' in nav
    queue = await get(api, ana, "/console/queue")
    assert 'My queue <span class="count count-some" data-count="queue">1</span>' in queue
    assert "/console/overview" not in queue  # not a CHW's page


async def test_team_queue_shows_the_assignee_and_filters_by_chw_and_state(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    old = (datetime.now(UTC) - timedelta(days=8)).isoformat()
    anas = await create(api, received_at=old)
    bens = await create(api, member_id="mem-2")
    lead = await signed_in(api, "t-lead")
    team = await get(api, lead, "/console/team")
    assert '<th scope="col">Assignee</th>' in team
    assert '<td data-label="Assignee" class="assignee">chw-ben</td>' in team
    only_ben = await get(api, lead, "/console/team?assignee=chw-ben")
    assert f'id="open-{bens["id"]}"' in only_ben and f'id="open-{anas["id"]}"' not in only_ben
    breached = await get(api, lead, "/console/team?state=breached")
    assert f'id="open-{anas["id"]}"' in breached and f'id="open-{bens["id"]}"' not in breached
    assert 'hx-get="/console/team?state=breached&part=list"' in breached


async def test_bulk_reassign_moves_each_selected_case_once(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    one, two = await create(api), await create(api)
    lead = await signed_in(api, "t-lead")
    form = posted(lead, key="bulk-1", assignee_id="chw-ben")
    form["data"]["ids"] = [one["id"], two["id"]]
    r = await api.post("/console/team/assign", **form)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/console/team?done=assigned"
    assert [(await detail(api, c["id"]))["assignee_id"] for c in (one, two)] == ["chw-ben", "chw-ben"]
    # Someone moves one back; the same form sent again changes nothing (once per case).
    r = await api.post(f"/v1/interactions/{one['id']}/assign", json={"assignee_id": "chw-ana"}, headers=LEAD)
    assert r.status_code == 200, r.text
    r = await api.post("/console/team/assign", **form)
    assert r.status_code == 303, r.text
    assert (await detail(api, one["id"]))["assignee_id"] == "chw-ana"

    nothing = posted(lead, key="bulk-2", assignee_id="chw-ben")
    r = await api.post("/console/team/assign", **nothing)
    assert r.status_code == 422
    assert '<p class="field-error" id="bulk-pick-error">Choose at least one case to reassign.</p>' in r.text


async def test_the_report_counts_open_overdue_cases_as_late_so_far_and_shows_the_contact_figures(
    api: httpx.AsyncClient,
) -> None:
    case, ana, _ = await anas_case_page(api, zone_where_it_is(3))  # outside the member's window
    r = await api.post(
        f"/console/interactions/{case['id']}/attempt",
        **posted(ana, key="a-1", outcome="no_answer", override_reason="asked for a late call"),
    )
    assert r.status_code == 303, r.text
    await create(api, member_id="mem-2", received_at=(datetime.now(UTC) - timedelta(days=8)).isoformat())
    lead = await signed_in(api, "t-lead")
    report = await get(api, lead, "/console/report")
    assert "call: on time 1, late 0, late so far 1" in report
    assert '<th scope="col">Late so far</th>' in report
    # No response yet is not drawn green (green is for on time only).
    chart = report[
        report.index('id="chart-first-response-t"') : report.index(
            "</svg>", report.index("chart-first-response")
        )
    ]
    assert "no response yet" in chart and "#1b6e3a" not in chart
    rules = report[
        report.index('id="contact-rules"') : report.index("</table>", report.index('id="contact-rules"'))
    ]
    assert re.search(r"Attempts outside the member's contact window</td><td>1<", rules)
    assert re.search(r"Attempts over the daily cap</td><td>0<", rules)
    assert "Late cases the contact window left no time to answer" in rules
