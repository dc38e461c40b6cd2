"""Payload encryption: with FOLLOWTHROUGH_CODEC_KEY set, the Temporal server holds only
ciphertext, and the API's codec endpoint gives the Temporal UI/CLI the original JSON back."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from sqlalchemy.orm import Session, sessionmaker
from temporalio.api.common.v1 import Payload, SearchAttributes
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from activities.notifications import LogChannel
from api.app import create_app
from config.settings import Settings
from domain.messages import InteractionInput
from tests.conftest import TOKENS, auth, now_of
from tests.workflows.support import eventually, interaction_input, start, state_of, team
from workers.client import data_converter
from workers.codec import CodecError, CodecKeyError, EncryptionCodec
from workers.main import build_worker

KEY = base64.urlsafe_b64encode(os.urandom(32)).decode()
OLD_KEY = base64.b64encode(os.urandom(32)).decode()
OPS = auth("t-ops")
UI_ORIGIN = "http://localhost:8233"

SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def plain_payload(doc: dict[str, Any]) -> dict[str, Any]:
    """A json/plain payload in the codec protocol's protobuf JSON."""
    return {"metadata": {"encoding": b64(b"json/plain")}, "data": b64(json.dumps(doc).encode())}


def payloads_in(message: Message) -> Iterator[Payload]:
    """Every payload in a history event, except search attributes (indexed, never encoded)."""
    if isinstance(message, Payload):
        yield message
        return
    for field, value in message.ListFields():
        kind = field.message_type
        if kind is None or kind.full_name == SearchAttributes.DESCRIPTOR.full_name:
            continue
        if kind.GetOptions().map_entry:
            if kind.fields_by_name["value"].type != FieldDescriptor.TYPE_MESSAGE:
                continue
            items: Any = value.values()
        else:
            items = value if field.is_repeated else [value]
        for item in items:
            yield from payloads_in(item)


async def run_until_projected(
    client: Client, sessions: sessionmaker[Session], task_queue: str, env: WorkflowEnvironment
) -> tuple[InteractionInput, list[Payload], Payload]:
    """Start an interaction through ``client`` and a worker on it; return its raw history payloads
    as the server stores them (read with the plain client) and the started event's input."""
    inp = interaction_input(team(), await now_of(env))
    async with build_worker(client, task_queue=task_queue, sessions=sessions, channel=LogChannel()):
        handle = await start(client, inp, task_queue)
        state = await eventually(lambda: state_of(handle))
        assert state.interaction_id == inp.interaction_id
        # Read back as the Temporal server, UI or `temporal workflow show` would: no codec.
        history = await env.client.get_workflow_handle(handle.id).fetch_history()
    started = history.events[0]
    assert started.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
    # Markers carry the SDK's own bookkeeping in plain JSON, never through the codec (a patch
    # id; a local activity's sequence, attempt and times; the projection's result is None).
    payloads = [
        p
        for event in history.events
        if event.event_type != EventType.EVENT_TYPE_MARKER_RECORDED
        for p in payloads_in(event)
    ]
    return inp, payloads, started.workflow_execution_started_event_attributes.input.payloads[0]


@pytest_asyncio.fixture(loop_scope="session")
async def encrypted_client(env: WorkflowEnvironment) -> Client:
    """The test server's client with the same converter the worker and API build from the key."""
    config = env.client.config()
    config["data_converter"] = data_converter(Settings(codec_key=KEY))
    return Client(**config)


@pytest_asyncio.fixture(loop_scope="session")
async def codec_api(db_url: str, encrypted_client: Client) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        Settings(database_url=db_url, tokens=TOKENS, codec_key=KEY), temporal_client=encrypted_client
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c


