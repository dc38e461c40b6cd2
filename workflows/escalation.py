"""EscalationWorkflow: one trigger on one interaction, from the first notice to a documented resolution.

The ladder (docs/rules.md §2.4) runs on one timer at a time, like the interaction:
- open: notify level 1 at once; when a level's ``ack_within_minutes`` pass unacknowledged,
  notify the next level; after the last level, re-notify it every ``ack_within_minutes``
  until someone acknowledges (no cap);
- acknowledged: if not resolved within ``resolve_within_minutes``, notify the next level
  (or the manager) once;
- resolved: tell the parent interaction and finish.
Minutes count on the rule's clock: ``wall`` (safety: nights, weekends, holidays) or
``business`` (the team calendar). The rule is a snapshot taken at start: changing the team's
matrix later affects new escalations only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from activities.escalations import EscalationActivities
    from activities.notifications import NotificationActivities
    from domain.calendar import BusinessCalendar
    from domain.escalations import (
        EscalationAction,
        ladder_deadline,
        level_of,
        may_act_on_escalation,
        resolve_overdue_target,
    )
    from domain.messages import (
        AcknowledgeInput,
        EscalationAssignInput,
        EscalationInput,
        EscalationNotice,
        EscalationProjection,
        EscalationRef,
        EscalationResolveInput,
        EscalationState,
        NotificationRequest,
        TimelineEntry,
    )
    from domain.models import EscalationLevel

from workflows.common import NOTIFY_OPTIONS, PROJECTION_OPTIONS, TimerLoop, conflict, denied, invalid

# Runs that record this patch keep the latest KEEP_NOTICES notices in state (the read model keeps
# them all) and project from a local activity; older runs replay on the old path.
PERF_PATCH = "perf-lean-history"
KEEP_NOTICES = 10
Reason = Literal["level", "repeat", "resolve_overdue", "owner"]


@workflow.defn
class EscalationWorkflow(TimerLoop[None]):
    @workflow.init
    def __init__(self, inp: EscalationInput) -> None:
        self._inp = inp
        self._rule = inp.rule
        self._cal = BusinessCalendar(inp.calendar)
        self._wid = workflow.info().workflow_id
        now = workflow.now()
        self._s = inp.carried_state or EscalationState(
            escalation_id=inp.escalation_id,
            interaction_id=inp.interaction_id,
            team_id=inp.team_id,
            trigger=inp.trigger,
            level_notified_at=now,
            started_at=inp.started_at or now,
            started_by=inp.started_by,
            matrix_version=inp.matrix_version,
        )
        self._init_loop(ready=inp.carried_state is not None)
        self._unprojected: list[EscalationNotice] = []  # PERF_PATCH: sent, not yet projected

    # ------------------------------------------------------------------ run loop
    @workflow.run
    async def run(self, inp: EscalationInput) -> EscalationState:
        await self._run_until(
            lambda: self._s.status == "resolved",
            start=self._start if inp.carried_state is None else None,
            history_limit=inp.history_limit,
        )
        return self._s

    async def _fire_due(self) -> None:
        due = self._wake()
        if due is not None and due[0] <= self.clock():
            await self._fire()

    def _carry_over(self) -> EscalationInput:
        return self._inp.model_copy(update={"carried_state": self._s})

    async def _start(self) -> None:
        s = self._s
        self._notify_level(1, "level")
        await self._commit(
            [
                self._entry(
                    "escalation_started",
                    actor_id=s.started_by,
                    details={
                        "trigger": s.trigger,
                        "matrix_version": s.matrix_version,
                        "clock": self._rule.clock,
                        "levels": len(self._rule.levels),
                    },
                )
            ]
        )

    def _after(self, start: datetime, minutes: int) -> datetime:
        return ladder_deadline(start, minutes, clock=self._rule.clock, calendar=self._cal)

    def _level(self, n: int) -> EscalationLevel:
        return level_of(self._rule, n)

    def _wake(self) -> tuple[datetime, str] | None:
        s = self._s
        if s.status == "open":
            level = self._level(s.level)
            at = self._after(s.level_notified_at, level.ack_within_minutes)
            last = s.level >= len(self._rule.levels)
            what = "repeat notice to" if last else "escalate to level"
            target = s.level if last else s.level + 1
            return at, f"{s.trigger}: {what} {target} unless acknowledged, {self._when(at)}"
        if s.status == "acknowledged" and not s.resolve_overdue_notified and s.acknowledged_at is not None:
            at = self._after(s.acknowledged_at, self._rule.resolve_within_minutes)
            return at, f"{s.trigger}: resolve deadline, {self._when(at)}"
        return None

    async def _fire(self) -> None:
        s = self._s
        now = self.clock()
        if s.status == "open":
            if s.level < len(self._rule.levels):
                s.level += 1
                reason: Reason = "level"
            else:
                reason = "repeat"
            s.level_notified_at = now
            notice = self._notify_level(s.level, reason)
            kind = "escalation_advanced" if reason == "level" else "escalation_renotified"
            await self._commit([self._entry(kind, step=f"{kind}:{self._sent()}", details=_describe(notice))])
        elif s.status == "acknowledged":
            s.resolve_overdue_notified = True
            nxt, target = resolve_overdue_target(self._rule, s.level)
            notice = self._notify_target(target, nxt, "resolve_overdue")
            await self._commit([self._entry("escalation_resolve_overdue", details=_describe(notice))])

    # ------------------------------------------------------------------ updates
    @workflow.update
    async def acknowledge(self, inp: AcknowledgeInput) -> EscalationState:
        async with self._turn():
            self._check_acknowledge(inp)
            s = self._s
            s.status = "acknowledged"
            s.acknowledged_by = inp.actor_id
            s.acknowledged_at = self.clock()
            s.owner_id = s.owner_id or inp.actor_id
            await self._commit(
                [self._entry("escalation_acknowledged", actor_id=inp.actor_id, details={"level": s.level})]
            )
            await self._tell_parent()
        return self._s

    @acknowledge.validator
    def _validate_acknowledge(self, inp: AcknowledgeInput) -> None:
        self._check_acknowledge(inp)

    @workflow.update
    async def resolve(self, inp: EscalationResolveInput) -> EscalationState:
        async with self._turn():
            self._check_resolve(inp)
            s = self._s
            now = self.clock()
            if s.acknowledged_at is None:  # resolving answers the escalation too
                s.acknowledged_at, s.acknowledged_by = now, inp.actor_id
            s.status = "resolved"
            s.resolved_at, s.resolved_by = now, inp.actor_id
            await self._commit(
                [
                    self._entry(
                        "escalation_resolved",
                        actor_id=inp.actor_id,
                        details={
                            "level": s.level,
                            "documented": inp.action_taken_given and inp.outcome_given,
                        },
                    )
                ]
            )
            await self._tell_parent()
        return self._s

    @resolve.validator
    def _validate_resolve(self, inp: EscalationResolveInput) -> None:
        self._check_resolve(inp)

    @workflow.update
    async def assign(self, inp: EscalationAssignInput) -> EscalationState:
        async with self._turn():
            self._check_assign(inp)
            s = self._s
            previous, s.owner_id = s.owner_id, inp.owner_id
            notice = self._notify_target(
                EscalationLevel(staff_id=inp.owner_id, ack_within_minutes=1), s.level, "owner"
            )
            await self._commit(
                [
                    self._entry(
                        "escalation_owner_changed",
                        step=f"owner:{self._sent()}",
                        actor_id=inp.actor_id,
                        details={"from": previous, "to": inp.owner_id, **_describe(notice)},
                    )
                ]
            )
        return self._s

    @assign.validator
    def _validate_assign(self, inp: EscalationAssignInput) -> None:
        self._check_assign(inp)

    @workflow.query
    def state(self) -> EscalationState:
        return self._s

    # ------------------------------------------------------------------ rules
    def _check_same(self, escalation_id: str) -> None:
        if escalation_id != self._s.escalation_id:
            raise conflict(f"escalation {escalation_id} is not the one running here (it has ended)")

    def _require_unresolved(self) -> None:
        if self._s.status == "resolved":
            raise conflict(f"escalation {self._s.escalation_id} is already resolved")

    def _may(self, action: EscalationAction, actor_id: str | None, actor_role: str) -> bool:
        s = self._s
        return may_act_on_escalation(
            action, role=actor_role, actor_id=actor_id, level=self._level(s.level), owner_id=s.owner_id
        )

    def _check_acknowledge(self, inp: AcknowledgeInput) -> None:
        self._check_same(inp.escalation_id)
        self._require_unresolved()
        if self._s.status == "acknowledged":
            raise conflict(
                f"escalation {self._s.escalation_id} is already acknowledged by {self._s.acknowledged_by}"
            )
        if not self._may("acknowledge", inp.actor_id, inp.actor_role):
            raise denied(
                "only a lead, a manager or the staff member named at the current level may acknowledge"
            )

    def _check_resolve(self, inp: EscalationResolveInput) -> None:
        self._check_same(inp.escalation_id)
        self._require_unresolved()
        if not self._may("resolve", inp.actor_id, inp.actor_role):
            raise denied(
                "only a lead, a manager, the escalation's owner or the staff named at its level may resolve"
            )
        if self._rule.documentation_required and not (inp.action_taken_given and inp.outcome_given):
            raise invalid("this escalation requires documentation: give both action_taken and outcome")

    def _check_assign(self, inp: EscalationAssignInput) -> None:
        self._check_same(inp.escalation_id)
        self._require_unresolved()
        if not self._may("assign", inp.actor_id, inp.actor_role):
            raise denied("only a lead or a manager may reassign an escalation")
        if inp.owner_id == self._s.owner_id:
            raise conflict(f"escalation is already owned by {inp.owner_id}")

    # ------------------------------------------------------------------ effects
    def _notify_level(self, n: int, reason: Reason) -> EscalationNotice:
        return self._notify_target(self._level(n), n, reason)

    def _notify_target(self, target: EscalationLevel, n: int, reason: Reason) -> EscalationNotice:
        s = self._s
        notice = EscalationNotice(
            level=n,
            recipient_role=target.role,
            recipient_id=target.staff_id,
            at=self.clock(),
            reason=reason,
        )
        if self._patched(PERF_PATCH):
            # Bounded: the state keeps the latest notices; the read model gets each one once.
            s.notice_count = self._sent() + 1
            s.notified = [*s.notified, notice][-KEEP_NOTICES:]
            self._unprojected.append(notice)
        else:
            s.notified.append(notice)
        self._in_background(
            workflow.execute_activity_method(
                NotificationActivities.notify,
                NotificationRequest(
                    key=f"escalation:{s.escalation_id}:notice:{self._sent()}",
                    team_id=s.team_id,
                    kind="escalation",
                    recipient_id=target.staff_id,
                    recipient_role=target.role,
                    interaction_id=s.interaction_id,
                    escalation_id=s.escalation_id,
                    trigger=s.trigger,
                    details={"level": n, "reason": reason},
                ),
                summary=f"notify {target.role or target.staff_id}: {s.trigger} level {n} ({reason})",
                **NOTIFY_OPTIONS,
            )
        )
        return notice

    def _sent(self) -> int:
        """Notices sent so far (``notified`` is bounded in runs with PERF_PATCH)."""
        return max(self._s.notice_count, len(self._s.notified))

    async def _record(self, events: list[TimelineEntry], extra: None) -> None:
        s = self._s
        s.version += 1
        if self._patched(PERF_PATCH):
            new, self._unprojected = self._unprojected, []
            await workflow.execute_local_activity_method(
                EscalationActivities.sync_escalation,
                EscalationProjection(
                    workflow_id=self._wid,
                    rule=self._rule,
                    state=s.model_copy(deep=True),
                    events=events,
                    new_notices=new,
                ),
                summary=f"record {events[0].kind if events else 'state'} (v{s.version})",
                **PROJECTION_OPTIONS,
            )
            return
        await workflow.execute_activity_method(
            EscalationActivities.sync_escalation,
            EscalationProjection(
                workflow_id=self._wid, rule=self._rule, state=s.model_copy(deep=True), events=events
            ),
            summary=f"record {events[0].kind if events else 'state'} (v{s.version})",
            **PROJECTION_OPTIONS,
        )

    async def _tell_parent(self) -> None:
        s = self._s
        parent = workflow.get_external_workflow_handle(self._inp.interaction_workflow_id)
        try:
            await parent.signal(
                "escalation_changed",
                EscalationRef(
                    escalation_id=s.escalation_id, workflow_id=self._wid, trigger=s.trigger, status=s.status
                ),
            )
        except FailureError as err:
            # The interaction was terminated from the UI/CLI: the escalation's own record stands.
            workflow.logger.warning("parent %s not told of %s: %s", parent.id, s.status, err)

    def _entry_scope(self) -> str:
        # The workflow id is reused by a later escalation of the same trigger: key by escalation.
        return f"escalation:{self._s.escalation_id}"

    def _entry_context(self) -> dict[str, Any]:
        return {"escalation_id": self._s.escalation_id, "trigger": self._s.trigger}

    def _when(self, at: datetime) -> str:
        local = at.astimezone(self._cal.tz)
        return f"{local:%a %d %b %H:%M} {self._cal.tz.key} ({self._rule.clock} clock)"


def _describe(notice: EscalationNotice) -> dict[str, Any]:
    return {
        "level": notice.level,
        "recipient": notice.recipient_id or notice.recipient_role,
        "reason": notice.reason,
    }
