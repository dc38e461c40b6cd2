"""P1's floor: the lifecycle written as lean as Python allows, against the same bare workflow.

Run: ``python -m bench.p1_floor [--clients 10] [--lifecycles 200] [--rounds 3] [--plain]``.

P1 asks the happy path through the API (create → ``reached`` attempt → resolve) to run at half
the rate of a bare one-activity workflow at 10 clients. This figure measures what that rate is
for the least code that can do the same work with the same libraries, in the same kind of
processes, on the same machine: a FastAPI app (uvicorn, one process) whose three routes check the
caller's token against a staff table, claim the request's ``Idempotency-Key``, insert or read the
case's row with a few SQLAlchemy Core statements (SQLite, WAL, in a worker thread as the product
does), call Temporal and answer the row and its timeline as JSON; and a worker process whose
workflow has the product's Temporal shape for the lifecycle. By default that shape is the
product's (``--plain``: only ``bench.common.LifecycleShape``'s):

- started with the case's five search attributes and an input of the product's size (≈ 2.8 KB:
  the calendar and the escalation matrix), a patch marker and the due time's upsert;
- the projection as a local activity that updates the row and adds a timeline line;
- the assignee's notice as an activity that writes an outbox row and signals-with-start the
  recipient's grouping workflow, which delivers what it holds every few seconds in one activity;
- the first-response deadline as a timer the attempt cancels;
- two updates (attempt, resolve), each a status upsert and a projection.

None of the product's promises is kept here beyond that shape: no member-data texts, no
presenter, no per-request logging, no admission control, no sandbox, no reconcile. So P1 cannot
reach more than this figure on this machine; the line gives the CPU per lifecycle of the floor's
API, worker and server, as P1's line does for the product. Rounds alternate with the bare
workflow on the same dev server (in memory), as P1's do; the ratio is the rounds' median.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median
from typing import Annotated, Any

import anyio
import httpx
from fastapi import FastAPI, Header, HTTPException
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy import Connection, Engine, create_engine, event, text
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from bench.common import cpu_seconds, report
from drills import baseline
from drills.common import Proc, free_port, log, temporal_cmd, wait_port
from workers.client import ensure_search_attributes
from workflows.search_attributes import FT_ASSIGNEE, FT_CHANNEL, FT_DUE_AT, FT_STATUS, FT_TEAM

MINUTE = timedelta(seconds=60)
# The product's start input is about this large (its calendar and escalation matrix).
INPUT_BYTES = 2800
SYSTEM, CHW = "floor-system", "floor-chw"
ADD_LINE = "INSERT INTO timeline (key, interaction_id, kind) VALUES (:k, :i, :s) ON CONFLICT DO NOTHING"
CLAIM = "INSERT INTO answers (key) VALUES (:k) ON CONFLICT DO NOTHING"
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS staff (id TEXT PRIMARY KEY, role TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS interactions (id TEXT PRIMARY KEY, external_id TEXT UNIQUE NOT NULL, "
    "status TEXT NOT NULL, assignee_id TEXT, version INTEGER NOT NULL, note TEXT, resolution TEXT)",
    "CREATE TABLE IF NOT EXISTS timeline (key TEXT PRIMARY KEY, interaction_id TEXT NOT NULL, kind TEXT)",
    "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, body TEXT)",
    "CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY, interaction_id TEXT, delivered INTEGER)",
)


class Env:
    """The floor's processes' settings (environment variables the runner sets)."""

    db = "FLOOR_DB"
    queue = "FLOOR_QUEUE"
    temporal = "FLOOR_TEMPORAL"
    shaped = "FLOOR_SHAPED"


def _engine() -> Engine:
    engine = create_engine(
        f"sqlite:///{os.environ[Env.db]}", connect_args={"check_same_thread": False, "timeout": 30}
    )

    @event.listens_for(engine, "connect")
    def _wal(dbapi: Any, _record: Any) -> None:
        dbapi.execute("PRAGMA journal_mode=WAL")
        dbapi.execute("PRAGMA synchronous=NORMAL")

    return engine


_ENGINE: Engine | None = None
_CLIENT: Client | None = None


def engine() -> Engine:
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = _engine()
    return _ENGINE


async def client() -> Client:
    global _CLIENT
    if _CLIENT is None:
        _CLIENT = await Client.connect(os.environ[Env.temporal], data_converter=pydantic_data_converter)
    return _CLIENT


def shaped() -> bool:
    return os.environ.get(Env.shaped) == "1"


# ---------------------------------------------------------------- the worker's side
@activity.defn(name="floor_project")
def project(interaction_id: str, status: str, version: int) -> None:
    with engine().begin() as c:
        c.execute(
            text("UPDATE interactions SET status = :s, version = :v WHERE id = :i AND version < :v"),
            {"s": status, "v": version, "i": interaction_id},
        )
        c.execute(text(ADD_LINE), {"k": f"{interaction_id}:{version}", "i": interaction_id, "s": status})


@activity.defn(name="floor_notify")
async def notify(interaction_id: str) -> None:
    def write() -> int:
        with engine().begin() as c:
            stmt = text("INSERT INTO outbox (interaction_id, delivered) VALUES (:i, 0) RETURNING id")
            return int(c.execute(stmt, {"i": interaction_id}).scalar_one())

    notice = await anyio.to_thread.run_sync(write)
    if shaped():
        await (await client()).start_workflow(
            FloorGroup.run,
            id=f"floor-group:{CHW}",
            task_queue=os.environ[Env.queue],
            start_signal="add",
            start_signal_args=[notice],
        )


@activity.defn(name="floor_deliver")
def deliver(notices: list[int]) -> None:
    with engine().begin() as c:
        c.execute(text("UPDATE outbox SET delivered = 1 WHERE id = :n"), [{"n": n} for n in notices])


@workflow.defn(name="BenchFloorGroup", sandboxed=False)
class FloorGroup:
    """The recipient's grouping workflow: what arrived within a few seconds, in one delivery."""

    def __init__(self) -> None:
        self._pending: list[int] = []

    @workflow.signal
    def add(self, notice: int) -> None:
        self._pending.append(notice)

    @workflow.run
    async def run(self) -> None:
        while True:
            try:
                await workflow.wait_condition(lambda: bool(self._pending), timeout=timedelta(minutes=10))
            except TimeoutError:
                return
            await workflow.sleep(timedelta(seconds=5))
            batch, self._pending = self._pending, []
            await workflow.execute_activity(deliver, batch, start_to_close_timeout=MINUTE)


