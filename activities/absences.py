"""Activities of AbsenceWorkflow: the absence projection and the coverage fan-out.

The fan-out lists the affected interaction workflows from SQL and signals them in concurrent
batches with the worker's Temporal client, heartbeating the last workflow id of every batch:
a retried attempt resumes after it. Signals are idempotent (the interaction workflow checks
its own state), so a batch signalled twice changes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import structlog
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from domain.absences import absence_source, resolve_cover
from domain.messages import (
    ACTIVE_INTERACTION_STATUSES,
    AbsenceProjection,
    CoverageInput,
    FanoutInput,
    FanoutResult,
)
from store import repositories as repo
from store.db import unit_of_work
from store.models import Absence, Interaction
from store.projection import add_timeline, write_if_newer

log = structlog.get_logger(__name__)

COVERAGE_SIGNAL = "coverage"


class AbsenceActivities:
    """Holds the session factory and, for the fan-out, the worker's Temporal client."""

    def __init__(self, sessions: sessionmaker[Session], client: Client | None = None) -> None:
        self._sessions = sessions
        self._client = client

    @activity.defn(name="sync_absence")
    def sync_absence(self, projection: AbsenceProjection) -> None:
        st = projection.state
        now = datetime.now(UTC)
        with unit_of_work(self._sessions) as session:
            row = session.get(Absence, st.absence_id, with_for_update=True)
            if row is None:
                # Started outside the API (Temporal CLI): create the row from the workflow.
                row = Absence(
                    id=st.absence_id,
                    workflow_id=projection.workflow_id,
                    team_id=st.team_id,
                    staff_id=st.staff_id,
                    backup_id=st.backup_id,
                    starts_at=st.starts_at,
                    ends_at=st.ends_at,
                    created_at=now,
                    updated_at=now,
                    version=0,
                )
                session.add(row)
            write_if_newer(
                row,
                st.version,
                now,
                status=st.status,
                starts_at=st.starts_at,
                ends_at=st.ends_at,
                started_at=st.started_at,
                ended_at=st.ended_at,
                signalled_at_start=st.signalled_at_start,
                signalled_at_end=st.signalled_at_end,
            )
            add_timeline(session, projection.events, absence_id=st.absence_id)
        log.debug("absence.projected", absence_id=st.absence_id, status=st.status, version=st.version)

    @activity.defn(name="fan_out_coverage")
    async def fan_out_coverage(self, inp: FanoutInput) -> FanoutResult:
        """Signal every interaction the absence's start or end concerns; resumable from a heartbeat."""
        if self._client is None:
            raise ApplicationError("the worker has no Temporal client for the fan-out", non_retryable=True)
        details = activity.info().heartbeat_details
        after, signalled, closed = (
            (str(details[0]), int(details[1]), int(details[2])) if details else ("", 0, 0)
        )
        coverage = inp.coverage
        if coverage.action == "start" and coverage.backup_id is not None:
            # A backup who is away in turn hands on to their own cover (or the unassigned queue).
            cover = await asyncio.to_thread(self._effective_cover, coverage.backup_id)
            coverage = coverage.model_copy(update={"backup_id": cover})
        while True:
            batch = await asyncio.to_thread(self._targets, inp.team_id, coverage, after, inp.batch_size)
            if not batch:
                break
            outcomes = await asyncio.gather(
                *(self._signal(workflow_id, coverage) for workflow_id in batch), return_exceptions=True
            )
            failures = [o for o in outcomes if isinstance(o, BaseException)]
            if failures:
                raise failures[0]  # retried from the last heartbeat; repeats are no-ops
            signalled += sum(1 for o in outcomes if o is True)
            closed += sum(1 for o in outcomes if o is False)
            after = batch[-1]
            activity.heartbeat(after, signalled, closed)
        log.info(
            "absence.fanned_out",
            absence_id=coverage.absence_id,
            action=coverage.action,
            signalled=signalled,
            closed=closed,
        )
        return FanoutResult(signalled=signalled, closed=closed)

    async def _signal(self, workflow_id: str, coverage: CoverageInput) -> bool:
        """True when signalled, False when the workflow has closed meanwhile (resolved)."""
        assert self._client is not None
        try:
            await self._client.get_workflow_handle(workflow_id).signal(COVERAGE_SIGNAL, coverage)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return True

    def _targets(self, team_id: str, coverage: CoverageInput, after: str, limit: int) -> Sequence[str]:
        """The next batch of workflow ids, in id order after ``after``.

        At the start: open cases assigned to the absent CHW. At the end: open cases this absence
        moved, plus those still with the absent CHW, whose start signal may not have been handled
        yet when a short absence ends (it is queued before the hand-back, so both apply in order).
        """
        q = select(Interaction.workflow_id).where(
            Interaction.team_id == team_id,
            Interaction.status.in_(ACTIVE_INTERACTION_STATUSES),
            Interaction.workflow_id > after,
        )
        if coverage.action == "start":
            q = q.where(Interaction.assignee_id == coverage.absent_staff_id)
        else:
            q = q.where(
                or_(
                    Interaction.assignment_source == absence_source(coverage.absence_id),
                    Interaction.assignee_id == coverage.absent_staff_id,
                )
            )
        with self._sessions() as session:
            return list(session.scalars(q.order_by(Interaction.workflow_id).limit(limit)))

    def _effective_cover(self, backup_id: str) -> str | None:
        now = datetime.now(UTC)
        with self._sessions() as session:

            def absence_of(staff_id: str) -> tuple[str, str | None] | None:
                absence = repo.current_absence(session, staff_id, now)
                return None if absence is None else (absence.id, absence.backup_id)

            cover, _ = resolve_cover(backup_id, absence_of)
        return cover
