"""Twilio's webhooks (docs/channels.md), signed exactly as Twilio signs them
(``RequestValidator.compute_signature`` over the public URL and the form), on a real worker."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from structlog.testing import capture_logs
from temporalio.client import Client
from twilio.request_validator import RequestValidator

from api.app import create_app
from config.settings import Settings
from services import interactions
from services.common import StartRefused
from store.models import IdempotentAnswer, Interaction, Member, TeamPhoneNumber, TimelineEvent
from tests.api.support import ANA, LEAD, SYSTEM, create, detail, notifications, setup_team
from tests.conftest import CHICAGO_TEAM, TOKENS
from tests.workflows.support import eventually, history_text

TOKEN = "twilio-test-auth-token-5f2c"
# Behind a proxy: Twilio calls https://…/ft/v1/…, the API sees /v1/… on its own host.
PUBLIC_URL = "https://calls.example.org/ft"
TEAM_NUMBER = "+13125550100"
ANA_MEMBER_PHONE = "+13125550111"  # mem-1, owned by chw-ana
STRANGER = "+13125550199"  # nobody in the team has this number


@pytest.fixture
def settings(db_url: str, task_queue: str) -> Settings:
    return Settings(
        database_url=db_url,
        task_queue=task_queue,
        tokens=TOKENS,
        twilio_auth_token=TOKEN,
        public_url=PUBLIC_URL,
    )


def sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


async def twilio(
    api: httpx.AsyncClient,
    hook: str,
    params: dict[str, str],
    *,
    token: str = TOKEN,
    signed_url: str | None = None,
    signature: str | None = None,
) -> httpx.Response:
    """POST ``params`` to the webhook as Twilio does: form-encoded, signed over the public URL."""
    path = f"/v1/inbound/twilio/{hook}"
    url = signed_url or PUBLIC_URL + path
    sig = signature if signature is not None else RequestValidator(token).compute_signature(url, params)
    return await api.post(path, data=params, headers={"X-Twilio-Signature": sig})


def call(call_sid: str, caller: str = ANA_MEMBER_PHONE, **more: str) -> dict[str, str]:
    return {
        "AccountSid": "AC" + "0" * 32,
        "CallSid": call_sid,
        "From": caller,
        "To": TEAM_NUMBER,
        "Direction": "inbound",
        "CallStatus": "completed",
        **more,
    }


def text(message_sid: str, body: str, caller: str = ANA_MEMBER_PHONE) -> dict[str, str]:
    return {
        "AccountSid": "AC" + "0" * 32,
        "MessageSid": message_sid,
        "SmsSid": message_sid,
        "From": caller,
        "To": TEAM_NUMBER,
        "Body": body,
        "NumMedia": "0",
    }


async def setup(api: httpx.AsyncClient) -> None:
    """The standard team answering TEAM_NUMBER; mem-1 (Ana's) has a phone."""
    await setup_team(api)
    r = await api.put(
        "/v1/teams/eastside", json={**CHICAGO_TEAM, "phone_numbers": [TEAM_NUMBER]}, headers=SYSTEM
    )
    assert r.status_code == 200, r.text
    assert r.json()["phone_numbers"] == [TEAM_NUMBER]
    r = await api.put(
        "/v1/teams/eastside/members/mem-1",
        json={
            "owner_id": "chw-ana",
            "phone": ANA_MEMBER_PHONE,
            "consent": {"text": {"status": "granted", "at": "2026-01-05", "source": "intake form"}},
        },
        headers=SYSTEM,
    )
    assert r.status_code == 200, r.text


def assert_twiml(r: httpx.Response) -> None:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/xml")
    assert r.text.endswith("<Response/>")


def cases(sessions: sessionmaker[Session]) -> list[Interaction]:
    with sessions() as s:
        return list(s.scalars(select(Interaction).order_by(Interaction.created_at)))


def profile(sessions: sessionmaker[Session], member_id: str) -> dict[str, Any]:
    with sessions() as s:
        member = s.get(Member, ("eastside", member_id))
        assert member is not None
        return dict(member.profile)


async def projected_history(client: Client, workflow_id: str) -> str:
    """The case's decoded history once its first projection is in it (it is the real thing)."""

    async def read() -> str:
        text = await history_text(client.get_workflow_handle(workflow_id))
        return text if "sync_interaction" in text else ""

    return await eventually(read)


def kinds(case: dict[str, Any]) -> list[str]:
    return [e["kind"] for e in case["timeline"]]


# ---------------------------------------------------------------- voice
async def test_a_missed_call_opens_a_case_for_the_member_by_phone(
    api: httpx.AsyncClient, client: Client, sessions: sessionmaker[Session]
) -> None:
    await setup(api)
    call_sid = sid("CA")
    r = await twilio(api, "voice", call(call_sid, DialCallStatus="no-answer"))
    assert_twiml(r)
    (row,) = cases(sessions)
    assert (row.external_id, row.channel, row.member_id) == (f"twilio:{call_sid}", "call", "mem-1")
    assert row.assignee_id == "chw-ana" and row.caller_phone == ANA_MEMBER_PHONE
    got = await detail(api, row.id)
    assert got["status"] == "open" and got["caller_phone"] == ANA_MEMBER_PHONE
    # The caller's number is member data: never in Temporal.
    assert ANA_MEMBER_PHONE not in await projected_history(client, row.workflow_id)


async def test_an_answered_call_opens_nothing_and_a_hang_up_while_ringing_is_missed(
    api: httpx.AsyncClient, sessions: sessionmaker[Session]
) -> None:
    await setup(api)
    for status in ("ringing", "in-progress", "completed"):
        assert_twiml(await twilio(api, "voice", call(sid("CA"), CallStatus=status)))
    assert_twiml(await twilio(api, "voice", call(sid("CA"), DialCallStatus="completed")))
    assert cases(sessions) == []
    # The number's status callback for a caller who hung up before anyone answered.
    assert_twiml(await twilio(api, "voice", call(sid("CA"), CallStatus="canceled")))
    assert [r.channel for r in cases(sessions)] == ["call"]


async def test_a_voicemail_after_the_missed_call_is_the_same_case(
    api: httpx.AsyncClient, sessions: sessionmaker[Session]
) -> None:
    await setup(api)
    call_sid = sid("CA")
    recording = f"https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/RE{uuid.uuid4().hex}"
    assert_twiml(
        await twilio(api, "voice", call(call_sid, CallStatus="in-progress", DialCallStatus="no-answer"))
    )
    voicemail = call(call_sid, CallStatus="in-progress", RecordingUrl=recording, RecordingDuration="14")
    assert_twiml(await twilio(api, "voice", voicemail))
    assert_twiml(await twilio(api, "voice", call(call_sid, CallStatus="completed")))  # the call ends
    (row,) = cases(sessions)
    got = await detail(api, row.id)
    assert kinds(got).count("voicemail") == 1
    (line,) = [e for e in got["timeline"] if e["kind"] == "voicemail"]
    assert line["details"] == {"provider": "twilio", "recording_seconds": 14, "recording_url": recording}
    # The case keeps the channel Temporal started it with (call and voicemail share a deadline).
    assert got["channel"] == "call"

    # A voicemail with no missed call before it (a <Record> straight away) opens a voicemail case
    # (from another caller: the member's own would join the member's open case).
    only = call(
        sid("CA"), "+13125550177", CallStatus="in-progress", RecordingUrl=recording, RecordingDuration="5"
    )
    assert_twiml(await twilio(api, "voice", only))
    assert [r.channel for r in cases(sessions)] == ["call", "voicemail"]


async def test_a_retried_webhook_changes_nothing(
    api: httpx.AsyncClient, sessions: sessionmaker[Session]
) -> None:
    await setup(api)
    missed = call(sid("CA"), DialCallStatus="busy")
    for _ in range(3):
        assert_twiml(await twilio(api, "voice", missed))
    message = text(sid("SM"), "Can someone call me back about my ride?")
    for _ in range(2):
        assert_twiml(await twilio(api, "messaging", message))
    # The member's text joins the call's open case (docs/rules.md §2.10), once.
    (row,) = cases(sessions)
    assert row.channel == "call"
    got = await detail(api, row.id)
    assert kinds(got).count("created") == 1 and kinds(got).count("contacted_again") == 1
    assert got["contacts"] == 2


# ---------------------------------------------------------------- messaging
@pytest.mark.usefixtures("fresh_loggers")
async def test_a_text_opens_a_text_case_whose_body_stays_in_the_database(
    api: httpx.AsyncClient, client: Client, sessions: sessionmaker[Session]
) -> None:
    await setup(api)
    body = "CANARY-TEXT-3d9e my daughter has a fever, please call"
    with capture_logs() as logs:
        assert_twiml(await twilio(api, "messaging", text(sid("SM"), body)))
    (row,) = cases(sessions)
    assert (row.channel, row.member_id, row.assignee_id) == ("text", "mem-1", "chw-ana")
    got = await detail(api, row.id)
    assert got["summary"] == body
    exported = await projected_history(client, row.workflow_id)
    assert "CANARY-TEXT" not in exported and ANA_MEMBER_PHONE not in exported
    assert "CANARY-TEXT" not in repr(logs) and ANA_MEMBER_PHONE not in repr(logs)
    assert any(e["event"] == "inbound.taken" for e in logs)


async def test_stop_start_and_help_set_the_text_consent_and_open_no_case(
    api: httpx.AsyncClient, sessions: sessionmaker[Session]
) -> None:
    await setup(api)
    open_case = await create(api, member_id="mem-1")
    stop_sid = sid("SM")
    assert_twiml(await twilio(api, "messaging", text(stop_sid, "  Stop ")))
    consent = profile(sessions, "mem-1")["consent"]["text"]
    assert consent["status"] == "refused"
    assert "STOP" in consent["source"] and stop_sid in consent["source"]
    assert [r.id for r in cases(sessions)] == [open_case["id"]]  # no case opened
    (line,) = [e for e in (await detail(api, open_case["id"]))["timeline"] if e["kind"] == "consent_changed"]
    assert line["details"]["status"] == "refused" and line["details"]["keyword"] == "STOP"

    assert_twiml(await twilio(api, "messaging", text(sid("SM"), "UNSTOP")))
    assert profile(sessions, "mem-1")["consent"]["text"]["status"] == "granted"
    before = profile(sessions, "mem-1")
    assert_twiml(await twilio(api, "messaging", text(sid("SM"), "help")))
    assert profile(sessions, "mem-1") == before
    assert len(cases(sessions)) == 1

    # Twilio retries the STOP after the START: the same MessageSid changes nothing.
    assert_twiml(await twilio(api, "messaging", text(stop_sid, "  Stop ")))
    assert profile(sessions, "mem-1")["consent"]["text"]["status"] == "granted"
    # Words around the keyword make it a message for the CHW (it joins the member's open case,
    # docs/rules.md §2.10), consent unchanged.
    assert_twiml(await twilio(api, "messaging", text(sid("SM"), "please stop texting me")))
    assert profile(sessions, "mem-1")["consent"]["text"]["status"] == "granted"
    assert [r.id for r in cases(sessions)] == [open_case["id"]]
    assert (await detail(api, open_case["id"]))["contacts"] == 2


# ---------------------------------------------------------------- unknown callers
async def test_an_unknown_caller_opens_an_unassigned_case_that_a_lead_links(
    api: httpx.AsyncClient, sessions: sessionmaker[Session]
) -> None:
    await setup(api)
    assert_twiml(await twilio(api, "voice", call(sid("CA"), caller=STRANGER, DialCallStatus="no-answer")))
    (row,) = cases(sessions)
    assert (row.member_id, row.assignee_id, row.caller_phone) == (None, None, STRANGER)
    got = await detail(api, row.id)
    assert got["member_id"] is None and got["assignment_source"] == "unassigned"
    # The leads are told, as of any unassigned case.
    await eventually(
        lambda: _told(api, "lead-1", row.id),
    )

    r = await api.post(f"/v1/interactions/{row.id}/link", json={"member_id": "mem-2"}, headers=ANA)
    assert r.status_code == 403, r.text
    r = await api.post(f"/v1/interactions/{row.id}/link", json={"member_id": "mem-nobody"}, headers=LEAD)
    assert r.status_code == 422, r.text
    r = await api.post(f"/v1/interactions/{row.id}/link", json={"member_id": "mem-2"}, headers=LEAD)
    assert r.status_code == 200, r.text
    linked = r.json()
    assert (linked["member_id"], linked["assignee_id"]) == ("mem-2", "chw-ben")
    assert "linked" in kinds(linked)
    r = await api.post(f"/v1/interactions/{row.id}/link", json={"member_id": "mem-1"}, headers=LEAD)
    assert r.status_code == 409, r.text

    # The number is remembered on the member: the next call from it is theirs.
    assert profile(sessions, "mem-2")["phone"] == STRANGER
    assert_twiml(await twilio(api, "messaging", text(sid("SM"), "it's me again", caller=STRANGER)))
    assert [(c.member_id, c.assignee_id) for c in cases(sessions)][-1] == ("mem-2", "chw-ben")


async def _told(api: httpx.AsyncClient, staff_id: str, interaction_id: str) -> bool:
    return any(
        n["interaction_id"] == interaction_id and n["kind"] == "unassigned"
        for n in await notifications(api, staff_id)
    )


# ---------------------------------------------------------------- refused requests
async def test_a_bad_or_missing_signature_is_403_and_changes_nothing(
    api: httpx.AsyncClient, sessions: sessionmaker[Session]
) -> None:
    await setup(api)
    params = call(sid("CA"), DialCallStatus="no-answer")
    wrong = [
        await twilio(api, "voice", params, token="someone-elses-token"),
        await twilio(api, "voice", params, signature=""),
        # Signed for the API's own address: behind the proxy Twilio signs the public one.
        await twilio(api, "voice", params, signed_url="http://test/v1/inbound/twilio/voice"),
        # Signed, then a parameter changed on the way.
        await api.post(
            "/v1/inbound/twilio/voice",
            data={**params, "From": STRANGER},
            headers={
                "X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(
                    PUBLIC_URL + "/v1/inbound/twilio/voice", params
                )
            },
        ),
        await api.post("/v1/inbound/twilio/messaging", data=text(sid("SM"), "STOP")),
    ]
    assert [r.status_code for r in wrong] == [403] * len(wrong)
    assert cases(sessions) == []
    assert profile(sessions, "mem-1")["consent"]["text"]["status"] == "granted"
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(IdempotentAnswer)) == 0


