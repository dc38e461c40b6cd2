"""``followthrough reconcile``: keep the SQL read model true to Temporal, and sweep leftovers.

Temporal is the truth of every case; SQL is its read model, and the absence fan-out, alerts and
reports read SQL. Reconcile is what lets them (docs/architecture.md §3.15):

- **Running cases.** Every running ``InteractionWorkflow`` (from visibility) is asked its
  ``state`` and compared with its row: the columns its state decides, the version, the attempts
  and the open escalations. A case that differs (or has no row) is sent the ``reproject``
  signal: it writes its whole state whatever the row holds. An escalation row that differs from
  its ``EscalationWorkflow`` is written from that workflow's state (only if the row has not moved
  since it was read: a projection that landed meanwhile wins).
- **Rows without a running workflow.** A row not resolved whose workflow completed is written
  from the workflow's result; one that never got its workflow (version 0, no workflow, older than
  a minute: the API died between its insert and the start) gets it started; one whose workflow
  failed, was terminated or timed out is reported, never invented.
- **Leftovers.** Pending member text older than ``PENDING_TEXT_TTL_SECONDS`` is placed (an
  attempt's note or override reason whose attempt was recorded) or purged; notices held by a
  grouping workflow that ended are handed on to the outbox.

Each difference is one line (its kind and ids, never member data). The figures are added to
``reconcile_figures`` for ``/metrics``. The worker runs it every ``RECONCILE_INTERVAL_SECONDS``
under a lease (``store.leases``), so one process at a time does.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import structlog
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
)
from temporalio.service import RPCError, RPCStatusCode

from activities.interactions import InteractionActivities
from config.settings import Settings
from domain.errors import DomainError, Unavailable
from domain.grouping import NotificationPolicy, stored_policy
from domain.messages import (
    EscalationInput,
    EscalationProjection,
    EscalationState,
    GroupAdd,
    InteractionColumns,
    InteractionProjection,
    InteractionState,
)
from domain.models import EscalationRule
from services import interactions as interaction_service
from services.common import now_utc
from services.context import Context, TemporalLink
from services.db import Database
from services.escalations import Escalations
from services.teams import require_team, team_config
from store import leases
from store.figures import record_figures
from store.models import (
    Attempt,
    Delivery,
    Escalation,
    Interaction,
    Notification,
    PendingText,
    Team,
)
from store.projection import NO_KEY_UPDATE, project_escalation
from workflows.interaction_projection import state_columns, whole_state_delta

log = structlog.get_logger(__name__)

# The handlers reconcile uses, by name (InteractionWorkflow and EscalationWorkflow answer
# ``state``; InteractionWorkflow takes ``reproject``).
STATE_QUERY = "state"
REPROJECT_SIGNAL = "reproject"

T = TypeVar("T")

# Temporal calls in flight at once (state queries, describes).
CONCURRENCY = 20
# Running cases compared per round trip to the database.
BATCH = 200
# A row younger than this with no workflow may still be getting it from the API: left alone.
START_GRACE = timedelta(minutes=1)
# Before a difference counts, the case is read again after this pause: a projection in flight
# (the row one change behind for a moment) is not a difference.
RECHECK_PAUSE_SECONDS = 1.0
# A case whose worker died (a crash, a deploy) is still bound to that worker's sticky queue: the
# server holds a query for it until the sticky timeout (the SDK's 10 s) runs out, then hands it to
# a live worker. A query that failed the first time is asked again with this much patience.
QUERY_PATIENCE = timedelta(seconds=15)
# A case whose deadline or retry (as its row says) falls this close to now, either side, is not
# asked its state in this run (the next run asks it): a query waiting for a busy worker while the
# case's timer fires makes the SDK run the case past it with an older time (TimerLoop.clock,
# bench/incidents/2026-12-06-p3-5000-early-timer), and at 17:00 the herd's queries are work the
# worker needs for the deadlines themselves (each query of a case it no longer caches replays it).
WAKE_MARGIN = timedelta(minutes=2)
# Nor is a case mid-task (seen by the worker's periodic run, which describes every case for its
# memo): its workflow task waits or runs, at an attempt up to this one. It is changing now, its row
# is one projection behind until the task ends, and in a herd (17:00: a deadline fired and its
# task is queued behind thousands) the query waits for that task and, on a case the worker no
# longer caches, replays it: work the deadlines need. A task failing again and again (a later
# attempt: a bug) is asked, so ``workflow_task_failing`` reports it.
MID_TASK_ATTEMPTS = 1
# A run that has found this many cases mid-task is in a herd (17:00: the worker is behind). From
# then on it also leaves alone a case whose row changed within ``STILL_FOR``: its change was just
# projected, and asking it means a replay the herd is waiting on. The next runs ask it once it
# has been still that long. Outside a herd a fresh change is asked at once.
HERD_MID_TASK = 50
STILL_FOR = timedelta(minutes=5)
# How long a missing case row, just re-projected, is waited for before its escalation rows
# (which refer to it) are written.
ROW_WAIT_SECONDS = 10.0
# Notices younger than this are left to the grouping workflow being started or signalled.
NOTICE_GRACE = timedelta(minutes=1)
# A running grouping workflow holds a notice at most its group wait plus its interval; past that
# (plus this margin) the notice was held by an earlier run that ended, and is handed to this one.
NOTICE_HOLD_MARGIN = timedelta(minutes=10)
# Pending texts and held notices looked at per run (the rest wait for the next run).
SWEEP_LIMIT = 1000
# The lease of the periodic run, and how often its holder renews it.
LEASE_NAME = "reconcile"
LEASE_SECONDS = 120.0
RENEW_EVERY_SECONDS = 30.0
# How often a run on request looks whether a run another process is making has finished.
LEASE_POLL_SECONDS = 2.0
# What a team id passed to the visibility query may look like (it is quoted into the query).
_TEAM_ID = re.compile(r"[A-Za-z0-9_.:@-]{1,64}")

ENDED_UNRESOLVED = frozenset(
    {
        WorkflowExecutionStatus.FAILED,
        WorkflowExecutionStatus.TERMINATED,
        WorkflowExecutionStatus.TIMED_OUT,
        WorkflowExecutionStatus.CANCELED,
    }
)


# ---------------------------------------------------------------- what a run reports
@dataclass(frozen=True)
class Difference:
    """One thing the read model (or a leftover) did not agree with Temporal about.

    ``ids`` are opaque ids only; ``detail`` names fields or statuses, never values of member data.
    ``repaired``: the repair was made (or, in a dry run, would be); ``failed``: it was tried and
    failed (why, by error type); neither: it is reported only (nothing may be invented).
    """

    kind: str
    ids: dict[str, str]
    detail: str = ""
    repaired: bool = False
    failed: str | None = None

    @property
    def outcome(self) -> str:
        if self.failed is not None:
            return "failed"
        return "repaired" if self.repaired else "reported"

    def line(self, *, dry_run: bool = False) -> str:
        parts = [self.kind, *(f"{k}={v}" for k, v in self.ids.items())]
        if self.detail:
            parts.append(f"detail={self.detail}")
        outcome = "would_repair" if dry_run and self.repaired else self.outcome
        parts.append(f"outcome={outcome}")
        if self.failed is not None:
            parts.append(f"error={self.failed}")
        return " ".join(parts)


@dataclass
class Report:
    team_id: str | None = None
    dry_run: bool = False
    running: int = 0
    # How many running cases were asked their state (the others were unchanged since: ``Memo``).
    asked: int = 0
    # Running cases not asked this run: their deadline or retry is due about now (``WAKE_MARGIN``),
    # or their workflow task is under way (``MID_TASK_ATTEMPTS``).
    deferred: int = 0
    rows: int = 0
    texts: int = 0
    notices: int = 0
    seconds: float = 0.0
    differences: list[Difference] = field(default_factory=list)

    @property
    def failed(self) -> list[Difference]:
        return [d for d in self.differences if d.failed is not None]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for d in self.differences:
            out[d.kind] = out.get(d.kind, 0) + 1
        return dict(sorted(out.items()))

    def summary(self) -> str:
        repaired = sum(1 for d in self.differences if d.repaired)
        kinds = ", ".join(f"{k}={n}" for k, n in self.counts().items()) or "none"
        verb = "would repair" if self.dry_run else "repaired"
        return (
            f"reconcile{' (dry run)' if self.dry_run else ''}"
            f"{f' team={self.team_id}' if self.team_id else ''}: "
            f"{self.running} running case(s) ({self.asked} asked, "
            f"{self.deferred} due now or mid-task: next run), "
            f"{self.rows} row(s) without one, "
            f"{self.texts} stale text(s), {self.notices} held notice(s) checked; "
            f"{len(self.differences)} difference(s) ({kinds}); "
            f"{verb} {repaired}, failed {len(self.failed)}; {self.seconds:.1f} s"
        )


class _Run:
    """One reconcile run: its settings, its bounded Temporal concurrency, what it found."""

    def __init__(
        self, db: Database, client: Client, settings: Settings, report: Report, memo: Memo | None
    ) -> None:
        self.db = db
        self.memo = memo
        self.client = client
        self.settings = settings
        self.report = report
        self.dry_run = report.dry_run
        self.team_id = report.team_id
        self._sem = asyncio.Semaphore(CONCURRENCY)
        self.rpc = timedelta(seconds=settings.temporal_rpc_timeout_seconds)
        # Cases found mid-task so far; ``HERD_MID_TASK`` of them: a herd is on.
        self.mid_task = 0

    def found(self, diff: Difference) -> None:
        self.report.differences.append(diff)
        (log.warning if diff.failed else log.info)(
            "reconcile.difference",
            kind=diff.kind,
            outcome=diff.outcome,
            dry_run=self.dry_run,
            detail=diff.detail or None,
            error=diff.failed,
            **diff.ids,
        )

    async def temporal(self, call: Awaitable[T], *, rpc: timedelta | None = None) -> T:
        """A Temporal call, at most ``CONCURRENCY`` at once, bounded by its RPC deadline
        (``rpc``, else the settings')."""
        async with self._sem, asyncio.timeout((rpc or self.rpc).total_seconds() + 1):
            return await call

    async def repair(self, diff: Difference, action: Callable[[], Awaitable[object]]) -> Difference:
        """Make the repair (not in a dry run); a failure is recorded on the difference."""
        if self.dry_run:
            return diff
        try:
            await action()
        except Exception as err:  # one repair failing does not stop the others
            log.warning("reconcile.repair_failed", kind=diff.kind, error_type=type(err).__name__, **diff.ids)
            return Difference(diff.kind, diff.ids, diff.detail, repaired=False, failed=_error(err))
        return diff

    def describe(self, workflow_id: str) -> Awaitable[WorkflowExecutionDescription]:
        """The workflow's description, as a bounded Temporal call."""
        return self.temporal(self.client.get_workflow_handle(workflow_id).describe(rpc_timeout=self.rpc))

    async def described(self, workflow_id: str) -> WorkflowExecutionDescription | None:
        """The workflow's description; None if it could not be described."""
        try:
            return await self.describe(workflow_id)
        except (RPCError, TimeoutError):
            return None

    async def status(self, workflow_id: str) -> WorkflowExecutionStatus | None:
        """The workflow's status (None: Temporal does not have it)."""
        try:
            desc = await self.describe(workflow_id)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return None
            raise
        return desc.status


def _error(err: BaseException) -> str:
    """Why a step failed, by type (and status): no message, which may carry what it was given."""
    if isinstance(err, RPCError) and err.status is not None:
        return f"{type(err).__name__}:{err.status.name}"
    return type(err).__name__


# ---------------------------------------------------------------- entry points
async def reconcile(
    db: Database,
    client: Client,
    settings: Settings,
    *,
    team_id: str | None = None,
    dry_run: bool = False,
    memo: Memo | None = None,
) -> Report:
    """Compare Temporal with the read model and repair every difference (see the module doc).

    ``team_id`` limits it to one team's cases and notices (pending texts have no team: every run
    sweeps them). ``dry_run`` reports what it would repair and writes nothing. ``memo`` (kept by
    a process across its runs) spares asking the state of cases that did not change since.

    Raises:
        Unavailable: Temporal's visibility or the database could not be reached at all (a
            difference whose repair failed is in the report instead).
        ValueError: ``team_id`` is not a plain id.
    """
    if team_id is not None and not _TEAM_ID.fullmatch(team_id):
        raise ValueError(f"not a team id: {team_id!r}")
    started = time.monotonic()
    report = Report(team_id=team_id, dry_run=dry_run)
    run = _Run(db, client, settings, report, memo)
    running = await _running_cases(run)
    report.running = len(running)
    await _check_running(run, running)
    if memo is not None and team_id is None:
        memo.keep_only(running)
    await _check_rows(run, set(running))
    await _sweep_texts(run)
    await _hand_on_notices(run)
    report.seconds = time.monotonic() - started
    if not dry_run:
        await db.run(record_figures, report.counts(), whole=team_id is None)
    log.info(
        "reconcile.finished",
        team_id=team_id,
        dry_run=dry_run,
        running=report.running,
        differences=len(report.differences),
        failed=len(report.failed),
        seconds=round(report.seconds, 2),
        **{f"kind_{k}": n for k, n in report.counts().items()},
    )
    return report


async def reconcile_leased(
    db: Database,
    client: Client,
    settings: Settings,
    *,
    scheduled: bool,
    team_id: str | None = None,
    wait_seconds: float = 0.0,
    memo: Memo | None = None,
) -> Report | None:
    """``reconcile`` under the ``reconcile`` lease, so one process at a time runs it; None if
    another holds it (or, ``scheduled``, the periodic run is not due yet). The lease is renewed
    while the run goes on; a run whose lease was taken over stops. A whole scheduled run makes
    the next one due ``RECONCILE_INTERVAL_SECONDS`` later (by the database's clock). A lease
    another holds is waited for up to ``wait_seconds``."""
    token = None
    for _ in range(max(int(wait_seconds / LEASE_POLL_SECONDS), 0) + 1):
        token = await db.run(leases.acquire, LEASE_NAME, seconds=LEASE_SECONDS, scheduled=scheduled)
        if token is not None or wait_seconds <= 0:
            break
        await asyncio.sleep(LEASE_POLL_SECONDS)
    if token is None:
        return None
    task = asyncio.create_task(reconcile(db, client, settings, team_id=team_id, memo=memo))
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=RENEW_EVERY_SECONDS)
            if done:
                return task.result()
            if not await db.run(leases.renew, LEASE_NAME, token, seconds=LEASE_SECONDS):
                log.warning("reconcile.lease_lost")
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                return None
    finally:
        if not task.done():
            task.cancel()
        interval = settings.reconcile_interval_seconds if team_id is None else None
        with contextlib.suppress(DomainError):
            await db.run(leases.release, LEASE_NAME, token, next_run_in=interval or None)


