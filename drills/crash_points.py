"""Crash points: the API and the workers die at named points under load (issue 19).

The product has four crash points (``services/faults.py``), armed by ``FOLLOWTHROUGH_CRASH_AT``
and fired on every ``--every``-th pass in a process: ``after_text_stored`` (member text stashed,
the update not sent), ``after_update_before_answer`` (the update applied, its answer not
stored), ``between_insert_and_start`` (the row committed, no workflow started) in the API, and
``after_channel_accepted`` (the webhook took the notice, the outbox does not know) in the
workers. The API arms one of its points per life, in turn (armed together, the text stash,
passed first, would always fire and the others never). A supervisor restarts a process within
a second of its death. Two workers serve the
queue; on PostgreSQL one runs with its clock 90 s ahead (``faketime``, when installed): leases
go by the database server's clock, not a worker's. (On SQLite the database's clock is each
process's own, and processes sharing a file share a machine's clock: no worker is put ahead
there.) Notices go to a local webhook receiver, which counts every notice it gets.

Clients run lifecycles with member text: create, an attempt with a note, a resolve with a
resolution. Half of them repeat a failed request (transport error or 503) with the same
Idempotency-Key (the create with the same ``external_id``) until it answers; the other half
give up at the first failure and never come back. After the load the crash points are disarmed
(the processes restarted without them), ``followthrough reconcile`` sweeps what the dead
requests left (under ``faketime`` past the one-minute start grace and the text TTL, or after
waiting them out), and the drill checks, case by case:

- Temporal and SQL agree on every case touched (``drills.common.compare``);
- one effect per operation key: one row per ``external_id``, no more attempts (in SQL and in
  Temporal) than attempt keys sent, no resolved case without a resolve sent, no notice (case,
  kind, recipient) stored twice;
- each text placed once, in its place, with its author: an attempt's note on an attempt of its
  case by the CHW who wrote it, a resolution on a resolved row resolved by its writer, no text
  twice, none on a case it was not written for, no resolution on a row that is not resolved;
  texts of actions that were applied but are not on their row are counted (``texts_lost``);
- no version-0 row and no pending text left after the sweep;
- every notice delivered and received, and every notice received twice sent just before a
  worker died (within ``DEATH_WINDOW`` s): a duplicate is what a death between send and record
  costs. The summary compares them with the crashes injected at ``after_channel_accepted``; a
  death also costs the other sends in flight in that process, so there can be a few more.

Run: ``python -m drills.crash_points [--clients 8] [--seconds 40] [--every 7] [--db sqlite|postgres]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import re
import shutil
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from domain.ids import interaction_workflow_id
from drills.common import (
    ROOT,
    STAFF_TOKEN,
    SYSTEM,
    TEAM,
    Api,
    Proc,
    SqlSide,
    Stack,
    Stats,
    TemporalCase,
    TemporalReader,
    cli,
    compare,
    free_port,
    interaction_body,
    log,
    member_for,
    read_sql,
    stack,
    temporal_client,
    wait_ready,
)
from drills.webhook_outage import Receiver, keys_in
from services.faults import CRASH_EXIT_CODE, POINTS

API_POINTS = ("after_text_stored", "after_update_before_answer", "between_insert_and_start")
WORKER_POINTS = ("after_channel_accepted",)
assert set(API_POINTS + WORKER_POINTS) == POINTS, "a crash point the drill does not arm"
CRASH_LINE = re.compile(r"crash point (\w+): pass \d+, exiting 70")
CLOCK_AHEAD = "+90s"
# A worker that died between sending a notice and recording it is found dead within this many
# seconds of the notice's arrival (its record would have taken a moment; the supervisor polls).
DEATH_WINDOW = 2.0
# The sweep's age limits (services/reconcile.py START_GRACE, PENDING_TEXT_TTL_SECONDS at its minimum).
TEXT_TTL_SECONDS = 60
SWEEP_AHEAD_SECONDS = 120  # reconcile's clock under faketime: past both limits
GIVE_UP_PAUSE = 1.0  # seconds before a client that gave up starts its next lifecycle
WEBHOOK_SECRET = "whsec_ZHJpbGwtd2ViaG9vay1zZWNyZXQtMzItYnl0ZXMh"


class TimedReceiver(Receiver):
    """The webhook receiver of ``webhook_outage``, also noting when each notice key arrived: a
    second receipt must follow a worker's death between sending the notice and recording it."""

    def __init__(self, port: int) -> None:
        super().__init__(port)
        self.times: dict[str, list[float]] = {}

    def up(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                now = time.monotonic()
                with receiver._lock:
                    for key in keys_in(raw):
                        receiver.notices[key] += 1
                        receiver.times.setdefault(key, []).append(now)
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def arrivals(self) -> dict[str, list[float]]:
        with self._lock:
            return {k: list(v) for k, v in self.times.items()}


def faketime() -> str | None:
    return shutil.which("faketime")


# ---------------------------------------------------------------- what the clients did
@dataclass
class Op:
    """One request a client sent (and maybe repeated under the same key)."""

    kind: str  # create | attempt | resolve
    key: str | None
    text: str | None = None
    author: str | None = None
    result: str = "sent"  # ok | gave_up … | error …


@dataclass
class Case:
    external_id: str
    repeats: bool  # the client repeats a failed request; otherwise it gives up at once
    ops: list[Op] = field(default_factory=list)

    def keys(self, kind: str) -> int:
        return sum(1 for op in self.ops if op.kind == kind)


async def send(
    api: Api, case: Case, op: Op, path: str, token: str, body: dict[str, Any]
) -> httpx.Response | None:
    """Send ``op``; a repeating client repeats transport errors and 503s under its key, the
    other gives up. The answer when it was 2xx, else None (``op.result`` says why)."""
    case.ops.append(op)
    try:
        r = await api.request(
            op.kind, "POST", path, token=token, json_body=body, key=op.key, retry=case.repeats
        )
    except httpx.TransportError as err:
        op.result = f"gave_up {type(err).__name__}"
        return None
    if 200 <= r.status_code < 300:
        op.result = "ok"
        return r
    op.result = f"{'gave_up' if r.status_code == 503 and not case.repeats else 'error'} {r.status_code}"
    if op.result.startswith("error"):
        op.result += f" {r.text[:160]}"
    return None


async def lifecycle(api: Api, case: Case, member_id: str) -> None:
    """create → attempt ``reached`` with a note → resolve with a resolution (the assignee)."""
    ext = case.external_id
    r = await send(
        api, case, Op("create", None), "/v1/interactions", SYSTEM, interaction_body(ext, member_id)
    )
    if r is None:
        return
    body = r.json()
    iid, staff = body["id"], body["assignee_id"]
    token = STAFF_TOKEN.get(staff or "")
    if token is None:
        case.ops[-1].result = f"error no token for assignee {staff!r}"
        return
    note = f"note of {ext} by {staff}"
    r = await send(
        api,
        case,
        Op("attempt", uuid.uuid4().hex, note, staff),
        f"/v1/interactions/{iid}/attempts",
        token,
        {"outcome": "reached", "note": note},
    )
    if r is None:
        return
    resolution = f"resolution of {ext} by {staff}"
    await send(
        api,
        case,
        Op("resolve", uuid.uuid4().hex, resolution, staff),
        f"/v1/interactions/{iid}/resolve",
        token,
        {"resolution": resolution},
    )


async def run_clients(api: Api, clients: int, seconds: float, prefix: str) -> list[Case]:
    """``clients`` concurrent clients for ``seconds``; even ones repeat, odd ones give up."""
    stop_at = time.monotonic() + seconds
    cases: list[Case] = []

    async def client(c: int) -> None:
        repeats = c % 2 == 0
        j = 0
        while time.monotonic() < stop_at:
            case = Case(f"{prefix}-{'r' if repeats else 'g'}{c:03}-{j:03}", repeats)
            cases.append(case)
            await lifecycle(api, case, member_for(c + j))
            j += 1
            if any(op.result.startswith("gave_up") for op in case.ops):
                await asyncio.sleep(GIVE_UP_PAUSE)  # a person who gave up does not retry at once

    await asyncio.gather(*(client(c) for c in range(clients)))
    return cases


# ---------------------------------------------------------------- supervision
@dataclass
class Supervisor:
    """Restarts any of ``procs`` within ``poll`` seconds of its death (``arm`` sets what the
    next life of a process arms first); counts exits by code."""

    procs: list[Proc]
    arm: Callable[[Proc], None] = lambda p: None
    poll: float = 0.2
    exits: Counter[tuple[str, int | None]] = field(default_factory=Counter)
    worker_deaths: list[float] = field(default_factory=list)  # when a worker was found dead
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def crashes(self) -> int:
        return sum(n for (_, rc), n in self.exits.items() if rc == CRASH_EXIT_CODE)

    def other_exits(self) -> dict[str, int]:
        return {f"{name}:{rc}": n for (name, rc), n in sorted(self.exits.items()) if rc != CRASH_EXIT_CODE}

    def check_once(self) -> None:
        for p in self.procs:
            if p.returncode() is not None:
                self.exits[(p.name, p.returncode())] += 1
                if p.name.startswith("worker"):
                    self.worker_deaths.append(time.monotonic())
                p.stop()  # closes its log handle
                self.arm(p)
                p.start()

    async def run(self) -> None:
        while not self._stop.is_set():
            self.check_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self.poll)

    def stop(self) -> None:
        self._stop.set()


