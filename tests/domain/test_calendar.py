"""Business calendar arithmetic."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

import pytest

from domain.calendar import BusinessCalendar
from domain.models import CalendarConfig, CalendarSnapshot
from tests.domain.support import ALL_DAYS, CHICAGO, at, business_calendar, calendar_body, naive, utc

ROUND_THE_CLOCK = {d: [["00:00", "24:00"]] for d in ALL_DAYS}
NIGHT_HOURS = {
    "mon": [["20:00", "24:00"]],
    "tue": [["00:00", "04:00"], ["20:00", "24:00"]],
    "wed": [["00:00", "04:00"]],
}


def test_business_day_needs_open_hours_and_no_holiday() -> None:
    cal = business_calendar(holiday_country="US", closures=["2026-11-18"])
    assert cal.is_business_day(date(2026, 11, 16))  # Monday
    assert not cal.is_business_day(date(2026, 11, 21))  # Saturday
    assert not cal.is_business_day(date(2026, 11, 26))  # Thanksgiving
    assert not cal.is_business_day(date(2026, 11, 18))  # closure


def test_holiday_subdivision_adds_regional_holidays() -> None:
    ca = business_calendar(holiday_country="US", holiday_subdivision="CA")
    federal = business_calendar(holiday_country="US")
    day_after_thanksgiving = date(2026, 11, 27)
    assert not ca.is_business_day(day_after_thanksgiving)
    assert federal.is_business_day(day_after_thanksgiving)


def test_intervals_on_a_dst_day_use_local_wall_times() -> None:
    cal = business_calendar(hours={d: [["09:00", "17:00"]] for d in ALL_DAYS})
    ((start, end),) = cal.intervals_on(date(2026, 3, 8))
    assert (start.hour, end.hour) == (9, 17)
    assert start.utcoffset() == timedelta(hours=-5)
    assert utc(end) - utc(start) == timedelta(hours=8)


def test_whole_day_on_spring_forward_lasts_23_hours() -> None:
    cal = business_calendar(hours=ROUND_THE_CLOCK)
    ((start, end),) = cal.intervals_on(date(2026, 3, 8))
    assert utc(end) - utc(start) == timedelta(hours=23)
    assert end == at(CHICAGO, 2026, 3, 9, 0, 0)


def test_whole_day_on_fall_back_lasts_25_hours() -> None:
    cal = business_calendar(hours=ROUND_THE_CLOCK)
    ((start, end),) = cal.intervals_on(date(2026, 11, 1))
    assert utc(end) - utc(start) == timedelta(hours=25)


def test_open_minutes_between_across_spring_forward() -> None:
    cal = business_calendar(hours=ROUND_THE_CLOCK)
    minutes = cal.open_minutes_between(at(CHICAGO, 2026, 3, 7, 12, 0), at(CHICAGO, 2026, 3, 8, 12, 0))
    assert minutes == 23 * 60


def test_open_minutes_between_across_fall_back() -> None:
    cal = business_calendar(hours=ROUND_THE_CLOCK)
    minutes = cal.open_minutes_between(at(CHICAGO, 2026, 10, 31, 12, 0), at(CHICAGO, 2026, 11, 1, 12, 0))
    assert minutes == 25 * 60


def test_open_minutes_between_counts_only_open_time() -> None:
    cal = business_calendar()
    # Fri 16:00 -> Mon 10:00: 60 on Friday + 60 on Monday.
    assert cal.open_minutes_between(at(CHICAGO, 2026, 11, 20, 16), at(CHICAGO, 2026, 11, 23, 10)) == 120
    assert cal.open_minutes_between(at(CHICAGO, 2026, 11, 23, 10), at(CHICAGO, 2026, 11, 20, 16)) == 0
    assert cal.open_minutes_between(at(CHICAGO, 2026, 11, 21, 0), at(CHICAGO, 2026, 11, 22, 0)) == 0


def test_add_open_minutes_stops_at_the_interval_end_when_used_up_exactly() -> None:
    cal = business_calendar()
    assert cal.add_open_minutes(at(CHICAGO, 2026, 11, 20, 16, 0), 60) == at(CHICAGO, 2026, 11, 20, 17, 0)


def test_add_open_minutes_from_closed_time_starts_at_next_opening() -> None:
    cal = business_calendar()
    assert cal.add_open_minutes(at(CHICAGO, 2026, 11, 21, 3, 0), 30) == at(CHICAGO, 2026, 11, 23, 9, 30)


def test_add_zero_open_minutes_is_the_next_open_instant() -> None:
    cal = business_calendar()
    assert cal.add_open_minutes(at(CHICAGO, 2026, 11, 16, 10, 0), 0) == at(CHICAGO, 2026, 11, 16, 10, 0)
    assert cal.add_open_minutes(at(CHICAGO, 2026, 11, 16, 17, 0), 0) == at(CHICAGO, 2026, 11, 17, 9, 0)


def test_add_open_minutes_accepts_fractions() -> None:
    cal = business_calendar()
    result = cal.add_open_minutes(at(CHICAGO, 2026, 11, 16, 10, 0), 1.5)
    assert result == at(CHICAGO, 2026, 11, 16, 10, 1) + timedelta(seconds=30)


def test_add_open_minutes_rejects_negative_minutes() -> None:
    cal = business_calendar()
    with pytest.raises(ValueError, match=">= 0"):
        cal.add_open_minutes(at(CHICAGO, 2026, 11, 16, 10), -1)
    with pytest.raises(ValueError, match=">= 0"):
        cal.add_open_minutes(at(CHICAGO, 2026, 11, 16, 10), float("nan"))
    with pytest.raises(ValueError, match="too large"):
        cal.add_open_minutes(at(CHICAGO, 2026, 11, 16, 10), 1e300)


def test_night_shift_is_continuous_across_midnight() -> None:
    cal = business_calendar(hours=NIGHT_HOURS)
    monday_eight_pm = at(CHICAGO, 2026, 11, 16, 20, 0)
    assert cal.is_open(at(CHICAGO, 2026, 11, 17, 0, 0))
    assert cal.add_open_minutes(monday_eight_pm, 270) == at(CHICAGO, 2026, 11, 17, 0, 30)
    assert cal.open_minutes_between(at(CHICAGO, 2026, 11, 16, 22), at(CHICAGO, 2026, 11, 17, 2)) == 240
    assert cal.close_of(date(2026, 11, 16)) == at(CHICAGO, 2026, 11, 17, 0, 0)


def test_is_open_uses_half_open_intervals() -> None:
    cal = business_calendar()
    assert cal.is_open(at(CHICAGO, 2026, 11, 16, 9, 0))
    assert not cal.is_open(at(CHICAGO, 2026, 11, 16, 17, 0))
    assert not cal.is_open(at(CHICAGO, 2026, 11, 16, 8, 59))


def test_next_open_instant() -> None:
    cal = business_calendar()
    open_now = at(CHICAGO, 2026, 11, 16, 12, 0)
    assert cal.next_open_instant(open_now) == open_now
    assert cal.next_open_instant(at(CHICAGO, 2026, 11, 20, 18, 0)) == at(CHICAGO, 2026, 11, 23, 9, 0)


def test_results_are_in_the_team_time_zone() -> None:
    cal = business_calendar()
    result = cal.next_open_instant(datetime(2026, 11, 16, 18, 0, tzinfo=UTC))
    assert result.tzinfo == CHICAGO
    assert result == at(CHICAGO, 2026, 11, 16, 12, 0)


def test_opening_and_close_of_split_shift_day() -> None:
    cal = business_calendar(hours={"wed": [["13:00", "17:00"], ["09:00", "12:00"]]})
    wednesday = date(2026, 11, 18)
    assert cal.opening_of(wednesday) == at(CHICAGO, 2026, 11, 18, 9, 0)
    assert cal.close_of(wednesday) == at(CHICAGO, 2026, 11, 18, 17, 0)
    assert cal.opening_of(date(2026, 11, 19)) is None
    assert cal.close_of(date(2026, 11, 19)) is None


def test_next_business_day_is_strictly_after() -> None:
    cal = business_calendar(holiday_country="US")
    assert cal.next_business_day(date(2026, 11, 16)) == date(2026, 11, 17)
    assert cal.next_business_day(date(2026, 11, 25)) == date(2026, 11, 27)
    assert cal.next_business_day(date(2026, 11, 20)) == date(2026, 11, 23)


def test_day_of_receipt_follows_spec() -> None:
    cal = business_calendar()
    assert cal.day_of_receipt(at(CHICAGO, 2026, 11, 16, 7, 0)) == date(2026, 11, 16)
    assert cal.day_of_receipt(at(CHICAGO, 2026, 11, 16, 16, 59)) == date(2026, 11, 16)
    assert cal.day_of_receipt(at(CHICAGO, 2026, 11, 16, 17, 0)) == date(2026, 11, 17)
    assert cal.day_of_receipt(at(CHICAGO, 2026, 11, 21, 11, 0)) == date(2026, 11, 23)


def test_naive_datetimes_are_rejected() -> None:
    cal = business_calendar()
    naive_at = naive(2026, 11, 16, 10, 0)
    for call in (
        lambda: cal.is_open(naive_at),
        lambda: cal.next_open_instant(naive_at),
        lambda: cal.add_open_minutes(naive_at, 5),
        lambda: cal.open_minutes_between(naive_at, at(CHICAGO, 2026, 11, 17)),
        lambda: cal.day_of_receipt(naive_at),
    ):
        with pytest.raises(ValueError, match="must be timezone-aware"):
            call()


def test_searches_are_bounded_when_every_open_day_is_closed() -> None:
    # Only Mondays are open and every Monday of 2026-2029 is a closure.
    mondays = [date(2026, 1, 5) + timedelta(weeks=w) for w in range(52 * 4)]
    snapshot = CalendarSnapshot(
        timezone="America/Chicago", hours={"mon": [["09:00", "17:00"]]}, closed_dates=mondays
    )
    cal = BusinessCalendar(snapshot)
    start = at(CHICAGO, 2026, 1, 1, 0)
    with pytest.raises(ValueError, match="no open time within"):
        cal.add_open_minutes(start, 10)
    with pytest.raises(ValueError, match="no open time within"):
        cal.next_business_day(date(2026, 1, 1))
    assert cal.open_minutes_between(start, at(CHICAGO, 2028, 1, 1, 0)) == 0


def test_from_config_resolves_holidays_around_a_date() -> None:
    cfg = CalendarConfig.model_validate(calendar_body(holiday_country="US"))
    cal = BusinessCalendar.from_config(cfg, around=date(2026, 6, 1))
    assert not cal.is_business_day(date(2025, 12, 25))
    assert not cal.is_business_day(date(2028, 12, 25))
    assert cal.snapshot.closed_dates == sorted(cal.snapshot.closed_dates)


def test_snapshot_resolves_holidays_and_closures() -> None:
    cfg = CalendarConfig.model_validate(calendar_body(holiday_country="US", closures=["2026-12-24"]))
    snapshot = cfg.snapshot(2026, 2026)
    assert date(2026, 11, 26) in snapshot.closed_dates
    assert date(2026, 12, 24) in snapshot.closed_dates
    assert all(d.year == 2026 for d in snapshot.closed_dates)
    assert BusinessCalendar(CalendarSnapshot.model_validate(snapshot.model_dump(mode="json"))).tz == CHICAGO


def test_snapshot_rejects_reversed_years() -> None:
    cfg = CalendarConfig.model_validate(calendar_body())
    with pytest.raises(ValueError, match="before first_year"):
        cfg.snapshot(2027, 2026)


def test_calendar_and_deadlines_do_not_import_holidays() -> None:
    code = "import sys, domain.calendar, domain.deadlines, domain.models; sys.exit('holidays' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