# ---------------------------------------------------------------- running cases
async def _running_cases(run: _Run) -> list[str]:
    """The ids of the running interaction workflows (of the team), from visibility."""
    query = "WorkflowType = 'InteractionWorkflow' AND ExecutionStatus = 'Running'"
    if run.team_id is not None:
        query += f" AND FtTeam = '{run.team_id}'"
    try:
        return [wf.id async for wf in run.client.list_workflows(query, rpc_timeout=run.rpc)]
    except RPCError as err:
        log.warning("reconcile.temporal_unreachable", status=err.status.name if err.status else None)
        raise Unavailable("Temporal's visibility could not be read (is the server up?)") from err


@dataclass(frozen=True)
class _RowView:
    """What the read model says of one case (read in one session)."""

    id: str
    workflow_id: str
    version: int
    columns: dict[str, Any]
    attempt_ids: frozenset[str]
    # Escalation rows of the case: id -> (status, workflow id).
    escalations: dict[str, tuple[str, str]]
    # When the row last changed (not compared: see ``HERD_MID_TASK``).
    updated_at: datetime | None = None

    @property
    def open_escalations(self) -> dict[str, str]:
        return {i: s for i, (s, _) in self.escalations.items() if s != "resolved"}

    @property
    def fingerprint(self) -> str:
        """A digest of everything compared with the case's state (see ``Memo``)."""
        text = repr(
            (
                self.version,
                sorted((k, repr(v)) for k, v in self.columns.items()),
                sorted(self.attempt_ids),
                sorted(self.escalations.items()),
            )
        )
        return hashlib.sha256(text.encode()).hexdigest()


