"""A case's escalations: raising a trigger starts an EscalationWorkflow as a child, the case
records it and watches it; the run ends only once they have ended.

The EscalationWorkflow tells the case of an acknowledge or resolve by signal
(``InteractionWorkflow.escalation_changed``); the watch here closes one that ends without telling
it (terminated, failed, timed out), so the case is never blocked by it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    TimeoutError as TemporalTimeoutError,
    WorkflowAlreadyStartedError,
)
from temporalio.workflow import ParentClosePolicy

from workflows.common import LOCAL_PROJECTION_OPTIONS, PROJECTION_OPTIONS, TimerLoop
from workflows.escalation import EscalationWorkflow

with workflow.unsafe.imports_passed_through():
    from activities.escalations import EscalationActivities
    from domain.ids import escalation_task_queue, escalation_workflow_id
    from domain.messages import (
        EscalationInput,
        EscalationProjection,
        EscalationRef,
        EscalationState,
        InteractionInput,
        InteractionState,
        TimelineEntry,
    )
    from domain.models import EscalationRule, Trigger, default_escalation_rule

# Runs that record this patch give every escalation its own workflow id, start it before recording
# it, and watch it for an unresolved end; runs started before it replay on the old path.
ESCALATION_OWN_ID_PATCH = "escalation-own-id"
# Runs that record this patch end only after their escalations' workflows have ended (see
# ``Escalations.let_end``); it is recorded only by a run that would otherwise not have waited.
END_AFTER_ESCALATIONS_PATCH = "end-after-escalations"
# Runs that record this patch, going overdue, read the rule in force for the deadline_missed
# escalation by a local activity and record the overdue change and the escalation in one
# projection (the 17:00 herd: one server round trip and one SQL transaction less per overdue case);
# asked by the overdue wake-up before any activity, so runs that never go overdue on it never record it.
OVERDUE_LEAN_PATCH = "overdue-lean"
# How long a resolved case waits for a resolved escalation's workflow to end before ending anyway.
ESCALATION_END_WAIT = timedelta(minutes=10)


def open_escalation(s: InteractionState, trigger: Trigger | None = None) -> EscalationRef | None:
    """The case's first escalation not resolved (of ``trigger``, if given)."""
    return next(
        (e for e in s.escalations if e.status != "resolved" and trigger in (None, e.trigger)),
        None,
    )