def crash_lines(logs: Sequence[Path]) -> Counter[str]:
    """Crashes per point, from the line each crash point writes before it exits."""
    got: Counter[str] = Counter()
    for path in logs:
        if path.exists():
            got.update(CRASH_LINE.findall(path.read_text(errors="replace")))
    return got


# ---------------------------------------------------------------- what SQL and Temporal hold
@dataclass(frozen=True)
class Placed:
    """A member text where the read model shows it."""

    where: str  # attempt | resolution | timeline
    external_id: str
    text: str
    author: str | None  # attempt's staff, the row's resolved_by, the timeline entry's actor
    status: str  # the case's status


@dataclass
class Snapshot:
    """Both sides after the sweep."""

    sql: SqlSide
    temporal: Mapping[str, TemporalCase]
    placed: list[Placed]
    attempts_without_note: list[str]  # external ids
    resolved_without_resolution: list[str]
    version0: list[str]
    pending_texts: int
    receipts: Mapping[str, int]  # notice key → times received
    arrivals: Mapping[str, Sequence[float]] = field(default_factory=dict)  # notice key → when
    worker_deaths: Sequence[float] = ()  # when the supervisor found a worker dead


def read_placed(s: Stack, prefix: str) -> tuple[list[Placed], list[str], list[str]]:
    p = f"{prefix}-%"
    placed = [
        Placed("attempt", str(r[0]), str(r[1]), r[2], str(r[3]))
        for r in s.sql(
            "SELECT i.external_id, a.note, a.staff_id, i.status FROM attempts a JOIN interactions i "
            "ON i.id = a.interaction_id WHERE i.external_id LIKE :p AND a.note IS NOT NULL",
            p=p,
        )
    ]
    placed += [
        Placed("resolution", str(r[0]), str(r[1]), r[2], str(r[3]))
        for r in s.sql(
            "SELECT external_id, resolution, resolved_by, status FROM interactions "
            "WHERE external_id LIKE :p AND resolution IS NOT NULL",
            p=p,
        )
    ]
    placed += [
        Placed("timeline", str(r[0]), str(r[1]), r[2], str(r[3]))
        for r in s.sql(
            "SELECT i.external_id, t.note, t.actor_id, i.status FROM timeline_events t JOIN interactions i "
            "ON i.id = t.interaction_id WHERE i.external_id LIKE :p AND t.note IS NOT NULL",
            p=p,
        )
    ]
    no_note = [
        str(r[0])
        for r in s.sql(
            "SELECT i.external_id FROM attempts a JOIN interactions i ON i.id = a.interaction_id "
            "WHERE i.external_id LIKE :p AND a.note IS NULL",
            p=p,
        )
    ]
    no_resolution = [
        str(r[0])
        for r in s.sql(
            "SELECT external_id FROM interactions WHERE external_id LIKE :p AND status = 'resolved' "
            "AND resolution IS NULL",
            p=p,
        )
    ]
    return placed, no_note, no_resolution