def _views(session: Session, workflow_ids: Sequence[str]) -> dict[str, _RowView]:
    rows = list(session.scalars(select(Interaction).where(Interaction.workflow_id.in_(list(workflow_ids)))))
    ids = [r.id for r in rows]
    attempts: dict[str, set[str]] = {i: set() for i in ids}
    escalations: dict[str, dict[str, tuple[str, str]]] = {i: {} for i in ids}
    if ids:
        for attempt_id, interaction_id in session.execute(
            select(Attempt.id, Attempt.interaction_id).where(Attempt.interaction_id.in_(ids))
        ):
            attempts[interaction_id].add(attempt_id)
        for e in session.execute(
            select(Escalation.id, Escalation.interaction_id, Escalation.status, Escalation.workflow_id).where(
                Escalation.interaction_id.in_(ids)
            )
        ):
            escalations[e.interaction_id][e.id] = (e.status, e.workflow_id)
    fields = list(InteractionColumns.model_fields)
    return {
        r.workflow_id: _RowView(
            id=r.id,
            workflow_id=r.workflow_id,
            version=r.version,
            columns={name: getattr(r, name) for name in fields},
            attempt_ids=frozenset(attempts[r.id]),
            escalations=escalations[r.id],
            updated_at=r.updated_at,
        )
        for r in rows
    }


