"""Projection activities: write the workflow's state to the SQL read model and timeline.

Idempotent by construction: rows are keyed by ids chosen in the workflow, timeline lines by
``workflow id + step``, and the interaction row only moves forward in ``version``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.messages import AttemptRecord, InteractionColumns, InteractionDelta, InteractionProjection
from store.db import race_safe_statement, unit_of_work
from store.models import Attempt, Interaction
from store.projection import NO_KEY_UPDATE, add_timeline, project_escalation, write_if_newer

log = structlog.get_logger(__name__)


class InteractionActivities:
    """Activities of InteractionWorkflow; holds the session factory it writes with."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        on_projected: Callable[[str, str, int], None] | None = None,
        wants_projected: Callable[[Session, str], bool] | None = None,
    ) -> None:
        self._sessions = sessions
        # Told (team, case, version) once the row holds a projection's version, committed (again
        # on a retry: the notice's key holds the version, so it is written once): the
        # ``task_updated`` notices (``NotificationActivities.task_updated``), for a team that
        # ``wants_projected`` says wants them (asked in the projection's own transaction; None:
        # every team).
        self._on_projected = on_projected
        self._wants_projected = wants_projected

    def _telling(self, session: Session, team_id: str, current: bool) -> bool:
        """Whether ``_projected`` is to be told of the projection just written in ``session``
        (``current``: the row holds its version)."""
        if not current or self._on_projected is None:
            return False
        return self._wants_projected is None or self._wants_projected(session, team_id)

    def _projected(self, team_id: str, interaction_id: str, version: int) -> None:
        if self._on_projected is not None:
            self._on_projected(team_id, interaction_id, version)

    @activity.defn(name="sync_interaction")
    def sync_interaction(self, projection: InteractionProjection) -> None:
        if projection.delta is not None:
            self._apply_delta(projection, projection.delta)
            return
        st = projection.state
        assert st is not None, "a projection carries a state or a delta"
        now = datetime.now(UTC)
        with unit_of_work(self._sessions) as session:
            # Started outside the API (Temporal CLI): the row is created from the workflow.
            row = _locked_row(
                session,
                projection,
                team_id=st.team_id,
                interaction_id=st.interaction_id,
                channel=st.channel,
                received_at=st.received_at,
                due_at=st.due_at,
                now=now,
            )
            write_if_newer(
                row,
                st.version,
                now,
                status=st.status,
                assignee_id=st.assignee_id,
                assignment_source=st.assignment_source,
                due_at=st.due_at,
                urgent=st.urgent,
                flags=list(st.flags),
                first_response_at=st.first_response_at,
                next_retry_at=st.next_retry_at,
                overdue=st.overdue,
                unreachable=st.unreachable,
                triggers=list(st.triggers),
                attempt_count=len(st.attempts),
                first_attempt_outcome=st.attempts[0].outcome if st.attempts else None,
                resolved_at=st.resolved_at,
                resolved_by=st.resolved_by,
                contacts=st.contacts,
                last_contact_at=st.last_contact_at,
                first_due_at=st.first_due_at or st.due_at,
            )
            _add_records(session, projection, st.interaction_id, st.attempts, now)
            # This version is the row's (written now, or by a try of this activity that failed
            # after its commit): its notice is due; a stale projection's is not.
            tell = self._telling(session, st.team_id, row.version == st.version)
        log.debug("interaction.projected", interaction_id=st.interaction_id, version=st.version)
        if tell:
            self._projected(st.team_id, st.interaction_id, st.version)

    def _apply_delta(self, projection: InteractionProjection, delta: InteractionDelta) -> None:
        """Write what one state change changed (runs with the ``perf-lean-history`` patch).

        The workflow records its changes one at a time, so the row holds exactly the previous
        projection of its run (``base_version``) when this one arrives. A row that holds anything
        else was not written by that projection: restored from a backup, edited by hand, deleted,
        or ahead of Temporal (written by a workflow task that was then lost). Such a delta is
        refused at once with ``PROJECTION_REFUSED`` (non-retryable, so nothing retries under the
        workflow's lock) and the workflow answers with its whole state (``full``), which is
        written whatever the row holds: Temporal is the truth. Attempts and timeline lines are
        keyed, so a repeat adds nothing.
        """
        now = datetime.now(UTC)
        columns = InteractionColumns.model_validate(delta.columns)
        fields = InteractionColumns.model_fields
        values = {name: getattr(columns, name) for name in delta.columns if name in fields}
        with unit_of_work(self._sessions) as session:
            if not delta.full and _advanced(session, delta, values, now):
                _add_records(session, projection, delta.interaction_id, delta.new_attempts, now)
                current = True
            else:
                current = self._apply_to_row(session, projection, delta, values, now)
            tell = self._telling(session, delta.team_id, current)
        log.debug("interaction.projected", interaction_id=delta.interaction_id, version=delta.version)
        if tell:
            self._projected(delta.team_id, delta.interaction_id, delta.version)

    def _apply_to_row(
        self,
        session: Session,
        projection: InteractionProjection,
        delta: InteractionDelta,
        values: dict[str, Any],
        now: datetime,
    ) -> bool:
        """``_apply_delta`` on the row read and locked: refused, made, repaired (``full``) or
        advanced; whether the row now holds this delta's version."""
        existing = session.get(Interaction, delta.interaction_id, with_for_update=NO_KEY_UPDATE)
        if _refuse(existing, delta):
            found = "missing" if existing is None else f"at v{existing.version}"
            log.warning(
                "interaction.projection_refused",
                interaction_id=delta.interaction_id,
                version=delta.version,
                base_version=delta.base_version,
                row=found,
            )
            raise ApplicationError(
                f"projection v{delta.version} of {delta.interaction_id} needs the row at "
                f"v{delta.base_version}; it is {found}",
                type=PROJECTION_REFUSED,
                non_retryable=True,
            )
        # Started outside the API (Temporal CLI), or the row was lost: a whole delta makes it.
        row = existing or _locked_row(
            session,
            projection,
            team_id=delta.team_id,
            interaction_id=delta.interaction_id,
            channel=delta.channel,
            received_at=delta.received_at,
            due_at=values.get("due_at") or delta.received_at,
            now=now,
        )
        if delta.full:
            if row.version != delta.version or any(getattr(row, k) != v for k, v in values.items()):
                log.info(
                    "interaction.projection_repaired",
                    interaction_id=delta.interaction_id,
                    row_version=row.version,
                    version=delta.version,
                )
            _overwrite(row, delta.version, now, values)
            _drop_unknown_attempts(session, delta.interaction_id, delta.new_attempts)
        else:
            write_if_newer(row, delta.version, now, **values)
        _add_records(session, projection, delta.interaction_id, delta.new_attempts, now)
        return row.version == delta.version