async def snapshot(
    s: Stack,
    reader: TemporalReader,
    prefix: str,
    cases: Sequence[Case],
    receiver: TimedReceiver,
    worker_deaths: Sequence[float],
) -> Snapshot:
    sql = read_sql(s, prefix)
    known = {r.external_id: r.workflow_id for r in sql.rows}
    wids = list(known.values()) + [
        interaction_workflow_id(TEAM, c.external_id) for c in cases if c.external_id not in known
    ]
    temporal = await reader.cases(wids)
    placed, no_note, no_resolution = read_placed(s, prefix)
    version0 = [str(r[0]) for r in s.sql("SELECT external_id FROM interactions WHERE version = 0")]
    pending = int(s.sql("SELECT count(*) FROM pending_texts")[0][0])
    return Snapshot(
        sql=sql,
        temporal=temporal,
        placed=placed,
        attempts_without_note=no_note,
        resolved_without_resolution=no_resolution,
        version0=version0,
        pending_texts=pending,
        receipts=receiver.notice_receipts(),
        arrivals=receiver.arrivals(),
        worker_deaths=worker_deaths,
    )


# ---------------------------------------------------------------- the checks
@dataclass
class Checks:
    """Each list names what broke a check, case by case (empty: the check held)."""

    disagreements: list[str] = field(default_factory=list)
    effects: list[str] = field(default_factory=list)  # more than one effect from one key
    texts: list[str] = field(default_factory=list)  # a text twice, misplaced, foreign, wrong author
    texts_lost: list[str] = field(default_factory=list)  # applied, but its text is not on the row
    leftovers: list[str] = field(default_factory=list)  # version-0 rows, pending texts
    delivery: list[str] = field(default_factory=list)  # undelivered, delivered but never received
    receiver_duplicates: int = 0
    channel_crashes: int = 0
    unexplained: list[str] = field(default_factory=list)  # a notice twice with no worker death between
    most_per_death: int = 0  # the most duplicates one worker death explains
    resend_gaps: list[float] = field(default_factory=list)  # seconds between two receipts of a notice

    def ok(self) -> bool:
        return not (
            self.disagreements
            or self.effects
            or self.texts
            or self.texts_lost
            or self.leftovers
            or self.delivery
            or self.unexplained
        )

    def settled(self) -> bool:
        """Nothing left that waiting could change: the sides agree, every row has its workflow,
        no text is pending, every notice went out (the other checks do not move any more)."""
        return not (self.disagreements or self.leftovers or self.delivery)

    def lines(self, limit: int = 20) -> list[str]:
        out: list[str] = []
        for label, items in (
            ("disagreement", self.disagreements),
            ("effect", self.effects),
            ("text", self.texts),
            ("text lost", self.texts_lost),
            ("leftover", self.leftovers),
            ("delivery", self.delivery),
            ("duplicate", self.unexplained),
        ):
            out += [f"  {label} {item}" for item in items[:limit]]
            if len(items) > limit:
                out.append(f"  … and {len(items) - limit} more {label}")
        if self.receiver_duplicates > self.channel_crashes:
            out.append(
                f"  receiver duplicates {self.receiver_duplicates} > crashes between send and record "
                f"{self.channel_crashes} (every one sent just before a worker died; one death "
                f"explains up to {self.most_per_death}: the sends in flight in the dying process)"
            )
        if self.resend_gaps:
            out.append(
                f"  notices received again {min(self.resend_gaps):.1f} to {max(self.resend_gaps):.1f} s "
                "after their first receipt (a lease is 60 s by the database's clock)"
            )
        return out


