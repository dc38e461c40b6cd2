"""Faults a busy call center meets: the worker stopped, repeated requests, the database down,
Temporal unreachable. Every answer stays in the error shape, within its deadline, and a repeat
with the same Idempotency-Key changes nothing."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker
from temporalio import client as client_mod
from temporalio.testing import WorkflowEnvironment

from activities.notifications import LogChannel
from api.app import create_app
from config.settings import Settings
from services.common import operation_id
from store.db import make_engine, make_sessionmaker
from store.migrate import upgrade
from store.models import Attempt, IdempotentAnswer, Interaction, Member
from tests import postgres
from tests.api.support import ANA, SYSTEM, create, detail, setup_team
from tests.conftest import TOKENS
from tests.workflows.support import eventually
from workers.main import build_worker
from workflows.interaction import InteractionWorkflow


def fault_settings(settings: Settings, **over: Any) -> Settings:
    return settings.model_copy(update={"temporal_update_timeout_seconds": 2.0, **over})


@pytest_asyncio.fixture(loop_scope="session")
async def app_client(
    settings: Settings, dev_env: WorkflowEnvironment
) -> AsyncIterator[tuple[httpx.AsyncClient, Settings]]:
    """The API on the real dev server with a 2-second action deadline, and no worker (tests start
    their own: the time-skipping server does not hand a stopped worker's sticky tasks on)."""
    quick = fault_settings(settings)
    app = create_app(quick, temporal_client=dev_env.client)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c, quick


def attempts_of(sessions: sessionmaker[Session], interaction_id: str) -> int:
    with sessions() as s:
        return s.query(Attempt).filter(Attempt.interaction_id == interaction_id).count()


async def projected(api: httpx.AsyncClient, interaction_id: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        got = await detail(api, interaction_id)
        return got if "created" in [e["kind"] for e in got["timeline"]] else None

    return await eventually(check)


def assert_unavailable(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "unavailable"
    assert int(r.headers["Retry-After"]) > 0


async def temporal_and_sql_agree(
    client: client_mod.Client, workflow_id: str, sessions: sessionmaker[Session], interaction_id: str
) -> set[str]:
    """Wait until the case's attempt rows are exactly the attempts its workflow holds (Temporal is
    the truth: a row written by a workflow task Temporal lost goes with the next projection);
    answer those attempt ids."""
    handle = client.get_workflow_handle(workflow_id)

    async def agree() -> set[str] | None:
        state = await handle.query(InteractionWorkflow.state)
        held = {a.attempt_id for a in state.attempts}
        with sessions() as s:
            rows = set(s.scalars(select(Attempt.id).where(Attempt.interaction_id == interaction_id)))
        return held if rows == held else None

    return await eventually(agree, within=20)


async def test_worker_stopped_actions_answer_503_reads_stay_fast_and_a_repeat_applies_once(
    app_client: tuple[httpx.AsyncClient, Settings],
    dev_env: WorkflowEnvironment,
    sessions: sessionmaker[Session],
) -> None:
    api, settings = app_client
    client = dev_env.client
    worker = build_worker(client, task_queue=settings.task_queue, sessions=sessions, channel=LogChannel())
    async with worker:
        await setup_team(api)
        case = await projected(api, (await create(api))["id"])
    # The worker is gone. Twenty actions at once: MAX_CONCURRENT_REQUESTS of them are admitted and
    # wait on the workflow until the action deadline, the rest cannot start within
    # ADMISSION_WAIT_SECONDS and are shed at once (docs/api.md); each answers 503 within its deadline.
    started = time.monotonic()
    keys = [uuid.uuid4().hex for _ in range(20)]
    assert settings.admission_wait_seconds < settings.temporal_update_timeout_seconds
    assert settings.max_concurrent_requests < len(keys)
    actions = [
        api.post(
            f"/v1/interactions/{case['id']}/attempts",
            json={"outcome": "no_answer"},
            headers={**ANA, "Idempotency-Key": key},
        )
        for key in keys
    ]

    async def timed_read() -> float:
        await asyncio.sleep(0.3)  # while the actions wait
        t0 = time.monotonic()
        r = await api.get(f"/v1/interactions/{case['id']}", headers=ANA)
        assert r.status_code == 200, r.text
        return time.monotonic() - t0

    *answers, read_seconds = await asyncio.gather(*actions, timed_read())
    shed, admitted = [], []
    for key, r in zip(keys, answers, strict=True):
        assert isinstance(r, httpx.Response)
        assert_unavailable(r)
        message = r.json()["error"]["message"]
        if message.startswith("the service is busy"):
            shed.append(key)
        else:
            assert "it may still be applied" in message, message
            admitted.append(key)
    assert len(admitted) == settings.max_concurrent_requests
    assert len(shed) == len(keys) - settings.max_concurrent_requests
    assert time.monotonic() - started < settings.temporal_update_timeout_seconds + 8
    assert isinstance(read_seconds, float) and read_seconds < 1.0
    # The worker returns (its sticky queue times out first). An admitted action may have been
    # applied since (with the first workflow task after the worker's return, or with the one a
    # repeat starts) or lost with the workflow task that carried it; a shed one never reached
    # Temporal. The client repeats each with the same key, as Retry-After says.
    async with build_worker(client, task_queue=settings.task_queue, sessions=sessions, channel=LogChannel()):

        async def repeated(key: str) -> httpx.Response:
            """Repeat with the same key, as Retry-After says, until it is answered."""

            async def once() -> httpx.Response | None:
                r = await api.post(
                    f"/v1/interactions/{case['id']}/attempts",
                    json={"outcome": "no_answer"},
                    headers={**ANA, "Idempotency-Key": key},
                )
                return None if r.status_code == 503 else r

            return await eventually(once, within=40)

        for key in shed:
            repeat = await repeated(key)
            assert repeat.status_code == 200, repeat.text
        # The attempt ids derive from the keys (docs/api.md, repeat-safe actions): the shed keys'
        # stored answers now hold a status, the admitted ones' are still unanswered.
        with sessions() as s:
            rows = s.execute(select(IdempotentAnswer.key, IdempotentAnswer.status))
            stored = {k: status for k, status in rows}
        shed_ids = {operation_id("attempt", k) for k, status in stored.items() if status == 200}
        admitted_ids = {operation_id("attempt", k) for k, status in stored.items() if status is None}
        assert (len(shed_ids), len(admitted_ids)) == (len(shed), len(admitted))
        # The rows are what Temporal holds (rows a lost workflow task wrote are gone): every shed
        # action once, and of the admitted ones those Temporal applied, nothing else.
        held = await temporal_and_sql_agree(client, case["workflow_id"], sessions, case["id"])
        assert shed_ids <= held <= shed_ids | admitted_ids
        again = await api.post(
            f"/v1/interactions/{case['id']}/attempts",
            json={"outcome": "no_answer"},
            headers={**ANA, "Idempotency-Key": shed[-1]},
        )
        assert again.status_code == 200, again.text
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert again.json() == repeat.json()
        # Every key repeated: whatever was applied is not applied again, the rest is applied once.
        for key in keys:
            r = await repeated(key)
            assert r.status_code == 200, r.text
        held = await temporal_and_sql_agree(client, case["workflow_id"], sessions, case["id"])
        assert held == shed_ids | admitted_ids
        assert attempts_of(sessions, case["id"]) == len(keys)


async def test_same_idempotency_key_answers_the_same_and_changes_nothing(
    api: httpx.AsyncClient, sessions: sessionmaker[Session]
) -> None:
    await setup_team(api)
    case = await projected(api, (await create(api))["id"])
    url = f"/v1/interactions/{case['id']}/attempts"
    headers = {**ANA, "Idempotency-Key": "retry-me"}
    first = await api.post(url, json={"outcome": "no_answer", "note": "CANARY tried"}, headers=headers)
    assert first.status_code == 200, first.text
    second = await api.post(url, json={"outcome": "no_answer", "note": "CANARY tried"}, headers=headers)
    assert second.status_code == 200, second.text
    assert second.json() == first.json()
    assert attempts_of(sessions, case["id"]) == 1
    assert [a["note"] for a in second.json()["attempts"]] == ["CANARY tried"]
    # The same key with another body is refused and changes nothing.
    other = await api.post(url, json={"outcome": "reached"}, headers=headers)
    assert other.status_code == 422, other.text
    assert "Idempotency-Key" in other.json()["error"]["message"]
    assert attempts_of(sessions, case["id"]) == 1
    # Without a key every request is a new attempt.
    await api.post(url, json={"outcome": "no_answer"}, headers=ANA)
    assert attempts_of(sessions, case["id"]) == 2


async def test_resolve_repeated_after_a_lost_answer_completes_it(
    api: httpx.AsyncClient, sessions: sessionmaker[Session]
) -> None:
    await setup_team(api)
    case = await projected(api, (await create(api))["id"])
    headers = {**ANA, "Idempotency-Key": "resolve-1"}
    url = f"/v1/interactions/{case['id']}/resolve"
    first = await api.post(url, json={"resolution": "CANARY done"}, headers=headers)
    assert first.status_code == 200, first.text
    # Simulate a crash after the update: the text and the stored answer are lost.
    with sessions() as s:
        s.get(Interaction, case["id"]).resolution = None  # type: ignore[union-attr]
        s.execute(text("DELETE FROM idempotent_answers"))
        s.commit()
    again = await api.post(url, json={"resolution": "CANARY done"}, headers=headers)
    assert again.status_code == 200, again.text
    assert again.json()["resolution"] == "CANARY done"
    assert again.json()["status"] == "resolved"


async def test_temporal_unreachable_start_is_503_and_leaves_no_orphan(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    with sessions() as s:
        s.add(Member(team_id="eastside", id="mem-1", owner_id="chw-ana"))
        s.commit()
    bad = settings.model_copy(update={"temporal_address": "127.0.0.1:1", "temporal_rpc_timeout_seconds": 2.0})
    app = create_app(bad)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as api:
        started = time.monotonic()
        r = await api.post(
            "/v1/interactions",
            json={
                "team_id": "eastside",
                "external_id": "orphan-1",
                "member_id": "mem-1",
                "channel": "call",
                "received_at": datetime.now(UTC).isoformat(),
            },
            headers=SYSTEM,
        )
        assert time.monotonic() - started < 10
        assert_unavailable(r)
    with sessions() as s:
        assert s.query(Interaction).count() == 0, "a queue row without its workflow was left behind"


async def test_database_down_is_503_json_quickly_then_recovers(
    client: client_mod.Client, task_queue: str, tmp_path: Any
) -> None:
    try:
        ctx = postgres.outage_cluster()
        outage = ctx.__enter__()
    except postgres.PostgresUnavailable as exc:
        if postgres.required():
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    try:
        upgrade(outage.url)
        settings = Settings(
            database_url=outage.url, task_queue=task_queue, tokens=TOKENS, db_connect_timeout_seconds=2
        )
        engine = make_engine(outage.url)
        worker_sessions = make_sessionmaker(engine)
        app = create_app(settings, temporal_client=client)
        transport = httpx.ASGITransport(app=app)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://test") as api,
            build_worker(client, task_queue=task_queue, sessions=worker_sessions, channel=LogChannel()),
        ):
            await setup_team(api)
            case = await projected(api, (await create(api))["id"])
            outage.stop()
            for method, path in (
                ("GET", f"/v1/interactions/{case['id']}"),
                ("GET", "/v1/interactions?team_id=eastside"),
                ("POST", f"/v1/interactions/{case['id']}/attempts"),
            ):
                t0 = time.monotonic()
                r = await api.request(method, path, json={"outcome": "reached"}, headers=ANA)
                assert time.monotonic() - t0 < 10
                assert_unavailable(r)
                assert "psycopg" not in r.text and "127.0.0.1" not in r.text
            ready = await api.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["database"] == {"ok": False}
            outage.start()

            async def recovered() -> bool:
                r = await api.get(f"/v1/interactions/{case['id']}", headers=ANA)
                return r.status_code == 200

            await eventually(recovered)
            r = await api.post(
                f"/v1/interactions/{case['id']}/attempts", json={"outcome": "reached"}, headers=ANA
            )
            assert r.status_code == 200, r.text
        engine.dispose()
    finally:
        ctx.__exit__(None, None, None)
