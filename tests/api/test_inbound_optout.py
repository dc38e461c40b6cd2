"""Opt-outs by text beyond the carrier keywords (docs/channels.md, docs/rules.md §2.11): a text
that only reads like one is flagged for the CHW, a keyword from a number no member has yet is
remembered for the member who gets it, HELP changes nothing. Requests signed as Twilio signs them."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from tests.api.support import LEAD, SYSTEM, create, detail
from tests.api.test_inbound_twilio import (
    assert_twiml,
    call,
    cases,
    kinds,
    profile,
    projected_history,
    settings,
    setup,
    sid,
    text,
    twilio,
)
from tests.console.test_console_http import signed_in

__all__ = ["settings"]  # the Twilio settings fixture of test_inbound_twilio

NEWCOMER = "+13125550142"  # no member of the team has this number (yet)


# ---------------------------------------------------------------- possible opt-outs
async def test_a_text_asking_in_other_words_is_flagged_for_review_and_changes_no_consent(
    api: httpx.AsyncClient, client: Client, sessions: sessionmaker[Session]
) -> None:
    await setup(api)
    body = "CANARY-OPT Please stop texting me, I moved"
    message_sid = sid("SM")
    for _ in range(2):  # Twilio retries: one line
        assert_twiml(await twilio(api, "messaging", text(message_sid, body)))
    (row,) = cases(sessions)
    got = await detail(api, row.id)
    assert got["summary"] == body  # a case for the CHW, the text as its summary
    (line,) = [e for e in got["timeline"] if e["kind"] == "possible_opt_out"]
    assert line["details"] == {"channel": "text", "provider": "twilio", "provider_id": message_sid}
    assert profile(sessions, "mem-1")["consent"]["text"]["status"] == "granted"  # never acted on
    assert "CANARY-OPT" not in await projected_history(client, row.workflow_id)

    # The CHW sees it in words on the case's page.
    auth = await signed_in(api, "t-chw-ana")
    page = await api.get(f"/console/interactions/{row.id}", headers={"Cookie": auth["Cookie"]})
    assert page.status_code == 200
    shown = html.unescape(page.text)
    assert "may be asking us to stop texting" in shown  # the timeline line
    assert (
        "a text on this case may ask us to stop texting: read it before texting" in shown
    )  # by the sms: link


async def test_a_merged_text_in_spanish_is_flagged_on_the_open_case_and_an_ordinary_one_is_not(
    api: httpx.AsyncClient, sessions: sessionmaker[Session]
) -> None:
    await setup(api)
    case = await create(api, member_id="mem-1")
    assert_twiml(await twilio(api, "messaging", text(sid("SM"), "¿A qué hora abren mañana?")))
    assert "possible_opt_out" not in kinds(await detail(api, case["id"]))
    assert_twiml(await twilio(api, "messaging", text(sid("SM"), "Por favor no me escriba más")))
    got = await detail(api, case["id"])
    assert [c.id for c in cases(sessions)] == [case["id"]]
    assert got["contacts"] == 3 and kinds(got).count("possible_opt_out") == 1
    assert profile(sessions, "mem-1")["consent"]["text"]["status"] == "granted"


async def test_help_and_info_answer_empty_twiml_and_change_nothing(
    api: httpx.AsyncClient, sessions: sessionmaker[Session]
) -> None:
    await setup(api)
    case = await create(api, member_id="mem-1")
    before = profile(sessions, "mem-1")
    for word in ("HELP", " info ", "Help"):
        assert_twiml(await twilio(api, "messaging", text(sid("SM"), word)))
    assert profile(sessions, "mem-1") == before
    assert [c.id for c in cases(sessions)] == [case["id"]]
    got = await detail(api, case["id"])
    assert got["contacts"] == 1  # not a contact: the phone system answers HELP itself
    assert not {"contacted_again", "contact_note", "consent_changed", "possible_opt_out"} & set(kinds(got))


# ---------------------------------------------------------------- a keyword before the member
async def put_member(api: httpx.AsyncClient, member_id: str, **profile: Any) -> dict[str, Any]:
    r = await api.put(f"/v1/teams/eastside/members/{member_id}", json=profile, headers=SYSTEM)
    assert r.status_code == 200, r.text
    got: dict[str, Any] = r.json()
    return got


async def test_a_stop_from_a_number_no_member_has_is_the_consent_of_the_member_who_gets_it(
    api: httpx.AsyncClient, sessions: sessionmaker[Session]
) -> None:
    await setup(api)
    stop_sid = sid("SM")
    assert_twiml(await twilio(api, "messaging", text(stop_sid, "STOP", caller=NEWCOMER)))
    assert cases(sessions) == []  # no case for a keyword

    # The member is entered later, with an intake form's consent older than the STOP.
    intake = {"text": {"status": "granted", "at": "2026-01-05", "source": "intake form"}}
    card = await put_member(api, "mem-2", owner_id="chw-ben", phone=NEWCOMER, consent=intake)
    consent = card["profile"]["consent"]["text"]
    assert consent["status"] == "refused"
    assert "STOP" in consent["source"] and stop_sid in consent["source"]
    assert profile(sessions, "mem-2")["consent"]["text"] == consent
    # A consent given after the STOP (the member said yes on the phone) is the one in force.
    later = {"text": {"status": "granted", "at": datetime.now(UTC).isoformat(), "source": "asked on a call"}}
    card = await put_member(api, "mem-2", owner_id="chw-ben", phone=NEWCOMER, consent=later)
    assert card["profile"]["consent"]["text"]["source"] == "asked on a call"


async def test_a_stop_then_a_call_from_an_unknown_number_refuses_texts_for_the_member_linked(
    api: httpx.AsyncClient, sessions: sessionmaker[Session]
) -> None:
    await setup(api)
    stop_sid = sid("SM")
    assert_twiml(await twilio(api, "messaging", text(stop_sid, "  stop ", caller=NEWCOMER)))
    assert_twiml(await twilio(api, "voice", call(sid("CA"), caller=NEWCOMER, DialCallStatus="no-answer")))
    (row,) = cases(sessions)
    assert row.member_id is None
    r = await api.post(f"/v1/interactions/{row.id}/link", json={"member_id": "mem-orphan"}, headers=LEAD)
    assert r.status_code == 200, r.text
    consent = profile(sessions, "mem-orphan")["consent"]["text"]
    assert consent["status"] == "refused" and stop_sid in consent["source"]


async def test_a_start_from_the_number_clears_its_stop(
    api: httpx.AsyncClient, sessions: sessionmaker[Session]
) -> None:
    await setup(api)
    stop = text(sid("SM"), "STOP", caller=NEWCOMER)
    assert_twiml(await twilio(api, "messaging", stop))
    assert_twiml(await twilio(api, "messaging", text(sid("SM"), "START", caller=NEWCOMER)))
    assert_twiml(await twilio(api, "messaging", stop))  # Twilio retries the STOP: nothing changes
    card = await put_member(api, "mem-2", owner_id="chw-ben", phone=NEWCOMER)
    assert "consent" not in card["profile"]
    assert "consent" not in profile(sessions, "mem-2")
