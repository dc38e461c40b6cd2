"""Several workers, several APIs, one truth (issue 24): P1, P3 and P4 count, case by case, what the
run lost or doubled in the read model (``bench.common.tally``), and either makes the figure a MISS.

A small SQLite database built with the project's models stands in for a run's read model."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from bench import p1_api, p3_deadlines, p4_absence
from bench.common import tally
from drills.common import ReadModel
from store.models import Base, Escalation, Interaction, Notification, TimelineEvent

AT = datetime(2026, 12, 5, 15, 0, tzinfo=UTC)
PREFIX = "p4-abc123"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[tuple[str, Session]]:
    url = f"sqlite:///{tmp_path / 'read-model.db'}"
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        yield url, session
    engine.dispose()


def case(session: Session, n: int, *, assignee: str = "chw-ben", status: str = "open") -> str:
    ext = f"{PREFIX}-{n:05}"
    session.add(
        Interaction(
            id=f"i{n}",
            workflow_id=f"interaction-eastside-{ext}",
            team_id="eastside",
            external_id=ext,
            channel="text",
            status=status,
            assignee_id=assignee,
            received_at=AT,
            due_at=AT,
            created_at=AT,
            updated_at=AT,
        )
    )
    return ext


def notice(session: Session, n: int, key: str, *, kind: str, to: str, trigger: str | None = None) -> None:
    session.add(
        Notification(
            key=key,
            team_id="eastside",
            recipient_id=to,
            kind=kind,
            interaction_id=f"i{n}",
            trigger=trigger,
            created_at=AT,
        )
    )


def hand_over(session: Session, n: int) -> None:
    notice(session, n, f"wf{n}:coverage:abs-1:start", kind="assigned", to="chw-ben")
    session.add(
        TimelineEvent(key=f"wf{n}:coverage:abs-1:start", interaction_id=f"i{n}", kind="assigned", at=AT)
    )


def escalation(session: Session, n: int, k: int = 0) -> None:
    session.add(
        Escalation(
            id=f"e{n}-{k}",
            workflow_id=f"esc-{n}-{k}",
            interaction_id=f"i{n}",
            team_id="eastside",
            trigger="deadline_missed",
            severity=2,
            clock="business",
            matrix_version=1,
            started_at=AT,
            updated_at=AT,
        )
    )
    notice(session, n, f"esc-{n}-{k}:1", kind="escalation", to="lead-lee", trigger="deadline_missed")


def test_an_absence_that_moved_every_case_once_lost_and_doubled_nothing(db: tuple[str, Session]) -> None:
    url, session = db
    expected = []
    for n in range(3):
        expected.append(case(session, n))
        notice(session, n, f"wf{n}:created", kind="assigned", to="chw-ana")  # before the absence
        hand_over(session, n)
    session.commit()

    got = tally(ReadModel(url).sql, PREFIX, expected, p4_absence.MOVED_ONCE)

    assert got.ok()
    assert got.line() == "lost=0 doubled=0"


def test_a_backup_told_twice_is_doubled_and_a_case_never_handed_over_is_lost(db: tuple[str, Session]) -> None:
    url, session = db
    expected = [case(session, n) for n in range(3)]
    expected.append(case(session, 3, assignee="chw-ana"))  # never moved: no notice, no hand-over
    hand_over(session, 0)
    hand_over(session, 1)
    notice(session, 1, "wf1:coverage:abs-1:start-again", kind="assigned", to="chw-ben")  # told twice
    hand_over(session, 2)
    session.commit()

    got = tally(ReadModel(url).sql, PREFIX, expected, p4_absence.MOVED_ONCE)

    assert not got.ok()
    assert got.doubled == {"assigned notice to chw-ben": [expected[1]]}
    assert got.lost == {
        "row assigned to chw-ben": [expected[3]],
        "assigned notice to chw-ben": [expected[3]],
        "hand-over on the timeline": [expected[3]],
    }
    assert got.line().startswith("lost=1 doubled=1 (")


def test_a_doubled_escalation_and_a_case_with_no_row_count_against_p3(db: tuple[str, Session]) -> None:
    url, session = db
    expected = [case(session, n) for n in range(2)] + [f"{PREFIX}-00002"]  # the third never got a row
    escalation(session, 0)
    escalation(session, 1)
    escalation(session, 1, k=1)  # the same deadline escalated twice, a notice each
    session.commit()

    got = tally(ReadModel(url).sql, PREFIX, expected, p3_deadlines.OVERDUE_ONCE)

    assert got.doubled == {
        "deadline_missed notice to lead-lee": [expected[1]],
        "deadline_missed escalation": [expected[1]],
    }
    assert set(got.lost) == {"row", "deadline_missed notice to lead-lee", "deadline_missed escalation"}
    assert all(cases == [expected[2]] for cases in got.lost.values())
    assert (got.lost_cases, got.doubled_cases) == (1, 1)


def test_a_p1_case_resolved_without_its_resolution_line_is_lost_and_a_stray_case_is_doubled(
    db: tuple[str, Session],
) -> None:
    url, session = db
    started = [case(session, n, status="resolved") for n in range(2)]
    session.add(TimelineEvent(key="wf0:resolved", interaction_id="i0", kind="resolved", at=AT))
    stray = case(session, 9, status="resolved")  # a case of the run's prefix no client started
    session.add(TimelineEvent(key="wf9:resolved", interaction_id="i9", kind="resolved", at=AT))
    session.commit()

    got = tally(ReadModel(url).sql, PREFIX, started, p1_api.RESOLVED_ONCE)

    assert got.lost == {"resolution on the timeline": [started[1]]}
    assert got.doubled == {"row": [stray], "resolved row": [stray], "resolution on the timeline": [stray]}
    assert got.line().startswith("lost=1 doubled=1")
