"""Two people acting on one escalation at once: the documentation stored is always the winner's.

Member text is kept per action (its Idempotency-Key), not per escalation, and only the action
whose workflow update won places it; the loser's 409 drops only its own text.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from domain.errors import Unavailable
from services import escalations as service
from store.models import Escalation, PendingText
from tests.api.support import LEAD, MANAGER, create, setup_team
from tests.api.test_escalations_api import escalation_of

ROUNDS = 20
# Both may resolve a safety escalation; each writes its own documentation.
LEADS = {"lead-1": LEAD, "mgr-1": MANAGER}


def pending_texts(sessions: sessionmaker[Session]) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(PendingText)) or 0)


def documentation(staff_id: str, n: int) -> dict[str, str]:
    return {"action_taken": f"CANARY {staff_id} called ({n})", "outcome": f"CANARY {staff_id} safe ({n})"}


async def resolve(
    api: httpx.AsyncClient, eid: str, staff_id: str, body: dict[str, str], key: str
) -> httpx.Response:
    headers = {**LEADS[staff_id], "Idempotency-Key": key}
    return await api.post(f"/v1/escalations/{eid}/resolve", json=body, headers=headers)


async def stored(api: httpx.AsyncClient, eid: str) -> dict[str, Any]:
    r = await api.get(f"/v1/escalations/{eid}", headers=LEAD)
    assert r.status_code == 200, r.text
    got: dict[str, Any] = r.json()
    return got


async def test_two_leads_resolving_one_escalation_at_once_store_the_winners_documentation(
    api: httpx.AsyncClient, sessions: sessionmaker[Session]
) -> None:
    await setup_team(api)
    cases = [await create(api, member_id="mem-1", flags=["safety"]) for _ in range(ROUNDS)]
    escalations = [await escalation_of(api, case["id"], "safety") for case in cases]
    for n, esc in enumerate(escalations):
        eid = esc["id"]
        # The round's first mover alternates, so either side of the race can win.
        order = ["lead-1", "mgr-1"] if n % 2 == 0 else ["mgr-1", "lead-1"]
        answers = await asyncio.gather(
            *(resolve(api, eid, who, documentation(who, n), f"race-{n}-{who}") for who in order)
        )
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [200, 409], (n, [a.text for a in answers])
        winner = order[[a.status_code for a in answers].index(200)]
        got = await stored(api, eid)
        expected = documentation(winner, n)
        assert got["status"] == "resolved" and got["resolved_by"] == winner, (n, got)
        assert (got["action_taken"], got["outcome"]) == (expected["action_taken"], expected["outcome"]), n
        won = answers[[a.status_code for a in answers].index(200)].json()
        assert (won["action_taken"], won["outcome"]) == (expected["action_taken"], expected["outcome"]), n
        assert pending_texts(sessions) == 0, f"round {n}: a pending text outlived its action"


async def test_the_losers_repeat_answers_409_and_changes_nothing(
    api: httpx.AsyncClient, sessions: sessionmaker[Session]
) -> None:
    await setup_team(api)
    case = await create(api, member_id="mem-1", flags=["safety"])
    eid = (await escalation_of(api, case["id"], "safety"))["id"]
    won = await resolve(api, eid, "lead-1", documentation("lead-1", 0), "first")
    assert won.status_code == 200, won.text
    for _ in range(2):
        lost = await resolve(api, eid, "mgr-1", documentation("mgr-1", 0), "second")
        assert lost.status_code == 409, lost.text
    # The winner's repeat answers its stored answer again.
    again = await resolve(api, eid, "lead-1", documentation("lead-1", 0), "first")
    assert again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true", again.text
    got = await stored(api, eid)
    assert got["resolved_by"] == "lead-1"
    assert (got["action_taken"], got["outcome"]) == tuple(documentation("lead-1", 0).values())
    assert pending_texts(sessions) == 0


async def test_a_resolve_whose_answer_was_lost_is_completed_by_its_repeat_only(
    api: httpx.AsyncClient, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The update won, then the database went away before the text was placed: the repeat with
    the same key places it (the winner's, by the winner); the same lead's other action does not."""
    await setup_team(api)
    case = await create(api, member_id="mem-1", flags=["safety"])
    eid = (await escalation_of(api, case["id"], "safety"))["id"]
    real_place = service._place_documentation
    calls = {"n": 0}

    def place_fails_once(session: Session, *args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise Unavailable("the database is not reachable; try again shortly")
        real_place(session, *args, **kwargs)

    monkeypatch.setattr(service, "_place_documentation", place_fails_once)
    first = await resolve(api, eid, "lead-1", documentation("lead-1", 1), "lost")
    assert first.status_code == 503, first.text
    assert (await stored(api, eid))["action_taken"] is None
    # Its words wait under its own keys, with their author.
    with sessions() as s:
        kept = {(t.text, t.author_id) for t in s.scalars(select(PendingText))}
    assert kept == {(text, "lead-1") for text in documentation("lead-1", 1).values()}
    # Another action by the same lead, other words: it did not win, so it answers 409.
    other = await resolve(api, eid, "lead-1", documentation("lead-1", 2), "other")
    assert other.status_code == 409, other.text
    assert (await stored(api, eid))["action_taken"] is None
    again = await resolve(api, eid, "lead-1", documentation("lead-1", 1), "lost")
    assert again.status_code == 200, again.text
    got = await stored(api, eid)
    assert got["resolved_by"] == "lead-1"
    assert (got["action_taken"], got["outcome"]) == tuple(documentation("lead-1", 1).values())
    assert pending_texts(sessions) == 0


async def test_a_repeat_that_won_is_completed_even_when_the_row_lags_behind(
    api: httpx.AsyncClient, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The row does not show the resolve (restored from a backup, say) and the workflow has
    ended: Temporal still answers the repeated update id (or its history says it won), and
    another resolve is refused."""
    await setup_team(api)
    case = await create(api, member_id="mem-1", flags=["safety"])
    eid = (await escalation_of(api, case["id"], "safety"))["id"]
    real_place = service._place_documentation
    calls = {"n": 0}

    def place_fails_once(session: Session, *args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise Unavailable("the database is not reachable; try again shortly")
        real_place(session, *args, **kwargs)

    monkeypatch.setattr(service, "_place_documentation", place_fails_once)
    first = await resolve(api, eid, "mgr-1", documentation("mgr-1", 1), "lagging")
    assert first.status_code == 503, first.text
    with sessions() as s:
        row = s.get(Escalation, eid)
        assert row is not None
        row.status, row.resolved_by, row.resolved_at = "acknowledged", None, None
        s.commit()
    other = await resolve(api, eid, "lead-1", documentation("lead-1", 2), "not-the-winner")
    assert other.status_code == 409, other.text
    again = await resolve(api, eid, "mgr-1", documentation("mgr-1", 1), "lagging")
    assert again.status_code == 200, again.text
    got = await stored(api, eid)
    assert (got["action_taken"], got["outcome"]) == tuple(documentation("mgr-1", 1).values())
    assert pending_texts(sessions) == 0
