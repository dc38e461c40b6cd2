"""``POST /v1/inbound``: calls, voicemails and texts from any phone system (docs/channels.md)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from store.models import Interaction, Member
from tests.api.support import LEAD, SYSTEM, detail, setup_team
from tests.conftest import CHICAGO_TEAM

TEAM_NUMBER = "+13125550100"
MEMBER_PHONE = "+13125550111"


async def setup(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    r = await api.put(
        "/v1/teams/eastside", json={**CHICAGO_TEAM, "phone_numbers": [TEAM_NUMBER]}, headers=SYSTEM
    )
    assert r.status_code == 200, r.text
    r = await api.put(
        "/v1/teams/eastside/members/mem-1",
        json={
            "owner_id": "chw-ana",
            "phone": MEMBER_PHONE,
            "consent": {"text": {"status": "granted", "at": "2026-01-05", "source": "intake form"}},
        },
        headers=SYSTEM,
    )
    assert r.status_code == 200, r.text


def contact(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "to": TEAM_NUMBER,
        "from": MEMBER_PHONE,
        "channel": "text",
        "at": datetime.now(UTC).isoformat(),
        "provider_id": f"msg-{uuid.uuid4().hex}",
        "body": "Can I change my appointment?",
    }
    body.update(over)
    return body


async def post(
    api: httpx.AsyncClient, body: dict[str, Any], headers: dict[str, str] = SYSTEM
) -> httpx.Response:
    return await api.post("/v1/inbound", json=body, headers=headers)


def rows(sessions: sessionmaker[Session]) -> list[Interaction]:
    with sessions() as s:
        return list(s.scalars(select(Interaction).order_by(Interaction.created_at)))


def text_consent(sessions: sessionmaker[Session]) -> dict[str, Any]:
    with sessions() as s:
        member = s.get(Member, ("eastside", "mem-1"))
        assert member is not None
        consent: dict[str, Any] = member.profile["consent"]["text"]
        return consent


async def test_a_text_opens_a_case_once_per_provider_id(
    api: httpx.AsyncClient, sessions: sessionmaker[Session]
) -> None:
    await setup(api)
    body = contact()
    r = await post(api, body)
    assert r.status_code == 201, r.text
    got = r.json()
    assert got["outcome"] == "opened" and got["member_id"] == "mem-1" and got["pending"] is False
    case = await detail(api, got["interaction_id"])
    assert (case["channel"], case["summary"], case["external_id"]) == (
        "text",
        body["body"],
        f"inbound:{body['provider_id']}",
    )
    again = await post(api, body)
    assert again.status_code == 201 and again.json() == got
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert len(rows(sessions)) == 1


async def test_a_voicemail_with_the_call_s_provider_id_joins_its_case(
    api: httpx.AsyncClient, sessions: sessionmaker[Session]
) -> None:
    await setup(api)
    call = contact(channel="call", provider_id="call-77", body=None)
    r = await post(api, call)
    assert r.status_code == 201 and r.json()["outcome"] == "opened", r.text
    r = await post(api, {**call, "channel": "voicemail", "body": "CANARY-VM transcript: please call back"})
    assert r.status_code == 200, r.text
    assert r.json()["outcome"] == "joined"
    (row,) = rows(sessions)
    case = await detail(api, row.id)
    assert "voicemail" in [e["kind"] for e in case["timeline"]]
    assert case["summary"].startswith("CANARY-VM")  # the transcript, in SQL


async def test_keywords_and_an_unknown_or_withheld_caller(
    api: httpx.AsyncClient, sessions: sessionmaker[Session]
) -> None:
    await setup(api)
    r = await post(api, contact(body="STOP"))
    assert r.status_code == 200, r.text
    assert (r.json()["outcome"], r.json()["members"]) == ("opted_out", ["mem-1"])
    assert text_consent(sessions)["status"] == "refused"
    # A keyword older than the consent in force (messages can arrive out of order) changes nothing.
    old = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    r = await post(api, contact(body="START", at=old))
    assert (r.json()["outcome"], r.json()["members"]) == ("opted_in", [])
    assert text_consent(sessions)["status"] == "refused"
    assert rows(sessions) == []

    r = await post(api, contact(channel="call", body=None, **{"from": "anonymous"}))
    assert r.status_code == 201, r.text
    case = await detail(api, r.json()["interaction_id"])
    assert (case["member_id"], case["caller_phone"], case["assignee_id"]) == (None, None, None)


async def test_refused_requests(api: httpx.AsyncClient, sessions: sessionmaker[Session]) -> None:
    await setup(api)
    assert (await post(api, contact(), headers=LEAD)).status_code == 403
    assert (await api.post("/v1/inbound", json=contact())).status_code == 401
    assert (await post(api, contact(to="+13125550999"))).status_code == 404
    assert (await post(api, contact(to="312-555-0100"))).status_code == 422
    assert (await post(api, contact(channel="fax"))).status_code == 422
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert (await post(api, contact(at=future))).status_code == 422
    assert (await post(api, contact(at="2026-01-01T10:00:00"))).status_code == 422  # no offset
    assert rows(sessions) == []
