"""Repeat contacts merge into the member's open case (docs/rules.md §2.10), through
``POST /v1/interactions`` and ``POST /v1/inbound``."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from store.db import unit_of_work
from store.models import Interaction
from tests.api.support import ANA, LEAD, SYSTEM, detail, interaction_body, notifications, setup_team
from tests.conftest import CHICAGO_TEAM
from tests.workflows.support import add_interaction_row, eventually

TEAM_NUMBER = "+13125550100"
MEMBER_PHONE = "+13125550111"
# Mon 30 Nov 2026 in Chicago (CST, UTC-6), business hours 09:00-17:00.
MON_10 = "2026-11-30T10:00:00-06:00"
MON_11 = "2026-11-30T11:00:00-06:00"
MON_12 = "2026-11-30T12:00:00-06:00"
MON_17_UTC = "2026-11-30T23:00:00+00:00"
TUE_10_UTC = "2026-12-01T16:00:00+00:00"


async def setup(api: httpx.AsyncClient, *, merge: bool = True) -> None:
    await setup_team(api)
    team = {**CHICAGO_TEAM, "phone_numbers": [TEAM_NUMBER], "policy": {"merge_repeat_contacts": merge}}
    r = await api.put("/v1/teams/eastside", json=team, headers=SYSTEM)
    assert r.status_code == 200, r.text
    assert r.json()["policy"]["merge_repeat_contacts"] is merge
    r = await api.put(
        "/v1/teams/eastside/members/mem-1",
        json={"owner_id": "chw-ana", "phone": MEMBER_PHONE},
        headers=SYSTEM,
    )
    assert r.status_code == 200, r.text


async def start(api: httpx.AsyncClient, **over: Any) -> httpx.Response:
    over.setdefault("external_id", f"ext-{uuid.uuid4().hex[:10]}")
    return await api.post("/v1/interactions", json=interaction_body(**over), headers=SYSTEM)


def cases(sessions: sessionmaker[Session]) -> list[Interaction]:
    with sessions() as s:
        return list(s.scalars(select(Interaction).order_by(Interaction.created_at)))


def lines(case: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e for e in case["timeline"] if e["kind"] == kind]


async def test_a_second_call_from_the_member_joins_the_open_case(
    api: httpx.AsyncClient, sessions: sessionmaker[Session]
) -> None:
    await setup(api)
    first = await start(api, external_id="call-1")
    assert first.status_code == 201, first.text
    assert first.json()["merged"] is False and first.json()["contacts"] == 1

    second = await start(api, external_id="call-2")
    assert second.status_code == 200, second.text
    got = second.json()
    assert got["id"] == first.json()["id"] and got["merged"] is True
    assert got["contacts"] == 2 and got["last_contact_at"] is not None
    assert got["external_id"] == "call-1"  # the case's own

    # The merged contact's external id is remembered: a repeat answers the same case, once.
    again = await start(api, external_id="call-2")
    assert again.status_code == 200 and again.json()["id"] == got["id"] and again.json()["merged"] is True
    assert again.json()["contacts"] == 2
    assert len(cases(sessions)) == 1

    case = await detail(api, got["id"])
    (line,) = lines(case, "contacted_again")
    assert line["details"]["channel"] == "call" and line["details"]["contacts"] == 2

    async def told() -> list[dict[str, Any]]:
        return [n for n in await notifications(api, "chw-ana") if n["kind"] == "contacted_again"]

    (notice,) = await eventually(told)
    assert notice["interaction_id"] == got["id"]


async def test_a_call_after_a_text_moves_the_deadline_earlier_and_never_later(
    api: httpx.AsyncClient, sessions: sessionmaker[Session]
) -> None:
    await setup(api)
    text = await start(api, channel="text", received_at=MON_10)
    assert text.status_code == 201, text.text
    assert text.json()["due_at"] == TUE_10_UTC
    call = await start(api, channel="call", received_at=MON_11)
    assert call.json()["merged"] is True and call.json()["due_at"] == MON_17_UTC
    # The SLA is still the text's: the first response is judged against Tue 10:00.
    assert call.json()["first_due_at"] == TUE_10_UTC
    later = await start(api, channel="text", received_at=MON_12)
    assert later.json()["due_at"] == MON_17_UTC and later.json()["contacts"] == 3
    assert later.json()["last_contact_at"] == "2026-11-30T18:00:00+00:00"
    assert [r.channel for r in cases(sessions)] == ["text"]


async def test_a_contact_after_the_first_response_sets_a_new_deadline_and_restarts_the_ladder(
    api: httpx.AsyncClient,
) -> None:
    await setup(api)
    first = (await start(api, channel="call", received_at=MON_10)).json()
    assert first["due_at"] == MON_17_UTC
    for _ in range(3):  # the team's max_attempts: the member becomes unreachable
        r = await api.post(
            f"/v1/interactions/{first['id']}/attempts", json={"outcome": "no_answer"}, headers=ANA
        )
        assert r.status_code == 200, r.text
    assert r.json()["unreachable"] is True and r.json()["first_response_at"] is not None

    merged = (await start(api, channel="text", received_at=MON_12)).json()
    assert merged["merged"] is True and merged["id"] == first["id"]
    assert merged["unreachable"] is False and merged["next_retry_at"] is None
    # A text's deadline, counted from this contact: Tue 12:00, later than the answered call's.
    assert merged["due_at"] == "2026-12-01T18:00:00+00:00"
    case = await detail(api, first["id"])
    (line,) = lines(case, "contacted_again")
    assert line["details"]["ladder_restarted"] is True and line["details"]["awaiting_response"] is True


async def test_an_inbound_text_after_a_call_joins_the_case(
    api: httpx.AsyncClient, sessions: sessionmaker[Session]
) -> None:
    await setup(api)
    body = {
        "to": TEAM_NUMBER,
        "from": MEMBER_PHONE,
        "channel": "call",
        "at": datetime.now(UTC).isoformat(),
        "provider_id": f"call-{uuid.uuid4().hex}",
    }
    r = await api.post("/v1/inbound", json=body, headers=SYSTEM)
    assert r.status_code == 201 and r.json()["outcome"] == "opened", r.text
    case_id = r.json()["interaction_id"]
    text = {**body, "channel": "text", "provider_id": f"msg-{uuid.uuid4().hex}", "body": "call me back"}
    r = await api.post("/v1/inbound", json=text, headers=SYSTEM)
    assert r.status_code == 200, r.text
    assert r.json()["outcome"] == "merged" and r.json()["interaction_id"] == case_id
    r = await api.post("/v1/inbound", json=text, headers=SYSTEM)  # the phone system again
    assert r.json()["interaction_id"] == case_id
    assert len(cases(sessions)) == 1
    case = await detail(api, case_id)
    assert case["contacts"] == 2
    (note,) = lines(case, "contact_note")  # the text's body stays with the case, once
    assert note["note"] == "call me back" and note["details"] == {"channel": "text"}


async def test_merge_repeat_contacts_false_keeps_separate_cases(
    api: httpx.AsyncClient, sessions: sessionmaker[Session]
) -> None:
    await setup(api, merge=False)
    first = await start(api)
    second = await start(api)
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] != second.json()["id"] and second.json()["merged"] is False
    assert len(cases(sessions)) == 2


async def test_a_contact_from_another_member_or_after_resolution_opens_its_own_case(
    api: httpx.AsyncClient, sessions: sessionmaker[Session]
) -> None:
    await setup(api)
    first = (await start(api)).json()
    other = await start(api, member_id="mem-2")
    assert other.status_code == 201 and other.json()["id"] != first["id"]
    r = await api.post(f"/v1/interactions/{first['id']}/attempts", json={"outcome": "reached"}, headers=ANA)
    assert r.status_code == 200, r.text
    r = await api.post(f"/v1/interactions/{first['id']}/resolve", json={"resolution": "done"}, headers=ANA)
    assert r.status_code == 200, r.text
    after = await start(api)
    assert after.status_code == 201 and after.json()["id"] != first["id"]
    assert len(cases(sessions)) == 3


async def test_a_merged_contact_with_a_safety_flag_escalates_the_case(api: httpx.AsyncClient) -> None:
    await setup(api)
    first = (await start(api)).json()
    body = {"flags": ["safety"], "external_id": f"ext-{uuid.uuid4().hex[:10]}"}
    merged = (await start(api, **body)).json()
    assert merged["id"] == first["id"] and merged["merged"] is True
    assert "safety" in merged["flags"] and [e["trigger"] for e in merged["escalations"]] == ["safety"]
    again = (await start(api, **body)).json()  # the same contact again raises nothing more
    assert [e["trigger"] for e in again["escalations"]] == ["safety"]
    assert [e["kind"] for e in (await detail(api, first["id"]))["timeline"]].count("flagged") == 1


def tied_cases(sessions: sessionmaker[Session], due: datetime) -> list[str]:
    """Ana's open cases as the projection holds them: three due at ``due``, of members who
    contacted once, twice and three times, and one of a single contact due an hour earlier.
    Their ids sort the three the other way round (the queue's last tie-break), so only the
    contacts put them in order. Answers the ids in the order the queue must show them."""
    earlier, once, twice, thrice = ("a" * 32, "b" * 32, "c" * 32, "d" * 32)
    with unit_of_work(sessions) as s:
        for case_id, at, contacts in (
            (once, due, 1),
            (twice, due, 2),
            (thrice, due, 3),
            (earlier, due - timedelta(hours=1), 1),
        ):
            add_interaction_row(s, assignee_id="chw-ana", due_at=at, id=case_id, contacts=contacts)
    return [earlier, thrice, twice, once]


async def test_at_the_same_deadline_the_member_who_contacted_more_comes_first(
    api: httpx.AsyncClient, sessions: sessionmaker[Session]
) -> None:
    await setup(api)
    expected = tied_cases(sessions, datetime.now(UTC) + timedelta(days=2))
    params = {"team_id": "eastside", "assignee_id": "chw-ana"}
    r = await api.get("/v1/interactions", params=params, headers=LEAD)
    assert r.status_code == 200, r.text
    assert [i["id"] for i in r.json()["items"]] == expected
    assert [i["contacts"] for i in r.json()["items"]] == [1, 3, 2, 1]

    # One case a page: the cursor carries the tie-break, nothing is skipped or repeated.
    paged: list[str] = []
    page: dict[str, Any] = {**params, "limit": 1}
    while True:
        r = await api.get("/v1/interactions", params=page, headers=LEAD)
        assert r.status_code == 200, r.text
        paged += [i["id"] for i in r.json()["items"]]
        if r.json()["next_cursor"] is None:
            break
        page["cursor"] = r.json()["next_cursor"]
    assert paged == expected