def _case_differences(st: InteractionState, row: _RowView) -> list[str]:
    """The names of what the row says otherwise than the case's state."""
    want = InteractionColumns.model_validate(state_columns(st))
    names = [n for n in InteractionColumns.model_fields if getattr(want, n) != row.columns[n]]
    if row.version != st.version:
        names.append("version")
    if {a.attempt_id for a in st.attempts} != row.attempt_ids:
        names.append("attempts")
    return names


def _open_refs(st: InteractionState) -> dict[str, str]:
    return {e.escalation_id: e.status for e in st.escalations if e.status != "resolved"}


def _escalation_differences(st: InteractionState, row: _RowView) -> list[str]:
    """The escalations (ids) open in the case or in its rows but not alike in both."""
    refs, rows = _open_refs(st), row.open_escalations
    return sorted(i for i in refs.keys() | rows.keys() if refs.get(i) != rows.get(i))


async def _query(run: _Run, workflow_id: str, rpc: timedelta) -> InteractionState | BaseException | None:
    """The case's state; None if it ended meanwhile; the error if it could not be asked."""
    handle = run.client.get_workflow_handle(workflow_id)
    try:
        st: InteractionState = await run.temporal(
            handle.query(STATE_QUERY, result_type=InteractionState, rpc_timeout=rpc), rpc=rpc
        )
        return st
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        return err
    except (WorkflowQueryFailedError, WorkflowQueryRejectedError, TimeoutError) as err:
        return err


async def _compare(
    run: _Run, workflow_ids: Sequence[str], *, patient: bool = False
) -> tuple[dict[str, InteractionState], dict[str, _RowView], dict[str, BaseException]]:
    """Each case's state and row; ``patient``: queries may take ``QUERY_PATIENCE``."""
    rpc = max(run.rpc, QUERY_PATIENCE) if patient else run.rpc
    states = await asyncio.gather(*(_query(run, w, rpc) for w in workflow_ids))
    views = await run.db.run(_views, workflow_ids)
    found: dict[str, InteractionState] = {}
    errors: dict[str, BaseException] = {}
    for wid, st in zip(workflow_ids, states, strict=True):
        if isinstance(st, InteractionState):
            found[wid] = st
        elif st is not None:
            errors[wid] = st
    return found, views, errors


def _waking(view: _RowView | None, now: datetime) -> bool:
    """Whether the case's deadline (not gone overdue yet) or retry is due within ``WAKE_MARGIN``
    of ``now``, either side, as its row says."""
    if view is None:
        return False
    cols = view.columns
    instants = [cols["next_retry_at"]]
    if not cols["overdue"]:
        instants.append(cols["due_at"])
    return any(t is not None and abs(t - now) <= WAKE_MARGIN for t in instants)


def _fresh(view: _RowView | None, now: datetime) -> bool:
    """Whether the case's row changed within ``STILL_FOR`` of ``now``."""
    return view is not None and view.updated_at is not None and now - view.updated_at < STILL_FOR


def _differs(st: InteractionState, view: _RowView | None) -> bool:
    return view is None or bool(_case_differences(st, view) or _escalation_differences(st, view))


