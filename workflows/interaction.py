"""InteractionWorkflow: one missed call, voicemail or text, from receipt to resolution.

One loop and one timer at a time: the next wake-up (due-soon reminder, deadline, retry
reminder) is derived from state with the pure functions of ``domain``; handlers change state
and wake the loop. Member text never enters this workflow, only ids, enums and times.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any, Literal

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.interactions import InteractionActivities
    from activities.notifications import NotificationActivities
    from domain.absences import absence_source
    from domain.calendar import BusinessCalendar
    from domain.deadlines import due_at, due_soon_at, retry_due_at
    from domain.messages import (
        AssignInput,
        AttemptInput,
        AttemptRecord,
        CoverageInput,
        FlagInput,
        InteractionInput,
        InteractionProjection,
        InteractionState,
        InteractionStatus,
        NotificationRequest,
        ResolveInput,
        TimelineEntry,
    )
    from domain.models import UNSUCCESSFUL_OUTCOMES, Trigger
    from workflows.search_attributes import (
        FT_ASSIGNEE,
        FT_CHANNEL,
        FT_DUE_AT,
        FT_STATUS,
        FT_TEAM,
        FT_TRIGGERS,
    )

WakeKind = Literal["due_soon", "overdue", "retry_due"]

PROJECTION_OPTIONS: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)),
}
# Notices are never dropped: unlimited attempts, backing off to one try every 10 minutes.
NOTIFY_OPTIONS: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=2), backoff_coefficient=2.0, maximum_interval=timedelta(minutes=10)
    ),
}
HISTORY_LIMIT = 2000


def conflict(message: str) -> ApplicationError:
    """A business-rule rejection: the API maps type ``Conflict`` to 409."""
    return ApplicationError(message, type="Conflict", non_retryable=True)


@workflow.defn
class InteractionWorkflow:
    @workflow.init
    def __init__(self, inp: InteractionInput) -> None:
        self._inp = inp
        self._cal = BusinessCalendar(inp.calendar)
        self._wid = workflow.info().workflow_id
        if inp.carried_state is not None:
            self._s = inp.carried_state
        else:
            self._s = InteractionState(
                interaction_id=inp.interaction_id,
                team_id=inp.team_id,
                channel=inp.channel,
                received_at=inp.received_at,
                assignee_id=inp.assignee_id,
                assignment_source=inp.assignment_source,
                due_at=due_at(
                    inp.received_at, inp.channel, urgent=inp.urgent, calendar=self._cal, policy=inp.policy
                ),
                urgent=inp.urgent,
                flags=["urgent"] if inp.urgent else [],
            )
        self._changed = False
        self._notices: list[asyncio.Task[Any]] = []
        # Handlers and timer firings take turns: each state change (and the activities that
        # record it) completes before the next begins, and none runs before the case is created.
        self._lock = asyncio.Lock()
        self._ready = inp.carried_state is not None

    # ------------------------------------------------------------------ run loop
    @workflow.run
    async def run(self, inp: InteractionInput) -> InteractionState:
        if inp.carried_state is None:
            async with self._lock:
                await self._start()
            self._ready = True
        while self._s.status != "resolved":
            if workflow.info().get_current_history_length() > HISTORY_LIMIT:
                await self._continue_as_new()
            wake = self._next_wake()
            self._changed = False
            if wake is None:
                await workflow.wait_condition(lambda: self._changed)
                continue
            at, kind = wake
            delay = (at - workflow.now()).total_seconds()
            if delay > 0:
                try:
                    await workflow.wait_condition(
                        lambda: self._changed, timeout=delay, timeout_summary=self._timer_summary(kind, at)
                    )
                    continue  # something changed: work out the next wake-up again
                except TimeoutError:
                    pass
            async with self._lock:
                # A handler may have run while we waited for the lock: fire only what is still due.
                due = self._next_wake()
                if due is not None and due[0] <= workflow.now():
                    await self._fire(due[1])
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._drain_notices()
        return self._s

    async def _start(self) -> None:
        s = self._s
        events = [
            self._entry(
                "created",
                details={"channel": s.channel, "due_at": s.due_at.isoformat(), "assignee_id": s.assignee_id},
            )
        ]
        await self._commit(events)
        self._notify_assignee("assigned", step="created")
        for flag in self._inp.flags:
            if flag != "urgent" and flag not in s.flags:
                s.flags.append(flag)
                await self._raise_trigger(flag, actor_id=None)

    def _next_wake(self) -> tuple[datetime, WakeKind] | None:
        s = self._s
        candidates: list[tuple[datetime, int, WakeKind]] = []
        if s.first_response_at is None and not s.overdue:
            soon = due_soon_at(s.due_at, policy=self._inp.policy)
            if s.due_soon_sent_for != s.due_at and soon < s.due_at:
                candidates.append((soon, 0, "due_soon"))
            candidates.append((s.due_at, 1, "overdue"))
        if s.next_retry_at is not None and s.retry_reminded_seq < len(s.attempts):
            candidates.append((s.next_retry_at, 2, "retry_due"))
        if not candidates:
            return None
        at, _, kind = min(candidates)
        return at, kind

    async def _fire(self, kind: WakeKind) -> None:
        s = self._s
        now = workflow.now()
        if kind == "due_soon":
            s.due_soon_sent_for = s.due_at
            if s.first_response_at is None and now < s.due_at:
                self._notify_assignee("due_soon", step=f"due_soon:{s.due_at.isoformat()}")
                await self._commit(
                    [self._entry("due_soon_reminder", step=f"due_soon:{s.due_at.isoformat()}")]
                )
        elif kind == "overdue":
            if s.first_response_at is None and not s.overdue:
                s.overdue = True
                await self._commit([self._entry("overdue", details={"due_at": s.due_at.isoformat()})])
                await self._raise_trigger("deadline_missed", actor_id=None)
        elif kind == "retry_due":
            seq = len(s.attempts)
            s.retry_reminded_seq = seq
            self._notify_assignee("retry_due", step=f"retry_due:{seq}")
            await self._commit([self._entry("retry_reminder", step=f"retry_due:{seq}", details={"seq": seq})])

    # ------------------------------------------------------------------ updates
    @workflow.update
    async def record_attempt(self, inp: AttemptInput) -> InteractionState:
        async with self._turn():
            self._validate_attempt(inp)  # again: an earlier handler may have changed the case
            await self._record_attempt(inp)
        return self._s

    async def _record_attempt(self, inp: AttemptInput) -> None:
        s = self._s
        now = workflow.now()
        seq = len(s.attempts) + 1
        s.attempts.append(
            AttemptRecord(
                attempt_id=inp.attempt_id, seq=seq, outcome=inp.outcome, staff_id=inp.staff_id, at=now
            )
        )
        events = [
            self._entry(
                "attempt",
                step=f"attempt:{seq}",
                actor_id=inp.staff_id,
                details={"seq": seq, "outcome": inp.outcome},
            )
        ]
        if s.first_response_at is None:
            s.first_response_at = now
            events.append(
                self._entry(
                    "first_response", details={"sla_met": now <= s.due_at, "due_at": s.due_at.isoformat()}
                )
            )
        became_unreachable = False
        if inp.outcome in UNSUCCESSFUL_OUTCOMES:
            s.unsuccessful_attempts += 1
            if s.unsuccessful_attempts >= self._inp.policy.max_attempts:
                s.next_retry_at = None
                became_unreachable = not s.unreachable
            else:
                s.next_retry_at = retry_due_at(now, calendar=self._cal, policy=self._inp.policy)
                events.append(
                    self._entry(
                        "retry_scheduled",
                        step=f"retry_scheduled:{seq}",
                        details={"next_retry_at": s.next_retry_at.isoformat()},
                    )
                )
        elif inp.outcome == "wrong_number":
            s.next_retry_at = None
            became_unreachable = not s.unreachable
        else:  # reached / replied: the member has been heard, retries stop
            s.next_retry_at = None
        if became_unreachable:
            s.unreachable = True
        await self._commit(events)
        if became_unreachable:
            await self._raise_trigger("unreachable", actor_id=inp.staff_id)

    @record_attempt.validator
    def _validate_attempt(self, inp: AttemptInput) -> None:
        self._require_open()
        if any(a.attempt_id == inp.attempt_id for a in self._s.attempts):
            raise conflict(f"attempt {inp.attempt_id} is already recorded")

    @workflow.update
    async def flag(self, inp: FlagInput) -> InteractionState:
        async with self._turn():
            self._validate_flag(inp)
            await self._flag(inp)
        return self._s

    async def _flag(self, inp: FlagInput) -> None:
        s = self._s
        if inp.flag == "urgent":
            if not s.urgent:
                s.urgent = True
                s.flags.append("urgent")
                urgent_due = due_at(
                    s.received_at, s.channel, urgent=True, calendar=self._cal, policy=self._inp.policy
                )
                # Flagging urgent can only move the deadline earlier.
                old_due = s.due_at
                s.due_at = min(s.due_at, urgent_due)
                await self._commit(
                    [
                        self._entry(
                            "flagged",
                            step=f"flag:{inp.flag_id}",
                            actor_id=inp.staff_id,
                            details={
                                "flag": "urgent",
                                "due_at": s.due_at.isoformat(),
                                "old_due_at": old_due.isoformat(),
                            },
                        )
                    ]
                )
            return
        if inp.flag not in s.flags:
            s.flags.append(inp.flag)
        await self._commit(
            [
                self._entry(
                    "flagged", step=f"flag:{inp.flag_id}", actor_id=inp.staff_id, details={"flag": inp.flag}
                )
            ]
        )
        await self._raise_trigger(inp.flag, actor_id=inp.staff_id)

    @flag.validator
    def _validate_flag(self, inp: FlagInput) -> None:
        self._require_open()

    @workflow.update(name="assign")
    async def assign_update(self, inp: AssignInput) -> InteractionState:
        async with self._turn():
            self._check_assign(inp)
            await self._assign(inp, source=f"lead:{inp.actor_id}" if inp.actor_id else "lead")
        return self._s

    @assign_update.validator
    def _validate_assign(self, inp: AssignInput) -> None:
        self._check_assign(inp)

    @workflow.update(name="resolve")
    async def resolve_update(self, inp: ResolveInput) -> InteractionState:
        async with self._turn():
            self._check_resolve()
            await self._resolve(inp)
        return self._s

    @resolve_update.validator
    def _validate_resolve(self, inp: ResolveInput) -> None:
        self._check_resolve()

    # ------------------------------------------------------------------ signals (Temporal CLI / UI)
    @workflow.signal(name="assign")
    async def assign_signal(self, inp: AssignInput) -> None:
        async with self._turn():
            try:
                self._check_assign(inp)
            except ApplicationError as err:
                await self._record_rejection("assign", err, inp.actor_id)
                return
            await self._assign(inp, source=f"lead:{inp.actor_id}" if inp.actor_id else "lead")

    @workflow.signal(name="resolve")
    async def resolve_signal(self, inp: ResolveInput) -> None:
        async with self._turn():
            try:
                self._check_resolve()
            except ApplicationError as err:
                await self._record_rejection("resolve", err, inp.actor_id)
                return
            await self._resolve(inp)

    # ------------------------------------------------------------------ coverage (absences, SPEC 2.5)
    @workflow.signal(name="coverage")
    async def coverage(self, inp: CoverageInput) -> None:
        """An absence starts or ends: move the case to the cover, or hand it back.

        Sent in bulk by an AbsenceWorkflow's fan-out, so it is a signal, and idempotent: a
        repeated or stale signal finds nothing to do and records nothing.
        """
        async with self._turn():
            move = self._coverage_move(inp)
            if move is not None:
                await self._cover(inp, assignee_id=move[0], source=move[1])

    def _coverage_move(self, inp: CoverageInput) -> tuple[str | None, str] | None:
        s = self._s
        if s.status == "resolved":
            return None
        mine = absence_source(inp.absence_id)
        if inp.action == "start":
            if s.assignee_id != inp.absent_staff_id or inp.backup_id == inp.absent_staff_id:
                return None
            # Covering a case already moved by another absence (a backup who is away in turn)
            # keeps that absence as the source, so its owner's hand-back still returns it.
            source = s.assignment_source if s.assignment_source.startswith("absence:") else mine
            return inp.backup_id, source
        if s.assignment_source == mine:  # untouched since this absence moved it
            return inp.absent_staff_id, "owner"
        return None

    async def _cover(self, inp: CoverageInput, *, assignee_id: str | None, source: str) -> None:
        """Like ``_assign``, but the source survives a move to the unassigned queue (hand-back needs it)."""
        s = self._s
        previous = s.assignee_id
        s.assignee_id = assignee_id
        s.assignment_source = source
        step = f"coverage:{inp.absence_id}:{inp.action}"
        await self._commit(
            [
                self._entry(
                    "assigned",
                    step=step,
                    details={
                        "from": previous,
                        "to": assignee_id,
                        "source": source,
                        "absence_id": inp.absence_id,
                        "coverage": inp.action,
                    },
                )
            ]
        )
        self._notify_assignee("assigned", step=step)

    @workflow.query
    def state(self) -> InteractionState:
        return self._s

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        """Wait until the case is created, then hold the state lock."""
        await workflow.wait_condition(lambda: self._ready)
        async with self._lock:
            yield

    # ------------------------------------------------------------------ rules
    def _require_open(self) -> None:
        if self._s.status == "resolved":
            raise conflict(f"interaction {self._s.interaction_id} is already resolved")

    def _check_assign(self, inp: AssignInput) -> None:
        self._require_open()
        if inp.assignee_id == self._s.assignee_id:
            who = inp.assignee_id or "the unassigned queue"
            raise conflict(f"interaction is already assigned to {who}")

    def _check_resolve(self) -> None:
        self._require_open()

    async def _assign(self, inp: AssignInput, *, source: str) -> None:
        s = self._s
        previous = s.assignee_id
        s.assignee_id = inp.assignee_id
        s.assignment_source = source if inp.assignee_id is not None else "unassigned"
        step = f"assign:{s.version + 1}"
        await self._commit(
            [
                self._entry(
                    "assigned",
                    step=step,
                    actor_id=inp.actor_id,
                    details={"from": previous, "to": inp.assignee_id, "source": s.assignment_source},
                )
            ]
        )
        self._notify_assignee("assigned", step=step)

    async def _resolve(self, inp: ResolveInput) -> None:
        s = self._s
        s.resolved_at = workflow.now()
        s.resolved_by = inp.actor_id
        s.next_retry_at = None
        first = s.attempts[0].outcome if s.attempts else None
        await self._commit(
            [
                self._entry(
                    "resolved",
                    actor_id=inp.actor_id,
                    details={"first_contact_resolution": first in ("reached", "replied")},
                )
            ]
        )

    async def _raise_trigger(self, trigger: Trigger, *, actor_id: str | None) -> None:
        """Record an escalation trigger once and tell the team's leads."""
        s = self._s
        if trigger in s.triggers:
            await self._commit(
                [
                    self._entry(
                        "trigger_repeated",
                        step=f"trigger_repeated:{trigger}:{s.version + 1}",
                        actor_id=actor_id,
                        details={"trigger": trigger},
                    )
                ]
            )
            return
        s.triggers.append(trigger)
        await self._commit(
            [
                self._entry(
                    "escalation_triggered",
                    step=f"trigger:{trigger}",
                    actor_id=actor_id,
                    details={"trigger": trigger},
                )
            ]
        )
        self._notify(
            NotificationRequest(
                key=f"{self._wid}:escalation:{trigger}",
                team_id=s.team_id,
                kind="escalation",
                recipient_role="lead",
                interaction_id=s.interaction_id,
                trigger=trigger,
                details={"level": 1},
            )
        )

    # ------------------------------------------------------------------ effects
    def _status(self) -> InteractionStatus:
        s = self._s
        if s.resolved_at is not None:
            return "resolved"
        if s.triggers or s.open_escalations:
            return "escalated"
        if s.attempts:
            return "attempting"
        return "open"

    async def _commit(self, events: list[TimelineEntry]) -> None:
        """Apply a state change: bump the version, refresh search attributes, project to SQL."""
        s = self._s
        s.version += 1
        s.status = self._status()
        self._changed = True
        workflow.upsert_search_attributes(
            [
                FT_TEAM.value_set(s.team_id),
                FT_CHANNEL.value_set(s.channel),
                FT_STATUS.value_set(s.status),
                FT_ASSIGNEE.value_set(s.assignee_id or "unassigned"),
                FT_DUE_AT.value_set(s.due_at),
                FT_TRIGGERS.value_set(list(s.triggers)),
            ]
        )
        await workflow.execute_activity_method(
            InteractionActivities.sync_interaction,
            InteractionProjection(
                workflow_id=self._wid,
                external_id=self._inp.external_id,
                member_id=self._inp.member_id,
                state=s.model_copy(deep=True),
                events=events,
            ),
            summary=f"record {events[0].kind if events else 'state'} (v{s.version})",
            **PROJECTION_OPTIONS,
        )

    def _notify_assignee(self, kind: Literal["assigned", "due_soon", "retry_due"], *, step: str) -> None:
        """Tell the assignee; a case in the unassigned queue tells every lead instead."""
        s = self._s
        unassigned = s.assignee_id is None
        self._notify(
            NotificationRequest(
                key=f"{self._wid}:{step}",
                team_id=s.team_id,
                kind="unassigned" if unassigned and kind == "assigned" else kind,
                recipient_id=s.assignee_id,
                recipient_role="lead" if unassigned else None,
                interaction_id=s.interaction_id,
                details={"due_at": s.due_at.isoformat()},
            )
        )

    def _notify(self, req: NotificationRequest) -> None:
        """Queue a notice without blocking the caller; the run awaits all before finishing."""
        self._notices.append(
            asyncio.ensure_future(
                workflow.execute_activity_method(
                    NotificationActivities.notify, req, summary=f"notify {req.kind}", **NOTIFY_OPTIONS
                )
            )
        )

    async def _drain_notices(self) -> None:
        pending, self._notices = self._notices, []
        if pending:
            await asyncio.gather(*pending)

    async def _record_rejection(self, action: str, err: ApplicationError, actor_id: str | None) -> None:
        s = self._s
        await workflow.execute_activity_method(
            InteractionActivities.sync_interaction,
            InteractionProjection(
                workflow_id=self._wid,
                external_id=self._inp.external_id,
                member_id=self._inp.member_id,
                state=s.model_copy(deep=True),
                events=[
                    self._entry(
                        "rejected",
                        step=f"rejected:{workflow.uuid4()}",
                        actor_id=actor_id,
                        details={"action": action, "reason": err.message},
                    )
                ],
            ),
            summary=f"record rejected {action}",
            **PROJECTION_OPTIONS,
        )

    async def _continue_as_new(self) -> None:
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._drain_notices()
        workflow.continue_as_new(self._inp.model_copy(update={"carried_state": self._s}))

    def _entry(
        self,
        kind: str,
        *,
        step: str | None = None,
        actor_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> TimelineEntry:
        return TimelineEntry(
            key=f"{self._wid}:{step or kind}",
            kind=kind,
            at=workflow.now(),
            actor_id=actor_id,
            details=details or {},
        )

    def _timer_summary(self, kind: WakeKind, at: datetime) -> str:
        local = at.astimezone(self._cal.tz)
        when = f"{local:%a %d %b %H:%M} {self._cal.tz.key}"
        if kind == "due_soon":
            return f"due-soon reminder, {when}"
        if kind == "retry_due":
            return f"retry reminder (attempt {len(self._s.attempts) + 1}), {when}"
        label = (
            "same-day deadline" if self._s.channel in ("call", "voicemail") else "one-business-day deadline"
        )
        if self._s.urgent:
            label = "urgent deadline"
        return f"{label}, {when}"
