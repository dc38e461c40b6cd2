"""Referral deadlines (docs/rules.md §2.2, "Referral"): the worked examples, and properties over
calendars with holidays and closures."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings, strategies as st

from domain.calendar import BusinessCalendar
from domain.deadlines import deadline_kind, due_at, referral_due
from domain.models import Policy
from tests.domain.support import CHICAGO, POLICY, at, business_calendar, naive

# The documented example team: 09:00-17:00 Mon-Fri, America/Chicago, US holidays (Thanksgiving
# is Thu 26 Nov 2026), a closure on 24 Dec; referral_response_business_days 2 (the default).
CAL = business_calendar(around=date(2026, 11, 1), holiday_country="US", closures=["2026-12-24"])


def referral(
    received: datetime, *, requested: datetime | None = None, urgent: bool = False, days: int = 2
) -> datetime:
    policy = Policy(referral_response_business_days=days)
    return referral_due(received, requested=requested, urgent=urgent, calendar=CAL, policy=policy)


# --- the documented worked examples ------------------------------------------------------
@pytest.mark.parametrize(
    ("received", "days", "due"),
    [
        (at(CHICAGO, 2026, 11, 16, 10), 2, at(CHICAGO, 2026, 11, 18, 17)),  # Mon → Wed close
        (at(CHICAGO, 2026, 11, 16, 7), 2, at(CHICAGO, 2026, 11, 18, 17)),  # before opening: Mon counts
        (at(CHICAGO, 2026, 11, 16, 17), 2, at(CHICAGO, 2026, 11, 19, 17)),  # at the close: day of receipt Tue
        (at(CHICAGO, 2026, 11, 20, 16, 30), 2, at(CHICAGO, 2026, 11, 24, 17)),  # Fri → Tue (weekend)
        (at(CHICAGO, 2026, 11, 21, 11), 2, at(CHICAGO, 2026, 11, 25, 17)),  # Sat: day of receipt Mon
        (at(CHICAGO, 2026, 11, 25, 10), 2, at(CHICAGO, 2026, 11, 30, 17)),  # Wed → Fri, Mon (Thanksgiving)
        (at(CHICAGO, 2026, 11, 26, 10), 1, at(CHICAGO, 2026, 11, 30, 17)),  # on Thanksgiving: Fri is day 0
        (
            at(CHICAGO, 2026, 12, 22, 12),
            2,
            at(CHICAGO, 2026, 12, 28, 17),
        ),  # closure 24, Christmas, weekend
        (at(CHICAGO, 2026, 11, 16, 10), 5, at(CHICAGO, 2026, 11, 23, 17)),  # a policy of 5 days: next Mon
    ],
)
def test_worked_examples_without_a_requested_deadline(received: datetime, days: int, due: datetime) -> None:
    assert referral(received, days=days) == due


def test_a_requested_deadline_wins_and_is_shown_in_the_team_zone() -> None:
    requested = datetime(2026, 11, 20, 18, tzinfo=UTC)  # Fri 12:00 in Chicago
    got = referral(at(CHICAGO, 2026, 11, 16, 10), requested=requested)
    assert got == requested and got.tzinfo == CHICAGO and got.hour == 12


def test_a_requested_deadline_later_than_the_policy_is_kept() -> None:
    requested = at(CHICAGO, 2026, 12, 15, 12)
    assert referral(at(CHICAGO, 2026, 11, 16, 10), requested=requested) == requested


def test_urgent_moves_the_deadline_earlier_only() -> None:
    mon_10 = at(CHICAGO, 2026, 11, 16, 10)
    assert referral(mon_10, urgent=True) == at(CHICAGO, 2026, 11, 16, 12)
    assert referral(mon_10, requested=at(CHICAGO, 2026, 11, 18, 17), urgent=True) == at(
        CHICAGO, 2026, 11, 16, 12
    )
    assert referral(mon_10, requested=at(CHICAGO, 2026, 11, 16, 11), urgent=True) == at(
        CHICAGO, 2026, 11, 16, 11
    )


def test_a_requested_deadline_not_after_receipt_is_refused() -> None:
    mon_10 = at(CHICAGO, 2026, 11, 16, 10)
    with pytest.raises(ValueError, match="not after"):
        referral(mon_10, requested=mon_10)
    with pytest.raises(ValueError, match="timezone-aware"):
        referral(mon_10, requested=naive(2026, 11, 18, 17))


def test_the_channel_rule_is_the_referral_rule() -> None:
    assert deadline_kind("referral", urgent=False) == "business_days"
    mon_10 = at(CHICAGO, 2026, 11, 25, 10)
    assert due_at(mon_10, "referral", urgent=False, calendar=CAL, policy=POLICY) == referral(mon_10)


# --- properties ---------------------------------------------------------------------------
instants = st.datetimes(min_value=naive(2026, 1, 2), max_value=naive(2027, 12, 20)).map(
    lambda d: d.replace(tzinfo=UTC)
)
WIDE = business_calendar(
    around=date(2026, 6, 1), holiday_country="US", closures=["2026-12-24", "2027-07-05", "2027-07-06"]
)


def _business_days_between(cal: BusinessCalendar, first: date, last: date) -> int:
    """Business days d with first < d <= last."""
    n, d = 0, first
    while d < last:
        d += timedelta(days=1)
        n += cal.is_business_day(d)
    return n


@settings(max_examples=300, deadline=None)
@given(received=instants, days=st.integers(min_value=1, max_value=10))
def test_due_is_a_close_exactly_n_business_days_after_the_day_of_receipt(
    received: datetime, days: int
) -> None:
    policy = Policy(referral_response_business_days=days)
    due = referral_due(received, requested=None, urgent=False, calendar=WIDE, policy=policy)
    local_day = due.astimezone(WIDE.tz).date()
    assert WIDE.is_business_day(local_day)
    assert due == WIDE.close_instant_of(local_day)
    assert _business_days_between(WIDE, WIDE.day_of_receipt(received), local_day) == days
    assert due > received
    later = referral_due(
        received,
        requested=None,
        urgent=False,
        calendar=WIDE,
        policy=Policy(referral_response_business_days=days + 1),
    )
    assert later > due


@settings(max_examples=200, deadline=None)
@given(
    received=instants,
    ahead=st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=90)),
    urgent=st.booleans(),
)
def test_a_requested_deadline_is_kept_unless_urgency_comes_first(
    received: datetime, ahead: timedelta, urgent: bool
) -> None:
    requested = received + ahead
    due = referral_due(received, requested=requested, urgent=urgent, calendar=WIDE, policy=POLICY)
    assert due <= requested
    if not urgent:
        assert due == requested
    else:
        assert due == min(requested, WIDE.add_open_minutes(received, POLICY.urgent_response_business_minutes))