async def _check_running(run: _Run, workflow_ids: Sequence[str]) -> None:
    for start in range(0, len(workflow_ids), BATCH):
        batch = workflow_ids[start : start + BATCH]
        marks: dict[str, tuple[str, int]] = {}
        views = await run.db.run(_views, batch)
        now = now_utc()
        deferred = {w for w in batch if _waking(views.get(w), now)}
        ask = [w for w in batch if w not in deferred]
        memo = run.memo
        if memo is not None:
            # Cases whose history and row are as an earlier run found them in step are not asked;
            # nor are cases mid-task (``MID_TASK_ATTEMPTS``): the next run asks them.
            found = await asyncio.gather(*(_mark(run, w) for w in ask))
            described = {w: d for w, d in zip(ask, found, strict=True) if d is not None}
            marks = {w: d.mark for w, d in described.items()}
            busy = {w for w, d in described.items() if d.busy}
            run.mid_task += len(busy)
            deferred |= busy
            if run.mid_task >= HERD_MID_TASK:
                deferred |= {w for w in described if _fresh(views.get(w), now)}
            ask = [w for w in ask if w not in deferred and not memo.unchanged(w, marks.get(w), views.get(w))]
            for wid in deferred:
                memo.forget(wid)
        run.report.deferred += len(deferred)
        run.report.asked += len(ask)
        states, views, errors = await _compare(run, ask)
        suspects = [w for w, st in states.items() if _differs(st, views.get(w))]
        if memo is not None:
            for wid in states.keys() - set(suspects):
                memo.remember(wid, marks.get(wid), views[wid])
            for wid in [*suspects, *errors]:
                memo.forget(wid)
        if not suspects and not errors:
            continue
        # Read them again: a projection in flight is not a difference, and a case whose worker
        # just died answers once the server gives up on that worker (QUERY_PATIENCE).
        await asyncio.sleep(RECHECK_PAUSE_SECONDS)
        states, views, errors = await _compare(run, [*suspects, *errors], patient=bool(errors))
        failing = await asyncio.gather(*(_failing_task(run, w) for w in errors))
        for (wid, err), attempt in zip(errors.items(), failing, strict=True):
            if attempt is None:
                run.found(Difference("query_failed", {"workflow_id": wid}, failed=_error(err)))
            else:
                run.found(
                    Difference(
                        "workflow_task_failing",
                        {"workflow_id": wid},
                        detail=f"attempt {attempt}",
                        failed=_error(err),
                    )
                )
        await asyncio.gather(*(_repair_case(run, w, st, views.get(w)) for w, st in states.items()))


async def _failing_task(run: _Run, workflow_id: str) -> int | None:
    """The attempt of the case's workflow task when it failed before and is being retried (a
    bug, a nondeterminism error: the case is stuck until the code is fixed); None otherwise or
    when it could not be described."""
    desc = await run.described(workflow_id)
    if desc is None:
        return None
    attempt = _task_attempt(desc)
    return attempt if attempt > MID_TASK_ATTEMPTS else None


def _task_attempt(desc: WorkflowExecutionDescription) -> int:
    """The attempt of the workflow task waiting or running for the workflow; 0 when there is none.
    Up to ``MID_TASK_ATTEMPTS`` the workflow is mid-task; past it the task is failing."""
    raw = desc.raw_description
    return int(raw.pending_workflow_task.attempt) if raw.HasField("pending_workflow_task") else 0


@dataclass(frozen=True)
class _Described:
    """What the memo needs of a running case: its run and history length (``mark``), and
    whether a workflow task is waiting or running for it, on its first attempt (``busy``)."""

    mark: tuple[str, int]
    busy: bool


async def _mark(run: _Run, workflow_id: str) -> _Described | None:
    """The case's current run, history length and whether it is mid-task (None: it could not be
    described)."""
    desc = await run.described(workflow_id)
    if desc is None:
        return None
    busy = 0 < _task_attempt(desc) <= MID_TASK_ATTEMPTS
    return _Described((desc.run_id, desc.raw_description.workflow_execution_info.history_length), busy)


class Memo:
    """What a process's earlier runs found in step: per running case, its run and history length
    and a fingerprint of its row. A case whose history has not grown and whose row is as it was
    is not asked its state again: every change of a case adds to its history, and a query of a
    case the worker no longer caches replays its whole history (2000 running cases on a worker
    caching 500 took 75-130 s a run without it). Kept by the worker across its runs."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[str, int, str]] = {}

    def unchanged(self, workflow_id: str, mark: tuple[str, int] | None, view: _RowView | None) -> bool:
        if mark is None or view is None:
            return False
        return self._seen.get(workflow_id) == (*mark, view.fingerprint)

    def remember(self, workflow_id: str, mark: tuple[str, int] | None, view: _RowView) -> None:
        if mark is not None:
            self._seen[workflow_id] = (*mark, view.fingerprint)

    def forget(self, workflow_id: str) -> None:
        self._seen.pop(workflow_id, None)

    def keep_only(self, workflow_ids: Iterable[str]) -> None:
        """Drop the cases no longer running (the memory stays the size of the running set)."""
        keep = set(workflow_ids)
        for wid in [w for w in self._seen if w not in keep]:
            del self._seen[wid]


async def _repair_case(run: _Run, workflow_id: str, st: InteractionState, view: _RowView | None) -> None:
    ids = {"interaction_id": st.interaction_id, "workflow_id": workflow_id}
    fields = [] if view is None else _case_differences(st, view)
    if view is None or fields:
        kind = "row_missing" if view is None else "row_differs"
        diff = Difference(kind, ids, ",".join(fields), repaired=True)
        handle = run.client.get_workflow_handle(workflow_id)
        run.found(
            await run.repair(diff, lambda: run.temporal(handle.signal(REPROJECT_SIGNAL, rpc_timeout=run.rpc)))
        )
    if view is None:
        escalation_ids = sorted(_open_refs(st))
        known: dict[str, str] = {}
    else:
        escalation_ids = _escalation_differences(st, view)
        known = {i: w for i, (_, w) in view.escalations.items()}
    refs = {e.escalation_id: e.workflow_id for e in st.escalations}
    for escalation_id in escalation_ids:
        esc_wid = refs.get(escalation_id) or known.get(escalation_id)
        if esc_wid is None:  # pragma: no cover - every row and ref names its workflow
            continue
        await _repair_escalation(run, st.interaction_id, escalation_id, esc_wid, row_missing=view is None)


# ---------------------------------------------------------------- escalations
@dataclass(frozen=True)
class _EscalationRow:
    version: int
    status: str


def _escalation_row(session: Session, escalation_id: str) -> _EscalationRow | None:
    row = session.get(Escalation, escalation_id)
    return None if row is None else _EscalationRow(row.version, row.status)


def _interaction_exists(session: Session, interaction_id: str) -> bool:
    return session.get(Interaction, interaction_id) is not None


def _write_escalation(
    session: Session,
    state: EscalationState,
    *,
    workflow_id: str,
    seen_version: int | None,
    rule: EscalationRule | None,
) -> bool:
    """Write the escalation's row from its workflow's state (committed): create it (with the rule
    the workflow runs) if missing, else overwrite what the state decides, only if the row is
    still at ``seen_version`` (a projection that landed since it was read is newer: it stands).
    The notices sent and the documentation stay as they are. False if nothing was written."""
    now = now_utc()
    row = session.get(Escalation, state.escalation_id, with_for_update=NO_KEY_UPDATE)
    if row is None:
        if rule is None or session.get(Interaction, state.interaction_id) is None:
            return False
        project_escalation(
            session, EscalationProjection(workflow_id=workflow_id, rule=rule, state=state), now
        )
        session.commit()
        return True
    if row.version != seen_version:
        return False
    row.status = state.status
    row.level = state.level
    row.owner_id = state.owner_id
    row.acknowledged_by = state.acknowledged_by
    row.acknowledged_at = state.acknowledged_at
    row.resolved_by = state.resolved_by
    row.resolved_at = state.resolved_at
    row.version = state.version
    row.updated_at = now
    session.commit()
    return True


async def _escalation_rule(run: _Run, workflow_id: str) -> EscalationRule:
    """The rule the escalation runs: from its run's start input (a restore lost its row)."""
    handle = run.client.get_workflow_handle(workflow_id)
    async for event in handle.fetch_history_events(rpc_timeout=run.rpc):
        attrs = event.workflow_execution_started_event_attributes
        [inp] = await run.client.data_converter.decode(attrs.input.payloads, [EscalationInput])
        assert isinstance(inp, EscalationInput)
        return inp.rule
    raise LookupError(f"{workflow_id} has no history")