@SQLITE_ONLY
async def test_history_holds_ciphertext_and_the_codec_endpoint_reads_it(
    env: WorkflowEnvironment,
    encrypted_client: Client,
    sessions: sessionmaker[Session],
    task_queue: str,
    codec_api: httpx.AsyncClient,
) -> None:
    # Control: without a key the same walk finds the interaction id in plain JSON.
    inp, payloads, _ = await run_until_projected(env.client, sessions, f"{task_queue}-plain", env)
    assert any(inp.interaction_id.encode() in p.data for p in payloads)

    inp, payloads, started_input = await run_until_projected(encrypted_client, sessions, task_queue, env)
    assert payloads  # the workflow input (the projection runs as a local activity: no input in history)
    for p in payloads:
        assert p.metadata["encoding"] == b"binary/encrypted", p
        assert inp.interaction_id.encode() not in p.data
        assert b"eastside" not in p.data
        assert b"chw-ana" not in p.data

    # The Temporal UI posts the raw payloads to the codec endpoint and shows the JSON it gets back.
    r = await codec_api.post(
        "/codec/decode",
        json={"payloads": [json_format.MessageToDict(started_input)]},
        headers={**OPS, "X-Namespace": "default", "Origin": UI_ORIGIN},
    )
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == UI_ORIGIN
    (decoded,) = r.json()["payloads"]
    assert base64.b64decode(decoded["metadata"]["encoding"]) == b"json/plain"
    original = json.loads(base64.b64decode(decoded["data"]))
    assert original["interaction_id"] == inp.interaction_id
    assert original["external_id"] == inp.external_id
    assert original["assignee_id"] == "chw-ana"


@SQLITE_ONLY
async def test_encode_then_decode_gives_back_the_payload(codec_api: httpx.AsyncClient) -> None:
    payload = plain_payload({"assignee_id": "chw-ben", "reason_code": "coverage"})
    first = await codec_api.post("/codec/encode", json={"payloads": [payload]}, headers=OPS)
    second = await codec_api.post("/codec/encode", json={"payloads": [payload]}, headers=OPS)
    assert first.status_code == second.status_code == 200, first.text
    (sealed,) = first.json()["payloads"]
    assert base64.b64decode(sealed["metadata"]["encoding"]) == b"binary/encrypted"
    assert "encryption-key-id" in sealed["metadata"]
    assert b"chw-ben" not in base64.b64decode(sealed["data"])
    # A fresh random nonce each time: equal inputs do not give equal ciphertexts.
    assert sealed["data"] != second.json()["payloads"][0]["data"]

    back = await codec_api.post("/codec/decode", json=first.json(), headers=OPS)
    assert back.status_code == 200, back.text
    assert back.json() == {"payloads": [payload]}


@SQLITE_ONLY
async def test_decode_passes_unencrypted_payloads_through(codec_api: httpx.AsyncClient) -> None:
    payload = plain_payload({"interaction_id": "older-than-the-key"})
    r = await codec_api.post("/codec/decode", json={"payloads": [payload]}, headers=OPS)
    assert r.status_code == 200, r.text
    assert r.json() == {"payloads": [payload]}


@SQLITE_ONLY
@pytest.mark.parametrize("headers", [{}, auth("not-a-token"), {"Authorization": "Basic dXNlcjpwdw=="}])
async def test_codec_endpoints_need_a_valid_token(
    codec_api: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    body = {"payloads": [plain_payload({"x": 1})]}
    for path in ("/codec/encode", "/codec/decode"):
        r = await codec_api.post(path, json=body, headers=headers)
        assert r.status_code == 401, r.text
        assert r.json()["error"]["code"] == "unauthorized"


@SQLITE_ONLY
async def test_ui_preflight_works_without_a_token_for_ui_origins_only(codec_api: httpx.AsyncClient) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        # What the Temporal UI sends when it passes the signed-in user's tokens (UI 2.34+).
        "Access-Control-Request-Headers": "authorization,authorization-extras,content-type,x-namespace",
    }
    for origin in ("http://127.0.0.1:8233", "http://localhost:8233", "http://localhost:8080"):
        r = await codec_api.options("/codec/decode", headers={**preflight, "Origin": origin})
        assert r.status_code == 200, r.text
        assert r.headers["access-control-allow-origin"] == origin
        allowed = r.headers["access-control-allow-headers"].lower()
        assert "authorization" in allowed
        assert "authorization-extras" in allowed
    stranger = await codec_api.options(
        "/codec/decode", headers={**preflight, "Origin": "https://evil.example"}
    )
    assert "access-control-allow-origin" not in stranger.headers
    # The rest of the API is not opened to the UI origin.
    other = await codec_api.get("/healthz", headers={"Origin": UI_ORIGIN})
    assert "access-control-allow-origin" not in other.headers


