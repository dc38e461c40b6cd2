"""InteractionWorkflow: one missed call, voicemail or text, from receipt to resolution.

One loop and one timer at a time: the next wake-up (due-soon reminder, deadline, retry
reminder) is derived from state with the pure functions of ``domain``; handlers change state
and wake the loop. Member text never enters this workflow, only ids, enums and times.

This module holds the handlers (updates, their validators, signals, the query) and the loop.
Beside it, each taking the state it needs:

- ``interaction_escalations``: raising a trigger (the EscalationWorkflow child), its watch, and
  the wait for them before the run ends;
- ``interaction_projection``: the read model and search attributes (a delta, or the whole state);
- ``interaction_contact``: a retry held for the member's contact window and daily cap;
- ``interaction_notices``: the notices to the assignee (or every lead);
- ``interaction_timers``: what the loop's timers say in the UI.

A repeat contact from the member (``contact_again``, docs/rules.md §2.10) joins the case:
``MERGE_CONTACTS_PATCH`` guards what it changes.

Each patch id lives beside the code it guards (``workflows.common`` has the loop's).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.common import TimerLoop, conflict
from workflows.interaction_contact import contact_marks, hold_for_contact
from workflows.interaction_escalations import OVERDUE_LEAN_PATCH, Escalations, open_escalation
from workflows.interaction_notices import AssigneeNotice, assignee_notice, send_notice
from workflows.interaction_projection import PERF_PATCH, Projection
from workflows.interaction_timers import WakeKind, timer_summary

with workflow.unsafe.imports_passed_through():
    from domain.absences import absence_source
    from domain.calendar import BusinessCalendar
    from domain.deadlines import due_at, due_soon_at, due_when_flagged_urgent, retry_due_at, sla_met
    from domain.messages import (
        AssignInput,
        AttemptInput,
        AttemptRecord,
        ContactAgainInput,
        CoverageInput,
        EscalationProjection,
        EscalationRef,
        FlagInput,
        InteractionInput,
        InteractionState,
        InteractionStatus,
        ResolveInput,
        TimelineEntry,
    )
    from domain.models import UNSUCCESSFUL_OUTCOMES
    from domain.repeat_contacts import deadline_after_contact, first_deadline

# An update answers with at most this many attempts (the latest); see ``_answer``.
ANSWER_ATTEMPTS = 3
# How many applied update ids a case keeps (and carries across continue-as-new); a repeat under
# one of them answers without applying. Well above what one case sees within the API's
# idempotency window.
APPLIED_UPDATES_KEPT = 200
# Runs that record this patch take a repeat contact of the member (``contact_again``): the
# deadline moves, the ladder starts over, a contact after the first response awaits a response
# again. Asked first thing in the handler, before any activity (docs/adr/patching.md); runs that
# never got a repeat contact never ask it, and replay unchanged.
MERGE_CONTACTS_PATCH = "merge-repeat-contacts"


@workflow.defn
class InteractionWorkflow(TimerLoop[EscalationProjection]):
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
                due_at=inp.due_at
                or due_at(
                    inp.received_at, inp.channel, urgent=inp.urgent, calendar=self._cal, policy=inp.policy
                ),
                urgent=inp.urgent,
                flags=["urgent"] if inp.urgent else [],
            )
        self._init_loop(ready=inp.carried_state is not None)
        self._escalations = Escalations(self, self._s, inp, self._wid)
        self._projection = Projection(self._s, inp, self._wid)

    # ------------------------------------------------------------------ run loop
    @workflow.run
    async def run(self, inp: InteractionInput) -> InteractionState:
        await self._run_until(
            lambda: self._s.status == "resolved",
            start=self._start if inp.carried_state is None else None,
            history_limit=inp.history_limit,
        )
        await self._escalations.let_end()
        await self._projection.land_before_end(self._lock)
        return self._s

    def _wake(self) -> tuple[datetime, str] | None:
        wake = self._next_wake()
        return None if wake is None else (wake[0], timer_summary(self._s, self._cal, wake[1], wake[0]))

    async def _fire_due(self) -> None:
        due = self._next_wake()
        if due is not None and due[0] <= self.clock():
            await self._fire(due[1])

    def _carry_over(self) -> InteractionInput:
        return self._inp.model_copy(update={"carried_state": self._s})

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
                await self._escalations.raise_trigger(flag, actor_id=None)

    def _next_wake(self) -> tuple[datetime, WakeKind] | None:
        s = self._s
        candidates: list[tuple[datetime, int, WakeKind]] = []
        if self._awaiting_response() and not s.overdue:
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
        now = self.clock()
        if kind == "due_soon":
            s.due_soon_sent_for = s.due_at
            if self._awaiting_response() and now < s.due_at:
                self._notify_assignee("due_soon", step=f"due_soon:{s.due_at.isoformat()}")
                await self._commit(
                    [self._entry("due_soon_reminder", step=f"due_soon:{s.due_at.isoformat()}")]
                )
        elif kind == "overdue":
            if self._awaiting_response() and not s.overdue:
                # Asked before the projection's local activity (docs/adr/patching.md, patches-at-start).
                lean = self._patched(OVERDUE_LEAN_PATCH)
                s.overdue = True
                overdue = self._entry("overdue", details={"due_at": s.due_at.isoformat()})
                if lean:  # the 17:00 herd: one projection for the overdue case and its escalation
                    await self._escalations.raise_trigger(
                        "deadline_missed", actor_id=None, rule_locally=True, with_entries=[overdue]
                    )
                else:
                    await self._commit([overdue])
                    await self._escalations.raise_trigger("deadline_missed", actor_id=None)
        elif kind == "retry_due":
            seq = len(s.attempts)
            s.retry_reminded_seq = seq
            extra: dict[str, Any] = {"channels": ["call"]} if s.retry_text_refused else {}
            self._notify_assignee("retry_due", step=f"retry_due:{seq}", extra=extra)
            await self._commit([self._entry("retry_reminder", step=f"retry_due:{seq}", details={"seq": seq})])

    def _awaiting_response(self) -> bool:
        """The member waits for a response: none was made yet, or the member contacted again
        after it (``awaiting_response``, only ever set by ``contact_again``)."""
        return self._s.first_response_at is None or self._s.awaiting_response

    # ------------------------------------------------------------------ updates
    def _answer(self) -> InteractionState:
        """What an update answers: the state with only the latest attempts.

        The answer is stored in the history with every update, so a whole attempts list made
        each attempt's history bytes grow with the attempts before it (bench P2). The full list
        is in the read model (``GET /v1/interactions/{id}``) and the ``state`` query; the API
        answers from the read model. Replay does not compare update answers, so no patch.
        """
        s = self._s
        update: dict[str, Any] = {"applied_updates": []}
        if len(s.attempts) > ANSWER_ATTEMPTS:
            update["attempts"] = s.attempts[-ANSWER_ATTEMPTS:]
        return s.model_copy(update=update)

    def _applied(self) -> bool:
        """This update (by its id) was applied already, maybe by an earlier run of this case: a
        repeat answers the state and changes nothing (Temporal de-duplicates ids only per run)."""
        info = workflow.current_update_info()
        return info is not None and info.id in self._s.applied_updates

    def _mark_applied(self) -> None:
        info = workflow.current_update_info()
        if info is not None:
            ids = self._s.applied_updates
            ids.append(info.id)
            del ids[:-APPLIED_UPDATES_KEPT]

    @workflow.update
    async def record_attempt(self, inp: AttemptInput) -> InteractionState:
        async with self._turn():
            if self._applied() or self._has_attempt(inp.attempt_id):
                return self._answer()  # a repeat: the attempt is recorded
            self._validate_attempt(inp)  # again: an earlier handler may have changed the case
            await self._record_attempt(inp)
            self._mark_applied()
        return self._answer()

    def _has_attempt(self, attempt_id: str) -> bool:
        return any(a.attempt_id == attempt_id for a in self._s.attempts)

    async def _record_attempt(self, inp: AttemptInput) -> None:
        s = self._s
        now = self.clock()
        seq = len(s.attempts) + 1
        s.attempts.append(
            AttemptRecord(
                attempt_id=inp.attempt_id,
                seq=seq,
                outcome=inp.outcome,
                staff_id=inp.staff_id,
                at=now,
                outside_contact_window=inp.outside_contact_window,
                over_daily_cap=inp.over_daily_cap,
                channel=inp.channel,
                consent_refused=inp.consent_refused,
            )
        )
        events = [
            self._entry(
                "attempt",
                step=f"attempt:{seq}",
                actor_id=inp.staff_id,
                details={"seq": seq, "outcome": inp.outcome, **contact_marks(inp)},
            )
        ]
        if s.first_response_at is None:
            s.first_response_at = now
            events.append(
                self._entry(
                    "first_response",
                    details={"sla_met": sla_met(now, s.due_at), "due_at": s.due_at.isoformat()},
                )
            )
        elif s.awaiting_response:  # the response to a repeat contact (docs/rules.md §2.10)
            s.awaiting_response = False
            events.append(
                self._entry(
                    "responded_again",
                    step=f"responded_again:{seq}",
                    details={"sla_met": sla_met(now, s.due_at), "due_at": s.due_at.isoformat()},
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
                held = hold_for_contact(s, inp.contact, calendar=self._cal, patched=self._patched)
                events.append(
                    self._entry(
                        "retry_scheduled",
                        step=f"retry_scheduled:{seq}",
                        details={"next_retry_at": s.next_retry_at.isoformat(), **held},
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
            await self._escalations.raise_trigger("unreachable", actor_id=inp.staff_id)

    @record_attempt.validator
    def _validate_attempt(self, inp: AttemptInput) -> None:
        if self._applied() or self._has_attempt(inp.attempt_id):
            return  # a repeat (its answer was lost): answered, not applied again
        self._require_open()

    @workflow.update
    async def contact_again(self, inp: ContactAgainInput) -> InteractionState:
        """The member contacted again (docs/rules.md §2.10): the case counts it, its deadline
        moves (``domain.repeat_contacts``), the unreachable ladder starts over, the assignee is
        told. Once per update id (the service makes it of the contact's external id)."""
        async with self._turn():
            if self._applied():
                return self._answer()
            self._require_open()  # again: an earlier handler may have resolved the case
            if not self._patched(MERGE_CONTACTS_PATCH):  # first, before any activity
                raise conflict("this case's run cannot take repeat contacts")
            await self._contact_again(inp)
            self._mark_applied()
        return self._answer()

    @contact_again.validator
    def _validate_contact_again(self, inp: ContactAgainInput) -> None:
        if not self._applied():
            self._require_open()

    async def _contact_again(self, inp: ContactAgainInput) -> None:
        s = self._s
        # Answered, and not waiting again already: the member waits anew, from this contact.
        responded = s.first_response_at is not None and not s.awaiting_response
        contact_due = due_at(
            inp.at, inp.channel, urgent=s.urgent, calendar=self._cal, policy=self._inp.policy
        )
        old_due = s.due_at
        s.first_due_at = first_deadline(s.due_at, s.first_due_at)  # the report's, never moved
        s.due_at = deadline_after_contact(s.due_at, contact_due, responded=responded)
        s.contacts += 1
        if s.last_contact_at is None or inp.at > s.last_contact_at:
            s.last_contact_at = inp.at
        if responded:
            s.awaiting_response = True
            s.overdue = False  # a new deadline, not missed yet
        # The member is reachable: the unreachable ladder starts over, no retry is pending.
        ladder_restarted = s.unsuccessful_attempts > 0 or s.unreachable or s.next_retry_at is not None
        s.unsuccessful_attempts = 0
        s.unreachable = False
        s.next_retry_at = None
        s.retry_held_by, s.retry_zone, s.retry_text_refused = None, None, False
        step = f"contacted_again:{s.contacts}"
        await self._commit(
            [
                self._entry(
                    "contacted_again",
                    step=step,
                    details={
                        "channel": inp.channel,
                        "contact_at": inp.at.isoformat(),
                        "contacts": s.contacts,
                        "due_at": s.due_at.isoformat(),
                        "old_due_at": old_due.isoformat(),
                        "awaiting_response": s.awaiting_response,
                        "ladder_restarted": ladder_restarted,
                    },
                )
            ]
        )
        self._notify_assignee(
            "contacted_again", step=step, extra={"channel": inp.channel, "contacts": s.contacts}
        )

    @workflow.update
    async def flag(self, inp: FlagInput) -> InteractionState:
        async with self._turn():
            if self._applied():
                return self._answer()
            self._validate_flag(inp)
            await self._flag(inp)
            self._mark_applied()
        return self._answer()

    async def _flag(self, inp: FlagInput) -> None:
        s = self._s
        if inp.flag == "urgent":
            if not s.urgent:
                s.urgent = True
                s.flags.append("urgent")
                old_due = s.due_at
                s.due_at = due_when_flagged_urgent(
                    s.due_at, s.received_at, s.channel, calendar=self._cal, policy=self._inp.policy
                )
                if s.first_due_at is not None and s.first_response_at is None:
                    # The first contact's deadline, had it been urgent (a repeat moved due_at).
                    s.first_due_at = due_when_flagged_urgent(
                        s.first_due_at, s.received_at, s.channel, calendar=self._cal, policy=self._inp.policy
                    )
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
        await self._escalations.raise_trigger(inp.flag, actor_id=inp.staff_id)

    @flag.validator
    def _validate_flag(self, inp: FlagInput) -> None:
        if not self._applied():
            self._require_open()

    @workflow.update(name="assign")
    async def assign_update(self, inp: AssignInput) -> InteractionState:
        async with self._turn():
            if self._applied():
                return self._answer()
            self._check_assign(inp)
            await self._assign(inp, source=f"lead:{inp.actor_id}" if inp.actor_id else "lead")
            self._mark_applied()
        return self._answer()

    @assign_update.validator
    def _validate_assign(self, inp: AssignInput) -> None:
        if not self._applied():
            self._check_assign(inp)

    @workflow.update(name="resolve")
    async def resolve_update(self, inp: ResolveInput) -> InteractionState:
        async with self._turn():
            if self._applied():
                return self._answer()
            self._check_resolve()
            self._mark_applied()  # before the change: the run ends with it
            await self._resolve(inp)
        return self._answer()

    @resolve_update.validator
    def _validate_resolve(self, inp: ResolveInput) -> None:
        if not self._applied():
            self._check_resolve()

    # ------------------------------------------------------------------ the read model
    @workflow.query
    def state(self) -> InteractionState:
        return self._s

    @workflow.signal
    async def reproject(self) -> None:
        """Write the whole state to the read model again (sent by ``followthrough reconcile`` when
        the row and this workflow differ, or by ops after a restore). Changes no state."""
        async with self._turn():
            await self._projection.write_whole([], None)

    # ------------------------------------------------------------------ signals (Temporal CLI / UI)
    @workflow.signal(name="assign")
    async def assign_signal(self, inp: AssignInput) -> None:
        async with self._turn():
            try:
                self._check_assign(inp)
            except ApplicationError as err:
                await self._reject("assign", err, inp.actor_id)
                return
            await self._assign(inp, source=f"lead:{inp.actor_id}" if inp.actor_id else "lead")

    @workflow.signal(name="resolve")
    async def resolve_signal(self, inp: ResolveInput) -> None:
        async with self._turn():
            try:
                self._check_resolve()
            except ApplicationError as err:
                await self._reject("resolve", err, inp.actor_id)
                return
            await self._resolve(inp)

    # ---------------------------------------------------- coverage (absences, docs/rules.md §2.5)
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

    # ------------------------------------------------------------ escalations (their workflows say)
    @workflow.signal
    async def escalation_changed(self, ref: EscalationRef) -> None:
        """An escalation was acknowledged or resolved (sent by the EscalationWorkflow)."""
        for e in self._s.escalations:
            if e.escalation_id == ref.escalation_id:
                e.status = ref.status  # at once, so a resolve validated next sees it
        async with self._turn():
            await self._commit([])

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
        esc = open_escalation(self._s)
        if esc is not None:
            raise conflict(
                f"interaction {self._s.interaction_id} has an open {esc.trigger} escalation "
                f"({esc.escalation_id}): resolve the escalation first"
            )

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
        s.resolved_at = self.clock()
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

    # ------------------------------------------------------------------ effects
    def _status(self) -> InteractionStatus:
        s = self._s
        if s.resolved_at is not None:
            return "resolved"
        if open_escalation(s) is not None:
            return "escalated"
        if s.attempts:
            return "attempting"
        return "open"

    async def _record(self, events: list[TimelineEntry], escalation: EscalationProjection | None) -> None:
        """Record a state change: bump the version, refresh search attributes, project to SQL
        (with the first row of an escalation this change raised, in the same transaction)."""
        s = self._s
        s.version += 1
        s.status = self._status()
        if self._patched(PERF_PATCH):
            await self._projection.record_lean(events, escalation)
        else:
            await self._projection.record_whole(events, escalation)

    async def _reject(self, action: str, err: ApplicationError, actor_id: str | None) -> None:
        """A signal the rules refuse changes nothing; its timeline line says why."""
        entry = self._entry(
            "rejected",
            step=f"rejected:{workflow.uuid4()}",
            actor_id=actor_id,
            details={"action": action, "reason": err.message},
        )
        await self._projection.record_rejection(action, entry)

    def _notify_assignee(
        self, kind: AssigneeNotice, *, step: str, extra: dict[str, Any] | None = None
    ) -> None:
        """Queue the notice without blocking the caller; the run awaits all before finishing."""
        self._in_background(send_notice(assignee_notice(self._s, self._wid, kind, step=step, extra=extra)))