async def _repair_escalation(
    run: _Run, interaction_id: str, escalation_id: str, workflow_id: str, *, row_missing: bool
) -> None:
    """Make the escalation's row what its workflow says (see ``_write_escalation``); one whose
    workflow ended without resolving it is closed and its case told (``services.escalations``)."""
    ids = {"interaction_id": interaction_id, "escalation_id": escalation_id, "workflow_id": workflow_id}
    try:
        status = await run.status(workflow_id)
        handle = run.client.get_workflow_handle(workflow_id, result_type=EscalationState)
        state: EscalationState | None = None
        if status == WorkflowExecutionStatus.RUNNING:
            state = await run.temporal(
                handle.query(STATE_QUERY, result_type=EscalationState, rpc_timeout=run.rpc)
            )
        elif status == WorkflowExecutionStatus.COMPLETED:
            state = await run.temporal(handle.result(rpc_timeout=run.rpc))
        before = await run.db.run(_escalation_row, escalation_id)
    except Exception as err:
        run.found(Difference("escalation_differs", ids, failed=_error(err)))
        return
    if state is None:
        # Ended without resolving (terminated, failed, timed out) or gone: close it, tell the case.
        if before is None or before.status == "resolved":
            run.found(Difference("escalation_ended_unknown", ids, f"workflow={_name(status)}"))
            return
        diff = Difference("escalation_ended_unresolved", ids, f"workflow={_name(status)}", repaired=True)
        run.found(await run.repair(diff, lambda: _close_ended(run, interaction_id)))
        return
    if before is not None and before.status == state.status and before.version == state.version:
        return  # the row caught up meanwhile
    kind = "escalation_row_missing" if before is None else "escalation_row_differs"
    detail = f"row={before.status if before else 'missing'},temporal={state.status}"

    async def write() -> None:
        rule = await _escalation_rule(run, workflow_id) if before is None else None
        if before is None and row_missing:
            await _wait_for_row(run, interaction_id)
        seen = before.version if before is not None else None
        await run.db.run(_write_escalation, state, workflow_id=workflow_id, seen_version=seen, rule=rule)

    run.found(await run.repair(Difference(kind, ids, detail, repaired=True), write))


async def _close_ended(run: _Run, interaction_id: str) -> None:
    row = await run.db.run(interaction_service.require_interaction, interaction_id)
    await Escalations(Context(run.db, run.settings, TemporalLink.of(run.client))).reconcile(row)


async def _wait_for_row(run: _Run, interaction_id: str) -> None:
    """Wait (bounded) for a case row its workflow is re-projecting: escalation rows refer to it."""
    deadline = time.monotonic() + ROW_WAIT_SECONDS
    while not await run.db.run(_interaction_exists, interaction_id):
        if time.monotonic() > deadline:
            raise LookupError(f"the row of {interaction_id} did not appear")
        await asyncio.sleep(0.2)


def _name(status: WorkflowExecutionStatus | None) -> str:
    return "not_found" if status is None else status.name.lower()


# ---------------------------------------------------------------- rows without a running workflow
@dataclass(frozen=True)
class _Unresolved:
    id: str
    workflow_id: str
    version: int
    created_at: datetime


def _unresolved_rows(session: Session, team_id: str | None) -> list[_Unresolved]:
    query = select(
        Interaction.id, Interaction.workflow_id, Interaction.version, Interaction.created_at
    ).where(Interaction.status != "resolved")
    if team_id is not None:
        query = query.where(Interaction.team_id == team_id)
    return [_Unresolved(*r) for r in session.execute(query.order_by(Interaction.created_at))]