class FloorState(BaseModel):
    status: str
    version: int


@workflow.defn(name="BenchFloorCase", sandboxed=False)
class FloorCase:
    """The lifecycle's Temporal shape (the module's docstring), with one statement or two each."""

    def __init__(self) -> None:
        self._version = 1
        self._resolved = False

    @workflow.run
    async def run(self, interaction_id: str, padding: str) -> None:
        if shaped():
            workflow.patched("floor-patch")
            workflow.upsert_search_attributes([FT_DUE_AT.value_set(workflow.now())])
        await workflow.execute_local_activity(
            project, args=[interaction_id, "open", 1], start_to_close_timeout=MINUTE
        )
        notice = workflow.start_activity(notify, interaction_id, start_to_close_timeout=MINUTE)
        if shaped():
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: self._version > 1, timeout=timedelta(hours=4))
        await workflow.wait_condition(lambda: self._resolved)
        await notice

    @workflow.update
    async def attempt(self, interaction_id: str) -> FloorState:
        return await self._change(interaction_id, "attempting")

    @workflow.update
    async def resolve(self, interaction_id: str) -> FloorState:
        state = await self._change(interaction_id, "resolved")
        self._resolved = True
        return state

    async def _change(self, interaction_id: str, status: str) -> FloorState:
        self._version += 1
        workflow.upsert_search_attributes([FT_STATUS.value_set(status)])
        await workflow.execute_local_activity(
            project,
            args=[interaction_id, status, self._version],
            start_to_close_timeout=MINUTE,
        )
        return FloorState(status=status, version=self._version)


async def run_worker() -> None:
    worker = Worker(
        await client(),
        task_queue=os.environ[Env.queue],
        workflows=[FloorCase, FloorGroup],
        activities=[project, notify, deliver],
        activity_executor=ThreadPoolExecutor(8),
    )
    await worker.run()


# ---------------------------------------------------------------- the API's side
app = FastAPI()


class Create(BaseModel):
    external_id: str
    member_id: str
    channel: str = "call"


class Attempt(BaseModel):
    outcome: str
    note: str | None = None


class Resolve(BaseModel):
    resolution: str


def _caller(c: Connection, authorization: str) -> None:
    found = c.execute(
        text("SELECT role FROM staff WHERE id = :t"), {"t": authorization.removeprefix("Bearer ")}
    ).first()
    if found is None:
        raise HTTPException(401)


