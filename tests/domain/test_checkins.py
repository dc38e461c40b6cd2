"""Check-in moments and absence rules, as pure functions."""

from __future__ import annotations

from datetime import date

import pytest

from domain.absences import resolve_cover, window_error
from domain.checkins import checkins_on, next_checkin
from tests.domain.support import CHICAGO, at, business_calendar, naive, utc


def moments(cal_kwargs: dict[str, object], day: date) -> list[tuple[str, str]]:
    cal = business_calendar(**cal_kwargs)  # type: ignore[arg-type]
    return [(m.kind, m.at.strftime("%H:%M")) for m in checkins_on(cal, day)]


def test_nine_to_five_checks_in_at_opening_midday_and_ninety_minutes_before_close() -> None:
    assert moments({}, date(2026, 11, 16)) == [
        ("opening", "09:00"),
        ("midday", "13:00"),
        ("before_close", "15:30"),
    ]


def test_no_check_ins_on_weekends_or_holidays() -> None:
    assert moments({}, date(2026, 11, 21)) == []  # Saturday
    assert moments({"holiday_country": "US"}, date(2026, 11, 26)) == []  # Thanksgiving
    assert moments({"closures": ["2026-11-17"]}, date(2026, 11, 17)) == []


def test_split_shift_midday_is_halfway_between_opening_and_close() -> None:
    hours = {"wed": [["09:00", "12:00"], ["13:00", "17:00"]]}
    assert moments({"hours": hours}, date(2026, 11, 18)) == [
        ("opening", "09:00"),
        ("midday", "13:00"),
        ("before_close", "15:30"),
    ]


def test_a_before_close_moment_earlier_than_the_opening_is_skipped() -> None:
    assert moments({"hours": {"mon": [["09:00", "10:00"]]}}, date(2026, 11, 16)) == [
        ("opening", "09:00"),
        ("midday", "09:30"),
    ]
    # Exactly at the opening: one check-in, not two.
    assert moments({"hours": {"mon": [["09:00", "10:30"]]}}, date(2026, 11, 16)) == [
        ("opening", "09:00"),
        ("midday", "09:45"),
    ]


def test_night_shift_check_ins_follow_the_day_it_opens() -> None:
    hours = {"mon": [["20:00", "24:00"]]}
    assert moments({"hours": hours}, date(2026, 11, 16)) == [
        ("opening", "20:00"),
        ("midday", "22:00"),
        ("before_close", "22:30"),
    ]


def test_dst_day_keeps_wall_clock_opening_and_close() -> None:
    # Europe/London springs forward on Sunday 29 March 2026; a 7-day calendar opens that day too.
    hours = {d: [["00:00", "12:00"]] for d in ("sun", "mon")}
    got = moments({"timezone": "Europe/London", "hours": hours}, date(2026, 3, 29))
    # 11 real hours from 00:00 GMT to 12:00 BST: midday is 05:30 GMT = 06:30 BST.
    assert got == [("opening", "00:00"), ("midday", "06:30"), ("before_close", "10:30")]


def test_next_checkin_is_strictly_after_and_skips_closed_days() -> None:
    cal = business_calendar(holiday_country="US")
    friday_close = at(CHICAGO, 2026, 11, 20, 15, 30)
    nxt = next_checkin(cal, friday_close)
    assert (nxt.kind, utc(nxt.at)) == ("opening", utc(at(CHICAGO, 2026, 11, 23, 9)))
    assert nxt.day_end == at(CHICAGO, 2026, 11, 24)
    wednesday = next_checkin(cal, at(CHICAGO, 2026, 11, 25, 15, 30))
    assert utc(wednesday.at) == utc(at(CHICAGO, 2026, 11, 27, 9))  # Thanksgiving is skipped
    with pytest.raises(ValueError, match="timezone-aware"):
        next_checkin(cal, naive(2026, 11, 16, 9))


def test_absence_window_must_be_aware_and_end_after_it_starts() -> None:
    a, b = at(CHICAGO, 2026, 11, 16, 9), at(CHICAGO, 2026, 11, 18, 17)
    assert window_error(a, b) is None
    assert window_error(b, a) == "ends_at must be after starts_at"
    assert window_error(a, a) == "ends_at must be after starts_at"
    assert window_error(naive(2026, 11, 16), b) == "starts_at must be timezone-aware"


def test_cover_follows_backups_who_are_away_in_turn_and_never_loops() -> None:
    away = {
        "ana": ("A", "ben"),
        "ben": ("B", "cy"),
        "dee": ("D", None),
        "eve": ("E", "fay"),
        "fay": ("F", "eve"),
    }
    assert resolve_cover("zed", away.get) == ("zed", None)
    assert resolve_cover("ben", away.get) == ("cy", "B")
    assert resolve_cover("ana", away.get) == ("cy", "A")  # chained, the owner's absence recorded
    assert resolve_cover("dee", away.get) == (None, "D")  # no backup: the unassigned queue
    assert resolve_cover("eve", away.get) == (None, "E")  # eve ↔ fay: a loop ends in the queue
