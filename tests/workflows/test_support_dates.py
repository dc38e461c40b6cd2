"""The workflow tests' "next Monday 10:00" (``next_weekday_at``) keeps clear of the team's holidays,
so tests that read "Monday … Friday" as five business days pass on any run date (a run from
11 to 24 December 2026 met Christmas, and Mondays in January met Martin Luther King Day)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from domain.calendar import BusinessCalendar
from tests.workflows.support import next_weekday_at, team


@pytest.mark.parametrize("run_on", ["2026-12-14", "2026-12-17", "2027-01-05", "2027-02-08", "2027-06-10"])
@pytest.mark.parametrize("weekday", [0, 1, 3, 5])
def test_the_chosen_week_has_no_holiday(run_on: str, weekday: int) -> None:
    now = datetime.fromisoformat(f"{run_on}T20:00:00+00:00")
    at = next_weekday_at(now, weekday, 10)
    day = at.date()
    assert day.weekday() == weekday and day >= date.fromisoformat(run_on) + timedelta(days=7)
    cal = BusinessCalendar.from_config(team().calendar, around=day)
    around = [day + timedelta(days=k) for k in range(-3, 11)]
    assert all(cal.is_business_day(d) for d in around if d.weekday() < 5), at.astimezone(UTC)


def test_an_ordinary_week_is_the_first_one_a_week_on() -> None:
    now = datetime.fromisoformat("2026-09-17T15:00:00+00:00")  # a Thursday, no holiday near
    assert next_weekday_at(now, 0, 10).date() == date(2026, 9, 28)
