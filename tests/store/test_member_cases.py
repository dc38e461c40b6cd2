"""A member's cases are read by the member, not by scanning the team's (issue 24): every escalation
notice asks whether the member has an open safety escalation, every inbound contact looks for the
member's open case to join, every attempt and contact advice counts the member's attempts. With
thousands of the team's cases open at 17:00 each of those read them all before
``ix_interactions_member``. SQLite's own plan of each statement the function runs must go through it,
and the answers are the member's alone."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session

from services.interactions import _open_case_of
from services.members import member_attempt_times
from store.models import Attempt, Base, Escalation, Interaction
from store.repositories import open_safety_escalation

AT = datetime(2026, 12, 7, 17, 0, tzinfo=UTC)


@pytest.fixture
def engine() -> Iterator[Engine]:
    e = create_engine("sqlite://")
    Base.metadata.create_all(e)
    with Session(e) as s, s.begin():
        for i in range(40):  # the team's other members, each with an open safety escalation
            _case(s, f"c{i}", f"m{i}", safety=True)
        _case(s, "mine", "m-me", safety=False)
        _case(s, "mine-safety", "m-me", safety=True, status="resolved")
        s.add(
            Attempt(
                id="a-mine", interaction_id="mine", seq=1, at=AT - timedelta(hours=1), outcome="no_answer"
            )
        )
        s.add(
            Attempt(id="a-other", interaction_id="c1", seq=1, at=AT - timedelta(hours=1), outcome="no_answer")
        )
    yield e
    e.dispose()


def _case(s: Session, iid: str, member: str, *, safety: bool, status: str = "open") -> None:
    s.add(
        Interaction(
            id=iid,
            workflow_id=f"wf-{iid}",
            team_id="t",
            external_id=iid,
            member_id=member,
            channel="call",
            status=status,
            received_at=AT - timedelta(hours=2),
            due_at=AT,
            created_at=AT,
            updated_at=AT,
        )
    )
    s.flush()
    if safety:
        s.add(
            Escalation(
                id=f"e-{iid}",
                workflow_id=f"ewf-{iid}",
                interaction_id=iid,
                team_id="t",
                trigger="safety",
                severity=1,
                status="open" if status == "open" else "resolved",
                clock="wall",
                matrix_version=1,
                started_at=AT,
                updated_at=AT,
            )
        )


def plans(engine: Engine, call: Callable[[Session], Any]) -> tuple[Any, list[str]]:
    """What ``call`` answered, and SQLite's plan of each statement it ran on interactions."""
    ran: list[tuple[str, Any]] = []

    def seen(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        if "interactions" in statement and statement.lstrip().upper().startswith("SELECT"):
            ran.append((statement, params))

    event.listen(engine, "before_cursor_execute", seen)
    try:
        with Session(engine) as s:
            answer = call(s)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    out = []
    with engine.connect() as c:
        for statement, params in ran:
            rows = c.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params).all()
            out.append(" | ".join(str(r[-1]) for r in rows))
    return answer, out


def _through_the_member(steps: list[str]) -> None:
    member_reads = [p for p in steps if "interactions" in p and "(id=?)" not in p]
    assert member_reads, steps
    for plan in member_reads:
        assert "ix_interactions_member (team_id=? AND member_id=?" in plan, plan


def test_a_notice_asks_for_the_members_safety_escalation_by_the_member(engine: Engine) -> None:
    found, steps = plans(engine, lambda s: open_safety_escalation(s, "mine"))
    assert found is None  # the member's only safety escalation is resolved; the others' are not theirs
    _through_the_member(steps)
    found, _ = plans(engine, lambda s: open_safety_escalation(s, "c3"))
    assert found == "e-c3"


def test_a_repeat_contact_finds_the_members_open_case_by_the_member(engine: Engine) -> None:
    found, steps = plans(engine, lambda s: _open_case_of(s, "t", "m-me"))
    assert found is not None and found.id == "mine"
    _through_the_member(steps)


def test_the_daily_cap_counts_the_members_attempts_by_the_member(engine: Engine) -> None:
    times, steps = plans(engine, lambda s: member_attempt_times(s, "t", "m-me", AT - timedelta(days=1)))
    assert len(times) == 1
    _through_the_member(steps)


def test_the_migrations_make_the_same_index(tmp_path: Any) -> None:
    from store.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    e = create_engine(url)
    with e.connect() as c:
        cols = [r[2] for r in c.execute(text("PRAGMA index_info('ix_interactions_member')"))]
    e.dispose()
    assert cols == ["team_id", "member_id", "status"]
