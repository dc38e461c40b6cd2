"""Contact windows and the daily cap (docs/rules.md §2.7): examples across DST days, Arizona,
Hawaii and a member in another zone than the team, and properties over random instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings, strategies as st

from domain.contact import (
    LEGAL_WINDOW,
    NARROW_WINDOW,
    cap_clears_at,
    contact_window,
    in_window,
    next_contact_instant,
    next_window_opening,
    over_daily_cap,
)
from domain.windows import parse_hhmm, parse_window
from tests.domain.support import ALL_DAYS, at, business_calendar

DENVER = ZoneInfo("America/Denver")
PHOENIX = ZoneInfo("America/Phoenix")
HONOLULU = ZoneInfo("Pacific/Honolulu")
NEW_YORK = ZoneInfo("America/New_York")
CHICAGO = ZoneInfo("America/Chicago")

# A team open 07:00-21:00 every day in Chicago.
LONG_DAYS = {d: [["07:00", "21:00"]] for d in ALL_DAYS}


def test_window_is_the_intersection_of_legal_state_team_and_member() -> None:
    team = parse_window(["08:00", "21:00"])
    assert contact_window(state=None, team=team, member=None) == LEGAL_WINDOW
    assert contact_window(state="FL", team=team, member=None) == NARROW_WINDOW
    assert contact_window(state="ok", team=team, member=None) == NARROW_WINDOW
    assert contact_window(state="CO", team=team, member=None) == LEGAL_WINDOW
    assert contact_window(state="MD", team=team, member=parse_window(["09:00", "19:00"])) == (540, 1140)
    assert contact_window(state=None, team=parse_window(["07:00", "22:00"]), member=None) == LEGAL_WINDOW
    assert contact_window(state=None, team=team, member=parse_window(["21:00", "23:00"])) is None


@pytest.mark.parametrize("bad", ["8:00", "25:00", "12:60", "noon", "24:01", ""])
def test_bad_times_of_day_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="HH:MM"):
        parse_hhmm(bad)


def test_a_window_must_start_before_it_ends() -> None:
    with pytest.raises(ValueError, match="start before"):
        parse_window(["19:00", "09:00"])
    with pytest.raises(ValueError, match="two times"):
        parse_window(["09:00"])


def test_window_is_read_on_the_members_clock() -> None:
    # 07:30 in Denver is 08:30 in Chicago: the team may be open, the member's window is not.
    assert not in_window(at(DENVER, 2026, 11, 17, 7, 30), "America/Denver", LEGAL_WINDOW)
    assert in_window(at(DENVER, 2026, 11, 17, 7, 30), "America/Chicago", LEGAL_WINDOW)
    assert not in_window(at(DENVER, 2026, 11, 17, 3, 0), "America/Denver", LEGAL_WINDOW)
    assert not in_window(at(DENVER, 2026, 11, 17, 21, 0), "America/Denver", LEGAL_WINDOW)


def test_opening_on_dst_days_stays_at_eight_local() -> None:
    # Spring forward (8 Mar 2026) and fall back (1 Nov 2026) in Denver: 08:00 local both days.
    spring = next_window_opening(at(DENVER, 2026, 3, 7, 22, 0), "America/Denver", LEGAL_WINDOW)
    assert spring.astimezone(DENVER).hour == 8
    assert spring.astimezone(UTC) == datetime(2026, 3, 8, 14, 0, tzinfo=UTC)  # MDT, UTC-6
    fall = next_window_opening(at(DENVER, 2026, 10, 31, 22, 0), "America/Denver", LEGAL_WINDOW)
    assert fall.astimezone(UTC) == datetime(2026, 11, 1, 15, 0, tzinfo=UTC)  # MST, UTC-7


def test_arizona_has_no_dst_and_hawaii_is_far_behind() -> None:
    # Phoenix stays at UTC-7 in summer, when Denver is at UTC-6.
    summer = next_window_opening(at(PHOENIX, 2026, 7, 1, 22, 0), "America/Phoenix", LEGAL_WINDOW)
    assert summer.astimezone(UTC) == datetime(2026, 7, 2, 15, 0, tzinfo=UTC)
    # 14:00 in Chicago (winter) is 10:00 in Honolulu: inside; 10:00 in Chicago is 06:00 there.
    assert in_window(at(CHICAGO, 2026, 11, 17, 14, 0), "Pacific/Honolulu", LEGAL_WINDOW)
    assert not in_window(at(CHICAGO, 2026, 11, 17, 10, 0), "Pacific/Honolulu", LEGAL_WINDOW)


def test_no_answer_at_half_past_seven_is_retried_next_morning_not_at_half_past_nine() -> None:
    """The team in Chicago is open 07:00-21:00; the member is in New York, an hour ahead. 19:30
    member-local + 2 business hours is 21:30 member-local (20:30 in Chicago, open): the retry
    waits for the window's start, 08:00 New York, the next morning."""
    cal = business_calendar(hours=LONG_DAYS)
    attempt = at(NEW_YORK, 2026, 11, 17, 19, 30)
    base = cal.add_open_minutes(attempt, 120)
    assert base.astimezone(NEW_YORK).hour == 21
    got = next_contact_instant(base, calendar=cal, zone="America/New_York", window=LEGAL_WINDOW)
    assert got == at(NEW_YORK, 2026, 11, 18, 8, 0)
    # In Florida the window closes at 20:00: the same answer.
    assert next_contact_instant(base, calendar=cal, zone="America/New_York", window=NARROW_WINDOW) == got


