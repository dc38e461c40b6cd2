"""The versioned row write every projection activity uses, and a new escalation's row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from domain.messages import EscalationNotice, EscalationProjection, EscalationState, TimelineEntry
from domain.models import default_escalation_rule
from store.db import unit_of_work
from store.models import Absence, Escalation, TimelineEvent
from store.projection import project_escalation, write_if_newer
from tests.workflows.support import add_interaction_row

T0 = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)


def absence(version: int) -> Absence:
    return Absence(id="a", status="scheduled", version=version, updated_at=T0)


def test_a_newer_version_is_written() -> None:
    row = absence(3)
    later = T0 + timedelta(minutes=1)
    assert write_if_newer(row, 4, later, status="active")
    assert (row.status, row.version, row.updated_at) == ("active", 4, later)


@pytest.mark.parametrize("version", [3, 2])
def test_the_same_or_an_older_version_changes_nothing(version: int) -> None:
    row = absence(3)
    assert not write_if_newer(row, version, T0 + timedelta(minutes=1), status="ended")
    assert (row.status, row.version, row.updated_at) == ("scheduled", 3, T0)


def test_an_unknown_column_is_refused_even_when_stale() -> None:
    with pytest.raises(AttributeError, match="no column"):
        write_if_newer(absence(3), 1, T0, stauts="ended")


# ---------------------------------------------------------------- a new escalation's row
def _case(sessions: sessionmaker[Session]) -> None:
    with unit_of_work(sessions) as s:
        add_interaction_row(s, assignee_id=None, due_at=T0, id="i-1")


def _escalation(version: int, *, notices: int, line: str) -> EscalationProjection:
    """The projection of escalation ``e-1`` of case ``i-1`` at ``version``, with ``notices``
    level-1 notices sent since the last projection and one timeline line ``line``."""
    at = T0 + timedelta(minutes=version)
    return EscalationProjection(
        workflow_id="escalation:eastside:call-1:deadline_missed:1",
        rule=default_escalation_rule("deadline_missed"),
        state=EscalationState(
            escalation_id="e-1",
            interaction_id="i-1",
            team_id="eastside",
            trigger="deadline_missed",
            level_notified_at=T0,
            started_at=T0,
            matrix_version=1,
            version=version,
        ),
        events=[TimelineEntry(key=line, kind="escalation_started", at=at)],
        new_notices=[EscalationNotice(level=1, recipient_role="lead", at=at) for _ in range(notices)],
    )


@pytest.mark.parametrize(
    ("first", "second", "version", "notices"),
    [
        # The case's projection (no notice yet) loses the insert to the escalation's own (v2).
        (_escalation(2, notices=1, line="own"), _escalation(1, notices=0, line="case"), 2, 1),
        # The escalation's own projection loses it to the case's (v1): it advances the row.
        (_escalation(1, notices=0, line="case"), _escalation(2, notices=1, line="own"), 2, 1),
    ],
    ids=["newer-first", "older-first"],
)
def test_a_new_escalation_made_meanwhile_by_the_other_projection_is_advanced_not_failed(
    sessions: sessionmaker[Session],
    first: EscalationProjection,
    second: EscalationProjection,
    version: int,
    notices: int,
) -> None:
    """Both projections of a new escalation find no row and insert it; the one whose insert
    comes second (the other committed between its read and its insert) keeps what is newer,
    adds its own timeline line, and fails nothing."""
    _case(sessions)
    raced: list[bool] = []

    def other_first(state: ORMExecuteState) -> None:
        mapper = state.bind_mapper
        if state.is_insert and mapper is not None and mapper.class_ is Escalation and not raced:
            raced.append(True)  # between the second's read and its insert
            with unit_of_work(sessions) as other:
                project_escalation(other, first, T0)

    with unit_of_work(sessions) as session:
        event.listen(session, "do_orm_execute", other_first)
        project_escalation(session, second, T0)
    assert raced
    with sessions() as session:
        [row] = session.scalars(select(Escalation)).all()
        assert (row.version, len(row.notified), row.status) == (version, notices, "open")
        lines = session.scalars(select(TimelineEvent.key).where(TimelineEvent.escalation_id == "e-1"))
        assert sorted(lines) == ["case", "own"]
