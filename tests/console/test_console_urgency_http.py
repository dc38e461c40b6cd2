"""Issue 25, what was left: an open safety escalation in every page's title and navigation (for
the people whose cases it is on), the case page's heading naming the member and the reason, and a
member waiting again after a repeat contact shown with the new deadline counting down."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import pytest

from tests.api.support import LEAD, SYSTEM, attempt, create, detail, interaction_body, setup_team
from tests.conftest import CHICAGO_TEAM
from tests.console.test_console_http import signed_in
from tests.console.test_console_lead_http import flagged, get
from tests.console.test_console_member_card import put_member

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def title_of(page: str) -> str:
    found = re.search(r"<title>(.*?)</title>", page, re.S)
    assert found is not None
    return found.group(1)


def nav_of(page: str) -> str:
    found = re.search(r'<nav aria-label="Console".*?</nav>', page, re.S)
    assert found is not None
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(0))).strip()


async def test_an_open_safety_escalation_is_in_the_title_and_navigation_of_every_page(
    api: httpx.AsyncClient,
) -> None:
    await setup_team(api)
    _, esc = await flagged(api, "safety", summary="Partner threatened her")  # mem-1: Ana's member
    lead, ana, ben = [await signed_in(api, t) for t in ("t-lead", "t-chw-ana", "t-chw-ben")]

    for path in ("/console/overview", "/console/absences", "/console/report", "/console/team"):
        page = await get(api, lead, path)
        assert title_of(page).startswith("⚠ 1 safety · "), path
        # In words beside the Escalations count, not only a colour.
        assert "Escalations 1 ⚠ 1 safety not acknowledged" in nav_of(page), path
    # The CHW whose case it is: her title, and My queue in the navigation.
    page = await get(api, ana, "/console/absences")
    assert title_of(page) == "⚠ 1 safety · Absences · Followthrough"
    assert "My queue 1 ⚠ 1 safety not acknowledged" in nav_of(page)
    # Another CHW, whose cases it is not on, is not alarmed.
    page = await get(api, ben, "/console/queue")
    assert "safety" not in title_of(page) and "⚠" not in nav_of(page)
    # The live refresh of the navigation carries the count (console.js copies it into the title).
    live = await get(api, lead, "/console/nav?here=/console/overview")
    assert 'data-safety="1"' in live and "⚠ 1 safety not acknowledged" in live

    # Once acknowledged, the alarm goes (the escalation stays on the Escalations count).
    r = await api.post(f"/v1/escalations/{esc['id']}/acknowledge", json={}, headers=LEAD)
    assert r.status_code == 200, r.text
    page = await get(api, lead, "/console/overview")
    assert not title_of(page).startswith("⚠") and "⚠" not in nav_of(page)
    assert 'data-safety="0"' in await get(api, lead, "/console/nav?here=/console/overview")


async def test_the_case_heading_names_the_member_and_the_reason(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    await put_member(api, display_name="Maria Gonzalez", phone="+13125550111")
    case = await create(api, summary="Asked about her ride")
    ana = await signed_in(api, "t-chw-ana")
    page = await get(api, ana, f"/console/interactions/{case['id']}")
    assert '<h1 id="case-h">Maria Gonzalez · Asked about her ride</h1>' in page
    assert ">Interaction</h1>" not in page


async def test_a_member_waiting_again_after_a_repeat_contact_shows_the_new_deadline_counting_down(
    api: httpx.AsyncClient,
) -> None:
    await setup_team(api)
    r = await api.put(
        "/v1/teams/eastside", json={**CHICAGO_TEAM, "policy": {"merge_repeat_contacts": True}}, headers=SYSTEM
    )
    assert r.status_code == 200, r.text
    case = await create(api, summary="Asked about her ride")
    await attempt(api, case["id"], outcome="reached")  # the first response
    again = datetime.now(UTC)
    body = interaction_body(external_id="again-1", received_at=again.isoformat(), channel="voicemail")
    r = await api.post("/v1/interactions", json=body, headers=SYSTEM)
    assert r.status_code == 200, r.text
    assert (r.json()["id"], r.json()["contacts"]) == (case["id"], 2)
    due = datetime.fromisoformat((await detail(api, case["id"]))["due_at"])
    assert due > again

    ana = await signed_in(api, "t-chw-ana")
    page = await get(api, ana, f"/console/interactions/{case['id']}")
    state = re.search(r'<dd id="case-state">(.*?)</dd>', page, re.S)
    assert state is not None
    words = re.sub(r"<[^>]+>", "", state.group(1))
    assert re.fullmatch(r"due(?: soon)? · Contacted again \d\d:\d\d · reply due by .+", words), words
    assert "met" not in words and "first response" not in words
    counting = re.findall(r'<time datetime="([^"]+)" data-countdown', page)
    assert [datetime.fromisoformat(t) for t in counting] == [due]

    # In My queue too: the row counts down to the new deadline.
    queue = await get(api, ana, "/console/queue")
    assert f'<time datetime="{counting[0]}" data-countdown>' in queue
    assert "Contacted again" in queue

    # Answered again: no countdown; the state is the first response's again.
    await attempt(api, case["id"], outcome="reached")
    page = await get(api, ana, f"/console/interactions/{case['id']}")
    assert "Contacted again" not in page and "data-countdown" not in page
