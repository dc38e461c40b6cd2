"""Fast versions of the reliability drills (``drills/``): a worker killed with -9 under load,
PostgreSQL stopped under load, identical concurrent starts, and a storm of Twilio webhooks. The
API runs in-process on the session's Temporal dev server; the killed worker is a real subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.notifications import LogChannel
from api.app import create_app
from config.settings import Settings, TokenGrant
from domain.ids import interaction_workflow_id
from drills import inbound_storm
from drills.common import (
    ROOT,
    TEAM,
    TOKENS,
    Api,
    Proc,
    ReadModel,
    Stats,
    answered_503_between,
    cli,
    converge,
    drill_team,
    interaction_body,
    run_for,
    slowest_between,
)
from services.teams import load_team_file, read_team_file
from store.db import make_engine, make_sessionmaker
from store.migrate import upgrade
from tests import postgres
from workers.main import build_worker

pytestmark = pytest.mark.drill

GRANTS = {token: TokenGrant.model_validate(grant) for token, grant in TOKENS.items()}


def prepare(db_url: str) -> None:
    """Migrate and load the drills' team (what ``migrate`` and ``load-config`` do in a stack):
    the demo team with one case per contact (``drills.common.drill_team``)."""
    upgrade(db_url)
    engine = make_engine(db_url)
    with tempfile.TemporaryDirectory() as folder:
        load_team_file(make_sessionmaker(engine), read_team_file(drill_team(Path(folder))))
    engine.dispose()


def target(client: Client) -> str:
    return str(client.service_client.config.target_host)


@asynccontextmanager
async def api_for(settings: Settings, client: Client, stats: Stats) -> AsyncIterator[Api]:
    app = create_app(settings, temporal_client=client)
    async with Api("http://drill", stats, retry_cap=0.5, transport=httpx.ASGITransport(app=app)) as api:
        yield api


@contextmanager
def pg_outage() -> Iterator[Any]:
    try:
        ctx = postgres.outage_cluster()
        outage = ctx.__enter__()
    except postgres.PostgresUnavailable as exc:
        if postgres.required():
            pytest.fail(f"{exc} ({postgres.REQUIRE_ENV}=1)", pytrace=False)
        pytest.skip(f"PostgreSQL UNAVAILABLE, drill NOT RUN: {exc}")
    try:
        yield outage
    finally:
        ctx.__exit__(None, None, None)


async def test_worker_killed_under_load_loses_nothing_and_duplicates_nothing(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    db_url = f"sqlite:///{tmp_path / 'drill.db'}"
    prepare(db_url)
    queue = f"drill-{uuid.uuid4().hex[:8]}"
    settings = Settings(
        database_url=db_url, task_queue=queue, tokens=GRANTS, temporal_update_timeout_seconds=3.0
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "FOLLOWTHROUGH_DATABASE_URL": db_url,
        "FOLLOWTHROUGH_TEMPORAL_ADDRESS": target(dev_env.client),
        "FOLLOWTHROUGH_TASK_QUEUE": queue,
        "FOLLOWTHROUGH_TOKENS": json.dumps(TOKENS),
        "FOLLOWTHROUGH_WORKER_METRICS_ADDRESS": "",
        "FOLLOWTHROUGH_LOG_LEVEL": "WARNING",
    }
    worker = Proc("worker", cli("worker"), env=env, log_dir=tmp_path).start()
    prefix = f"wk-{uuid.uuid4().hex[:6]}"
    stats = Stats()
    try:
        async with api_for(settings, dev_env.client, stats) as api:
            await run_for(api, 1, 0.0, f"warm-{prefix}")  # the worker subprocess is up
            t0 = time.monotonic()
            load = asyncio.create_task(run_for(api, 6, 4.0, prefix))
            await asyncio.sleep(2.0)
            worker.kill9()
            await asyncio.sleep(1.0)
            worker.start()
            outcomes = await asyncio.wait_for(load, 90)
            answered = time.monotonic() - t0
        audit = await converge(
            ReadModel(db_url), prefix, [o.external_id for o in outcomes], temporal=dev_env.client, within=30
        )
        print(f"{len(outcomes)} lifecycles answered in {answered:.1f} s, {stats.non_2xx()}")
    finally:
        worker.kill9()
    assert [o.error for o in outcomes if not o.resolved] == []
    assert stats.bad_5xx == []
    assert audit.rows == len(outcomes) == audit.resolved
    assert audit.duplicate_rows == 0 and dict(audit.attempt_counts) == {1: len(outcomes)}
    assert audit.duplicate == {}
    assert dict(audit.assigned_notices) == {1: len(outcomes)}
    assert audit.disagreements == [], audit.details()


async def test_database_outage_under_load_answers_503_quickly_then_converges(
    dev_env: WorkflowEnvironment,
) -> None:
    with pg_outage() as outage:
        upgrade(outage.url)
        prepare(outage.url)
        queue = f"drill-{uuid.uuid4().hex[:8]}"
        settings = Settings(
            database_url=outage.url,
            task_queue=queue,
            tokens=GRANTS,
            db_connect_timeout_seconds=2,
            temporal_update_timeout_seconds=5.0,
        )
        engine = make_engine(outage.url)
        prefix = f"db-{uuid.uuid4().hex[:6]}"
        stats = Stats()
        try:
            async with (
                build_worker(
                    dev_env.client, task_queue=queue, sessions=make_sessionmaker(engine), channel=LogChannel()
                ),
                api_for(settings, dev_env.client, stats) as api,
            ):
                load = asyncio.create_task(run_for(api, 5, 8.0, prefix))
                await asyncio.sleep(2.0)
                down_at = time.monotonic()
                await asyncio.to_thread(outage.stop)
                await asyncio.sleep(4.0)
                await asyncio.to_thread(outage.start)
                up_at = time.monotonic()
                outcomes = await asyncio.wait_for(load, 120)
                audit = await converge(
                    ReadModel(outage.url),
                    prefix,
                    [o.external_id for o in outcomes],
                    temporal=dev_env.client,
                    within=60,
                )
        finally:
            engine.dispose()
    # No client error at all: a resolve applied just before the outage whose answer could not be
    # stored answers its same-key repeat with that answer, not 409 (drills/README.md finding 1,
    # fixed; tests/drills/test_findings.py pins it deterministically).
    assert [o.error for o in outcomes if not o.resolved] == []
    assert answered_503_between(stats, down_at, up_at) > 0
    # Every request has an 8.5 s deadline; without deadlines they would wait out the 30 s+ pool
    # and connect timeouts. The margin is for a loaded CI machine (10.7 s was seen with other
    # suites running beside this one).
    assert slowest_between(stats, down_at, up_at, started_after=down_at + 1.0) < 15
    assert stats.bad_5xx == []
    assert audit.rows == len(outcomes) == audit.resolved
    assert audit.duplicate_rows == 0
    assert dict(audit.assigned_notices) == {1: len(outcomes)}
    assert audit.undelivered == {}
    assert audit.disagreements == [], audit.details()


async def test_identical_concurrent_starts_make_one_workflow_one_row_one_201(
    dev_env: WorkflowEnvironment, db_url: str
) -> None:
    prepare(db_url)
    queue = f"drill-{uuid.uuid4().hex[:8]}"
    settings = Settings(database_url=db_url, task_queue=queue, tokens=GRANTS)
    engine = make_engine(db_url)
    stats = Stats()
    try:
        async with (
            build_worker(
                dev_env.client, task_queue=queue, sessions=make_sessionmaker(engine), channel=LogChannel()
            ),
            api_for(settings, dev_env.client, stats) as api,
        ):
            for _ in range(2):
                external_id = f"cs-{uuid.uuid4().hex[:8]}"
                body = interaction_body(external_id, "mem-1001")
                answers = await asyncio.gather(
                    *(
                        api.request(
                            "create", "POST", "/v1/interactions", token="drill-system", json_body=body
                        )
                        for _ in range(10)
                    )
                )
                assert Counter(r.status_code for r in answers) == {201: 1, 200: 9}, [r.text for r in answers]
                assert len({r.json()["id"] for r in answers}) == 1
                rows = ReadModel(db_url).sql(
                    "SELECT count(*) FROM interactions WHERE team_id = :t AND external_id = :e",
                    t=TEAM,
                    e=external_id,
                )
                assert rows[0][0] == 1
                wid = interaction_workflow_id(TEAM, external_id)
                deadline = time.monotonic() + 10
                while (n := (await dev_env.client.count_workflows(f'WorkflowId = "{wid}"')).count) < 1:
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.2)
                assert n == 1
    finally:
        engine.dispose()


async def test_inbound_storm_leaves_one_open_case_per_waiting_member_and_honours_every_stop(
    dev_env: WorkflowEnvironment, db_url: str, tmp_path: Path
) -> None:
    """``drills.inbound_storm`` small: 150 signed webhooks in 6 s from 12 members (missed calls,
    voicemails on the same CallSid, texts, STOP/START/HELP, exact repeats, some sent together
    with their original; three members reached by a CHW mid-run). The oracle computed from the
    events must hold: one open case per member with an unanswered contact and none otherwise,
    every contact on one case with ``contacts`` its distinct Sids, every last keyword honoured,
    every webhook answered 200, Temporal agreeing with every row."""
    plan = inbound_storm.make_plan(members=12, requests=150, seconds=6, reach_share=0.25, seed=3)
    kinds = {h.kind for h in plan.hooks}
    assert {"call", "voicemail", "text", "stop", "start", "help", "answered"} <= kinds
    assert plan.reach and any(h.together for h in plan.hooks) and any(h.phase == 1 for h in plan.hooks)
    engine = make_engine(db_url)
    load_team_file(
        make_sessionmaker(engine), read_team_file(inbound_storm.storm_team(tmp_path, plan.members))
    )
    queue = f"drill-{uuid.uuid4().hex[:8]}"
    settings = Settings(
        database_url=db_url,
        task_queue=queue,
        tokens=GRANTS,
        twilio_auth_token=inbound_storm.AUTH_TOKEN,
        public_url=inbound_storm.PUBLIC_URL,
    )
    rm = ReadModel(db_url)
    try:
        async with (
            build_worker(
                dev_env.client, task_queue=queue, sessions=make_sessionmaker(engine), channel=LogChannel()
            ),
            httpx.AsyncClient(
                base_url="http://drill",
                transport=httpx.ASGITransport(app=create_app(settings, temporal_client=dev_env.client)),
            ) as http,
        ):
            sent = await inbound_storm.storm(http, plan, inbound_storm.sql_open_cases(rm))
            settled = await inbound_storm.settle(plan, rm, dev_env.client, sent.last_answer, within=60)
    finally:
        engine.dispose()
    inbound_storm.report("inbound_storm", "test", plan, sent, settled)
    v = settled.verdict
    why = "\n".join(sent.failed + sent.reach_errors + v.details())
    assert sent.failed == [] and sent.reach_errors == [], why
    # Drills/README.md findings 9 and 10 (two open cases for one member, a voicemail counted as
    # a second contact of its own call) made this fail in 4 of 6 runs before their fix.
    assert v.ok(), why
    assert v.resolved_cases >= len(plan.reach), why


def test_drills_run_from_this_checkout() -> None:
    """The drills start the command line of this checkout with this interpreter."""
    assert cli("worker")[:1] == [sys.executable]
    assert (ROOT / "drills" / "README.md").exists()
