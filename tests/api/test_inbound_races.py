"""Inbound contacts that arrive at the same moment (docs/channels.md, "At the same moment"):
several first contacts of one member make one case, a provider id racing its own retry makes
one contact, a STOP racing its retry refuses once; on SQLite and PostgreSQL, requests signed as
Twilio signs them."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from services import interactions
from store.models import InteractionContact
from tests.api.support import create, detail
from tests.api.test_inbound_twilio import (
    assert_twiml,
    call,
    cases,
    kinds,
    profile,
    settings,
    setup,
    sid,
    text,
    twilio,
)

__all__ = ["settings"]  # the Twilio settings fixture of test_inbound_twilio

AT_ONCE = 6


async def test_first_contacts_of_one_member_at_the_same_moment_make_one_case(
    api: httpx.AsyncClient, sessions: sessionmaker[Session]
) -> None:
    await setup(api)
    calls = [twilio(api, "voice", call(sid("CA"), DialCallStatus="no-answer")) for _ in range(AT_ONCE // 2)]
    texts = [twilio(api, "messaging", text(sid("SM"), "are you there?")) for _ in range(AT_ONCE // 2)]
    for r in await asyncio.gather(*calls, *texts):
        assert_twiml(r)
    (row,) = cases(sessions)
    got = await detail(api, row.id)
    assert got["contacts"] == AT_ONCE
    assert kinds(got).count("created") == 1 and kinds(got).count("contacted_again") == AT_ONCE - 1


async def test_a_retry_racing_its_original_is_one_contact(
    api: httpx.AsyncClient, sessions: sessionmaker[Session]
) -> None:
    await setup(api)
    first = call(sid("CA"), DialCallStatus="no-answer")
    for r in await asyncio.gather(*(twilio(api, "voice", first) for _ in range(3))):
        assert_twiml(r)
    (row,) = cases(sessions)
    # A text of the member's, delivered three times at once: it joins the call's case once.
    again = text(sid("SM"), "it's me again")
    for r in await asyncio.gather(*(twilio(api, "messaging", again) for _ in range(3))):
        assert_twiml(r)
    assert [c.id for c in cases(sessions)] == [row.id]
    got = await detail(api, row.id)
    assert got["contacts"] == 2 and kinds(got).count("contacted_again") == 1
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(InteractionContact)) == 1


async def test_a_contact_joining_a_case_whose_start_is_still_under_way_joins_it(
    api: httpx.AsyncClient, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The moment two first contacts share, staged: the first case's row is saved and its
    workflow's start is slow; the second contact joins that case (starting its workflow itself)
    instead of being refused by a workflow not there yet and opening a case of its own."""
    await setup(api)
    start = interactions.start_workflow
    first_start = asyncio.Event()

    async def slow_first(*args: Any, **kwargs: Any) -> None:
        if not first_start.is_set():
            first_start.set()
            await asyncio.sleep(1)  # widens the window; nothing is asserted about time
        await start(*args, **kwargs)

    monkeypatch.setattr(interactions, "start_workflow", slow_first)

    async def second() -> httpx.Response:
        await first_start.wait()
        return await twilio(api, "messaging", text(sid("SM"), "hello?"))

    first = twilio(api, "voice", call(sid("CA"), DialCallStatus="no-answer"))
    for r in await asyncio.gather(first, second()):
        assert_twiml(r)
    (row,) = cases(sessions)
    got = await detail(api, row.id)
    assert got["contacts"] == 2 and kinds(got).count("contacted_again") == 1


async def test_a_stop_racing_its_retry_refuses_once(
    api: httpx.AsyncClient, sessions: sessionmaker[Session]
) -> None:
    await setup(api)
    case = await create(api, member_id="mem-1")
    stop = text(sid("SM"), "STOP")
    for r in await asyncio.gather(*(twilio(api, "messaging", stop) for _ in range(3))):
        assert_twiml(r)
    assert profile(sessions, "mem-1")["consent"]["text"]["status"] == "refused"
    assert kinds(await detail(api, case["id"])).count("consent_changed") == 1
    assert [c.id for c in cases(sessions)] == [case["id"]]
