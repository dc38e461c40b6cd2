"""``store.repositories.overdue_clause`` is the SQL form of ``domain.deadlines.is_overdue``.

Random rows go into SQLite; the rows the clause selects (and the ones its negation selects)
must be exactly those the domain function calls overdue (and not overdue).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from functools import cache

from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import Engine, create_engine, delete, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from domain.deadlines import is_overdue
from store.models import Base, Interaction
from store.repositories import overdue_clause

BASE = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)
ZONES = [UTC, timezone(timedelta(hours=-6)), timezone(timedelta(hours=5, minutes=30))]


@cache
def engine() -> Engine:
    e = create_engine("sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool)
    Base.metadata.create_all(e)
    return e


# Offsets from BASE in microseconds, kept small so equal instants come up often.
offsets = st.integers(min_value=-5, max_value=5).map(lambda n: timedelta(minutes=n)) | st.integers(
    min_value=-(10**12), max_value=10**12
).map(lambda us: timedelta(microseconds=us))
instants = st.builds(lambda d, tz: (BASE + d).astimezone(tz), offsets, st.sampled_from(ZONES))
rows = st.lists(st.tuples(instants, st.none() | instants, st.none() | instants), min_size=1, max_size=12)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=rows, now=instants)
def test_sql_clause_and_domain_rule_agree(
    rows: list[tuple[datetime, datetime | None, datetime | None]], now: datetime
) -> None:
    with Session(engine()) as session, session.begin():
        session.execute(delete(Interaction))
        expected: set[str] = set()
        for i, (due, first_response, resolved) in enumerate(rows):
            session.add(
                Interaction(
                    id=f"i{i}",
                    workflow_id=f"wf{i}",
                    team_id="t",
                    external_id=f"e{i}",
                    member_id="m",
                    channel="call",
                    received_at=due - timedelta(hours=1),
                    due_at=due,
                    first_response_at=first_response,
                    resolved_at=resolved,
                    created_at=BASE,
                    updated_at=BASE,
                )
            )
            if is_overdue(due, first_response, now, resolved_at=resolved):
                expected.add(f"i{i}")
        session.flush()
        overdue = set(session.scalars(select(Interaction.id).where(overdue_clause(now))))
        not_overdue = set(session.scalars(select(Interaction.id).where(~overdue_clause(now))))
    assert overdue == expected
    assert not_overdue == {f"i{i}" for i in range(len(rows))} - expected


def test_the_deadline_instant_itself_is_overdue() -> None:
    assert is_overdue(BASE, None, BASE)
    assert not is_overdue(BASE, None, BASE - timedelta(microseconds=1))
    assert not is_overdue(BASE, BASE, BASE + timedelta(days=1))
    assert not is_overdue(BASE, None, BASE + timedelta(days=1), resolved_at=BASE)
