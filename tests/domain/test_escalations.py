"""The escalation ladder's clock: worked examples and properties."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, strategies as st

from domain.escalations import ladder_deadline, level_of, resolve_overdue_target
from domain.models import EscalationRule, default_escalation_rule
from tests.domain.support import CHICAGO, is_interval_end, naive, utc
from tests.domain.test_properties import CALENDARS, FAST, received_ats, team_names

US_9_TO_5 = CALENDARS["chicago_9_to_5_us"]


def chi(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=CHICAGO)


@pytest.mark.parametrize(
    ("start", "minutes", "clock", "expected"),
    [
        # Safety at 02:00 on a Saturday: the wall clock runs, 15 minutes are 15 minutes.
        (chi(2026, 11, 28, 2, 0), 15, "wall", chi(2026, 11, 28, 2, 15)),
        # Thanksgiving (a US holiday) does not stop the wall clock either.
        (chi(2026, 11, 26, 10, 0), 15, "wall", chi(2026, 11, 26, 10, 15)),
        # Business clock: 30 minutes left on Monday, the other 30 on Tuesday morning.
        (chi(2026, 11, 23, 16, 30), 60, "business", chi(2026, 11, 24, 9, 30)),
        # Raised on a Saturday night: counts from Monday's opening.
        (chi(2026, 11, 28, 23, 0), 60, "business", chi(2026, 11, 30, 10, 0)),
        # Wednesday before Thanksgiving, 16:00: Thursday is a holiday, Friday is open.
        (chi(2026, 11, 25, 16, 0), 120, "business", chi(2026, 11, 27, 10, 0)),
        # Across the fall-back night the wall clock counts real minutes, not local ones.
        # (00:30 CDT + 2 h = 01:30 CST, the second 01:30 of the night).
        (chi(2026, 11, 1, 0, 30), 120, "wall", chi(2026, 11, 1, 1, 30).replace(fold=1)),
    ],
)
def test_worked_examples(start: datetime, minutes: int, clock: str, expected: datetime) -> None:
    got = ladder_deadline(start, minutes, clock=clock, calendar=US_9_TO_5)  # type: ignore[arg-type]
    assert utc(got) == utc(expected)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ladder_deadline(naive(2026, 11, 23, 9), 5, clock="wall", calendar=US_9_TO_5)
    with pytest.raises(ValueError, match="negative"):
        ladder_deadline(chi(2026, 11, 23, 9), -1, clock="business", calendar=US_9_TO_5)
    with pytest.raises(ValueError, match="start at 1"):
        level_of(default_escalation_rule("safety"), 0)


def test_levels_and_resolve_targets() -> None:
    rule = EscalationRule.model_validate(
        {
            "levels": [
                {"staff_id": "chw-ben", "ack_within_minutes": 30},
                {"role": "lead", "ack_within_minutes": 20},
            ],
            "resolve_within_minutes": 480,
        }
    )
    assert level_of(rule, 1).staff_id == "chw-ben"
    assert level_of(rule, 2).role == "lead"
    assert level_of(rule, 7).role == "lead"  # the last repeats
    assert resolve_overdue_target(rule, 1) == (2, rule.levels[1])
    nxt, target = resolve_overdue_target(rule, 2)
    assert nxt == 3
    assert target.role == "manager"


minutes = st.integers(min_value=0, max_value=3 * 24 * 60)


@FAST
@given(name=team_names, start=received_ats(), m=minutes)
def test_business_deadline_is_never_before_the_wall_deadline(name: str, start: datetime, m: int) -> None:
    cal = CALENDARS[name]
    wall = ladder_deadline(start, m, clock="wall", calendar=cal)
    business = ladder_deadline(start, m, clock="business", calendar=cal)
    assert utc(wall) - utc(start) == timedelta(minutes=m)
    assert utc(business) >= utc(wall)


@FAST
@given(name=team_names, start=received_ats(), m=st.integers(min_value=1, max_value=3 * 24 * 60))
def test_business_deadline_counts_exactly_m_open_minutes(name: str, start: datetime, m: int) -> None:
    cal = CALENDARS[name]
    due = ladder_deadline(start, m, clock="business", calendar=cal)
    assert abs(cal.open_minutes_between(start, due) - m) < 1e-6
    assert cal.is_open(due) or is_interval_end(cal, due)


@FAST
@given(
    name=team_names,
    start=received_ats(),
    gap=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3)),
    m=minutes,
)
def test_later_start_never_gives_an_earlier_deadline(
    name: str, start: datetime, gap: timedelta, m: int
) -> None:
    cal = CALENDARS[name]
    later_start = (utc(start) + gap).astimezone(start.tzinfo)  # elapsed time, not wall time
    for clock in ("wall", "business"):
        first = ladder_deadline(start, m, clock=clock, calendar=cal)
        later = ladder_deadline(later_start, m, clock=clock, calendar=cal)
        assert utc(later) >= utc(first)


@FAST
@given(start=received_ats(), m=minutes)
def test_a_calendar_open_all_week_makes_both_clocks_agree(start: datetime, m: int) -> None:
    cal = CALENDARS["chicago_24h"]
    assert utc(ladder_deadline(start, m, clock="business", calendar=cal)) == utc(
        ladder_deadline(start, m, clock="wall", calendar=cal)
    )
