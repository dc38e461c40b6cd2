"""Properties of deadlines and business-time arithmetic over random receipts and calendars."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo

from hypothesis import given, settings, strategies as st

from domain.calendar import BusinessCalendar
from domain.deadlines import due_at, response_due
from domain.models import CHANNELS, Policy, TeamConfig
from tests.domain.support import (
    ALL_DAYS,
    CHICAGO,
    LONDON,
    business_calendar,
    calendar_body,
    is_interval_end,
    naive,
    utc,
)

CALENDAR_BODIES = {
    "chicago_9_to_5_us": calendar_body(holiday_country="US", closures=["2026-12-24"]),
    "chicago_split": calendar_body(
        hours={
            "mon": [["09:00", "12:00"], ["13:00", "17:00"]],
            "wed": [["07:30", "11:15"], ["18:00", "21:00"]],
        }
    ),
    "chicago_24h": calendar_body(hours={d: [["00:00", "24:00"]] for d in ALL_DAYS}),
    "chicago_night": calendar_body(
        hours={
            "mon": [["20:00", "24:00"]],
            "tue": [["00:00", "04:00"], ["20:00", "24:00"]],
            "sat": [["00:00", "04:00"]],
            "sun": [["01:30", "02:30"]],  # sits on both DST changes
        }
    ),
    "honolulu": calendar_body(timezone="Pacific/Honolulu", holiday_country="US"),
    "london_weekend": calendar_body(
        timezone="Europe/London",
        hours={"sat": [["10:00", "14:00"]], "sun": [["00:30", "01:30"], ["10:00", "16:00"]]},
        holiday_country="GB",
    ),
}
TEAMS = {
    name: TeamConfig.model_validate({"name": name, "calendar": cal}) for name, cal in CALENDAR_BODIES.items()
}
CALENDARS: dict[str, BusinessCalendar] = {
    name: business_calendar(**cal) for name, cal in CALENDAR_BODIES.items()
}
POLICY = Policy()

team_names = st.sampled_from(sorted(CALENDAR_BODIES))
channels = st.sampled_from(CHANNELS)
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
# DST changes of the calendars' zones (UTC instants), where wall-time arithmetic goes wrong.
DST_CHANGES = [
    datetime(2026, 3, 8, 8, tzinfo=UTC),  # America/Chicago spring forward
    datetime(2026, 11, 1, 7, tzinfo=UTC),  # America/Chicago fall back
    datetime(2026, 3, 29, 1, tzinfo=UTC),  # Europe/London
    datetime(2026, 10, 25, 1, tzinfo=UTC),
]
# Receipts within the years the calendars resolve holidays for, to the microsecond,
# with extra weight around DST changes.
instants = st.one_of(
    # Hypothesis takes naive bounds and draws naive values; they are read as UTC.
    st.datetimes(min_value=naive(2025, 6, 1), max_value=naive(2027, 12, 31)).map(
        lambda d: d.replace(tzinfo=UTC)
    ),
    st.builds(
        lambda change, delta: change + delta,
        st.sampled_from(DST_CHANGES),
        st.timedeltas(min_value=timedelta(days=-2), max_value=timedelta(days=2)),
    ),
)


@st.composite
def received_ats(draw: st.DrawFn) -> datetime:
    """An aware instant expressed in a random fixed UTC offset or a DST-observing zone."""
    zone = draw(st.one_of(offsets, st.sampled_from([CHICAGO, LONDON])))
    return draw(instants).astimezone(zone)


FAST = settings(max_examples=300, deadline=None)


@FAST
@given(name=team_names, channel=channels, urgent=st.booleans(), received=received_ats())
def test_due_at_is_never_before_received_at(
    name: str, channel: str, urgent: bool, received: datetime
) -> None:
    due = due_at(received, channel, urgent=urgent, calendar=CALENDARS[name], policy=POLICY)
    assert utc(due) >= utc(received)


@FAST
@given(name=team_names, channel=channels, urgent=st.booleans(), received=received_ats())
def test_due_at_is_open_or_exactly_an_interval_end(
    name: str, channel: str, urgent: bool, received: datetime
) -> None:
    cal = CALENDARS[name]
    due = due_at(received, channel, urgent=urgent, calendar=cal, policy=POLICY)
    assert due.tzinfo is cal.tz
    assert cal.is_open(due) or is_interval_end(cal, due)


@FAST
@given(name=team_names, channel=channels, received=received_ats())
def test_urgent_is_never_later_than_non_urgent(name: str, channel: str, received: datetime) -> None:
    cal = CALENDARS[name]
    normal = due_at(received, channel, urgent=False, calendar=cal, policy=POLICY)
    urgent = due_at(received, channel, urgent=True, calendar=cal, policy=POLICY)
    assert utc(urgent) <= utc(normal)


@FAST
@given(
    name=team_names,
    channel=channels,
    urgent=st.booleans(),
    first=received_ats(),
    gap=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=4)),
    offset=st.one_of(offsets, st.sampled_from([CHICAGO, LONDON])),
)
def test_response_due_is_monotonic_in_received_at(
    name: str, channel: str, urgent: bool, first: datetime, gap: timedelta, offset: tzinfo
) -> None:
    later = (utc(first) + gap).astimezone(offset)
    team = TEAMS[name]
    earlier_due = response_due(first, channel, urgent=urgent, team=team)
    later_due = response_due(later, channel, urgent=urgent, team=team)
    assert utc(earlier_due) <= utc(later_due)


@FAST
@given(
    name=team_names,
    start=received_ats(),
    minutes=st.floats(min_value=0.001, max_value=60 * 24 * 30, allow_nan=False, allow_infinity=False),
)
def test_add_open_minutes_and_open_minutes_between_are_inverse(
    name: str, start: datetime, minutes: float
) -> None:
    cal = CALENDARS[name]
    end = cal.add_open_minutes(start, minutes)
    assert abs(cal.open_minutes_between(start, end) - minutes) < 1e-6


@FAST
@given(name=team_names, start=received_ats(), minutes=st.integers(min_value=1, max_value=60 * 24 * 10))
def test_add_open_minutes_lands_on_open_time_or_an_interval_end(
    name: str, start: datetime, minutes: int
) -> None:
    cal = CALENDARS[name]
    end = cal.add_open_minutes(start, minutes)
    assert utc(end) > utc(start)
    assert cal.is_open(end) or is_interval_end(cal, end)


@FAST
@given(name=team_names, a=received_ats(), b=received_ats(), c=received_ats())
def test_open_minutes_between_is_additive(name: str, a: datetime, b: datetime, c: datetime) -> None:
    cal = CALENDARS[name]
    x, y, z = sorted((a, b, c), key=utc)
    whole = cal.open_minutes_between(x, z)
    assert abs(whole - cal.open_minutes_between(x, y) - cal.open_minutes_between(y, z)) < 1e-6
    assert 0 <= whole <= (utc(z) - utc(x)) / timedelta(minutes=1) + 1e-6
