"""How an InteractionWorkflow writes its state to the read model and to search attributes.

Two versions: runs that record PERF_PATCH project a delta (the columns that changed, the new
attempts) from a local activity and upsert only the search attributes that changed; older runs
replay on the whole-state activity. ``whole_state_delta`` and ``state_columns`` are also what
reconcile writes for a run that completed.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError as TemporalTimeoutError

from workflows.common import LOCAL_PROJECTION_OPTIONS, PROJECTION_OPTIONS

with workflow.unsafe.imports_passed_through():
    from activities.interactions import PROJECTION_REFUSED, InteractionActivities
    from domain.messages import (
        EscalationProjection,
        InteractionDelta,
        InteractionInput,
        InteractionProjection,
        InteractionState,
        TimelineEntry,
    )
    from workflows.search_attributes import (
        FT_ASSIGNEE,
        FT_CHANNEL,
        FT_DUE_AT,
        FT_STATUS,
        FT_TEAM,
        FT_TRIGGERS,
    )

# Runs that record this patch project a delta from a local activity and upsert only the search
# attributes that changed; older runs replay on the whole-state activity (``Projection.record_whole``).
PERF_PATCH = "perf-lean-history"
# How long a run that could not project (the database away past the projection's bound) waits
# before it tries again, when nothing else would make it project (its end).
PROJECTION_RETRY = timedelta(seconds=30)


class Projection:
    """What this run has written to the read model, and how it writes the next change.

    ``state`` is the case's state, changed in place by the workflow for the run's whole life.
    """

    def __init__(self, state: InteractionState, inp: InteractionInput, workflow_id: str) -> None:
        self._s = state
        self._inp = inp
        self._wid = workflow_id
        # What this run has projected (PERF_PATCH): a new run's first projection writes it all.
        self._projected: dict[str, Any] = {}
        self._projected_version = 0
        self._projected_attempts = 0
        # The read model may not hold this run's last projection (refused, or the database was
        # away past the bound): the next projection writes the whole state.
        self.needs_full = False

    async def record_lean(self, events: list[TimelineEntry], escalation: EscalationProjection | None) -> None:
        """Runs with PERF_PATCH: search attributes only when they change, and the projection as a
        local activity carrying what changed (columns, new attempts), not the whole state."""
        s = self._s
        _upsert_changed_search_attributes(s)
        if self.needs_full:
            await self.write_whole(events, escalation)
            return
        columns = state_columns(s)
        changed = {k: v for k, v in columns.items() if k not in self._projected or self._projected[k] != v}
        delta = InteractionDelta(
            interaction_id=s.interaction_id,
            team_id=s.team_id,
            channel=s.channel,
            received_at=s.received_at,
            version=s.version,
            base_version=self._projected_version,
            columns=changed,
            new_attempts=list(s.attempts[self._projected_attempts :]),
        )
        try:
            await self._project(delta, events, escalation)
        except (ActivityError, ApplicationError) as err:
            if not _refused(err):
                raise
            # The row is not what this run last wrote (a restore, a hand edit, a deleted row, or
            # work Temporal lost): write the whole state instead of retrying under the lock.
            await self.write_whole(events, escalation)

    async def write_whole(self, events: list[TimelineEntry], escalation: EscalationProjection | None) -> None:
        """Write the whole state, whatever the row holds (Temporal is the truth)."""
        await self._project(whole_state_delta(self._s), events, escalation)

    async def land_before_end(self, lock: asyncio.Lock) -> None:
        """A run whose last projection did not land (the database was away past its bound) does
        not end before the read model holds its final state: the case would read open forever."""
        while self.needs_full:
            await workflow.sleep(PROJECTION_RETRY, summary="the read model was away: project again")
            async with lock:
                await self.write_whole([], None)

    async def _project(
        self, delta: InteractionDelta, events: list[TimelineEntry], escalation: EscalationProjection | None
    ) -> None:
        """Run the projection (bounded); a database away past the bound leaves the next projection
        to write the whole state, and the handler goes on: Temporal holds the change."""
        s = self._s
        try:
            await workflow.execute_local_activity_method(
                InteractionActivities.sync_interaction,
                InteractionProjection(
                    workflow_id=self._wid,
                    external_id=self._inp.external_id,
                    member_id=self._inp.member_id,
                    delta=delta,
                    events=events,
                    escalation=escalation,
                ),
                summary=f"record {events[0].kind if events else 'state'} (v{s.version})",
                **LOCAL_PROJECTION_OPTIONS,
            )
        except (ActivityError, TemporalTimeoutError) as err:
            if not isinstance(_failure(err), TemporalTimeoutError):
                raise  # a refused delta: the caller writes the whole state
            workflow.logger.warning("the read model was not written in time; the next projection writes all")
            self.needs_full = True
            return
        self._projected = state_columns(s)
        self._projected_version = delta.version
        self._projected_attempts = len(s.attempts)
        self.needs_full = False

    # ------------------------------------------------- runs before PERF_PATCH, and rejections
    async def record_whole(
        self, events: list[TimelineEntry], escalation: EscalationProjection | None
    ) -> None:
        """Runs before PERF_PATCH: every search attribute, and the whole state by activity."""
        s = self._s
        workflow.upsert_search_attributes(_search_attributes(s))
        await workflow.execute_activity_method(
            InteractionActivities.sync_interaction,
            InteractionProjection(
                workflow_id=self._wid,
                external_id=self._inp.external_id,
                member_id=self._inp.member_id,
                state=s.model_copy(deep=True),
                events=events,
                escalation=escalation,
            ),
            summary=f"record {events[0].kind if events else 'state'} (v{s.version})",
            **PROJECTION_OPTIONS,
        )

    async def record_rejection(self, action: str, entry: TimelineEntry) -> None:
        """Write a refused signal's timeline line (the state is unchanged; every run, by activity)."""
        s = self._s
        await workflow.execute_activity_method(
            InteractionActivities.sync_interaction,
            InteractionProjection(
                workflow_id=self._wid,
                external_id=self._inp.external_id,
                member_id=self._inp.member_id,
                state=s.model_copy(deep=True),
                events=[entry],
            ),
            summary=f"record rejected {action}",
            **PROJECTION_OPTIONS,
        )