async def _check_rows(run: _Run, running: set[str]) -> None:
    """Rows not resolved whose workflow is not among the running ones (visibility may lag:
    each is described, which is authoritative)."""
    rows = [r for r in await run.db.run(_unresolved_rows, run.team_id) if r.workflow_id not in running]
    run.report.rows = len(rows)
    await asyncio.gather(*(_check_row(run, r) for r in rows))


async def _check_row(run: _Run, row: _Unresolved) -> None:
    ids = {"interaction_id": row.id, "workflow_id": row.workflow_id}
    try:
        status = await run.status(row.workflow_id)
    except Exception as err:
        run.found(Difference("describe_failed", ids, failed=_error(err)))
        return
    if status in (WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.CONTINUED_AS_NEW):
        return  # started after the listing, or not listed yet: the next run compares it
    if status == WorkflowExecutionStatus.COMPLETED:
        diff = Difference("resolved_in_temporal", ids, repaired=True)
        run.found(await run.repair(diff, lambda: _write_completed(run, row)))
    elif status is None:
        if row.version != 0:
            # Projected once, so it had a workflow, which Temporal no longer has (retention, or
            # another namespace): nothing to write it from.
            run.found(Difference("workflow_missing", ids))
        elif row.created_at <= now_utc() - START_GRACE:
            diff = Difference("workflow_started", ids, repaired=True)
            run.found(await run.repair(diff, lambda: _start(run, row.id)))
    elif status in ENDED_UNRESOLVED:
        run.found(Difference("workflow_ended_unresolved", ids, f"workflow={_name(status)}"))


async def _write_completed(run: _Run, row: _Unresolved) -> None:
    """Write the case's final state from its completed workflow's result, as its own projection
    would (whole state, whatever the row holds), then its escalations."""
    handle = run.client.get_workflow_handle(row.workflow_id, result_type=InteractionState)
    st: InteractionState = await run.temporal(handle.result(rpc_timeout=run.rpc))
    stored = await run.db.run(interaction_service.require_interaction, row.id)
    projection = InteractionProjection(
        workflow_id=row.workflow_id,
        external_id=stored.external_id,
        member_id=stored.member_id or "",
        delta=whole_state_delta(st),
    )
    await asyncio.to_thread(InteractionActivities(run.db.sessions).sync_interaction, projection)
    views = await run.db.run(_views, [row.workflow_id])
    view = views.get(row.workflow_id)
    if view is not None:
        for escalation_id in _escalation_differences(st, view):
            wid = {e.escalation_id: e.workflow_id for e in st.escalations}.get(escalation_id)
            await _repair_escalation(
                run,
                st.interaction_id,
                escalation_id,
                wid or view.escalations[escalation_id][1],
                row_missing=False,
            )


async def _start(run: _Run, interaction_id: str) -> None:
    """Start the workflow of a row the API inserted but died before starting (as a repeat of its
    ``POST /v1/interactions`` would)."""

    def load(session: Session) -> tuple[Interaction, Any]:
        row = interaction_service.require_interaction(session, interaction_id)
        team = require_team(session, row.team_id)
        return row, interaction_service.workflow_input(row, team_config(team), team)

    row, inp = await run.db.run(load)
    await interaction_service.start_workflow(run.client, run.settings, inp, row)


# ---------------------------------------------------------------- pending texts
# Pending-text keys whose home is an attempt row (services.interactions): placed if it exists.
_ATTEMPT_TEXTS = {"attempt": "note", "attempt_override": "override_reason"}


def _stale_texts(session: Session, before: datetime) -> list[tuple[str, str | None]]:
    """Keys of pending texts written before ``before`` (never the text), each with the attempt
    column it belongs in if its attempt was recorded."""
    keys = list(
        session.scalars(
            select(PendingText.key)
            .where(PendingText.created_at < before)
            .order_by(PendingText.created_at)
            .limit(SWEEP_LIMIT)
        )
    )
    out: list[tuple[str, str | None]] = []
    for key in keys:
        prefix, _, attempt_id = key.partition(":")
        column = _ATTEMPT_TEXTS.get(prefix)
        if column is not None and session.get(Attempt, attempt_id) is None:
            column = None
        if prefix == "resolution" and _resolution_home(session, key) is not None:
            column = RESOLUTION
        out.append((key, column))
    return out


# The column of a resolve's text: ``interactions.resolution``.
RESOLUTION = "resolution"


def _resolution_home(session: Session, key: str) -> Interaction | None:
    """The case a resolve's text (``resolution:{interaction id}:{action}``) belongs on: resolved
    (Temporal applied a resolve) by the text's author, with no resolution yet. The request died
    after the update and no repeat came; of the resolves by the resolver, only one won."""
    parts = key.split(":")
    if len(parts) != 3:
        return None  # a key from before per-case resolution keys: its case cannot be known
    row = session.get(Interaction, parts[1])
    author = session.scalar(select(PendingText.author_id).where(PendingText.key == key))
    if row is None or row.status != "resolved" or row.resolution is not None or author != row.resolved_by:
        return None
    return row


def _place_or_purge(session: Session, key: str, column: str | None, before: datetime) -> None:
    """Place the text in its attempt's empty column, or delete it (committed). Only a text still
    older than ``before`` (a repeat of its action may have stashed it again meanwhile)."""
    text = session.scalar(
        select(PendingText.text).where(PendingText.key == key, PendingText.created_at < before)
    )
    if text is None:
        return
    if column == RESOLUTION:
        case = _resolution_home(session, key)
        if case is not None:
            case.resolution = text
    elif column is not None:
        attempt = session.get(Attempt, key.partition(":")[2])
        if attempt is not None and getattr(attempt, column) is None:
            setattr(attempt, column, text)
    session.execute(delete(PendingText).where(PendingText.key == key))
    session.commit()


