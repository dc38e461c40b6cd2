"""Idempotency is scoped to the credential (issue 23): two backends (two system tokens, or two
service tokens) that happen to send the same ``Idempotency-Key`` each get their own action
applied and their own answer; before, every ``system`` credential shared one scope, so backend
B's action was skipped (or refused) because backend A had used the key."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy.orm import Session, sessionmaker

from api.idempotency import credential_of
from config.settings import Settings, TokenGrant
from services import tokens as service_tokens
from store.db import unit_of_work
from tests.api.support import SYSTEM, setup_team
from tests.conftest import TOKENS, auth

SYSTEM_B = auth("t-system-b")


@pytest.fixture
def settings(db_url: str, task_queue: str) -> Settings:
    return Settings(
        database_url=db_url,
        task_queue=task_queue,
        tokens={**TOKENS, "t-system-b": TokenGrant(role="system")},
    )


def absence(staff_id: str, backup_id: str | None) -> dict[str, Any]:
    # A fixed instant (not "now" to the second): a repeat must send the very same body, and a
    # slow run crossed a second between the first request and its repeat (422, key reused).
    start = (datetime.now(UTC) + timedelta(days=2)).replace(hour=9, minute=0, second=0, microsecond=0)
    return {
        "staff_id": staff_id,
        "backup_id": backup_id,
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(days=2)).isoformat(),
    }


async def test_two_system_tokens_with_one_key_each_get_their_own_absence(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    key = {"Idempotency-Key": "shared-key-0001"}
    a = await api.post("/v1/absences", json=absence("chw-ana", "chw-ben"), headers={**SYSTEM, **key})
    assert a.status_code == 201, a.text
    b = await api.post("/v1/absences", json=absence("chw-ben", None), headers={**SYSTEM_B, **key})
    assert b.status_code == 201, b.text
    assert "Idempotent-Replayed" not in b.headers
    assert b.json()["id"] != a.json()["id"]
    assert (a.json()["staff_id"], b.json()["staff_id"]) == ("chw-ana", "chw-ben")
    listed = await api.get("/v1/absences", params={"team_id": "eastside"}, headers=SYSTEM)
    assert sorted(x["staff_id"] for x in listed.json()["items"]) == ["chw-ana", "chw-ben"]
    # Each credential's repeat still answers its own stored result.
    again = await api.post("/v1/absences", json=absence("chw-ben", None), headers={**SYSTEM_B, **key})
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["id"] == b.json()["id"]


async def test_two_service_tokens_with_one_key_each_get_their_own_absence(
    api: httpx.AsyncClient, sessions: sessionmaker[Session]
) -> None:
    await setup_team(api)
    with unit_of_work(sessions) as s:
        token_a, _ = service_tokens.create(s, name="crm", role="system")
        token_b, _ = service_tokens.create(s, name="sms gateway", role="system")
    key = {"Idempotency-Key": "shared-key-0002"}
    a = await api.post("/v1/absences", json=absence("chw-ana", "chw-ben"), headers={**auth(token_a), **key})
    assert a.status_code == 201, a.text
    b = await api.post("/v1/absences", json=absence("chw-ben", None), headers={**auth(token_b), **key})
    assert b.status_code == 201, b.text
    assert b.json()["id"] != a.json()["id"]


async def test_another_backends_identical_request_is_not_answered_with_the_first_ones_result(
    api: httpx.AsyncClient,
) -> None:
    """The review's reproduction: B repeats A's key and body; B used to get A's stored answer (A's
    absence id, ``Idempotent-Replayed``) while its own action was skipped. Now B's request is
    judged on its own: the same absence already exists, so it overlaps (409)."""
    await setup_team(api)
    key = {"Idempotency-Key": "shared-key-0003"}
    same = absence("chw-ana", "chw-ben")
    a = await api.post("/v1/absences", json=same, headers={**SYSTEM, **key})
    assert a.status_code == 201, a.text
    b = await api.post("/v1/absences", json=same, headers={**SYSTEM_B, **key})
    assert "Idempotent-Replayed" not in b.headers
    assert b.status_code == 409, b.text


def test_an_oidc_credential_is_its_issuer_and_subject_not_the_token() -> None:
    """A refreshed access token of the same person keeps the scope; another person does not share it."""
    settings = Settings(tokens=TOKENS)

    def token(sub: str, iss: str = "https://sso.example.org", iat: int = 0) -> str:
        claims = {"iss": iss, "sub": sub, "iat": iat or int(time.time()), "exp": int(time.time()) + 60}
        return jwt.encode(claims, "k" * 32, algorithm="HS256")

    first, refreshed = token("u-1", iat=1), token("u-1", iat=2)
    assert first != refreshed
    assert credential_of(settings, first) == credential_of(settings, refreshed)
    assert credential_of(settings, first) != credential_of(settings, token("u-2"))
    assert credential_of(settings, first) != credential_of(
        settings, token("u-1", iss="https://other.example")
    )
    assert credential_of(settings, "t-system") != credential_of(settings, "t-ops")
    assert "t-system" not in credential_of(settings, "t-system")  # never the token itself
