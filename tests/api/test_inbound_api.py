"""``POST /v1/inbound``: calls, voicemails and texts from any phone system (docs/channels.md)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from structlog.testing import capture_logs
from temporalio.client import Client

from store.models import Interaction, Member
from tests.api.support import ANA, LEAD, SYSTEM, detail, setup_team
from tests.conftest import CHICAGO_TEAM
from tests.workflows.support import eventually, history_text

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


SCREENING = ["hurt myself", "CANARY-PHRASE no food"]


@pytest.mark.usefixtures("fresh_loggers")
async def test_a_screening_phrase_in_a_text_raises_safety(
    api: httpx.AsyncClient, client: Client, sessions: sessionmaker[Session]
) -> None:
    await setup(api)
    r = await api.put(
        "/v1/teams/eastside",
        json={**CHICAGO_TEAM, "phone_numbers": [TEAM_NUMBER], "screening": SCREENING},
        headers=SYSTEM,
    )
    assert r.status_code == 200, r.text
    assert r.json()["screening"] == SCREENING
    body = "CANARY-BODY-7a1 we have canary-phrase NO\nFOOD since monday"
    with capture_logs() as logs:
        r = await post(api, contact(body=body))
        assert r.status_code == 201, r.text
        # From another number (the member's own would merge into the safety case).
        plain = await post(
            api, contact(body="CANARY-BODY-7a2 can I move my appointment?", **{"from": "+13125550199"})
        )
        assert plain.status_code == 201, plain.text
    iid = r.json()["interaction_id"]

    async def safety_escalated() -> dict[str, Any] | None:
        case = await detail(api, iid)
        return case if [e["trigger"] for e in case["escalations"]] == ["safety"] else None

    case = await eventually(safety_escalated)
    assert "safety" in case["flags"]
    assert {"flag": "safety", "source": "screening"} in [
        e["details"] for e in case["timeline"] if e["kind"] == "flagged"
    ]
    other = await detail(api, plain.json()["interaction_id"])
    assert other["flags"] == [] and other["escalations"] == []

    # The member's words (and which phrase matched) are in SQL only.
    (row, _plain) = rows(sessions)
    history = await history_text(client.get_workflow_handle(row.workflow_id))
    for secret in ("CANARY-BODY", "CANARY-PHRASE", "canary-phrase"):
        assert secret not in history and secret not in repr(logs)
    assert any(e["event"] == "inbound.screened" for e in logs)


async def test_screening_phrases_are_validated(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    for bad in (["  "], [""], ["x" * 201]):
        r = await api.put("/v1/teams/eastside", json={**CHICAGO_TEAM, "screening": bad}, headers=SYSTEM)
        assert r.status_code == 422, (bad, r.text)
    r = await api.get("/v1/teams/eastside", headers=SYSTEM)
    assert r.json()["screening"] == []


async def test_after_stop_an_attempt_by_text_is_marked_consent_refused(api: httpx.AsyncClient) -> None:
    await setup(api)
    opened = await post(api, contact(body="Can you call me back?"))
    assert opened.status_code == 201, opened.text
    r = await post(api, contact(body=" stop "))
    assert r.json()["outcome"] == "opted_out", r.text
    iid = opened.json()["interaction_id"]
    marks = []
    for channel in ("text", "call", None):
        body = {"outcome": "no_answer"} | ({"channel": channel} if channel else {})
        r = await api.post(f"/v1/interactions/{iid}/attempts", json=body, headers=ANA)
        assert r.status_code == 200, r.text
        marks.append((r.json()["attempts"][-1]["channel"], r.json()["attempts"][-1]["consent_refused"]))
    assert marks == [("text", True), ("call", False), (None, False)]


async def test_a_screened_text_merged_into_the_member_s_open_case_raises_safety_there(
    api: httpx.AsyncClient,
) -> None:
    await setup(api)
    r = await api.put(
        "/v1/teams/eastside",
        json={**CHICAGO_TEAM, "phone_numbers": [TEAM_NUMBER], "screening": SCREENING},
        headers=SYSTEM,
    )
    assert r.status_code == 200, r.text
    first = await post(api, contact(body="Can you call me back?"))
    assert first.status_code == 201, first.text
    again = await post(api, contact(body="please, I want to hurt myself"))
    assert again.status_code == 200 and again.json()["outcome"] == "merged", again.text
    iid = first.json()["interaction_id"]
    assert again.json()["interaction_id"] == iid

    async def safety_escalated() -> dict[str, Any] | None:
        case = await detail(api, iid)
        return case if "safety" in [e["trigger"] for e in case["escalations"]] else None

    case = await eventually(safety_escalated)
    assert {"flag": "safety", "source": "screening"} in [
        e["details"] for e in case["timeline"] if e["kind"] == "flagged"
    ]
