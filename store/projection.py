"""Writing workflow state into the read model: shared by the projection activities.

Idempotent: timeline lines are keyed by workflow id + step, and rows only move forward in
``version`` (a retried or late activity never overwrites newer state).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from domain.messages import EscalationProjection, TimelineEntry
from domain.models import TRIGGER_SEVERITY
from store.db import race_safe_statement
from store.models import Absence, Escalation, Interaction, TimelineEvent

# Row locks of the projections: FOR NO KEY UPDATE on PostgreSQL (ignored by SQLite). It keeps
# writers of the same row in order but, unlike FOR UPDATE, does not block the KEY SHARE lock a
# foreign-key check takes, so an escalation's projection inserting rows that reference the
# interaction cannot deadlock with the interaction's projection updating it (seen in CI).
NO_KEY_UPDATE: dict[str, Any] = {"key_share": True}

# Rows a workflow owns: each carries the version of the workflow state it was last written from.
VersionedRow = Interaction | Escalation | Absence


def write_if_newer(row: VersionedRow, version: int, now: datetime, **values: Any) -> bool:
    """Write ``values`` and ``version`` onto ``row`` only when ``version`` is newer than the row's.

    A retried or late projection (an older ``version``) leaves the row as it is. ``updated_at``
    becomes ``now`` when the row is written. Answers whether it was.

    Raises:
        AttributeError: when a name in ``values`` is not a column of the row (a typo would
            otherwise set a plain Python attribute that is never stored).
    """
    columns = row.__mapper__.column_attrs.keys()
    unknown = sorted(set(values) - set(columns))
    if unknown:
        raise AttributeError(f"{type(row).__name__} has no column(s) {', '.join(unknown)}")
    if version <= row.version:
        return False
    for name, value in values.items():
        setattr(row, name, value)
    row.version = version
    row.updated_at = now
    return True


_TIMELINE_INSERT = race_safe_statement(
    lambda insert: insert(TimelineEvent).on_conflict_do_nothing(index_elements=["key"])
)
_ESCALATION_INSERT = race_safe_statement(
    lambda insert: insert(Escalation).on_conflict_do_nothing(index_elements=["id"]).returning(Escalation.id)
)


def add_timeline(
    session: Session,
    entries: list[TimelineEntry],
    *,
    interaction_id: str | None = None,
    escalation_id: str | None = None,
    absence_id: str | None = None,
) -> None:
    """Insert timeline lines whose key is not there yet: ``INSERT … ON CONFLICT (key) DO NOTHING``
    (SQLite and PostgreSQL alike), so a repeat adds nothing and no line is read first. One
    statement, built once, executed for all the lines (``executemany``): about 0.2 ms of CPU for
    a line on SQLite where a multi-row ``VALUES`` built on every call took 0.4 ms."""
    if not entries:
        return
    rows = [
        {
            "key": e.key,
            "interaction_id": interaction_id,
            "escalation_id": escalation_id,
            "absence_id": absence_id,
            "kind": e.kind,
            "actor_id": e.actor_id,
            "at": e.at,
            "details": e.details,
        }
        for e in entries
    ]
    session.execute(_TIMELINE_INSERT(session), rows)


def project_escalation(session: Session, projection: EscalationProjection, now: datetime) -> None:
    """Create or advance an escalation row, and add its timeline lines.

    A missing row is inserted as this projection makes it, in one ``INSERT … ON CONFLICT DO
    NOTHING``: the interaction's projection and the escalation's own may both create it first
    (the child starts before the case records it), and the one that finds it there already
    advances it as any later projection does."""
    st = projection.state
    values: dict[str, Any] = {
        "status": st.status,
        "level": st.level,
        "owner_id": st.owner_id,
        "acknowledged_by": st.acknowledged_by,
        "acknowledged_at": st.acknowledged_at,
        "resolved_by": st.resolved_by,
        "resolved_at": st.resolved_at,
    }
    row = session.get(Escalation, st.escalation_id, with_for_update=NO_KEY_UPDATE)
    if row is None:
        created = session.execute(
            _ESCALATION_INSERT(session),
            dict(
                id=st.escalation_id,
                workflow_id=projection.workflow_id,
                interaction_id=st.interaction_id,
                team_id=st.team_id,
                trigger=st.trigger,
                severity=TRIGGER_SEVERITY[st.trigger],
                clock=projection.rule.clock,
                documentation_required=projection.rule.documentation_required,
                rule=projection.rule.model_dump(mode="json"),
                matrix_version=st.matrix_version,
                started_at=st.started_at,
                started_by=st.started_by,
                notified=_notified(projection, []),
                updated_at=now,
                version=st.version,
                **values,
            ),
        ).first()
        if created is None:  # the other projection made it meanwhile
            row = session.get(Escalation, st.escalation_id, with_for_update=NO_KEY_UPDATE)
            assert row is not None
    if row is not None:
        write_if_newer(
            row,
            st.version,
            now,
            notified=_notified(projection, row.notified),
            **values,
        )
    add_timeline(session, projection.events, interaction_id=st.interaction_id, escalation_id=st.escalation_id)


def _notified(projection: EscalationProjection, before: list[Any]) -> list[Any]:
    """The row's notices once ``projection`` is written: the state's whole list, or (a projection
    that carries only the notices sent since the last) those after the row's ``before``."""
    if projection.new_notices is None:
        return [n.model_dump(mode="json") for n in projection.state.notified]
    return [*before, *(n.model_dump(mode="json") for n in projection.new_notices)]


# A closed row outranks any late projection of the workflow that ended.
ENDED_VERSION = 2**31 - 1


def close_ended_escalation(session: Session, escalation_id: str, reason: str, now: datetime) -> bool:
    """Close the row of an escalation whose workflow ended without resolving it (terminated,
    failed, timed out), so it leaves the open lists; True if it was open. The caller commits."""
    row = session.get(Escalation, escalation_id, with_for_update=NO_KEY_UPDATE)
    if row is None or row.status == "resolved":
        return False
    row.status = "resolved"
    row.resolved_at = now
    row.outcome = row.outcome or f"ended without resolution: {reason}"
    row.updated_at = now
    row.version = ENDED_VERSION
    return True