class Escalations:
    """Raise a trigger, watch the escalation workflows started, and let them end.

    ``case`` is the InteractionWorkflow: its state changes go through its ``_commit`` under its
    lock (``_turn``), and it answers which patches this run takes. ``state`` is its state,
    changed in place for the run's whole life.
    """

    def __init__(
        self,
        case: TimerLoop[EscalationProjection],
        state: InteractionState,
        inp: InteractionInput,
        workflow_id: str,
    ) -> None:
        self._case = case
        self._s = state
        self._inp = inp
        self._wid = workflow_id
        self._watchers: list[asyncio.Task[None]] = []

    async def raise_trigger(
        self,
        trigger: Trigger,
        *,
        actor_id: str | None,
        rule_locally: bool = False,
        with_entries: Sequence[TimelineEntry] = (),
    ) -> None:
        """Start the trigger's EscalationWorkflow, or note a repeat on the one already open.

        ``rule_locally`` (the caller asked OVERDUE_LEAN_PATCH before its first activity): read the
        rule in force by a local activity, in the same workflow task, instead of an activity's
        round trip through the server. ``with_entries``: the caller's change, not recorded yet,
        recorded in the same projection as the escalation (one SQL transaction, not two)."""
        s, case = self._s, self._case
        running = open_escalation(s, trigger)
        if running is not None:
            await case._commit(
                [
                    *with_entries,
                    case._entry(
                        "trigger_repeated",
                        step=f"trigger_repeated:{trigger}:{s.version + 1}",
                        actor_id=actor_id,
                        details={"trigger": trigger, "escalation_id": running.escalation_id},
                    ),
                ]
            )
            return
        # The rule in force now (the team may have changed its matrix since this case began).
        if rule_locally:
            try:
                current = await workflow.execute_local_activity_method(
                    EscalationActivities.escalation_rule,
                    args=[s.team_id, trigger],
                    summary=f"read the {trigger} escalation rule",
                    **LOCAL_PROJECTION_OPTIONS,
                )
            except (ActivityError, ApplicationError, TemporalTimeoutError):
                # (A local activity's failure arrives unwrapped.) Not read within its 2 minutes
                # (the 17:00 herd queued behind the worker's threads) or not readable: escalate on
                # the rule the case started with, as without a team row, rather than let the
                # failure end the case's workflow with nobody told.
                workflow.logger.warning("the escalation rule in force was not read; the case's own is used")
                current = None
        else:
            current = await workflow.execute_activity_method(
                EscalationActivities.escalation_rule,
                args=[s.team_id, trigger],
                summary=f"read the {trigger} escalation rule",
                **PROJECTION_OPTIONS,
            )
        if current is not None:
            rule, version = current.rule, current.matrix_version
        else:
            rule = self._inp.escalation_matrix.get(trigger) or default_escalation_rule(trigger)
            version = self._inp.matrix_version
        escalation_id = workflow.uuid4().hex
        if not case._patched(ESCALATION_OWN_ID_PATCH):
            if with_entries:
                await case._commit(list(with_entries))
            await self._raise_trigger_v1(trigger, escalation_id, rule, version, actor_id=actor_id)
            return
        # Its own workflow id, and the child first: the case records an escalation only once it
        # exists, so a start that fails leaves no ghost (an "open" escalation nobody is told of).
        seq = 1 + sum(1 for e in s.escalations if e.trigger == trigger)
        ref = EscalationRef(
            escalation_id=escalation_id,
            workflow_id=escalation_workflow_id(s.team_id, self._inp.external_id, trigger, seq),
            trigger=trigger,
        )
        started = self._case.clock()
        child = await workflow.start_child_workflow(
            EscalationWorkflow.run,
            self._input(ref, rule, version, started, actor_id),
            id=ref.workflow_id,
            # Its own queue: a cache of its own in the worker (docs/architecture.md §3.6).
            task_queue=escalation_task_queue(workflow.info().task_queue),
            # The interaction may continue-as-new; the escalation must outlive that run.
            parent_close_policy=ParentClosePolicy.ABANDON,
            static_summary=f"{trigger} escalation of {self._wid}",
            static_details=(
                f"Escalation {ref.escalation_id}: {len(rule.levels)} level(s), {rule.clock} clock, "
                f"matrix version {version}."
            ),
        )
        await self._record(ref, rule, version, started, actor_id, with_entries)
        self._watchers.append(asyncio.ensure_future(self._watch(child, ref)))

    def ended(self) -> bool:
        """Every escalation workflow this run started has ended."""
        return all(w.done() for w in self._watchers)

    async def let_end(self) -> None:
        """A lead resolves the escalation, then at once the case: the escalation's workflow tells
        the case first and ends a moment later. Had the case's run ended in the workflow task that
        carried the resolve, the server would refuse that task for the escalation's end arriving
        meanwhile, and the resolve would fail. So the run ends only once they have ended (a bounded
        wait; they are all resolved by now, which the case's resolve checks)."""
        if self.ended() or not self._case._patched(END_AFTER_ESCALATIONS_PATCH):
            return
        try:
            await workflow.wait_condition(
                self.ended,
                timeout=ESCALATION_END_WAIT,
                timeout_summary="let the case's resolved escalations end",
            )
        except TimeoutError:
            workflow.logger.warning("an escalation's workflow had not ended; the case ends anyway")
        await self._case._settle()

    def _input(
        self, ref: EscalationRef, rule: EscalationRule, version: int, started: datetime, actor_id: str | None
    ) -> EscalationInput:
        s = self._s
        return EscalationInput(
            escalation_id=ref.escalation_id,
            interaction_id=s.interaction_id,
            interaction_workflow_id=self._wid,
            team_id=s.team_id,
            trigger=ref.trigger,
            rule=rule,
            matrix_version=version,
            calendar=self._inp.calendar,
            started_by=actor_id,
            started_at=started,
            history_limit=self._inp.history_limit,
        )

    async def _record(
        self,
        ref: EscalationRef,
        rule: EscalationRule,
        version: int,
        started: datetime,
        actor_id: str | None,
        with_entries: Sequence[TimelineEntry] = (),
    ) -> None:
        """Add the escalation to the case's state and write its first row (the API sees it at once)."""
        s, case = self._s, self._case
        if ref.trigger not in s.triggers:
            s.triggers.append(ref.trigger)
        s.escalations.append(ref)
        first_row = EscalationProjection(
            workflow_id=ref.workflow_id,
            rule=rule,
            state=EscalationState(
                escalation_id=ref.escalation_id,
                interaction_id=s.interaction_id,
                team_id=s.team_id,
                trigger=ref.trigger,
                level_notified_at=started,
                started_at=started,
                started_by=actor_id,
                matrix_version=version,
            ),
        )
        await case._commit(
            [
                *with_entries,
                case._entry(
                    "escalation_triggered",
                    step=f"trigger:{ref.trigger}:{ref.escalation_id}",
                    actor_id=actor_id,
                    details={"trigger": ref.trigger, "escalation_id": ref.escalation_id},
                ),
            ],
            first_row,
        )

    async def _watch(self, child: workflow.ChildWorkflowHandle[Any, Any], ref: EscalationRef) -> None:
        """An escalation that ends without telling the case (terminated, failed, timed out) is closed
        here, so the case is never blocked by it; one that resolved normally has already told it."""
        case = self._case
        try:
            await child
            return
        except ChildWorkflowError as err:
            reason = type(err.cause).__name__ if err.cause is not None else "ended"
        async with case._turn():
            if ref.status == "resolved":
                return
            ref.status = "resolved"
            await workflow.execute_activity_method(
                EscalationActivities.end_escalation,
                args=[ref.escalation_id, reason],
                summary=f"close the {ref.trigger} escalation that ended unresolved",
                **PROJECTION_OPTIONS,
            )
            await case._commit(
                [
                    case._entry(
                        "escalation_ended_unresolved",
                        step=f"ended:{ref.escalation_id}",
                        details={
                            "trigger": ref.trigger,
                            "escalation_id": ref.escalation_id,
                            "reason": reason,
                        },
                    )
                ]
            )

    # ------------------------------------------------- runs before ESCALATION_OWN_ID_PATCH
    async def _raise_trigger_v1(
        self,
        trigger: Trigger,
        escalation_id: str,
        rule: EscalationRule,
        version: int,
        *,
        actor_id: str | None,
    ) -> None:
        """Runs started before ESCALATION_OWN_ID_PATCH: one workflow id per trigger, recorded first,
        started after (retrying while an earlier escalation of the trigger still finishes)."""
        s = self._s
        ref = EscalationRef(
            escalation_id=escalation_id,
            workflow_id=escalation_workflow_id(s.team_id, self._inp.external_id, trigger),
            trigger=trigger,
        )
        started = self._case.clock()
        await self._record(ref, rule, version, started, actor_id)
        inp = self._input(ref, rule, version, started, actor_id)
        for _ in range(30):
            try:
                await workflow.start_child_workflow(
                    EscalationWorkflow.run,
                    inp,
                    id=ref.workflow_id,
                    task_queue=escalation_task_queue(workflow.info().task_queue),
                    parent_close_policy=ParentClosePolicy.ABANDON,
                    static_summary=f"{trigger} escalation of {self._wid}",
                    static_details=(
                        f"Escalation {ref.escalation_id}: {len(rule.levels)} level(s), {rule.clock} clock, "
                        f"matrix version {version}."
                    ),
                )
                return
            except WorkflowAlreadyStartedError:
                await workflow.sleep(timedelta(seconds=2))
        raise ApplicationError(f"could not start the {trigger} escalation: {ref.workflow_id} keeps running")