@SQLITE_ONLY
async def test_payload_from_an_unknown_key_is_rejected_clearly(codec_api: httpx.AsyncClient) -> None:
    foreign = EncryptionCodec.from_key(OLD_KEY).encrypt(
        Payload(metadata={"encoding": b"json/plain"}, data=b"{}")
    )
    r = await codec_api.post(
        "/codec/decode", json={"payloads": [json_format.MessageToDict(foreign)]}, headers=OPS
    )
    assert r.status_code == 422
    message = r.json()["error"]["message"]
    assert "key this server does not hold" in message
    # Neither the payload's key id nor ours is echoed to the caller.
    assert foreign.metadata["encryption-key-id"].decode() not in message
    assert EncryptionCodec.from_key(KEY).key_id not in message


@SQLITE_ONLY
@pytest.mark.parametrize("token", ["t-chw-ana", "t-lead", "t-manager"])
async def test_staff_tokens_may_not_use_the_codec(codec_api: httpx.AsyncClient, token: str) -> None:
    """A payload may belong to any team: only ops and the system decode (a CHW gets 403)."""
    sealed = await codec_api.post("/codec/encode", json={"payloads": [plain_payload({"x": 1})]}, headers=OPS)
    for path, body in (
        ("/codec/decode", sealed.json()),
        ("/codec/encode", {"payloads": [plain_payload({})]}),
    ):
        r = await codec_api.post(path, json=body, headers=auth(token))
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "forbidden"


@SQLITE_ONLY
@pytest.mark.parametrize(
    "payload",
    [
        # Claims to be ours but is too short to hold a nonce and a tag.
        {"metadata": {"encoding": b64(b"binary/encrypted"), "encryption-key-id": "{kid}"}, "data": b64(b"x")},
        # Long enough, but not ciphertext of ours.
        {
            "metadata": {"encoding": b64(b"binary/encrypted"), "encryption-key-id": "{kid}"},
            "data": b64(os.urandom(64)),
        },
        # Not base64 at all.
        {"metadata": {"encoding": "%%%"}, "data": "not base64!"},
    ],
)
async def test_malformed_ciphertext_is_422(codec_api: httpx.AsyncClient, payload: dict[str, Any]) -> None:
    kid = b64(EncryptionCodec.from_key(KEY).key_id.encode())
    body = json.loads(json.dumps({"payloads": [payload]}).replace("{kid}", kid))
    r = await codec_api.post("/codec/decode", json=body, headers=OPS)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid"


@SQLITE_ONLY
async def test_an_oversized_codec_body_is_refused(codec_api: httpx.AsyncClient) -> None:
    big = {"payloads": [plain_payload({"x": "y" * (5 * 1024 * 1024)})]}
    r = await codec_api.post("/codec/decode", json=big, headers=OPS)
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "too_large"


async def test_the_worker_codec_refuses_payloads_that_are_not_encrypted() -> None:
    """Strict (worker and API clients): a plaintext payload comes out under an encoding no
    converter knows, so that one input is refused instead of being run."""
    strict = EncryptionCodec.from_key(KEY, strict=True)
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"actor_id": "anyone"}')
    (refused,) = await strict.decode([plain])
    assert refused.metadata["encoding"] == b"binary/plaintext-refused" and refused.data == b""
    converter = data_converter(Settings(codec_key=KEY))
    with pytest.raises(Exception, match="plaintext-refused"):
        await converter.decode([plain], [dict])
    lenient = data_converter(Settings(codec_key=KEY, codec_accept_plaintext=True))
    assert await lenient.decode([plain], [dict]) == [{"actor_id": "anyone"}]


