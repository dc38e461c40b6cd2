"""The console shows the member a CHW is about to contact (issue 21; issue 25 item 5): the name,
the number to call or text, the member's clock and window, language, consent, how often they
contacted the team and when, tab titles naming them, their other open cases, unknown callers
linked from the case page, and a warning before texting a member who refused texts."""

from __future__ import annotations

import html
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from structlog.testing import capture_logs

from tests.api.support import (
    ANA,
    LEAD,
    SYSTEM,
    create,
    detail,
    interaction_body,
    setup_team,
    zone_where_it_is,
)
from tests.conftest import CHICAGO_TEAM
from tests.console.test_console_http import posted, signed_in

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

NAME = "CANARY-NAME Rosa Delgado"
PHONE = "+13125550111"
TEAM_NUMBER = "+13125550100"
STRANGER = "+13125550199"
TEXTS_REFUSED = {"status": "refused", "at": "2026-01-06T10:30:00-06:00", "source": "STOP"}


async def put_member(api: httpx.AsyncClient, member_id: str = "mem-1", **profile: Any) -> None:
    body = {"owner_id": "chw-ana", **profile}
    r = await api.put(f"/v1/teams/eastside/members/{member_id}", json=body, headers=SYSTEM)
    assert r.status_code == 200, r.text


async def page_of(api: httpx.AsyncClient, path: str, auth: dict[str, str]) -> str:
    r = await api.get(path, headers={"Cookie": auth["Cookie"]})
    assert r.status_code == 200, r.text
    return html.unescape(r.text)


def row_of(page: str, case_id: str) -> str:
    """The queue row of ``case_id``."""
    found = re.search(
        rf'<tr data-row[^>]*>\s*<td>(?:(?!</tr>).)*id="open-{case_id}"(?:(?!</tr>).)*</tr>', page, re.S
    )
    assert found is not None, f"{case_id} is not in the queue"
    return found.group(0)


async def unknown_caller(api: httpx.AsyncClient) -> dict[str, Any]:
    """A text from a number the team does not know: a case without a member, unassigned."""
    r = await api.put(
        "/v1/teams/eastside",
        json={**CHICAGO_TEAM, "phone_numbers": [TEAM_NUMBER], "policy": {"merge_repeat_contacts": False}},
        headers=SYSTEM,
    )
    assert r.status_code == 200, r.text
    body = {
        "to": TEAM_NUMBER,
        "from": STRANGER,
        "channel": "text",
        "at": datetime.now(UTC).isoformat(),
        "provider_id": f"msg-{uuid.uuid4().hex}",
        "body": "Hi, I need help with my rent",
    }
    r = await api.post("/v1/inbound", json=body, headers=SYSTEM)
    assert r.status_code in (200, 201), r.text
    r = await api.get("/v1/interactions", params={"assignee_id": "unassigned"}, headers=LEAD)
    [case] = [i for i in r.json()["items"] if i["caller_phone"] == STRANGER]
    assert case["member_id"] is None
    found: dict[str, Any] = case
    return found


@pytest.mark.usefixtures("fresh_loggers")
async def test_queue_rows_show_who_to_call_their_number_clock_language_and_contacts(
    api: httpx.AsyncClient,
) -> None:
    await setup_team(api)
    await put_member(
        api,
        display_name=NAME,
        phone=PHONE,
        timezone=zone_where_it_is(12),  # inside the window
        preferred_language="es-MX",
        preferred_channel="text",
    )
    night = zone_where_it_is(3)
    refused_both = {"text": TEXTS_REFUSED, "call": {**TEXTS_REFUSED, "source": "asked on the phone"}}
    await put_member(api, "mem-2", phone="+13125550122", timezone=night, consent=refused_both)
    rosa = await create(api)
    nameless = await create(api, member_id="mem-2")
    ana = await signed_in(api, "t-chw-ana")
    with capture_logs() as logs:
        queue = await page_of(api, "/console/queue", ana)

    row = row_of(queue, rosa["id"])
    link = f'href="/console/interactions/{rosa["id"]}?from=mine">{NAME}</a>'  # from: for Save and next
    assert f'id="open-{rosa["id"]}" class="row-link" {link}' in row
    assert f'href="tel:{PHONE}"' in row and "+1 312-555-0111" in row
    assert f'href="sms:{PHONE}"' in row  # texts are not refused
    # 12:xx when the zone was chosen; 13:xx if the hour turned since.
    assert re.search(r"1[23]:\d\d <abbr title=\"Etc/GMT[^\"]*\">[^<]+</abbr> · window open until 21:00", row)
    assert "speaks Spanish (es-MX) · prefers text message" in row
    assert "contacted 1 time<" in row

    other = row_of(queue, nameless["id"])
    assert '">mem-2</a>' in other  # no display name: the member id
    assert 'href="tel:+13125550122"' in other and "sms:" not in other
    assert "no texts" in other and "no calls" in other and "no calls" not in row
    assert re.search(r"window closed · opens 08:00", other)

    # A lead's Team queue shows the same cells.
    lead = await signed_in(api, "t-lead")
    with capture_logs() as more:
        team = await page_of(api, "/console/team", lead)
    assert f'href="tel:{PHONE}"' in row_of(team, rosa["id"]) and NAME in row_of(team, rosa["id"])
    # Member data stays on the page: never in a log line.
    logs += more
    assert {"/console/queue", "/console/team"} <= {e.get("route") for e in logs}  # what is checked
    assert "CANARY-NAME" not in repr(logs) and "5550111" not in repr(logs)