def _advanced(session: Session, delta: InteractionDelta, values: dict[str, Any], now: datetime) -> bool:
    """The usual delta in one UPDATE, without reading the row: written only while the row is at
    the delta's base (a run's first delta: any version older than its own). False (nothing
    written) for any other row, which ``_apply_to_row`` reads and judges."""
    at_base = (
        Interaction.version < delta.version
        if delta.base_version == 0
        else Interaction.version == delta.base_version
    )
    moved = session.execute(
        update(Interaction)
        .where(Interaction.id == delta.interaction_id, at_base)
        .values(**values, version=delta.version, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(moved.rowcount == 1)  # type: ignore[attr-defined]


def _refuse(row: Interaction | None, delta: InteractionDelta) -> bool:
    """Whether the row is not what this delta was computed against: a delta on top of a base
    needs the row at that base; a run's first delta (every column) needs a row no newer than it."""
    if delta.full:
        return False
    if delta.base_version == 0:
        return row is not None and row.version >= delta.version
    return row is None or row.version != delta.base_version


# The error type of a refused delta (the row is not at its base); the workflow projects it all.
PROJECTION_REFUSED = "ProjectionRefused"


def _overwrite(row: Interaction, version: int, now: datetime, values: dict[str, object]) -> None:
    """Write the workflow's whole state onto the row, whatever version the row holds."""
    for name, value in values.items():
        setattr(row, name, value)
    row.version = version
    row.updated_at = now


def _drop_unknown_attempts(session: Session, interaction_id: str, attempts: Sequence[AttemptRecord]) -> None:
    """Remove attempt rows the workflow does not hold (written by a workflow task Temporal lost);
    a repeat of that attempt under its key records it again, with its note."""
    known = {a.attempt_id for a in attempts}
    for row in session.scalars(select(Attempt).where(Attempt.interaction_id == interaction_id)):
        if row.id not in known:
            log.warning(
                "interaction.attempt_not_in_temporal", interaction_id=interaction_id, attempt_id=row.id
            )
            session.delete(row)
    session.flush()


def _add_records(
    session: Session,
    projection: InteractionProjection,
    interaction_id: str,
    attempts: Sequence[AttemptRecord],
    now: datetime,
) -> None:
    """What both projection paths add beside the row's columns, each at most once: the attempts
    not yet in the read model, the timeline lines, and the escalation the change raised."""
    if attempts:
        session.execute(_ATTEMPT_INSERT(session), [_attempt_row(interaction_id, a) for a in attempts])
    add_timeline(session, projection.events, interaction_id=interaction_id)
    if projection.escalation is not None:
        # A new escalation is visible as soon as the update that raised it returns.
        project_escalation(session, projection.escalation, now)


# Attempts are keyed by the id the workflow chose: one the read model holds already is left as it is.
_ATTEMPT_INSERT = race_safe_statement(
    lambda insert: insert(Attempt).on_conflict_do_nothing(index_elements=["id"])
)


def _attempt_row(interaction_id: str, a: AttemptRecord) -> dict[str, Any]:
    """The read-model row of one recorded attempt, with its contact-rule marks."""
    return dict(
        id=a.attempt_id,
        interaction_id=interaction_id,
        seq=a.seq,
        outcome=a.outcome,
        staff_id=a.staff_id,
        at=a.at,
        outside_contact_window=a.outside_contact_window,
        over_daily_cap=a.over_daily_cap,
        channel=a.channel,
        consent_refused=a.consent_refused,
    )


def _locked_row(
    session: Session,
    projection: InteractionProjection,
    *,
    team_id: str,
    interaction_id: str,
    channel: str,
    received_at: datetime,
    due_at: datetime,
    now: datetime,
) -> Interaction:
    """The interaction's row, locked for this projection; created (version 0) if it is missing."""
    row = session.get(Interaction, interaction_id, with_for_update=NO_KEY_UPDATE)
    if row is None:
        row = Interaction(
            id=interaction_id,
            workflow_id=projection.workflow_id,
            team_id=team_id,
            external_id=projection.external_id,
            member_id=projection.member_id or None,  # "": a caller not known at the start
            channel=channel,
            received_at=received_at,
            due_at=due_at,
            created_at=now,
            updated_at=now,
            version=0,
        )
        session.add(row)
    return row
