"""What the drills found, pinned as tests (each failed before its fix)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from domain.errors import Unavailable
from store import idempotency as idem
from tests.api.support import ANA, create, detail, setup_team
from tests.workflows.support import eventually

pytestmark = pytest.mark.drill


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_resolve_repeated_with_the_same_key_after_its_answer_was_lost_answers_200(
    api: httpx.AsyncClient, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    await setup_team(api)
    case = await create(api)

    async def projected() -> dict[str, Any] | None:
        got = await detail(api, case["id"])
        return got if got["timeline"] else None

    await eventually(projected)
    url = f"/v1/interactions/{case['id']}/resolve"
    headers = {**ANA, "Idempotency-Key": "resolve-once"}
    real_finish = idem.finish_answer
    calls = {"n": 0}

    def finish_fails_once(session: Session, *args: Any) -> None:
        # The database goes away after the update was applied, before the answer is stored:
        # what the db_outage drill met (1 lifecycle in 134, PostgreSQL stopped under load).
        calls["n"] += 1
        if calls["n"] == 1:
            raise Unavailable("the database is not reachable; try again shortly")
        real_finish(session, *args)

    monkeypatch.setattr(idem, "finish_answer", finish_fails_once)
    first = await api.post(url, json={"resolution": "reached, done"}, headers=headers)
    assert first.status_code == 503, first.text
    again = await api.post(url, json={"resolution": "reached, done"}, headers=headers)
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "resolved"