async def test_received_shows_when_the_member_first_and_last_contacted_in_queues_and_on_the_case(
    api: httpx.AsyncClient,
) -> None:
    await setup_team(api)
    r = await api.put(
        "/v1/teams/eastside", json={**CHICAGO_TEAM, "policy": {"merge_repeat_contacts": True}}, headers=SYSTEM
    )
    assert r.status_code == 200, r.text
    first = datetime.now(UTC) - timedelta(hours=3, minutes=10)
    again = datetime.now(UTC) - timedelta(minutes=20)
    case = await create(api, received_at=first.isoformat())
    body = interaction_body(external_id="again-1", received_at=again.isoformat(), channel="voicemail")
    r = await api.post("/v1/interactions", json=body, headers=SYSTEM)
    assert r.status_code == 200, r.text
    assert (r.json()["id"], r.json()["contacts"], r.json()["merged"]) == (case["id"], 2, True)
    chicago = ZoneInfo("America/Chicago")
    first_local = first.astimezone(chicago).strftime("%a %d %b %H:%M %Z")
    again_local = again.astimezone(chicago).strftime("%a %d %b %H:%M %Z")
    created_local = datetime.fromisoformat(case["created_at"]).astimezone(chicago).strftime("%H:%M")
    assert created_local != first.astimezone(chicago).strftime("%H:%M")  # not when the case was made

    ana = await signed_in(api, "t-chw-ana")
    row = row_of(await page_of(api, "/console/queue", ana), case["id"])
    assert f'<td data-label="Received"><time datetime="{first.isoformat()}">{first_local}</time>' in row
    assert f'· last <time datetime="{again.isoformat()}">{again_local}</time>' in row
    assert "contacted 2 times" in row

    page = await page_of(api, f"/console/interactions/{case['id']}", ana)
    received = re.search(r'<dd id="received">(.*?)</dd>', page, re.S)
    assert received is not None
    assert first_local in received.group(
        1
    ) and f'last contact <time datetime="{again.isoformat()}">{again_local}' in received.group(1)
    assert '<dd id="contacts">contacted 2 times</dd>' in page