@SQLITE_ONLY
async def test_without_a_key_the_codec_endpoint_says_encryption_is_off(db_url: str) -> None:
    app = create_app(Settings(database_url=db_url, tokens=TOKENS))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        r = await c.post("/codec/decode", json={"payloads": [plain_payload({"x": 1})]}, headers=OPS)
    assert r.status_code == 404
    assert "FOLLOWTHROUGH_CODEC_KEY" in r.json()["error"]["message"]


async def test_rotated_key_still_decrypts_older_payloads() -> None:
    old = EncryptionCodec.from_key(OLD_KEY)
    rotated = EncryptionCodec.from_key(f"{KEY},{OLD_KEY}")
    original = Payload(metadata={"encoding": b"json/plain"}, data=b'{"interaction_id": "i-1"}')
    (sealed_by_old,) = await old.encode([original])
    assert await rotated.decode([sealed_by_old]) == [original]
    # New payloads are sealed with the first key, which the old-only codec cannot open.
    (sealed_by_new,) = await rotated.encode([original])
    assert sealed_by_new.metadata["encryption-key-id"] != sealed_by_old.metadata["encryption-key-id"]
    with pytest.raises(CodecError, match="does not hold"):
        await old.decode([sealed_by_new])


async def test_tampered_ciphertext_is_refused() -> None:
    codec = EncryptionCodec.from_key(KEY)
    (sealed,) = await codec.encode([Payload(metadata={"encoding": b"json/plain"}, data=b"{}")])
    flipped = bytearray(sealed.data)
    flipped[-1] ^= 1
    sealed.data = bytes(flipped)
    with pytest.raises(CodecError, match="failed authentication"):
        await codec.decode([sealed])


def test_keys_in_standard_or_urlsafe_base64_with_or_without_padding_are_accepted() -> None:
    raw = bytes(range(250, 256)) + os.urandom(26)  # bytes that need '+/' or '-_'
    for text in (
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    ):
        assert EncryptionCodec.from_key(text).key_id == EncryptionCodec.from_key(b64(raw)).key_id


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("correct horse battery staple", "not valid base64"),
        (b64(os.urandom(16)), "decodes to 16 bytes, not 32"),
        ("", "empty key"),
        (f"{KEY},", "empty key"),
    ],
    ids=["not-base64", "16-bytes", "empty", "trailing-comma"],  # stable ids: random keys differ per run
)
def test_bad_key_is_rejected_with_a_clear_message(key: str, says: str) -> None:
    with pytest.raises(CodecKeyError, match=says) as err:
        EncryptionCodec.from_key(key)
    assert "python -c" in str(err.value)  # says how to make a good one


def test_api_refuses_to_start_with_a_bad_key(tmp_path: Path) -> None:
    with pytest.raises(CodecKeyError, match="not 32"):
        create_app(Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", codec_key=b64(b"short")))


def test_worker_command_exits_with_a_clear_message_on_a_bad_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from cli import main as cli
    from workers import startup

    monkeypatch.setattr(startup, "configure_logging", lambda *_: None)
    url = f"sqlite:///{tmp_path / 'x.db'}"
    result = CliRunner().invoke(
        cli.app,
        ["worker"],
        env={"FOLLOWTHROUGH_CODEC_KEY": b64(os.urandom(31)), "FOLLOWTHROUGH_DATABASE_URL": url},
    )
    assert result.exit_code == 1
    assert "codec key rejected" in result.output
    assert "31 bytes" in result.output


async def test_failure_messages_and_stack_traces_are_encrypted_too() -> None:
    """A failure written to history (an activity's error) keeps no readable message or trace."""
    from temporalio.api.failure.v1 import Failure
    from temporalio.exceptions import ApplicationError

    converter = data_converter(Settings(codec_key=KEY))
    failure = Failure()
    try:
        raise ApplicationError("member mem-1001 could not be reached at home")
    except ApplicationError as err:
        await converter.encode_failure(err, failure)
    stored = failure.SerializeToString()
    assert b"mem-1001" not in stored and b"could not be reached" not in stored
    assert failure.encoded_attributes.metadata["encoding"] == b"binary/encrypted"
    back = await converter.decode_failure(failure)
    assert "mem-1001" in str(back)
