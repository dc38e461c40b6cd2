"""AbsenceWorkflow: one CHW out of office, from scheduled to active to ended (docs/rules.md §2.5).

Sleeps until ``starts_at``, marks the absence active (the API routes new cases by it) and
fans a ``coverage`` signal out to the absent CHW's open interactions; sleeps until
``ends_at`` and fans the hand-back out the same way. Extending, shortening and cancelling are
updates with validators, so a rejected change writes no history. Only ids and times here.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.absences import AbsenceActivities
    from domain.absences import window_error
    from domain.messages import (
        AbsenceCancelInput,
        AbsenceChangeInput,
        AbsenceInput,
        AbsenceProjection,
        AbsenceState,
        CoverageAction,
        CoverageInput,
        FanoutInput,
        FanoutResult,
        TimelineEntry,
    )

from workflows.common import PROJECTION_OPTIONS, TimerLoop, conflict, invalid

# The fan-out heartbeats after every batch: a worker that dies mid-way is noticed within a
# minute and the retry resumes after the last batch it reported.
FANOUT_OPTIONS: dict[str, Any] = {
    "start_to_close_timeout": timedelta(minutes=30),
    "heartbeat_timeout": timedelta(minutes=1),
    "retry_policy": RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)),
}


@workflow.defn
class AbsenceWorkflow(TimerLoop[None]):
    @workflow.init
    def __init__(self, inp: AbsenceInput) -> None:
        self._inp = inp
        self._wid = workflow.info().workflow_id
        self._s = inp.carried_state or AbsenceState(
            absence_id=inp.absence_id,
            team_id=inp.team_id,
            staff_id=inp.staff_id,
            backup_id=inp.backup_id,
            starts_at=inp.starts_at,
            ends_at=inp.ends_at,
        )
        self._init_loop(ready=inp.carried_state is not None)

    @workflow.run
    async def run(self, inp: AbsenceInput) -> AbsenceState:
        await self._run_until(
            lambda: self._s.status not in ("scheduled", "active"),
            start=self._start if inp.carried_state is None else None,
            history_limit=inp.history_limit,
        )
        return self._s

    async def _start(self) -> None:
        s = self._s
        await self._commit(
            [
                self._entry(
                    "absence_scheduled",
                    details={
                        "staff_id": s.staff_id,
                        "backup_id": s.backup_id,
                        "starts_at": s.starts_at.isoformat(),
                        "ends_at": s.ends_at.isoformat(),
                    },
                )
            ]
        )

    def _wake(self) -> tuple[datetime, str] | None:
        s = self._s
        if s.status not in ("scheduled", "active"):
            return None
        target = s.starts_at if s.status == "scheduled" else s.ends_at
        return target, self._timer_summary(target)

    async def _fire_due(self) -> None:
        s = self._s
        now = self.clock()
        if s.status == "scheduled" and now >= s.starts_at:
            await self._begin()
        elif s.status == "active" and now >= s.ends_at:
            await self._finish("ended", actor_id=None)

    def _carry_over(self) -> AbsenceInput:
        return self._inp.model_copy(update={"carried_state": self._s})

    # ------------------------------------------------------------------ transitions
    async def _begin(self) -> None:
        s = self._s
        s.status = "active"
        s.started_at = self.clock()
        # Active first: the API routes new cases by it, so none slips past the fan-out's listing.
        await self._commit([self._entry("absence_started", details={"backup_id": s.backup_id})])
        result = await self._fan_out("start")
        s.signalled_at_start = result.signalled
        await self._commit(
            [
                self._entry(
                    "coverage_started", details={"signalled": result.signalled, "closed": result.closed}
                )
            ]
        )

    async def _finish(self, status: str, *, actor_id: str | None) -> None:
        s = self._s
        was_active = s.status == "active"
        s.status = "ended" if status == "ended" else "cancelled"
        s.ended_at = self.clock()
        await self._commit([self._entry(f"absence_{s.status}", actor_id=actor_id)])
        if not was_active:
            return  # cancelled before it started: nothing was moved
        result = await self._fan_out("end")
        s.signalled_at_end = result.signalled
        await self._commit(
            [self._entry("handed_back", details={"signalled": result.signalled, "closed": result.closed})]
        )

    async def _fan_out(self, action: CoverageAction) -> FanoutResult:
        s = self._s
        target = s.backup_id or "the unassigned queue"
        summary = (
            f"move {s.staff_id}'s open cases to {target}"
            if action == "start"
            else f"hand back {s.staff_id}'s cases"
        )
        return await workflow.execute_activity_method(
            AbsenceActivities.fan_out_coverage,
            FanoutInput(
                team_id=s.team_id,
                coverage=CoverageInput(
                    absence_id=s.absence_id, action=action, absent_staff_id=s.staff_id, backup_id=s.backup_id
                ),
            ),
            summary=summary,
            **FANOUT_OPTIONS,
        )

    # ------------------------------------------------------------------ updates
    @workflow.update
    async def change_end(self, inp: AbsenceChangeInput) -> AbsenceState:
        """Extend or shorten the absence (while scheduled or active)."""
        async with self._turn():
            self._check_change(inp)  # again: an earlier handler may have changed the absence
            s = self._s
            old = s.ends_at
            s.ends_at = inp.ends_at
            kind = "absence_extended" if inp.ends_at > old else "absence_shortened"
            await self._commit(
                [
                    self._entry(
                        kind,
                        step=f"{kind}:{s.version + 1}",
                        actor_id=inp.actor_id,
                        details={"ends_at": inp.ends_at.isoformat(), "old_ends_at": old.isoformat()},
                    )
                ]
            )
        return self._s

    @change_end.validator
    def _validate_change(self, inp: AbsenceChangeInput) -> None:
        self._check_change(inp)

    @workflow.update
    async def cancel(self, inp: AbsenceCancelInput) -> AbsenceState:
        """Call the absence off; an active one hands its cases back at once."""
        async with self._turn():
            self._require_not_over()
            await self._finish("cancelled", actor_id=inp.actor_id)
        return self._s

    @cancel.validator
    def _validate_cancel(self, inp: AbsenceCancelInput) -> None:
        self._require_not_over()

    @workflow.query
    def state(self) -> AbsenceState:
        return self._s

    # ------------------------------------------------------------------ rules
    def _require_not_over(self) -> None:
        if self._s.status in ("ended", "cancelled"):
            raise conflict(f"absence {self._s.absence_id} is already {self._s.status}")

    def _check_change(self, inp: AbsenceChangeInput) -> None:
        self._require_not_over()
        s = self._s
        window = window_error(s.starts_at, inp.ends_at)  # the one window rule, shared with the API
        if window is not None:
            raise invalid(window)
        if s.status == "active" and inp.ends_at <= self.clock():
            raise invalid("ends_at has already passed: cancel the absence to end it now")

    # ------------------------------------------------------------------ effects
    async def _record(self, events: list[TimelineEntry], extra: None) -> None:
        s = self._s
        s.version += 1
        await workflow.execute_activity_method(
            AbsenceActivities.sync_absence,
            AbsenceProjection(workflow_id=self._wid, state=s.model_copy(deep=True), events=events),
            summary=f"record {events[0].kind if events else 'state'} (v{s.version})",
            **PROJECTION_OPTIONS,
        )

    def _timer_summary(self, at: datetime) -> str:
        s = self._s
        what = "absence starts" if s.status == "scheduled" else "absence ends, hand-back"
        return f"{what} ({s.staff_id}), {at.isoformat()}"