def judge(cases: Sequence[Case], snap: Snapshot, *, channel_crashes: int) -> Checks:
    """The drill's checks, from what the clients sent and both sides after the sweep."""
    got = Checks(channel_crashes=channel_crashes)
    by_ext = {c.external_id: c for c in cases}
    rows: dict[str, list[Any]] = {}
    for row in snap.sql.rows:
        rows.setdefault(row.external_id, []).append(row)
    for ext in sorted(set(by_ext) | set(rows)):
        found = rows.get(ext, [])
        case = by_ext.get(ext)
        first = found[0] if found else None
        wid = first.workflow_id if first is not None else interaction_workflow_id(TEAM, ext)
        wf = snap.temporal.get(wid, TemporalCase("unreadable", error="not read"))
        got.disagreements += [d.line().strip().removeprefix("disagreement ") for d in compare(ext, first, wf)]
        attempt_keys = case.keys("attempt") if case is not None else 0
        resolve_keys = case.keys("resolve") if case is not None else 0
        if case is None:
            got.effects.append(f"{ext}: a row no client asked for")
        if len(found) > 1:
            got.effects.append(f"{ext}: {len(found)} rows for one external_id")
        for r in found:
            n = snap.sql.attempts.get(r.id, 0)
            if n > attempt_keys:
                got.effects.append(f"{ext}: {n} attempts in SQL from {attempt_keys} attempt key(s)")
            if r.status == "resolved" and resolve_keys == 0:
                got.effects.append(f"{ext}: resolved with no resolve sent")
        if wf.state is not None and len(wf.state.attempts) > attempt_keys:
            got.effects.append(
                f"{ext}: {len(wf.state.attempts)} attempts in Temporal from {attempt_keys} attempt key(s)"
            )
    ext_of = {r.id: r.external_id for r in snap.sql.rows}
    for (iid, kind, recipient), n in Counter(
        (n.interaction_id, n.kind, n.recipient_id) for n in snap.sql.notices
    ).items():
        if n > 1:
            got.effects.append(f"{ext_of.get(iid, iid)}: notice {kind}→{recipient} stored {n}x")

    # Texts: each sent text is unique (it names its case and writer), so where it shows is telling.
    sent: dict[str, tuple[str, Op]] = {
        op.text: (c.external_id, op) for c in cases for op in c.ops if op.text is not None
    }
    home = {"attempt": "attempt", "resolve": "resolution"}
    for text, n in Counter(p.text for p in snap.placed).items():
        if n > 1:
            got.texts.append(f"{sent.get(text, ('?',))[0]}: one text placed {n}x")
    for p in snap.placed:
        origin = sent.get(p.text)
        if origin is None:
            got.texts.append(f"{p.external_id}: a {p.where} text no client wrote")
            continue
        ext, op = origin
        if ext != p.external_id:
            got.texts.append(f"{ext}: its {op.kind} text placed on {p.external_id}")
        if home[op.kind] != p.where:
            got.texts.append(f"{ext}: its {op.kind} text placed as {p.where}")
        if p.author != op.author:
            got.texts.append(f"{ext}: its {op.kind} text by {op.author} placed as by {p.author}")
        if p.where == "resolution" and p.status != "resolved":
            got.texts.append(f"{ext}: a resolution on a row that is {p.status}")
    got.texts_lost += [f"{ext}: an attempt without its note" for ext in snap.attempts_without_note]
    got.texts_lost += [f"{ext}: resolved without its resolution" for ext in snap.resolved_without_resolution]

    got.leftovers += [f"{ext}: version 0 after the sweep" for ext in snap.version0]
    if snap.pending_texts:
        got.leftovers.append(f"{snap.pending_texts} pending text(s) after the sweep")

    for notice in snap.sql.notices:
        if notice.inhibited:
            continue
        ext = ext_of.get(notice.interaction_id, notice.interaction_id)
        if not notice.delivered:
            got.delivery.append(f"{ext}: {notice.kind}→{notice.recipient_id} not delivered")
        elif snap.receipts.get(notice.key, 0) == 0:
            got.delivery.append(f"{ext}: {notice.key} delivered but never received")
    got.receiver_duplicates = sum(n - 1 for n in snap.receipts.values() if n > 1)
    # A notice goes out again only when its sender died before recording it: each receipt but
    # the last must be followed, within DEATH_WINDOW s, by a worker's death.
    per_death: Counter[int] = Counter()
    for key, n in sorted(snap.receipts.items()):
        times = sorted(snap.arrivals.get(key, ()))
        got.resend_gaps += [b - a for a, b in itertools.pairwise(times)]
        for i, at in enumerate(times[: n - 1] if n > 1 else []):
            deaths = [j for j, d in enumerate(snap.worker_deaths) if at - 0.5 <= d <= at + DEATH_WINDOW]
            if deaths:
                per_death[deaths[0]] += 1
            else:
                got.unexplained.append(f"{key}: received {n}x, receipt {i + 1} followed by no worker death")
    got.most_per_death = max(per_death.values(), default=0)
    return got