def _case(c: Connection, interaction_id: str) -> str:
    row = (
        c.execute(
            text("SELECT id, external_id, status, assignee_id, version FROM interactions WHERE id = :i"),
            {"i": interaction_id},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise HTTPException(404)
    kinds = c.execute(text("SELECT kind FROM timeline WHERE interaction_id = :i"), {"i": interaction_id})
    return json.dumps({**row, "timeline": list(kinds.scalars())})


@app.post("/v1/interactions")
async def create(body: Create, authorization: Annotated[str, Header()]) -> Response:
    interaction_id = uuid.uuid4().hex

    def insert() -> None:
        with engine().begin() as c:
            _caller(c, authorization)
            c.execute(
                text(
                    "INSERT INTO interactions (id, external_id, status, assignee_id, version) "
                    "VALUES (:i, :e, 'open', :a, 0)"
                ),
                {"i": interaction_id, "e": body.external_id, "a": CHW},
            )

    await anyio.to_thread.run_sync(insert)
    attributes: list[SearchAttributePair[Any]] = [
        SearchAttributePair(FT_TEAM, "floor"),
        SearchAttributePair(FT_CHANNEL, body.channel),
        SearchAttributePair(FT_STATUS, "open"),
        SearchAttributePair(FT_ASSIGNEE, CHW),
        SearchAttributePair(FT_DUE_AT, datetime.now(UTC)),
    ]
    await (await client()).start_workflow(
        FloorCase.run,
        args=[interaction_id, "x" * INPUT_BYTES if shaped() else ""],
        id=f"floor:{body.external_id}",
        task_queue=os.environ[Env.queue],
        search_attributes=TypedSearchAttributes(attributes),
    )

    def read() -> str:
        with engine().connect() as c:
            return _case(c, interaction_id)

    return Response(await anyio.to_thread.run_sync(read), status_code=201, media_type="application/json")


async def _act(
    interaction_id: str, key: str, update: str, authorization: str, column: str, value: str | None
) -> Response:
    def claim() -> str:
        with engine().begin() as c:
            _caller(c, authorization)
            found = c.execute(
                text("SELECT external_id FROM interactions WHERE id = :i"), {"i": interaction_id}
            )
            external_id = found.scalar_one_or_none()
            if external_id is None:
                raise HTTPException(404)
            if c.execute(text(CLAIM), {"k": key}).rowcount != 1:
                raise HTTPException(409)
            return str(external_id)

    external_id = await anyio.to_thread.run_sync(claim)
    handle = (await client()).get_workflow_handle(f"floor:{external_id}")
    await handle.execute_update(update, interaction_id, id=key, result_type=FloorState)

    def answer() -> str:
        with engine().begin() as c:
            if value:
                c.execute(
                    text(f"UPDATE interactions SET {column} = :v WHERE id = :i"),
                    {"v": value, "i": interaction_id},
                )
            body = _case(c, interaction_id)
            c.execute(text("UPDATE answers SET body = :b WHERE key = :k"), {"b": body, "k": key})
            return body

    return Response(await anyio.to_thread.run_sync(answer), media_type="application/json")


@app.post("/v1/interactions/{interaction_id}/attempts")
async def attempt(
    interaction_id: str,
    body: Attempt,
    authorization: Annotated[str, Header()],
    idempotency_key: Annotated[str, Header()],
) -> Response:
    return await _act(interaction_id, idempotency_key, "attempt", authorization, "note", body.note)


@app.post("/v1/interactions/{interaction_id}/resolve")
async def resolve(
    interaction_id: str,
    body: Resolve,
    authorization: Annotated[str, Header()],
    idempotency_key: Annotated[str, Header()],
) -> Response:
    return await _act(
        interaction_id, idempotency_key, "resolve", authorization, "resolution", body.resolution
    )


def setup() -> None:
    with engine().begin() as c:
        for statement in SCHEMA:
            c.execute(text(statement))
        c.execute(
            text("INSERT OR IGNORE INTO staff (id, role) VALUES (:s, 'system'), (:c, 'chw')"),
            {"s": SYSTEM, "c": CHW},
        )


# ---------------------------------------------------------------- the figure
@contextlib.contextmanager
def floor_stack(*, plain: bool) -> Iterator[tuple[str, str, Proc, Proc, Proc]]:
    """Dev server, the floor's worker and API: (Temporal address, API URL, server, worker, API).
    Their logs and database are removed afterwards unless ``DRILL_KEEP=1``, as the drills' are."""
    tmp = Path(tempfile.mkdtemp(prefix="followthrough-floor-"))
    t_port, api_port = free_port(), free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        Env.db: str(tmp / "floor.db"),
        Env.queue: f"floor-{uuid.uuid4().hex[:8]}",
        Env.temporal: f"127.0.0.1:{t_port}",
        Env.shaped: "" if plain else "1",
    }
    me = [sys.executable, "-m", "bench.p1_floor"]
    server = Proc("temporal", temporal_cmd(t_port, db_file=None), env=env, log_dir=tmp)
    worker = Proc("worker", [*me, "--serve", "worker"], env=env, log_dir=tmp)
    api = Proc("api", [*me, "--serve", "api", "--port", str(api_port)], env=env, log_dir=tmp)
    with contextlib.ExitStack() as cleanup:
        if os.environ.get("DRILL_KEEP") != "1":
            cleanup.callback(shutil.rmtree, tmp, ignore_errors=True)
        server.start()
        cleanup.callback(server.stop)
        wait_port(t_port, proc=server)
        os.environ[Env.db] = env[Env.db]
        setup()
        for proc in (worker, api):
            proc.start()
            cleanup.callback(proc.stop)
        wait_port(api_port, proc=api)
        yield env[Env.temporal], f"http://127.0.0.1:{api_port}", server, worker, api


async def lifecycle(http: httpx.AsyncClient, external_id: str) -> None:
    r = await http.post(
        "/v1/interactions",
        json={"external_id": external_id, "member_id": "m1"},
        headers={"Authorization": f"Bearer {SYSTEM}"},
    )
    r.raise_for_status()
    interaction_id = r.json()["id"]
    chw = {"Authorization": f"Bearer {CHW}"}
    for action, body in (
        ("attempts", {"outcome": "reached", "note": "drill"}),
        ("resolve", {"resolution": "done"}),
    ):
        r = await http.post(
            f"/v1/interactions/{interaction_id}/{action}",
            json=body,
            headers={**chw, "Idempotency-Key": uuid.uuid4().hex},
        )
        r.raise_for_status()


async def clients_run(http: httpx.AsyncClient, clients: int, per_client: int, prefix: str) -> float:
    """``clients`` concurrent clients, each ``per_client`` lifecycles in turn; lifecycles per second."""

    async def one(c: int) -> None:
        for j in range(per_client):
            await lifecycle(http, f"{prefix}-{c}-{j}")

    t0 = time.monotonic()
    await asyncio.gather(*(one(c) for c in range(clients)))
    return clients * per_client / (time.monotonic() - t0)


async def main(args: argparse.Namespace) -> int:
    per_client = max(1, -(-args.lifecycles // args.clients))
    done = args.clients * per_client
    with floor_stack(plain=args.plain) as (address, url, server, worker, api):
        await ensure_search_attributes(await Client.connect(address))
        ratios: list[float] = []
        rates: list[float] = []
        bases: list[float] = []
        cpu = {"api": 0.0, "worker": 0.0, "server": 0.0, "clients": 0.0}
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            await clients_run(http, 4, 2, "warm")
            await baseline.measure(address, 2, 2)
            for rnd in range(args.rounds):
                log(f"P1-floor: round {rnd + 1}: {args.clients} clients x {per_client} lean lifecycles")
                before = (
                    cpu_seconds(api.pid),
                    cpu_seconds(worker.pid),
                    cpu_seconds(server.pid),
                    time.process_time(),
                )
                rate = await clients_run(http, args.clients, per_client, f"r{rnd}")
                cpu["api"] += cpu_seconds(api.pid) - before[0]
                cpu["worker"] += cpu_seconds(worker.pid) - before[1]
                cpu["server"] += cpu_seconds(server.pid) - before[2]
                cpu["clients"] += time.process_time() - before[3]
                log(f"P1-floor: round {rnd + 1}: {args.clients} clients x {per_client} bare workflows")
                base = (await baseline.measure(address, args.clients, per_client))[0]
                rates.append(rate)
                bases.append(base)
                ratios.append(rate / base)
    shape = (
        "the bare shape of bench.common.LifecycleShape" if args.plain else "with the product's Temporal shape"
    )
    each = ", ".join(f"{k} {v / (done * args.rounds) * 1000:.0f} ms" for k, v in cpu.items())
    report(
        "P1-floor",
        None,
        f"{args.clients} clients, the lifecycle as lean as Python allows "
        f"({shape}) {median(rates):.1f}/s ÷ bare one-activity workflows {median(bases):.1f}/s: "
        f"ratio {median(ratios):.2f} "
        f"(median of the rounds' {' '.join(f'{r:.1f}/{b:.1f}' for r, b in zip(rates, bases, strict=True))}); "
        f"CPU per lifecycle: {each} (load average {os.getloadavg()[0]:.1f})",
    )
    return 0


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--clients", type=int, default=10)
    p.add_argument("--lifecycles", type=int, default=200, help="per round (rounded up to the clients)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--plain", action="store_true", help="only LifecycleShape's Temporal shape")
    p.add_argument("--serve", choices=["worker", "api"], help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    return p.parse_args()


if __name__ == "__main__":
    options = parse()
    if options.serve == "worker":
        asyncio.run(run_worker())
    elif options.serve == "api":
        import uvicorn

        uvicorn.run(app, host="127.0.0.1", port=options.port, log_level="warning", access_log=False)
    else:
        sys.exit(asyncio.run(main(options)))