def whole_state_delta(s: InteractionState) -> InteractionDelta:
    """The projection of the whole state (every column, every attempt), written whatever the row
    holds: by the workflow after a refused delta or on ``reproject``, by reconcile for a run that
    completed."""
    return InteractionDelta(
        interaction_id=s.interaction_id,
        team_id=s.team_id,
        channel=s.channel,
        received_at=s.received_at,
        version=s.version,
        columns=state_columns(s),
        new_attempts=list(s.attempts),
        full=True,
    )


def state_columns(s: InteractionState) -> dict[str, Any]:
    """The read-model columns the state decides (JSON-ready: they travel in a delta)."""
    return {
        "status": s.status,
        "assignee_id": s.assignee_id,
        "assignment_source": s.assignment_source,
        "due_at": s.due_at.isoformat(),
        "urgent": s.urgent,
        "flags": list(s.flags),
        "first_response_at": s.first_response_at.isoformat() if s.first_response_at else None,
        "next_retry_at": s.next_retry_at.isoformat() if s.next_retry_at else None,
        "overdue": s.overdue,
        "unreachable": s.unreachable,
        "triggers": list(s.triggers),
        "attempt_count": len(s.attempts),
        "first_attempt_outcome": s.attempts[0].outcome if s.attempts else None,
        "resolved_at": s.resolved_at.isoformat() if s.resolved_at else None,
        "resolved_by": s.resolved_by,
        "contacts": s.contacts,
        "last_contact_at": s.last_contact_at.isoformat() if s.last_contact_at else None,
        "first_due_at": (s.first_due_at or s.due_at).isoformat(),
    }


def _search_attributes(s: InteractionState) -> list[SearchAttributeUpdate[Any]]:
    """Every search attribute the state decides, in the order they are upserted."""
    return [
        FT_TEAM.value_set(s.team_id),
        FT_CHANNEL.value_set(s.channel),
        FT_STATUS.value_set(s.status),
        FT_ASSIGNEE.value_set(s.assignee_id or "unassigned"),
        FT_DUE_AT.value_set(s.due_at.astimezone(UTC)),  # one zone for every team
        FT_TRIGGERS.value_set(list(s.triggers)),
    ]


def _upsert_changed_search_attributes(s: InteractionState) -> None:
    current = workflow.info().typed_search_attributes
    changed = [u for u in _search_attributes(s) if _differs(current.get(u.key), u.value)]
    if changed:
        workflow.upsert_search_attributes(changed)


def _differs(current: Any, wanted: Any) -> bool:
    """Whether a search attribute must be upserted (unset lists count as empty)."""
    if current is None:
        return wanted not in ([], None)
    if isinstance(current, datetime) and isinstance(wanted, datetime):
        return current.astimezone(UTC) != wanted.astimezone(UTC)
    if isinstance(current, list | tuple) and isinstance(wanted, list | tuple):
        return list(current) != list(wanted)
    return bool(current != wanted)


def _failure(err: BaseException) -> BaseException | None:
    """What a (local) activity failed with: a local activity's failure arrives unwrapped."""
    return err.cause if isinstance(err, ActivityError) else err


def _refused(err: BaseException) -> bool:
    """The projection refused a delta whose base the row does not hold."""
    cause = _failure(err)
    return isinstance(cause, ApplicationError) and cause.type == PROJECTION_REFUSED