# ---------------------------------------------------------------- the drill
@dataclass
class Figures:
    cases: list[Case] = field(default_factory=list)
    crashes: Counter[str] = field(default_factory=Counter)  # per point, from the crash lines
    exits: dict[str, int] = field(default_factory=dict)  # per process:code, crashes excluded
    crash_exits: int = 0  # exits with code 70
    restarts: int = 0
    reconcile_rc: int | None = None
    reconcile_lines: list[str] = field(default_factory=list)
    checks: Checks = field(default_factory=Checks)
    clock_ahead: bool = False
    sweep: str = ""
    settled_in: float = 0.0  # seconds from the sweep to the checks holding (or giving up)
    stats: Stats = field(default_factory=Stats)

    def ok(self) -> bool:
        return self.checks.ok() and self.reconcile_rc == 0 and not self.client_errors()

    def client_errors(self) -> list[str]:
        """Final non-2xx answers other than a give-up's 503: a repeat must end in its answer."""
        return [
            f"{c.external_id} {op.kind}: {op.result}"
            for c in self.cases
            for op in c.ops
            if op.result.startswith("error")
        ]


def crash_env(points: Sequence[str], every: int) -> dict[str, str]:
    return {"FOLLOWTHROUGH_CRASH_AT": ",".join(points), "FOLLOWTHROUGH_CRASH_EVERY": str(every)}