def test_the_later_of_team_opening_and_member_window() -> None:
    # A Honolulu member of a Chicago 09:00-17:00 team: the overlap is 13:00-17:00 Chicago (winter).
    cal = business_calendar()
    got = next_contact_instant(
        at(CHICAGO, 2026, 11, 17, 9, 0), calendar=cal, zone="Pacific/Honolulu", window=LEGAL_WINDOW
    )
    assert got == at(CHICAGO, 2026, 11, 17, 12, 0)  # 08:00 in Honolulu
    # Friday 16:30 in Chicago is 12:30 in Honolulu: no wait at all.
    late = at(CHICAGO, 2026, 11, 20, 16, 30)
    assert next_contact_instant(late, calendar=cal, zone="Pacific/Honolulu", window=LEGAL_WINDOW) == late


def test_hours_that_never_meet_the_window_answer_none() -> None:
    cal = business_calendar()  # 09:00-17:00 Chicago
    # A member in Tokyo with a 08:00-09:00 window: 17:00-18:00 Chicago the day before, never open.
    got = next_contact_instant(
        at(CHICAGO, 2026, 11, 17, 9, 0), calendar=cal, zone="Asia/Tokyo", window=(480, 540)
    )
    assert got is None


def test_the_daily_cap_counts_a_rolling_24_hours() -> None:
    t0 = datetime(2026, 11, 17, 15, 0, tzinfo=UTC)
    three = [t0, t0 + timedelta(hours=1), t0 + timedelta(hours=2)]
    assert not over_daily_cap(three[:2], t0 + timedelta(hours=3), 3)
    assert over_daily_cap(three, t0 + timedelta(hours=3), 3)
    # 24 hours after the first, it no longer counts.
    assert not over_daily_cap(three, t0 + timedelta(hours=24), 3)
    assert cap_clears_at(three, three[-1], 3) == t0 + timedelta(hours=24)
    assert cap_clears_at(three[:2], three[1], 3) is None


instants = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
)
zones = st.sampled_from(
    ["America/Denver", "America/Phoenix", "Pacific/Honolulu", "America/New_York", "America/Anchorage"]
)
windows = st.tuples(st.integers(0, 1438), st.integers(1, 1439)).filter(lambda w: w[0] < w[1])


@settings(max_examples=200, deadline=None)
@given(instants, zones, windows)
def test_next_opening_is_in_window_and_nothing_before_it_is(
    t: datetime, zone: str, w: tuple[int, int]
) -> None:
    opening = next_window_opening(t, zone, w)
    assert opening >= t
    assert opening - t < timedelta(days=1, hours=2)
    if opening > t:
        # Sampled minutes between t and the opening are all outside the window.
        step = (opening - t) / 7
        assert all(not in_window(t + step * i, zone, w) for i in range(7))
        # The opening itself is in, unless a DST jump swallowed the start (then a minute later is).
        assert in_window(opening, zone, w) or in_window(opening + timedelta(minutes=1), zone, w)


@settings(max_examples=100, deadline=None)
@given(instants, zones)
def test_next_contact_instant_is_open_and_in_window(t: datetime, zone: str) -> None:
    cal = business_calendar(around=t.date())
    got = next_contact_instant(t, calendar=cal, zone=zone, window=LEGAL_WINDOW)
    assert got is not None  # every zone here meets a Chicago 09:00-17:00 weekday
    assert got >= t
    assert cal.is_open(got)
    assert in_window(got, zone, LEGAL_WINDOW)


@settings(max_examples=200, deadline=None)
@given(st.lists(instants, max_size=8), instants, st.integers(1, 5))
def test_cap_clears_exactly_when_an_attempt_is_under_it(prior: list[datetime], t: datetime, cap: int) -> None:
    times = [*(p for p in prior if p <= t), t]
    clears = cap_clears_at(times, t, cap)
    if clears is None:
        assert not over_daily_cap(times, t + timedelta(microseconds=1), cap)
    else:
        assert clears > t
        assert over_daily_cap(times, clears - timedelta(microseconds=1), cap)
        assert not over_daily_cap(times, clears, cap)
