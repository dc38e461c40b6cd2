"""The console over plain HTTP: sign-in, the session cookie, CSRF and cross-site refusals, 403s."""

from __future__ import annotations

import base64
import hashlib
import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from api.console import security, sso
from config.settings import Settings
from store.db import unit_of_work
from store.models import Interaction
from tests.api.support import (
    ANA,
    LEAD,
    SYSTEM,
    create,
    detail,
    setup_other_team,
    setup_team,
    zone_abbr,
    zone_where_it_is,
)
from tests.api.test_escalations_api import escalation_of
from tests.api.test_repeat_contacts_api import tied_cases
from tests.workflows.support import add_interaction_row

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def cookie_of(response: httpx.Response, name: str) -> str | None:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{name}="):
            return header
    return None


async def signed_in(api: httpx.AsyncClient, token: str) -> dict[str, str]:
    """Sign in like a browser would; returns the Cookie header and the page's CSRF token."""
    page = await api.get("/console/sign-in")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    csrf_cookie = page.cookies.get(security.CSRF_COOKIE) or ""
    r = await api.post(
        "/console/sign-in",
        data={"token": token, "csrf": csrf.group(1)},
        headers={"Cookie": f"{security.CSRF_COOKIE}={csrf_cookie}", "Origin": "http://test"},
    )
    assert r.status_code == 303, r.text
    session = cookie_of(r, security.SESSION_COOKIE)
    assert session is not None
    value = session.split(";", 1)[0].split("=", 1)[1]
    return {
        "Cookie": f"{security.CSRF_COOKIE}={csrf_cookie}; {security.SESSION_COOKIE}={value}",
        "csrf": csrf.group(1),
    }


async def test_console_redirects_to_sign_in_with_token_field(api: httpx.AsyncClient) -> None:
    r = await api.get("/console")
    assert r.status_code == 303
    assert r.headers["location"] == "/console/sign-in"
    page = await api.get("/console/sign-in")
    assert '<label for="token">Token</label>' in page.text
    assert ">Sign in</button>" in page.text
    assert "Sign in with SSO" not in page.text  # no OIDC configured