def rotate(every: int) -> Callable[[Proc], None]:
    """What each life of a process arms: the API one of its points in turn (armed together, the
    one passed most often, the text stash, would always fire first and the others never), a
    worker its one point."""

    def arm(p: Proc) -> None:
        points = [API_POINTS[p.starts % len(API_POINTS)]] if p.name == "api" else list(WORKER_POINTS)
        p.env = {**disarmed(p.env), **crash_env(points, every)}

    return arm


def disarmed(env: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if not k.startswith("FOLLOWTHROUGH_CRASH_")}


def run_reconcile(s: Stack, figures: Figures, *, ahead: int | None) -> None:
    ft = faketime()
    cmd = cli("reconcile")
    if ahead is not None and ft is not None:
        cmd = [ft, "-f", f"+{ahead}s", *cmd]
    proc = subprocess.run(
        cmd, env=disarmed(s.env), cwd=ROOT, capture_output=True, text=True, check=False, timeout=300
    )
    figures.reconcile_rc = proc.returncode
    figures.reconcile_lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0:
        log(f"reconcile exited {proc.returncode}: {proc.stderr.strip()[-400:]}")


async def drill(args: argparse.Namespace) -> tuple[int, Figures]:
    prefix = f"cp-{uuid.uuid4().hex[:6]}"
    figures = Figures()
    ft = faketime()
    # On SQLite the database's clock is each process's own (``db_clock``: SQLite's 'now', which
    # faketime moves too), and every process sharing the file shares the machine's clock: a worker
    # ahead there is a situation that cannot happen, whose leases all look run out to it.
    figures.clock_ahead = ft is not None and not args.no_clock_ahead and args.db == "postgres"
    receiver = TimedReceiver(free_port())
    receiver.up()
    env = {
        "FOLLOWTHROUGH_WEBHOOK_URL": receiver.url,
        "FOLLOWTHROUGH_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "FOLLOWTHROUGH_PENDING_TEXT_TTL_SECONDS": str(TEXT_TTL_SECONDS),
        # The first lives: the API's first point and the workers' (neither passes the other's).
        **crash_env([API_POINTS[0], *WORKER_POINTS], args.every),
    }
    worker2: Proc | None = None
    try:
        with stack(db=args.db, extra_env=env) as s:
            cmd = cli("worker")
            if figures.clock_ahead:
                assert ft is not None
                cmd = [ft, "-f", CLOCK_AHEAD, *cmd]
            worker2 = Proc("worker2", cmd, env=s.env, log_dir=s.tmp).start()
            await wait_ready(s.base_url)
            sup = Supervisor([s.api, s.worker, worker2], arm=rotate(args.every))
            supervising = asyncio.create_task(sup.run())
            async with Api(s.base_url, figures.stats, retry_cap=0.5, give_up_after=args.give_up) as api:
                log(f"{args.clients} clients for {args.seconds:g} s, crash points every {args.every}th pass")
                figures.cases = await run_clients(api, args.clients, args.seconds, prefix)
                sup.stop()
                await supervising
                sup.check_once()  # a death in the last poll
                # The fault is over: every process runs again without crash points.
                for p in (s.api, s.worker, worker2):
                    p.stop()
                    p.env = disarmed(p.env)
                    p.start()
                figures.crash_exits = sup.crashes
                figures.exits = sup.other_exits()
                figures.restarts = sum(sup.exits.values())
                figures.crashes = crash_lines([s.api.log_path, s.worker.log_path, worker2.log_path])
                log(f"load over; crashes {dict(figures.crashes)}; restarted disarmed")
                await wait_ready(s.base_url)
            ahead: int | None = SWEEP_AHEAD_SECONDS if ft is not None and not args.wait_sweep else None
            if ahead is None:
                log(f"waiting {SWEEP_AHEAD_SECONDS} s for the sweep's age limits")
                await asyncio.sleep(SWEEP_AHEAD_SECONDS)
                figures.sweep = f"after {SWEEP_AHEAD_SECONDS}s"
            else:
                figures.sweep = f"clock +{ahead}s"
            await asyncio.to_thread(run_reconcile, s, figures, ahead=ahead)
            reader = TemporalReader(await temporal_client(s))
            deadline = time.monotonic() + args.settle
            channel = figures.crashes.get("after_channel_accepted", 0)
            while True:
                snap = await snapshot(s, reader, prefix, figures.cases, receiver, sup.worker_deaths)
                figures.checks = judge(figures.cases, snap, channel_crashes=channel)
                if figures.checks.settled() or time.monotonic() > deadline:
                    figures.settled_in = time.monotonic() - deadline + args.settle
                    verdict = "held" if figures.checks.ok() else "settled"
                    log(f"checks {verdict} {figures.settled_in:.0f} s after the sweep")
                    break
                await asyncio.sleep(1.0)
    finally:
        if worker2 is not None:
            worker2.kill9()
        receiver.down()
    print_report(args, figures)
    return (0 if figures.ok() else 1), figures


