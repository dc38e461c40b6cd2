"""Response deadlines and retry spacing (worked examples and calendar edge cases)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from domain.deadlines import due_at, due_soon_at, response_due, retry_due_at
from domain.models import Policy
from tests.domain.support import (
    ALL_DAYS,
    CHICAGO,
    HONOLULU,
    LONDON,
    POLICY,
    at,
    business_calendar,
    naive,
    team,
    utc,
)

# The documented example team: 09:00-17:00 Mon-Fri, America/Chicago, cutoff 60, text 480, urgent 120.
# 2026-11-16 is a Monday; no public holidays that week.
EXAMPLE_TEAM = team()


def due(received: datetime, channel: str, *, urgent: bool = False) -> datetime:
    return response_due(received, channel, urgent=urgent, team=EXAMPLE_TEAM)


# --- the documented worked examples ------------------------------------------------------


def test_call_during_business_hours_is_due_at_close_the_same_day() -> None:
    assert due(at(CHICAGO, 2026, 11, 16, 10, 0), "call") == at(CHICAGO, 2026, 11, 16, 17, 0)


def test_call_after_cutoff_is_due_next_business_day() -> None:
    assert due(at(CHICAGO, 2026, 11, 16, 16, 30), "call") == at(CHICAGO, 2026, 11, 17, 17, 0)


def test_call_on_saturday_is_due_monday_close() -> None:
    assert due(at(CHICAGO, 2026, 11, 21, 11, 0), "call") == at(CHICAGO, 2026, 11, 23, 17, 0)


def test_call_before_opening_is_due_the_same_day() -> None:
    assert due(at(CHICAGO, 2026, 11, 16, 7, 0), "call") == at(CHICAGO, 2026, 11, 16, 17, 0)


def test_voicemail_follows_the_call_rule() -> None:
    assert due(at(CHICAGO, 2026, 11, 16, 16, 30), "voicemail") == at(CHICAGO, 2026, 11, 17, 17, 0)


def test_text_is_due_after_eight_business_hours() -> None:
    assert due(at(CHICAGO, 2026, 11, 16, 15, 0), "text") == at(CHICAGO, 2026, 11, 17, 15, 0)


def test_text_on_friday_afternoon_is_due_monday() -> None:
    assert due(at(CHICAGO, 2026, 11, 20, 15, 0), "text") == at(CHICAGO, 2026, 11, 23, 15, 0)


def test_text_on_saturday_starts_the_clock_at_monday_opening() -> None:
    assert due(at(CHICAGO, 2026, 11, 21, 10, 0), "text") == at(CHICAGO, 2026, 11, 23, 17, 0)


def test_urgent_text_is_due_after_two_business_hours() -> None:
    assert due(at(CHICAGO, 2026, 11, 16, 16, 0), "text", urgent=True) == at(CHICAGO, 2026, 11, 17, 10, 0)


def test_urgent_call_takes_the_earlier_of_channel_and_urgent_deadline() -> None:
    # Channel deadline Mon 17:00 is earlier than 120 open minutes from 16:00 (Tue 10:00).
    assert due(at(CHICAGO, 2026, 11, 16, 16, 0), "call", urgent=True) == at(CHICAGO, 2026, 11, 16, 17, 0)
    # Morning call: 120 open minutes (11:00) beat the close.
    assert due(at(CHICAGO, 2026, 11, 16, 9, 0), "call", urgent=True) == at(CHICAGO, 2026, 11, 16, 11, 0)


def test_received_at_in_another_offset_is_converted_to_team_time() -> None:
    received = datetime(2026, 11, 16, 16, 0, tzinfo=UTC)  # 10:00 in Chicago
    result = due(received, "call")
    assert result == at(CHICAGO, 2026, 11, 16, 17, 0)
    assert result.tzinfo == CHICAGO


# --- cutoff and close boundaries ------------------------------------------------------


def test_call_exactly_at_cutoff_stays_on_the_same_day() -> None:
    assert due(at(CHICAGO, 2026, 11, 16, 16, 0), "call") == at(CHICAGO, 2026, 11, 16, 17, 0)


def test_call_one_microsecond_after_cutoff_moves_to_next_business_day() -> None:
    received = at(CHICAGO, 2026, 11, 16, 16, 0) + timedelta(microseconds=1)
    assert due(received, "call") == at(CHICAGO, 2026, 11, 17, 17, 0)


def test_call_exactly_at_close_belongs_to_the_next_business_day() -> None:
    assert due(at(CHICAGO, 2026, 11, 16, 17, 0), "call") == at(CHICAGO, 2026, 11, 17, 17, 0)


def test_call_exactly_at_friday_close_is_due_monday() -> None:
    assert due(at(CHICAGO, 2026, 11, 20, 17, 0), "call") == at(CHICAGO, 2026, 11, 23, 17, 0)


def test_zero_cutoff_keeps_calls_until_close_on_the_same_day() -> None:
    cal = business_calendar()
    policy = Policy(same_day_cutoff_minutes=0)
    received = at(CHICAGO, 2026, 11, 16, 16, 59)
    assert due_at(received, "call", urgent=False, calendar=cal, policy=policy) == at(
        CHICAGO, 2026, 11, 16, 17
    )


# --- holidays and closures ------------------------------------------------------------


def test_call_before_thanksgiving_after_cutoff_is_due_friday() -> None:
    us_team = team(holiday_country="US")
    received = at(CHICAGO, 2026, 11, 25, 16, 30)  # Wednesday; Thursday 26th is Thanksgiving
    assert response_due(received, "call", urgent=False, team=us_team) == at(CHICAGO, 2026, 11, 27, 17, 0)


def test_text_on_thanksgiving_starts_the_clock_friday() -> None:
    us_team = team(holiday_country="US")
    received = at(CHICAGO, 2026, 11, 26, 10, 0)
    assert response_due(received, "text", urgent=False, team=us_team) == at(CHICAGO, 2026, 11, 27, 17, 0)


def test_closure_date_is_skipped_like_a_holiday() -> None:
    closed_team = team(holiday_country="US", closures=["2026-12-24"])
    received = at(CHICAGO, 2026, 12, 23, 16, 30)  # Wed; Thu 24th closure, Fri 25th Christmas
    assert response_due(received, "call", urgent=False, team=closed_team) == at(CHICAGO, 2026, 12, 28, 17, 0)


def test_call_on_a_closure_date_is_due_next_business_day() -> None:
    closed_team = team(closures=["2026-11-18"])
    received = at(CHICAGO, 2026, 11, 18, 10, 0)
    assert response_due(received, "call", urgent=False, team=closed_team) == at(CHICAGO, 2026, 11, 19, 17, 0)


# --- split shifts ---------------------------------------------------------------------

SPLIT_HOURS = {
    "mon": [["09:00", "17:00"]],
    "tue": [["09:00", "17:00"]],
    "wed": [["09:00", "12:00"], ["13:00", "17:00"]],
    "thu": [["09:00", "17:00"]],
    "fri": [["09:00", "17:00"]],
}


def test_call_in_the_lunch_gap_is_due_at_that_days_close() -> None:
    split_team = team(hours=SPLIT_HOURS)
    received = at(CHICAGO, 2026, 11, 18, 12, 30)  # Wednesday
    assert response_due(received, "call", urgent=False, team=split_team) == at(CHICAGO, 2026, 11, 18, 17, 0)


def test_text_in_the_lunch_gap_starts_the_clock_at_the_afternoon_shift() -> None:
    split_team = team(hours=SPLIT_HOURS)
    received = at(CHICAGO, 2026, 11, 18, 12, 30)
    # Wed 13:00-17:00 = 240 minutes, then Thu 09:00 + 240 = 13:00.
    assert response_due(received, "text", urgent=False, team=split_team) == at(CHICAGO, 2026, 11, 19, 13, 0)


def test_urgent_text_used_up_at_lunch_returns_the_morning_shift_end() -> None:
    split_team = team(hours=SPLIT_HOURS)
    received = at(CHICAGO, 2026, 11, 18, 10, 0)
    assert response_due(received, "text", urgent=True, team=split_team) == at(CHICAGO, 2026, 11, 18, 12, 0)


# --- time zones and DST ---------------------------------------------------------------


def test_honolulu_team_uses_its_own_time_zone() -> None:
    hawaii = team(timezone="Pacific/Honolulu", holiday_country="US")
    received = datetime(2026, 11, 17, 2, 30, tzinfo=UTC)  # Mon 16:30 in Honolulu
    result = response_due(received, "call", urgent=False, team=hawaii)
    assert result == at(HONOLULU, 2026, 11, 17, 17, 0)
    assert result.utcoffset() == timedelta(hours=-10)


def test_london_team_skips_uk_christmas_and_boxing_day_observed() -> None:
    london = team(timezone="Europe/London", holiday_country="GB")
    # Thu 24 Dec 16:30 after cutoff; Fri 25 Christmas, Mon 28 Boxing Day (observed).
    received = at(LONDON, 2026, 12, 24, 16, 30)
    assert response_due(received, "call", urgent=False, team=london) == at(LONDON, 2026, 12, 29, 17, 0)
    text_received = at(LONDON, 2026, 12, 24, 15, 0)
    assert response_due(text_received, "text", urgent=False, team=london) == at(LONDON, 2026, 12, 29, 15, 0)


def test_london_team_deadline_over_the_spring_dst_change() -> None:
    london = team(timezone="Europe/London", hours={d: [["09:00", "17:00"]] for d in ALL_DAYS})
    received = at(LONDON, 2026, 3, 28, 15, 0)  # Sat; clocks go forward Sun 29 Mar
    result = response_due(received, "text", urgent=False, team=london)
    assert result == at(LONDON, 2026, 3, 29, 15, 0)
    assert result.utcoffset() == timedelta(hours=1)


def test_text_across_spring_forward_on_a_24h_team_counts_real_minutes() -> None:
    round_clock = team(hours={d: [["00:00", "24:00"]] for d in ALL_DAYS})
    received = at(CHICAGO, 2026, 3, 8, 0, 0)  # the night clocks skip 02:00-03:00
    # 480 elapsed minutes from 00:00 CST end at 09:00 CDT.
    assert response_due(received, "text", urgent=False, team=round_clock) == at(CHICAGO, 2026, 3, 8, 9, 0)


def test_text_across_fall_back_on_a_24h_team_counts_real_minutes() -> None:
    round_clock = team(hours={d: [["00:00", "24:00"]] for d in ALL_DAYS})
    received = at(CHICAGO, 2026, 11, 1, 0, 0)  # 01:00-02:00 happens twice
    assert response_due(received, "text", urgent=False, team=round_clock) == at(CHICAGO, 2026, 11, 1, 7, 0)


def test_call_on_a_24h_team_is_due_at_midnight() -> None:
    round_clock = team(hours={d: [["00:00", "24:00"]] for d in ALL_DAYS})
    received = at(CHICAGO, 2026, 3, 8, 12, 0)
    assert response_due(received, "call", urgent=False, team=round_clock) == at(CHICAGO, 2026, 3, 9, 0, 0)


def test_weekend_team_text_over_spring_forward_uses_local_opening_hours() -> None:
    weekend = team(hours={"sat": [["09:00", "17:00"]], "sun": [["09:00", "17:00"]]})
    received = at(CHICAGO, 2026, 3, 7, 16, 0)  # Sat, CST; Sun 8 Mar is CDT
    result = response_due(received, "text", urgent=False, team=weekend)
    assert result == at(CHICAGO, 2026, 3, 8, 16, 0)
    assert result.utcoffset() == timedelta(hours=-5)


def test_weekend_team_call_on_fall_back_sunday() -> None:
    weekend = team(hours={"sat": [["09:00", "17:00"]], "sun": [["09:00", "17:00"]]})
    received = at(CHICAGO, 2026, 10, 31, 16, 30)  # Sat after cutoff; Sun 1 Nov is CST
    result = response_due(received, "call", urgent=False, team=weekend)
    assert result == at(CHICAGO, 2026, 11, 1, 17, 0)
    assert result.utcoffset() == timedelta(hours=-6)


# --- night shift ----------------------------------------------------------------------

NIGHT_HOURS = {
    "mon": [["20:00", "24:00"]],
    "tue": [["00:00", "04:00"], ["20:00", "24:00"]],
    "wed": [["00:00", "04:00"], ["20:00", "24:00"]],
    "thu": [["00:00", "04:00"], ["20:00", "24:00"]],
    "fri": [["00:00", "04:00"], ["20:00", "24:00"]],
    "sat": [["00:00", "04:00"]],
}


def test_night_shift_text_runs_across_midnight_without_a_break() -> None:
    night = team(hours=NIGHT_HOURS)
    received = at(CHICAGO, 2026, 11, 16, 23, 0)  # Mon 23:00
    # Mon 23-24 (60) + Tue 00-04 (240) + Tue 20:00 + 180 = Tue 23:00.
    assert response_due(received, "text", urgent=False, team=night) == at(CHICAGO, 2026, 11, 17, 23, 0)


def test_night_shift_urgent_text_crosses_midnight() -> None:
    night = team(hours=NIGHT_HOURS)
    received = at(CHICAGO, 2026, 11, 16, 23, 0)
    assert response_due(received, "text", urgent=True, team=night) == at(CHICAGO, 2026, 11, 17, 1, 0)


def test_night_shift_call_is_due_at_the_days_last_interval_end() -> None:
    night = team(hours=NIGHT_HOURS)
    # Mon 21:00: Monday's close is 24:00, cutoff 23:00 -> due Tue 00:00.
    assert response_due(at(CHICAGO, 2026, 11, 16, 21, 0), "call", urgent=False, team=night) == at(
        CHICAGO, 2026, 11, 17, 0, 0
    )


# --- retries and reminders ------------------------------------------------------------


def test_retry_is_due_after_retry_spacing_of_open_time() -> None:
    cal = business_calendar()
    after = at(CHICAGO, 2026, 11, 20, 16, 0)  # Friday
    assert retry_due_at(after, calendar=cal, policy=POLICY) == at(CHICAGO, 2026, 11, 23, 10, 0)


def test_due_soon_is_clock_minutes_before_due() -> None:
    due_time = at(CHICAGO, 2026, 11, 16, 17, 0)
    assert due_soon_at(due_time, policy=POLICY) == at(CHICAGO, 2026, 11, 16, 16, 0)


def test_due_soon_over_a_dst_change_uses_elapsed_minutes() -> None:
    due_time = at(CHICAGO, 2026, 3, 8, 3, 30)  # CDT, 30 minutes after the jump
    assert utc(due_soon_at(due_time, policy=POLICY)) == utc(at(CHICAGO, 2026, 3, 8, 1, 30))


# --- rejected input -------------------------------------------------------------------


def test_naive_received_at_is_rejected() -> None:
    with pytest.raises(ValueError, match="must be timezone-aware"):
        response_due(naive(2026, 11, 16, 10, 0), "call", urgent=False, team=EXAMPLE_TEAM)


def test_unknown_channel_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown channel 'fax'"):
        response_due(at(CHICAGO, 2026, 11, 16, 10), "fax", urgent=False, team=EXAMPLE_TEAM)


def test_due_at_rejects_naive_and_unknown_channel_too() -> None:
    cal = business_calendar()
    with pytest.raises(ValueError, match="must be timezone-aware"):
        due_at(naive(2026, 11, 16, 10), "text", urgent=False, calendar=cal, policy=POLICY)
    with pytest.raises(ValueError, match="unknown channel"):
        due_at(at(CHICAGO, 2026, 11, 16, 10), "email", urgent=False, calendar=cal, policy=POLICY)


def test_fixed_offset_received_at_is_accepted() -> None:
    received = datetime(2026, 11, 16, 11, 0, tzinfo=timezone(timedelta(hours=-5)))  # 10:00 Chicago
    assert due(received, "call") == at(CHICAGO, 2026, 11, 16, 17, 0)