async def test_session_cookie_is_sealed_httponly_strict_and_secure(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    auth = await signed_in(api, "t-chw-ana")
    r = await api.post(
        "/console/sign-in",
        data={"token": "t-chw-ana", "csrf": auth["csrf"]},
        headers={"Cookie": auth["Cookie"]},
    )
    header = cookie_of(r, security.SESSION_COOKIE) or ""
    assert "HttpOnly" in header and "SameSite=strict" in header and "Secure" in header
    assert "t-chw-ana" not in header  # the token is sealed, never readable

    queue = await api.get("/console/queue", headers={"Cookie": auth["Cookie"]})
    assert queue.status_code == 200
    assert "<h1>My queue</h1>" in queue.text


async def test_wrong_token_is_refused_and_sets_no_session(api: httpx.AsyncClient) -> None:
    page = await api.get("/console/sign-in")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    r = await api.post(
        "/console/sign-in",
        data={"token": "not-a-token", "csrf": csrf.group(1)},
        headers={"Cookie": f"{security.CSRF_COOKIE}={page.cookies.get(security.CSRF_COOKIE)}"},
    )
    assert r.status_code == 401
    assert "That token was not accepted." in r.text
    assert cookie_of(r, security.SESSION_COOKIE) is None


async def test_cross_site_and_csrf_less_posts_are_refused_and_change_nothing(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    case = await create(api)
    auth = await signed_in(api, "t-chw-ana")
    url = f"/console/interactions/{case['id']}/attempt"
    form = {"outcome": "reached", "csrf": auth["csrf"]}
    evil = await api.post(
        url, data=form, headers={"Cookie": auth["Cookie"], "Origin": "https://evil.example"}
    )
    assert evil.status_code == 403
    fetch = await api.post(url, data=form, headers={"Cookie": auth["Cookie"], "Sec-Fetch-Site": "cross-site"})
    assert fetch.status_code == 403
    no_csrf = await api.post(url, data={"outcome": "reached"}, headers={"Cookie": auth["Cookie"]})
    assert no_csrf.status_code == 403
    assert "did not come from this console" in no_csrf.text
    assert (await detail(api, case["id"]))["attempts"] == []


async def test_same_403_rules_as_the_api(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    await setup_other_team(api)
    anas = await create(api)
    ben = await signed_in(api, "t-chw-ben")
    # Ben reads his team's case (the API lets him) but may not act on Ana's.
    page = await api.get(f"/console/interactions/{anas['id']}", headers={"Cookie": ben["Cookie"]})
    assert page.status_code == 200
    assert "Record attempt" not in page.text
    r = await api.post(
        f"/console/interactions/{anas['id']}/attempt",
        data={"outcome": "reached", "csrf": ben["csrf"]},
        headers={"Cookie": ben["Cookie"]},
    )
    assert r.status_code == 403
    assert "a CHW acts only on interactions assigned to them" in r.text
    api_answer = await api.post(
        f"/v1/interactions/{anas['id']}/attempts",
        json={"outcome": "reached"},
        headers=auth_header("t-chw-ben"),
    )
    assert api_answer.status_code == 403
    # A lead of another team cannot even read it, as with GET /v1/interactions/{id}.
    other = await signed_in(api, "t-other-lead")
    assert (
        await api.get(f"/console/interactions/{anas['id']}", headers={"Cookie": other["Cookie"]})
    ).status_code == 403
    # CHWs get no lead pages.
    assert (await api.get("/console/escalations", headers={"Cookie": ben["Cookie"]})).status_code == 403
    assert (await api.get("/console/report", headers={"Cookie": ben["Cookie"]})).status_code == 403
    assert (await detail(api, anas["id"]))["attempts"] == []


async def test_bad_input_is_a_clear_422_and_changes_nothing(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    case = await create(api)
    ana = await signed_in(api, "t-chw-ana")
    r = await api.post(
        f"/console/interactions/{case['id']}/attempt",
        data={"outcome": "bogus", "csrf": ana["csrf"]},
        headers={"Cookie": ana["Cookie"]},
    )
    assert r.status_code == 422
    assert "outcome" in r.text
    r = await api.post(
        f"/console/interactions/{case['id']}/resolve",
        data={"resolution": "   ", "csrf": ana["csrf"]},
        headers={"Cookie": ana["Cookie"]},
    )
    assert r.status_code == 422
    got = await api.get(f"/v1/interactions/{case['id']}", headers=ANA)
    assert got.json()["attempts"] == [] and got.json()["status"] != "resolved"


async def test_sso_link_only_with_oidc_configured(settings: Settings, api: httpx.AsyncClient) -> None:
    from api.app import create_app

    configured = settings.model_copy(
        update={"oidc_issuer": "https://id.example", "oidc_audience": "ft", "oidc_client_id": "console"}
    )
    app = create_app(configured)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        page = await c.get("/console/sign-in")
    assert "Sign in with SSO" in page.text


def auth_header(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_sign_out_clears_the_session(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    ana = await signed_in(api, "t-chw-ana")
    r = await api.post("/console/sign-out", data={"csrf": ana["csrf"]}, headers={"Cookie": ana["Cookie"]})
    assert r.status_code == 303 and r.headers["location"] == "/console/sign-in"
    cleared = cookie_of(r, security.SESSION_COOKIE) or ""
    assert 'ft_session="";' in cleared or "Max-Age=0" in cleared
    # A forged or stale session cookie is no session at all.
    forged = {"Cookie": f"{security.SESSION_COOKIE}=not-a-sealed-token"}
    assert (await api.get("/console/queue", headers=forged)).status_code == 303


async def test_sign_in_with_sso(
    settings: Settings, client: Client, api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The authorization-code flow: state checked, code exchanged (PKCE), signed in with the token."""
    from api.app import create_app

    await setup_team(api)
    endpoints = {
        "authorization_endpoint": "https://id.example/auth",
        "token_endpoint": "https://id.example/token",
    }
    exchanged: list[tuple[str, str]] = []

    async def discover(_: Settings) -> dict[str, str]:
        return endpoints

    async def exchange(_request: object, _settings: Settings, code: str, verifier: str) -> str:
        exchanged.append((code, verifier))
        return "t-lead"  # what the provider's token endpoint answers, checked by authenticate

    monkeypatch.setattr(sso, "discover", discover)
    monkeypatch.setattr(sso, "exchange", exchange)
    configured = settings.model_copy(
        update={"oidc_issuer": "https://id.example", "oidc_audience": "ft", "oidc_client_id": "console"}
    )
    app = create_app(configured, temporal_client=client)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        page = await c.get("/console/sign-in")
        assert '<a href="/console/sso">Sign in with SSO</a>' in page.text
        go = await c.get("/console/sso")
        assert go.status_code == 303
        target = urlparse(go.headers["location"])
        query = parse_qs(target.query)
        assert target.netloc == "id.example" and query["client_id"] == ["console"]
        assert query["redirect_uri"] == ["http://test/console/sso/callback"]
        assert query["code_challenge_method"] == ["S256"]
        started = {"Cookie": (cookie_of(go, sso.SSO_COOKIE) or "").split(";", 1)[0]}

        wrong = await c.get("/console/sso/callback?code=abc&state=forged", headers=started)
        assert wrong.status_code == 422 and cookie_of(wrong, security.SESSION_COOKIE) is None
        unstarted = await c.get(f"/console/sso/callback?code=abc&state={query['state'][0]}")
        assert unstarted.status_code == 422 and exchanged == []

        back = await c.get(f"/console/sso/callback?code=abc&state={query['state'][0]}", headers=started)
        assert back.status_code == 200, back.text
        code, verifier = exchanged[0]
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        assert code == "abc" and query["code_challenge"] == [challenge]
        session = (cookie_of(back, security.SESSION_COOKIE) or "").split(";", 1)[0]
        queue = await c.get("/console/queue", headers={"Cookie": session})
        assert queue.status_code == 200 and "lead-1 (lead)" in queue.text


async def anas_case_page(api: httpx.AsyncClient, zone: str) -> tuple[dict[str, Any], dict[str, str], str]:
    """A case of Ana's member, who lives in ``zone``; Ana's session and the case page's text."""
    await setup_team(api)
    r = await api.put(
        "/v1/teams/eastside/members/mem-1", json={"owner_id": "chw-ana", "timezone": zone}, headers=SYSTEM
    )
    assert r.status_code == 200, r.text
    case = await create(api)
    ana = await signed_in(api, "t-chw-ana")
    page = await api.get(f"/console/interactions/{case['id']}", headers={"Cookie": ana["Cookie"]})
    return case, ana, html.unescape(page.text)


async def test_the_console_warns_before_an_attempt_outside_the_window_or_over_the_cap(
    api: httpx.AsyncClient,
) -> None:
    zone = zone_where_it_is(3)  # outside every member's window
    case, ana, text = await anas_case_page(api, zone)
    assert (
        f'Outside the member\'s contact window: it opens 08:00 <abbr title="{zone}">{zone_abbr(zone)}</abbr>'
        in text
    )
    assert "daily cap" not in text
    assert 'for="override-reason">Override reason' in text
    r = await api.post(
        f"/console/interactions/{case['id']}/attempt",
        data={"outcome": "no_answer", "override_reason": "member asked for a call now", "csrf": ana["csrf"]},
        headers={"Cookie": ana["Cookie"]},
    )
    assert r.status_code == 303, r.text
    [first] = (await detail(api, case["id"]))["attempts"]
    assert first["outside_contact_window"] is True and first["over_daily_cap"] is False
    assert first["override_reason"] == "member asked for a call now"
    for n in range(2):  # the daily cap is 3 attempts per member per 24 hours
        r = await api.post(
            f"/v1/interactions/{case['id']}/attempts",
            json={"outcome": "no_answer"},
            headers={**ANA, "Idempotency-Key": f"cap-{n}"},
        )
        assert r.status_code == 200, r.text
    page = await api.get(f"/console/interactions/{case['id']}", headers={"Cookie": ana["Cookie"]})
    assert "The member has had 3 attempts in the last 24 hours (daily cap 3; the cap clears" in html.unescape(
        page.text
    )


async def test_no_warning_inside_the_window_and_under_the_cap(api: httpx.AsyncClient) -> None:
    _, _, text = await anas_case_page(api, zone_where_it_is(12))  # inside the member's window
    assert "Record attempt" in text
    assert "contact-warning" not in text and "Override reason" not in text


def posted(auth: dict[str, str], **fields: str) -> dict[str, Any]:
    """A console form post as the signed-in browser sends it."""
    return {"data": {**fields, "csrf": auth["csrf"]}, "headers": {"Cookie": auth["Cookie"]}}


async def test_escalations_are_acknowledged_and_resolved_as_by_the_api(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    await setup_other_team(api)
    case = await create(api, flags=["safety"])
    eid = (await escalation_of(api, case["id"], "safety"))["id"]
    lead = await signed_in(api, "t-lead")
    page = await api.get("/console/escalations", headers={"Cookie": lead["Cookie"]})
    assert page.status_code == 200
    assert f'id="esc-{eid}"' in page.text and f'href="/console/escalations/{eid}"' in page.text
    own = await api.get(f"/console/escalations/{eid}", headers={"Cookie": lead["Cookie"]})
    assert own.status_code == 200 and "Ladder" in own.text

    # Another team's lead is told it is not theirs, before anything else is read.
    other = await signed_in(api, "t-other-lead")
    r = await api.post(f"/console/escalations/{eid}/acknowledge", **posted(other, key="x"))
    assert r.status_code == 403
    assert "not a member of this escalation&#39;s team" in r.text

    ack = posted(lead, key="ack-1", back="interaction")
    r = await api.post(f"/console/escalations/{eid}/acknowledge", **ack)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == f"/console/interactions/{case['id']}?done=acknowledged"
    again = await api.post(f"/console/escalations/{eid}/acknowledge", **ack)  # the same form twice
    assert again.status_code == 303, again.text
    assert again.headers["location"] == r.headers["location"]

    r = await api.post(
        f"/console/escalations/{eid}/resolve", **posted(lead, key="res-1", action_taken="called")
    )
    assert r.status_code == 422
    assert "Outcome is required to resolve an escalation" in html.unescape(r.text)
    done = posted(lead, key="res-2", action_taken="called 911 with the member", outcome="member safe")
    r = await api.post(f"/console/escalations/{eid}/resolve", **done)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/console/escalations?done=escalation-resolved"
    got = (await api.get(f"/v1/escalations/{eid}", headers=LEAD)).json()
    assert (got["status"], got["acknowledged_by"], got["resolved_by"]) == ("resolved", "lead-1", "lead-1")
    assert (got["action_taken"], got["outcome"]) == ("called 911 with the member", "member safe")


async def test_absences_are_previewed_planned_changed_and_cancelled_as_by_the_api(
    api: httpx.AsyncClient,
) -> None:
    await setup_team(api)
    await setup_other_team(api)
    await create(api)  # mem-1's case: Ana's, so it moves when she is away
    lead = await signed_in(api, "t-lead")
    day = datetime.now(UTC).astimezone(ZoneInfo("America/Chicago")).date() + timedelta(days=3)
    when = {"starts_at": f"{day}T09:00", "ends_at": f"{day + timedelta(days=2)}T17:00"}
    plan = posted(lead, key="plan-1", staff_id="chw-ana", backup_id="chw-ben", **when)

    r = await api.post("/console/absences/preview", **plan)
    assert r.status_code == 200, r.text
    assert "1 open case will move to chw-ben when the absence starts." in r.text
    r = await api.post("/console/absences/preview", **posted(lead, staff_id="chw-ana", starts_at="soon"))
    assert r.status_code == 422
    shown = html.unescape(r.text)
    words = "Starts: enter a date and time, such as 2026-12-01 09:00."
    assert f'<p class="field-error" id="starts-error">{words}</p>' in shown
    assert 'value="soon" aria-invalid="true" aria-describedby="starts-error"' in shown

    for _ in range(2):  # the same form twice plans one absence
        r = await api.post("/console/absences", **plan)
        assert r.status_code == 303, r.text
        assert r.headers["location"] == "/console/absences?done=absence-planned"
    [absence] = (await api.get("/v1/absences", headers=LEAD)).json()["items"]
    assert (absence["staff_id"], absence["backup_id"], absence["created_by"]) == (
        "chw-ana",
        "chw-ben",
        "lead-1",
    )
    nine = datetime(day.year, day.month, day.day, 9, tzinfo=ZoneInfo("America/Chicago"))  # the form's 09:00
    assert absence["starts_at"] == nine.astimezone(UTC).isoformat()
    page = await api.get("/console/absences", headers={"Cookie": lead["Cookie"]})
    assert f'action="/console/absences/{absence["id"]}/change"' in page.text

    other = await signed_in(api, "t-other-lead")
    later = f"{day + timedelta(days=4)}T17:00"
    r = await api.post(f"/console/absences/{absence['id']}/change", **posted(other, key="c", ends_at=later))
    assert r.status_code == 403
    assert "not a member of this absence&#39;s team" in r.text
    r = await api.post(f"/console/absences/{absence['id']}/change", **posted(lead, key="c-1", ends_at=later))
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/console/absences?done=absence-changed"
    got = (await api.get(f"/v1/absences/{absence['id']}", headers=LEAD)).json()
    assert (
        got["ends_at"]
        == datetime.fromisoformat(later)
        .replace(tzinfo=ZoneInfo("America/Chicago"))
        .astimezone(UTC)
        .isoformat()
    )

    r = await api.post(f"/console/absences/{absence['id']}/cancel", **posted(lead, key="x-1"))
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/console/absences?done=absence-cancelled"
    r = await api.post(f"/console/absences/{absence['id']}/cancel", **posted(lead, key="x-2"))
    assert r.status_code == 409
    assert f"absence {absence['id']} is already cancelled" in r.text


def position(text: str, case_id: str) -> int:
    at = text.find(f'id="open-{case_id}"')
    assert at >= 0, f"{case_id} is not in the queue"
    return at


async def test_an_open_safety_case_comes_first_with_a_marker_and_is_stated_at_the_top_of_its_page(
    api: httpx.AsyncClient,
) -> None:
    await setup_team(api)
    breached = await create(api, received_at=(datetime.now(UTC) - timedelta(days=8)).isoformat())
    soon = await create(api)
    safety = await create(api, summary="Partner threatened her")
    r = await api.post(f"/v1/interactions/{safety['id']}/flags", json={"flag": "safety"}, headers=ANA)
    assert r.status_code == 200, r.text
    await escalation_of(api, safety["id"], "safety")
    ana = await signed_in(api, "t-chw-ana")
    queue = html.unescape((await api.get("/console/queue", headers={"Cookie": ana["Cookie"]})).text)
    # Safety, then breached, then by deadline (docs/console.md, My queue).
    assert position(queue, safety["id"]) < position(queue, breached["id"]) < position(queue, soon["id"])
    marker = f'<strong class="safety-marker" id="safety-{safety["id"]}">Safety · not acknowledged</strong>'
    assert marker in queue
    assert f'aria-describedby="safety-{safety["id"]}"' in queue  # the link to the case is described by it
    assert queue.count("safety-marker") == 1
    page = html.unescape(
        (await api.get(f"/console/interactions/{safety['id']}", headers={"Cookie": ana["Cookie"]})).text
    )
    assert "Open safety escalation: not acknowledged" in page
    assert page.index("Open safety escalation") < page.index("<dt>State</dt>")

    # Acknowledged but unresolved: still first, and it says who has it.
    eid = (await escalation_of(api, safety["id"], "safety"))["id"]
    r = await api.post(f"/v1/escalations/{eid}/acknowledge", json={}, headers=LEAD)
    assert r.status_code == 200, r.text
    queue = html.unescape((await api.get("/console/queue", headers={"Cookie": ana["Cookie"]})).text)
    assert position(queue, safety["id"]) < position(queue, breached["id"])
    assert "Safety · acknowledged" in queue
    page = html.unescape(
        (await api.get(f"/console/interactions/{safety['id']}", headers={"Cookie": ana["Cookie"]})).text
    )
    assert "Open safety escalation: acknowledged by lead-1, not resolved" in page


async def test_at_the_same_deadline_the_member_who_contacted_more_comes_first(
    api: httpx.AsyncClient, sessions: sessionmaker[Session]
) -> None:
    """The console's queues keep the API's tie-break (one order, ``store.repositories.QUEUE_ORDER``),
    for cases due soon as for cases breached without a response."""
    await setup_team(api)
    ana = await signed_in(api, "t-chw-ana")
    lead = await signed_in(api, "t-lead")
    upcoming = tied_cases(sessions, datetime.now(UTC) + timedelta(days=2))
    for page, who in (("/console/queue", ana), ("/console/team", lead)):
        queue = html.unescape((await api.get(page, headers={"Cookie": who["Cookie"]})).text)
        assert [position(queue, i) for i in upcoming] == sorted(position(queue, i) for i in upcoming), page
    with unit_of_work(sessions) as s:  # the same cases, now past their deadlines
        for row in s.scalars(select(Interaction)):
            row.due_at = row.due_at - timedelta(days=4)
    queue = html.unescape((await api.get("/console/queue", headers={"Cookie": ana["Cookie"]})).text)
    assert queue.count("state-breached") == 4
    assert [position(queue, i) for i in upcoming] == sorted(position(queue, i) for i in upcoming)


async def test_the_report_page_counts_repeat_contacts_per_channel(
    api: httpx.AsyncClient, sessions: sessionmaker[Session]
) -> None:
    await setup_team(api)
    due = datetime.now(UTC) + timedelta(hours=1)
    with unit_of_work(sessions) as s:
        add_interaction_row(s, assignee_id="chw-ana", due_at=due, channel="text", contacts=3)
        add_interaction_row(s, assignee_id="chw-ana", due_at=due, channel="text")
        add_interaction_row(s, assignee_id="chw-ana", due_at=due, channel="call", contacts=2)
    lead = await signed_in(api, "t-lead")
    page = html.unescape((await api.get("/console/report", headers={"Cookie": lead["Cookie"]})).text)
    assert '<th scope="col">Repeat contacts</th>' in page
    cells = {
        m.group(1): re.findall(r"<td>([^<]*)</td>", m.group(0))
        for m in re.finditer(r"<tr><td>([^<]+)</td>.*?</tr>", page, re.S)
    }
    # received ... repeat contacts (the last column)
    assert (cells["text message"][1], cells["text message"][-1]) == ("2", "2")
    assert (cells["call"][1], cells["call"][-1]) == ("1", "1")
    assert cells["voicemail"][-1] == "0"


async def test_after_a_no_answer_the_case_shows_the_next_try_not_met_and_a_resolved_case_does_not_count_down(
    api: httpx.AsyncClient,
) -> None:
    case, ana, _ = await anas_case_page(api, zone_where_it_is(3))  # outside the member's window
    r = await api.post(
        f"/console/interactions/{case['id']}/attempt",
        **posted(ana, key="a-1", outcome="no_answer", override_reason="asked for a late call"),
    )
    assert r.status_code == 303, r.text
    got = await detail(api, case["id"])
    assert got["next_retry_at"] is not None and got["sla_met"] is True
    page = html.unescape(
        (await api.get(f"/console/interactions/{case['id']}", headers={"Cookie": ana["Cookie"]})).text
    )
    assert '<span class="state state-met">' not in page and ">met<" not in page
    assert "<dt>Status</dt>" not in page  # one state, not two
    state = re.search(r'<dd id="case-state">(.*?)</dd>', page, re.S)
    assert state is not None
    assert "waiting to retry" in state.group(1) and "No answer at " in state.group(1)
    assert "next try after " in state.group(1)
    retry = datetime.fromisoformat(got["next_retry_at"])
    assert f'<time datetime="{retry.isoformat()}" data-countdown id="next-try">' in page
    assert f'<time datetime="{datetime.fromisoformat(got["due_at"]).isoformat()}" data-countdown' not in page
    attempts = page[page.index("<h2>Attempts</h2>") : page.index("<h2>Timeline</h2>")]
    assert "Outside contact window" in attempts and "(reason: asked for a late call)" in attempts
    # The queue counts down to the next try, not to the deadline that was met.
    queue = html.unescape((await api.get("/console/queue", headers={"Cookie": ana["Cookie"]})).text)
    assert f'<time datetime="{retry.isoformat()}" data-countdown>Next try ' in queue

    r = await api.post(
        f"/console/interactions/{case['id']}/resolve", **posted(ana, key="r-1", resolution="done")
    )
    assert r.status_code == 303, r.text
    page = html.unescape(
        (await api.get(f"/console/interactions/{case['id']}", headers={"Cookie": ana["Cookie"]})).text
    )
    assert "data-countdown" not in page
    assert re.search(r"resolved</span> · Resolved .* by chw-ana", page)


async def test_pages_show_names_plain_words_and_short_zones(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    for staff_id, name, role in (("chw-ana", "Ana Ruiz", "chw"), ("lead-1", "Lee (lead)", "lead")):
        r = await api.put(
            f"/v1/teams/eastside/staff/{staff_id}", json={"name": name, "role": role}, headers=SYSTEM
        )
        assert r.status_code == 200, r.text
    # The member's clock reads 03:xx, so the case page carries the contact advice, at any hour.
    night = zone_where_it_is(3)
    r = await api.put(
        "/v1/teams/eastside/members/mem-1", json={"owner_id": "chw-ana", "timezone": night}, headers=SYSTEM
    )
    assert r.status_code == 200, r.text
    case = await create(api, received_at=(datetime.now(UTC) - timedelta(days=8)).isoformat())
    r = await api.post(f"/v1/interactions/{case['id']}/attempts", json={"outcome": "no_answer"}, headers=ANA)
    assert r.status_code == 200, r.text
    await escalation_of(api, case["id"], "deadline_missed")
    ana = await signed_in(api, "t-chw-ana")
    lead = await signed_in(api, "t-lead")
    short = zone_abbr("America/Chicago")
    pages = {
        "queue": html.unescape((await api.get("/console/queue", headers={"Cookie": ana["Cookie"]})).text),
        "case": html.unescape(
            (await api.get(f"/console/interactions/{case['id']}", headers={"Cookie": lead["Cookie"]})).text
        ),
        "escalations": html.unescape(
            (await api.get("/console/escalations", headers={"Cookie": lead["Cookie"]})).text
        ),
        "absences": html.unescape(
            (await api.get("/console/absences", headers={"Cookie": lead["Cookie"]})).text
        ),
    }
    assert "Ana Ruiz (CHW)" in pages["queue"] and "chw-ana (chw)" not in pages["queue"]
    assert "<span>Lee (lead)</span>" in pages["escalations"] and "lead-1" not in pages["escalations"]
    for name, text in pages.items():
        shown = re.sub(r"<[^>]+>", " ", text)  # what a person reads (not ids in attributes)
        assert "(lead) (lead)" not in shown, name
        assert "no_answer" not in shown and "deadline_missed" not in shown, name
        assert "America/Chicago" not in shown and night not in shown, name
    assert f'Deadline (<abbr title="America/Chicago">{short}</abbr>)' in pages["queue"]
    case_page = pages["case"]
    assert "<dd>Ana Ruiz</dd>" in case_page  # the assignee
    assert f'it opens 08:00 <abbr title="{night}">{zone_abbr(night)}</abbr>.' in case_page
    assert '<td data-label="Outcome">no answer</td><td data-label="By">Ana Ruiz</td>' in case_page
    assert "deadline missed: not acknowledged" in case_page
    assert ">Lee (lead)</option>" in case_page and ">Ana Ruiz (CHW)</option>" in case_page
    assert "deadline missed" in pages["escalations"]


def test_zone_names_in_service_sentences_read_short(db_url: str) -> None:
    from api.console.labels import zones_in

    short = zone_abbr("America/Denver")
    said = zones_in("It opens 08:00 America/Denver; the cap clears 09:10 America/Denver. <b>a/b</b> Foo/Bar")
    assert str(said) == (
        f'It opens 08:00 <abbr title="America/Denver">{short}</abbr>; the cap clears 09:10 '
        f'<abbr title="America/Denver">{short}</abbr>. &lt;b&gt;a/b&lt;/b&gt; Foo/Bar'
    )


def test_durations_read_in_days_and_hours_past_a_day(db_url: str) -> None:
    from api.console.labels import duration

    assert duration(timedelta(hours=60, minutes=22)) == "2 days 12 h"
    assert duration(timedelta(hours=24, minutes=5)) == "1 day"
    assert duration(timedelta(hours=3, minutes=5)) == "3 h 05 min"
    assert duration(timedelta(minutes=-25)) == "25 min"