def print_report(args: argparse.Namespace, f: Figures) -> None:
    for line in f.reconcile_lines:
        print(f"  reconcile: {line}")
    for line in f.client_errors()[:20]:
        print(f"  client error {line}")
    for line in f.checks.lines():
        print(line)
    ops = [op for c in f.cases for op in c.ops]
    gave_up = sum(1 for op in ops if op.result.startswith("gave_up"))
    resolved = sum(1 for c in f.cases if c.ops and c.ops[-1].kind == "resolve" and c.ops[-1].result == "ok")
    points = " ".join(f"{p}={f.crashes.get(p, 0)}" for p in API_POINTS + WORKER_POINTS)
    c = f.checks
    print(
        f"crash_points {'OK' if f.ok() else 'FAILED'}: db={args.db} clients={args.clients} "
        f"(half give up) every={args.every} lifecycles={len(f.cases)} resolved_by_client={resolved} "
        f"requests={len(ops)} gave_up={gave_up} client_errors={len(f.client_errors())}; "
        f"crashes {points} (exit 70: {f.crash_exits}, restarts {f.restarts}, other exits {f.exits or '{}'}); "
        f"second worker clock {CLOCK_AHEAD if f.clock_ahead else 'not ahead'}; "
        f"reconcile rc={f.reconcile_rc} lines={len(f.reconcile_lines)} ({f.sweep}), "
        f"settled {f.settled_in:.0f}s later; "
        f"disagreements={len(c.disagreements)} effects={len(c.effects)} texts={len(c.texts)} "
        f"texts_lost={len(c.texts_lost)} leftovers={len(c.leftovers)} delivery={len(c.delivery)} "
        f"receiver_duplicates={c.receiver_duplicates} (crashes between send and record "
        f"{c.channel_crashes}, unexplained {len(c.unexplained)}); "
        f"non-2xx={f.stats.non_2xx()} retried_503={f.stats.retried_503}"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--clients", type=int, default=8, help="concurrent clients (half of them give up)")
    p.add_argument("--seconds", type=float, default=40, help="clients start lifecycles for this long")
    p.add_argument("--every", type=int, default=7, help="each crash point fires every n-th pass")
    p.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--give-up", type=float, default=120, help="a repeating client stops after this")
    p.add_argument("--settle", type=float, default=180, help="seconds to wait for the checks to hold")
    p.add_argument("--no-clock-ahead", action="store_true", help="no faketime for the second worker")
    p.add_argument("--wait-sweep", action="store_true", help="wait out the sweep's limits (no faketime)")
    raise SystemExit(asyncio.run(drill(p.parse_args()))[0])


if __name__ == "__main__":
    main()