async def test_tab_titles_name_the_member_and_how_they_reached_the_team(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    await put_member(api, display_name="Maria Gonzalez")
    call = await create(api)
    voicemail = await create(api, member_id="mem-2", channel="voicemail")
    stranger = await unknown_caller(api)
    lead = await signed_in(api, "t-lead")
    titles = {
        c["id"]: re.search(
            r"<title>(.*?)</title>", await page_of(api, f"/console/interactions/{c['id']}", lead)
        )
        for c in (call, voicemail, stranger)
    }
    got = {k: v.group(1) if v else None for k, v in titles.items()}
    assert got == {
        call["id"]: "Maria G. · missed call · Followthrough",
        voicemail["id"]: "mem-2 · voicemail · Followthrough",
        stranger["id"]: "Unknown caller · text message · Followthrough",
    }


async def test_the_case_page_shows_the_card_and_the_members_other_open_cases(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    await put_member(
        api,
        display_name=NAME,
        phone=PHONE,
        timezone="America/Denver",
        preferred_language="es",
        consent={
            "call": {"status": "granted", "at": "2026-01-05", "source": "intake form"},
            "text": TEXTS_REFUSED,
        },
    )
    this = await create(api)
    second = await create(api, channel="text")
    done = await create(api)
    r = await api.post(f"/v1/interactions/{done['id']}/resolve", json={"resolution": "ok"}, headers=ANA)
    assert r.status_code == 200, r.text
    someone_else = await create(api, member_id="mem-2")
    ana = await signed_in(api, "t-chw-ana")
    page = await page_of(api, f"/console/interactions/{this['id']}", ana)

    card = page[
        page.index('<section class="member-card"') : page.index("</section>", page.index("member-card"))
    ]
    assert f'<h2 id="member-h">{NAME}</h2>' in card
    assert f'<a id="member-call" href="tel:{PHONE}"' in card and "sms:" not in card
    assert "no texts: the member refused them" in card
    denver = datetime.now(ZoneInfo("America/Denver")).strftime("%H:%M")
    assert f'<dd id="member-time">{denver} <abbr title="America/Denver">' in card
    assert "<dt>Language</dt><dd>Spanish</dd>" in card
    assert "calls given (intake form); texts refused (STOP)" in card
    # The member's other open cases, linked; not the resolved one, not another member's.
    others = card[card.index("Other open cases") :]
    assert f'href="/console/interactions/{second["id"]}">text message · received ' in others
    for absent in (this, done, someone_else):
        assert f"/console/interactions/{absent['id']}" not in others
    alone = await page_of(api, f"/console/interactions/{someone_else['id']}", ana)
    assert "None: this is the member's only open case." in alone


async def test_an_unknown_caller_shows_the_number_and_a_lead_links_the_case_to_a_member(
    api: httpx.AsyncClient,
) -> None:
    await setup_team(api)
    case = await unknown_caller(api)
    lead = await signed_in(api, "t-lead")
    page = await page_of(api, f"/console/interactions/{case['id']}", lead)
    assert '<h2 id="member-h">Unknown caller</h2>' in page
    assert f'href="tel:{STRANGER}"' in page and "+1 312-555-0199" in page
    assert f'action="/console/interactions/{case["id"]}/link"' in page
    assert '<label for="link-member">Member id</label>' in page
    assert "Other open cases" not in page
    unassigned = await page_of(api, "/console/unassigned", lead)
    assert f'href="tel:{STRANGER}"' in row_of(unassigned, case["id"])
    assert "Unknown caller</a>" in row_of(unassigned, case["id"])
    # A CHW reads the case but gets no link form (linking is a lead's).
    ben = await signed_in(api, "t-chw-ben")
    assert "/link" not in await page_of(api, f"/console/interactions/{case['id']}", ben)

    r = await api.post(
        f"/console/interactions/{case['id']}/link", **posted(lead, key="l-0", member_id="mem-nobody")
    )
    assert r.status_code == 422  # as the API answers it
    assert "unknown member 'mem-nobody' in team 'eastside'" in html.unescape(r.text)
    assert 'value="mem-nobody"' in r.text  # the form as typed
    r = await api.post(
        f"/console/interactions/{case['id']}/link", **posted(lead, key="l-1", member_id="mem-1")
    )
    assert r.status_code == 303, r.text
    assert r.headers["location"] == f"/console/interactions/{case['id']}?done=linked"
    got = await detail(api, case["id"])
    assert (got["member_id"], got["assignee_id"]) == ("mem-1", "chw-ana")
    page = await page_of(api, r.headers["location"], lead)
    assert "Case linked to the member." in page and "/link" not in page


async def test_texting_a_member_who_refused_texts_is_warned_of_first_and_marked(
    api: httpx.AsyncClient,
) -> None:
    await setup_team(api)
    await put_member(api, phone=PHONE, timezone=zone_where_it_is(12), consent={"text": TEXTS_REFUSED})
    case = await create(api)
    ana = await signed_in(api, "t-chw-ana")
    page = await page_of(api, f"/console/interactions/{case['id']}", ana)
    form = page[page.index('action="/console/interactions/') : page.index('id="h-flag"')]
    assert '<div class="warning" id="consent-warning">' in form
    assert "The member refused texts." in form
    assert form.index("consent-warning") < form.index('<label for="attempt-channel">')
    assert '<option value="text">text message (refused by the member)</option>' in form
    assert "contact-warning" not in form  # inside the window: only the consent warning

    r = await api.post(
        f"/console/interactions/{case['id']}/attempt",
        **posted(ana, key="t-1", outcome="no_answer", channel="text"),
    )
    assert r.status_code == 303, r.text
    r = await api.post(
        f"/console/interactions/{case['id']}/attempt",
        **posted(ana, key="t-2", outcome="no_answer", channel="call"),
    )
    assert r.status_code == 303, r.text
    marks = [(a["channel"], a["consent_refused"]) for a in (await detail(api, case["id"]))["attempts"]]
    assert marks == [("text", True), ("call", False)]
    page = await page_of(api, f"/console/interactions/{case['id']}", ana)
    attempts = page[page.index("<h2>Attempts</h2>") : page.index("<h2>Timeline</h2>")]
    assert attempts.count("Texted after the member refused texts") == 1
    assert 'no answer <span class="by-channel">(text message)</span>' in attempts

    # Texts allowed: no warning.
    await put_member(api, phone=PHONE, timezone=zone_where_it_is(12))
    page = await page_of(api, f"/console/interactions/{case['id']}", ana)
    assert "consent-warning" not in page and "(refused by the member)" not in page


async def test_an_absence_preview_names_the_members_whose_cases_move(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    await put_member(api, display_name=NAME, phone=PHONE)
    case = await create(api)
    lead = await signed_in(api, "t-lead")
    day = datetime.now(UTC).astimezone(ZoneInfo("America/Chicago")).date() + timedelta(days=3)
    plan = posted(
        lead, staff_id="chw-ana", backup_id="chw-ben", starts_at=f"{day}T09:00", ends_at=f"{day}T17:00"
    )
    r = await api.post("/console/absences/preview", **plan)
    assert r.status_code == 200, r.text
    row = row_of(html.unescape(r.text), case["id"])
    assert f">{NAME}</a>" in row and f'href="tel:{PHONE}"' in row