async def test_without_a_token_configured_every_twilio_request_is_refused(
    api: httpx.AsyncClient, settings: Settings, client: Client, sessions: sessionmaker[Session]
) -> None:
    await setup(api)
    for missing in ({"twilio_auth_token": None}, {"public_url": None}):
        app = create_app(settings.model_copy(update=missing), temporal_client=client)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as bare:
            r = await twilio(bare, "voice", call(sid("CA"), DialCallStatus="no-answer"))
            assert r.status_code == 403, r.text
    assert cases(sessions) == []


@pytest.mark.usefixtures("fresh_loggers")
async def test_a_number_no_team_answers_is_404_and_logged(
    api: httpx.AsyncClient, sessions: sessionmaker[Session]
) -> None:
    await setup(api)
    params = {**call(sid("CA"), DialCallStatus="no-answer"), "To": "+13125550999"}
    with capture_logs() as logs:
        r = await twilio(api, "voice", params)
    assert r.status_code == 404, r.text
    assert any(e["event"] == "inbound.unknown_number" and e["to"] == "+13125550999" for e in logs)
    assert cases(sessions) == []


# ---------------------------------------------------------------- the team's numbers
async def test_phone_numbers_are_validated_and_belong_to_one_team(
    api: httpx.AsyncClient, sessions: sessionmaker[Session]
) -> None:
    await setup(api)
    for bad in (["312-555-0100"], ["+15555550100"], [TEAM_NUMBER, TEAM_NUMBER], ["+1 312 555 0100"]):
        r = await api.put("/v1/teams/eastside", json={**CHICAGO_TEAM, "phone_numbers": bad}, headers=SYSTEM)
        assert r.status_code == 422, (bad, r.text)
        assert "phone_numbers" in r.json()["error"]["message"]
    other = {**CHICAGO_TEAM, "name": "Westside"}
    r = await api.put("/v1/teams/westside", json={**other, "phone_numbers": [TEAM_NUMBER]}, headers=SYSTEM)
    assert r.status_code == 409, r.text
    assert "eastside" not in r.json()["error"]["message"]
    with sessions() as s:  # nothing of the refused save was kept
        assert s.get(TeamPhoneNumber, TEAM_NUMBER).team_id == "eastside"  # type: ignore[union-attr]
    # Once eastside lets it go, westside may take it, and calls to it are westside's.
    r = await api.put("/v1/teams/eastside", json={**CHICAGO_TEAM, "phone_numbers": []}, headers=SYSTEM)
    assert r.status_code == 200, r.text
    r = await api.put("/v1/teams/westside", json={**other, "phone_numbers": [TEAM_NUMBER]}, headers=SYSTEM)
    assert r.status_code == 200, r.text
    assert_twiml(await twilio(api, "voice", call(sid("CA"), DialCallStatus="no-answer")))
    assert [(c.team_id, c.member_id) for c in cases(sessions)] == [("westside", None)]


