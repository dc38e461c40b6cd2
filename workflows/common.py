"""What the workflows share: activity options, the errors validators raise, and ``TimerLoop``."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, Generic, TypeVar, final

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.errors import Conflict, DomainError, Forbidden, Invalid
    from domain.messages import TimelineEntry
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

# Read-only: this module is shared by every workflow instance of the worker (passed through the
# sandbox, docs/adr/sandbox.md), so nothing here may be changed by one of them.
PROJECTION_OPTIONS: Mapping[str, Any] = MappingProxyType(
    {
        "start_to_close_timeout": timedelta(seconds=30),
        "retry_policy": RetryPolicy(
            initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)
        ),
    }
)
# The projection as a local activity: bounded, so a database that stays away does not hold the
# workflow's handler lock (and its timers and actions) past two minutes. A run whose projection
# timed out writes its whole state at its next projection, and does not end before it lands.
LOCAL_PROJECTION_OPTIONS: Mapping[str, Any] = MappingProxyType(
    {
        **PROJECTION_OPTIONS,
        "schedule_to_close_timeout": timedelta(minutes=2),
    }
)
# Notices are never dropped: unlimited attempts, backing off to one try every 10 minutes.
NOTIFY_OPTIONS: Mapping[str, Any] = MappingProxyType(
    {
        "start_to_close_timeout": timedelta(seconds=30),
        "retry_policy": RetryPolicy(
            initial_interval=timedelta(seconds=2),
            backoff_coefficient=2.0,
            maximum_interval=timedelta(minutes=10),
        ),
    }
)
# Continue-as-new once a run's history passes this many events (well below Temporal's limits).
HISTORY_LIMIT = 2000
# Runs that record this patch keep an unchanged timer across state changes (see TimerLoop);
# runs started before it replay with the old loop. Deprecate once no such run is open.
KEEP_TIMER_PATCH = "keep-unchanged-timer"
# Runs that record this patch also continue as new when the server suggests it (history size).
CAN_SUGGESTED_PATCH = "perf-continue-as-new-suggested"
# Runs that record this patch wait for a handler that began while their notices drained.
SETTLE_PATCH = "settle-before-run-ends"
# Runs that record this patch (asked first thing, before any activity) take the new branch of
# every patch above and in the workflows without asking for it again. A patch asked right after a
# local activity is recorded in whichever workflow task the code after the activity ran in; under
# load (the activity outliving the task's heartbeat) that is the next task, while replay runs the
# same code in the activity's task, finds no marker there and fails ("patch marker encountered
# ... no corresponding change command"). Seen in 18 of 800 cases under load.
PATCHES_AT_START_PATCH = "patches-at-start"
# The patches a run that recorded PATCHES_AT_START_PATCH takes without asking: every patch there
# was when it came in. A later patch is not in this set (its runs must record its marker).
PATCHES_AT_START_IMPLIES = frozenset(
    {
        KEEP_TIMER_PATCH,
        CAN_SUGGESTED_PATCH,
        SETTLE_PATCH,
        "perf-lean-history",
        "escalation-own-id",
        "contact-window-retry",
        "end-after-escalations",
    }
)
# What a TimerLoop subclass's ``_record`` takes besides the timeline lines.
Extra = TypeVar("Extra")


def rejection(error: type[DomainError], message: str) -> ApplicationError:
    """A validator's refusal: an ``ApplicationError`` typed by the domain error class, which the
    API turns back into that class (``domain.errors.from_type``) and maps to HTTP."""
    return ApplicationError(message, type=error.__name__, non_retryable=True)


def conflict(message: str) -> ApplicationError:
    """A business-rule rejection (409)."""
    return rejection(Conflict, message)


def denied(message: str) -> ApplicationError:
    """The caller may not do this (403)."""
    return rejection(Forbidden, message)


def invalid(message: str) -> ApplicationError:
    """Bad input, e.g. missing documentation (422)."""
    return rejection(Invalid, message)


class TimerLoop(ABC, Generic[Extra]):
    """The shape of the interaction, escalation and absence workflows: one timer at a time.

    ``CheckinWorkflow`` does not use it: it changes no state a handler could race with, writes
    no projection and has nothing to draw in the timeline, so it keeps its own short loop.

    The contract, declared here rather than remembered:

    - a subclass says when it next needs to wake (``_wake``), what to do then (``_fire_due``),
      what the next run starts from on continue-as-new (``_carry_over``) and how a state change
      is recorded (``_record``: bump the version, write the SQL projection);
    - every state change goes through ``_commit``, which the base owns: it tells the loop to
      work out its wake-up again and then runs ``_record``. Subclasses never override
      ``_commit`` and never call ``_record`` themselves;
    - handlers make their changes inside ``_turn()``: the lock makes each change and the
      activities recording it finish before the next begins, and nothing runs before the
      start (``_run_until(start=...)``) has recorded the case.

    ``Extra`` is what a subclass's ``_record`` may take besides the timeline lines (the
    interaction passes the first row of an escalation it raised; the others take ``None``).
    ``_entry_scope`` and ``_entry_context`` are optional hooks with defaults.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "_commit" in vars(cls):
            raise TypeError(f"{cls.__name__} overrides TimerLoop._commit: implement _record instead")

    def _init_loop(self, *, ready: bool) -> None:
        self._changed = False
        # Whether this run recorded PATCHES_AT_START_PATCH (asked when the run begins).
        self._patches_at_start: bool | None = None
        # Ops asked this run to continue as new (``continue_as_new`` signal).
        self._move_requested = False
        self._notices: list[asyncio.Task[Any]] = []
        self._lock = asyncio.Lock()
        self._ready = ready
        # The latest instant a timer of this loop fired for (see ``clock``).
        self._reached: datetime | None = None

    # -- what a subclass provides
    @abstractmethod
    def _wake(self) -> tuple[datetime, str] | None:
        """The next instant to act at and the timer's summary for the UI (None: wait for a handler)."""

    @abstractmethod
    async def _fire_due(self) -> None:
        """Act on whatever is due now (called under the lock; re-check, a handler may have run)."""

    @abstractmethod
    def _carry_over(self) -> Any:
        """The input of the next run when continuing as new."""

    @abstractmethod
    async def _record(self, events: list[TimelineEntry], extra: Extra | None) -> None:
        """Record a state change already applied to the state: bump its version, project it to SQL."""

    # -- what the base owns
    @final
    async def _commit(self, events: list[TimelineEntry], extra: Extra | None = None) -> None:
        """Apply a state change: the loop re-derives its wake-up, then the change is recorded.

        The order is part of the workflow's commands: the loop is told *before* ``_record``
        schedules its activity, so a timer it cancels or starts lands in the same workflow task
        as that activity. Committed histories depend on it.
        """
        self._touch()
        await self._record(events, extra)

    # -- the workflow's clock
    def clock(self) -> datetime:
        """``workflow.now()``, never earlier than an instant this loop's timer already fired for.

        The server fires a timer for ``at`` only once ``at`` has passed, and the workflow task that
        delivers it starts later still, so ``workflow.now() >= at`` there. Except when the SDK's
        core runs the workflow past a fired timer before that task exists: a query reaching a run
        the worker no longer caches, whose history ends with the fired timer and the task still
        waiting, gets the previous task's time (bench/incidents/2026-12-06-p3-5000-early-timer).
        Live, a deadline then looked not reached and was armed again; replayed with the real time
        the same task went overdue, and every later task failed. Deciding on this time takes the
        same branch both ways. Every decision and timestamp of the loop's workflows reads it."""
        now = workflow.now()
        reached = self._reached
        return reached if reached is not None and reached > now else now

    def _timer_fired(self, at: datetime) -> None:
        """The loop's timer for ``at`` fired: ``at`` has passed, whatever this task's time says."""
        if workflow.now() < at:
            workflow.logger.warning(
                "timer fired before the workflow's time reached it: acting at the timer's instant "
                "%s (the activation said %s)",
                at.isoformat(),
                workflow.now().isoformat(),
            )
        if self._reached is None or at > self._reached:
            self._reached = at

    # -- the loop
    def _touch(self) -> None:
        """Wake the loop to work out its next wake-up (only ``_commit`` calls it)."""
        self._changed = True

    async def _run_until(
        self,
        finished: Callable[[], bool],
        *,
        start: Callable[[], Awaitable[None]] | None,
        history_limit: int | None,
    ) -> None:
        self._patches_at_start = workflow.patched(PATCHES_AT_START_PATCH)
        if start is not None:
            async with self._lock:
                await start()
            self._ready = True
        if self._patched(KEEP_TIMER_PATCH):
            await self._loop_keeping_timer(finished, history_limit)
        else:
            await self._loop_restarting_timer(finished, history_limit)
        await self._settle()

    async def _loop_keeping_timer(self, finished: Callable[[], bool], history_limit: int | None) -> None:
        """One timer per wake-up instant: a change that leaves the next wake-up where it was
        (an assignment, a note, an acknowledged escalation elsewhere) keeps the running timer
        instead of cancelling and starting it again (two fewer events, a quieter UI timeline)."""
        timer: asyncio.Task[None] | None = None
        timer_at: datetime | None = None
        while not finished():
            if self._history_full(history_limit):
                await self._continue_as_new()
            wake = self._wake()
            self._changed = False
            if timer is not None and (wake is None or wake[0] != timer_at):
                timer.cancel()
                timer, timer_at = None, None
            if wake is None:
                await workflow.wait_condition(lambda: self._changed)
                continue
            at, summary = wake
            delay = (at - self.clock()).total_seconds()
            if delay > 0:
                if timer is None:
                    timer = asyncio.ensure_future(workflow.sleep(delay, summary=summary))
                    timer_at = at
                running = timer
                await workflow.wait_condition(lambda t=running: self._changed or t.done())  # type: ignore[misc]
                if not running.done():
                    continue  # something changed: work out the next wake-up again
                timer, timer_at = None, None
                self._timer_fired(at)
            async with self._lock:
                await self._fire_due()

    async def _loop_restarting_timer(self, finished: Callable[[], bool], history_limit: int | None) -> None:
        """The loop of runs started before KEEP_TIMER_PATCH: a fresh timer after every change."""
        while not finished():
            if self._history_full(history_limit):
                await self._continue_as_new()
            wake = self._wake()
            self._changed = False
            if wake is None:
                await workflow.wait_condition(lambda: self._changed)
                continue
            at, summary = wake
            delay = (at - self.clock()).total_seconds()
            if delay > 0:
                try:
                    await workflow.wait_condition(
                        lambda: self._changed, timeout=delay, timeout_summary=summary
                    )
                    continue  # something changed: work out the next wake-up again
                except TimeoutError:
                    self._timer_fired(at)
            async with self._lock:
                await self._fire_due()

    @workflow.signal(name="continue_as_new")
    def request_continue_as_new(self) -> None:
        """Ops: move this run onto the current code (continue as new at the loop's next turn, with
        the whole state). A long-open case otherwise stays on the code it started with, and the
        old branches of a patch could never be retired (docs/adr/patching.md)."""
        self._move_requested = True
        self._touch()

    def _history_full(self, history_limit: int | None) -> bool:
        """Past the event limit (whatever the server says), asked to by ops, or (runs with
        CAN_SUGGESTED_PATCH) the server suggests continuing as new. The patch is looked at only
        once the server suggests it, so runs that never get the suggestion record no marker."""
        if workflow.info().get_current_history_length() > (history_limit or HISTORY_LIMIT):
            return True
        if self._move_requested:
            return True
        return workflow.info().is_continue_as_new_suggested() and self._patched(CAN_SUGGESTED_PATCH)

    def _patched(self, patch_id: str) -> bool:
        """``workflow.patched(patch_id)``, except that a run which recorded PATCHES_AT_START_PATCH
        takes the new branch of the patches it implies without asking (no marker for them)."""
        if self._patches_at_start and patch_id in PATCHES_AT_START_IMPLIES:
            return True
        return workflow.patched(patch_id)

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        """Wait until the case is recorded, then hold the state lock."""
        await workflow.wait_condition(lambda: self._ready)
        async with self._lock:
            yield

    def _entry(
        self,
        kind: str,
        *,
        step: str | None = None,
        actor_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> TimelineEntry:
        """One audit line, keyed by scope + step so a retried activity records it once."""
        return TimelineEntry(
            key=f"{self._entry_scope()}:{step or kind}",
            kind=kind,
            at=self.clock(),
            actor_id=actor_id,
            details={**self._entry_context(), **(details or {})},
        )

    def _entry_scope(self) -> str:
        """What makes timeline keys unique: the workflow id, unless a subclass says otherwise."""
        return workflow.info().workflow_id

    def _entry_context(self) -> dict[str, Any]:
        """Details every timeline line of this workflow carries."""
        return {}

    def _in_background(self, activity: Awaitable[Any]) -> None:
        """Run an activity (a notice) without blocking the caller; awaited before the run ends."""
        self._notices.append(asyncio.ensure_future(activity))

    async def _drain_notices(self) -> None:
        pending, self._notices = self._notices, []
        if pending:
            await asyncio.gather(*pending)

    async def _settle(self) -> None:
        """Wait until no handler runs and every notice is written, before the run ends or
        continues as new.

        An update accepted while the notices drained used to be cut off by the run's end (its
        caller got an error, its change may have missed the next run). Now the run waits for it
        and for the notices it sent. Runs that never met the race record no marker.
        """
        while True:
            await workflow.wait_condition(workflow.all_handlers_finished)
            await self._drain_notices()
            if workflow.all_handlers_finished() and not self._notices:
                return
            if not self._patched(SETTLE_PATCH):
                return  # a run recorded before the fix ended here

    async def _continue_as_new(self) -> None:
        await self._settle()
        workflow.continue_as_new(self._carry_over())