async def _sweep_texts(run: _Run) -> None:
    """Pending member text older than the TTL: the request that stored it died and no repeat came.
    An attempt's note (or override reason) whose attempt was recorded is placed on it; any other
    is purged (its action was refused, or never applied, or its home cannot be known)."""
    before = now_utc() - timedelta(seconds=run.settings.pending_text_ttl_seconds)
    stale = await run.db.run(_stale_texts, before)
    run.report.texts = len(stale)
    for key, column in stale:
        kind = "pending_text_placed" if column is not None else "pending_text_purged"
        diff = Difference(kind, {"key": key}, repaired=True)
        run.found(await run.repair(diff, functools.partial(run.db.run, _place_or_purge, key, column, before)))


# ---------------------------------------------------------------- notices held by grouping
@dataclass(frozen=True)
class _Held:
    group_id: str
    team_id: str
    recipient_id: str
    ids: tuple[int, ...]
    first_at: datetime


def _held_notices(session: Session, team_id: str | None, before: datetime) -> list[_Held]:
    """Notices a grouping workflow holds (no delivery carries them yet), written before ``before``."""
    query = select(
        Notification.id,
        Notification.group_id,
        Notification.team_id,
        Notification.recipient_id,
        Notification.created_at,
    ).where(
        Notification.group_id.is_not(None),
        Notification.delivery_id.is_(None),
        Notification.delivered_at.is_(None),
        Notification.inhibited_by.is_(None),
        Notification.created_at < before,
    )
    if team_id is not None:
        query = query.where(Notification.team_id == team_id)
    groups: dict[str, list[Any]] = {}
    for r in session.execute(query.order_by(Notification.id).limit(SWEEP_LIMIT)):
        groups.setdefault(r.group_id, []).append(r)
    return [
        _Held(
            g,
            rows[0].team_id,
            rows[0].recipient_id,
            tuple(r.id for r in rows),
            min(r.created_at for r in rows),
        )
        for g, rows in groups.items()
    ]


def _policy(session: Session, team_id: str) -> NotificationPolicy:
    """The policy held notices are judged by: the team's, or the defaults when it has none any
    more (grouping turned off while they were held, or the team is gone)."""
    team = session.get(Team, team_id)
    policy = None if team is None else stored_policy(team.config)
    return NotificationPolicy() if policy is None else policy


def _make_deliveries(session: Session, held: _Held, size: int) -> int:
    """Hand the held notices to the outbox as grouped deliveries (the dispatcher sends them), at
    most ``size`` notices each (committed); how many notices. A notice another delivery took
    meanwhile is left to it."""
    now = now_utc()
    handed = 0
    ids = sorted(held.ids)
    for i in range(0, len(ids), size):
        free = sorted(
            session.scalars(
                select(Notification.id).where(
                    Notification.id.in_(ids[i : i + size]),
                    Notification.delivery_id.is_(None),
                    Notification.delivered_at.is_(None),
                )
            )
        )
        if not free:
            continue
        delivery_id = f"dlv_r{free[0]}"
        session.add(
            Delivery(
                id=delivery_id,
                team_id=held.team_id,
                recipient_id=held.recipient_id,
                notification_ids=free,
                created_at=now,
                delivery_attempts=0,
            )
        )
        session.flush()
        taken = session.execute(
            update(Notification)
            .where(Notification.id.in_(free), Notification.delivery_id.is_(None))
            .values(delivery_id=delivery_id)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        if taken != len(free):
            session.rollback()  # raced with the grouping workflow's own delivery: next run
            continue
        session.commit()
        handed += len(free)
    return handed


async def _hand_on_notices(run: _Run) -> None:
    """Notices held by a grouping workflow that ended (terminated, failed, or gone) are made into
    deliveries the outbox dispatcher sends. A running grouping workflow that has held notices past
    its wait and interval (they belonged to an earlier run) is handed them again (``add``)."""
    now = now_utc()
    held = await run.db.run(_held_notices, run.team_id, now - NOTICE_GRACE)
    run.report.notices = sum(len(h.ids) for h in held)
    for h in held:
        ids = {"group_id": h.group_id, "notices": str(len(h.ids))}
        try:
            status = await run.status(h.group_id)
            policy = await run.db.run(_policy, h.team_id)
        except Exception as err:
            run.found(Difference("notices_handed_on", ids, failed=_error(err)))
            continue
        if status == WorkflowExecutionStatus.RUNNING:
            held_for = timedelta(seconds=policy.group_wait_seconds, minutes=policy.group_interval_minutes)
            if h.first_at > now - held_for - NOTICE_HOLD_MARGIN:
                continue  # it still holds them for their group
            add = GroupAdd(notification_ids=list(h.ids), at=h.first_at)
            diff = Difference("notices_handed_on", ids, "to=running_group", repaired=True)
            run.found(await run.repair(diff, functools.partial(_signal_group, run, h.group_id, add)))
            continue
        diff = Difference("notices_handed_on", ids, f"group={_name(status)},to=outbox", repaired=True)
        make = functools.partial(run.db.run, _make_deliveries, h, policy.max_items_per_delivery)
        run.found(await run.repair(diff, make))


async def _signal_group(run: _Run, group_id: str, add: GroupAdd) -> None:
    handle = run.client.get_workflow_handle(group_id)
    await run.temporal(handle.signal("add", add, rpc_timeout=run.rpc))


def lines(report: Report) -> Iterable[str]:
    """What the CLI prints: one line per difference, then the summary."""
    for d in report.differences:
        yield d.line(dry_run=report.dry_run)
    yield report.summary()