# ---------------------------------------------------------------- Temporal away
async def test_a_contact_taken_while_temporal_is_away_is_kept_and_answered_200(
    api: httpx.AsyncClient,
    settings: Settings,
    sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After the row is saved, the phone system is never asked to send the contact again:
    reconcile starts the workflow once Temporal is back (docs/architecture.md §3.15)."""
    await setup(api)
    away = settings.model_copy(
        update={"temporal_address": "127.0.0.1:1", "temporal_rpc_timeout_seconds": 1.0}
    )
    app = create_app(away)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as cut_off:
        assert_twiml(await twilio(cut_off, "voice", call(sid("CA"), DialCallStatus="no-answer")))
    (row,) = cases(sessions)
    assert (row.version, row.member_id) == (0, "mem-1")  # saved, its workflow not started yet
    with sessions() as s:
        assert s.scalars(select(TimelineEvent).where(TimelineEvent.interaction_id == row.id)).all() == []

    # Temporal answers, and refuses the start (a POST /v1/interactions would drop its row and
    # answer 503 for the backend to repeat): the phone system's contact is kept all the same.
    async def refused(*_: object, **__: object) -> None:
        raise StartRefused("Temporal is not reachable for starting the interaction's workflow")

    monkeypatch.setattr(interactions, "start_workflow", refused)
    assert_twiml(await twilio(api, "messaging", text(sid("SM"), "are you open today?")))
    assert [(r.channel, r.version) for r in cases(sessions)] == [("call", 0), ("text", 0)]
