"""Calendars and helpers shared by the domain tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from domain.calendar import BusinessCalendar
from domain.models import CalendarConfig, Policy, TeamConfig

CHICAGO = ZoneInfo("America/Chicago")
HONOLULU = ZoneInfo("Pacific/Honolulu")
LONDON = ZoneInfo("Europe/London")

NINE_TO_FIVE = [["09:00", "17:00"]]
WEEKDAYS_ONLY = ("mon", "tue", "wed", "thu", "fri")
ALL_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def calendar_body(
    timezone: str = "America/Chicago",
    *,
    hours: dict[str, Any] | None = None,
    holiday_country: str | None = None,
    holiday_subdivision: str | None = None,
    closures: list[str] | None = None,
) -> dict[str, Any]:
    """A CalendarConfig body; Mon-Fri 09:00-17:00 unless ``hours`` is given."""
    return {
        "timezone": timezone,
        "hours": hours if hours is not None else {d: NINE_TO_FIVE for d in WEEKDAYS_ONLY},
        "holiday_country": holiday_country,
        "holiday_subdivision": holiday_subdivision,
        "closures": closures or [],
    }


def team(name: str = "Eastside CHWs", **calendar: Any) -> TeamConfig:
    """A TeamConfig with default policy and matrix."""
    return TeamConfig.model_validate({"name": name, "calendar": calendar_body(**calendar)})


def business_calendar(around: date = date(2026, 6, 1), **calendar: Any) -> BusinessCalendar:
    """A BusinessCalendar built through the config path, like the API does."""
    return BusinessCalendar.from_config(
        CalendarConfig.model_validate(calendar_body(**calendar)), around=around
    )


POLICY = Policy()


def at(tz: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """An aware local datetime (fold=0)."""
    return datetime(year, month, day, hour, minute, tzinfo=tz)


def naive(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A datetime without a time zone, on purpose: the domain must refuse it."""
    return datetime(year, month, day, hour, minute)


def utc(value: datetime) -> datetime:
    """Normalise for comparison: same-ZoneInfo datetimes compare by wall time, ignoring folds."""
    return value.astimezone(UTC)


def is_interval_end(cal: BusinessCalendar, instant: datetime) -> bool:
    """Whether ``instant`` is exactly the end of one of the calendar's intervals."""
    local_day = instant.astimezone(cal.tz).date()
    for offset in (-1, 0, 1):
        for _, end in cal.intervals_on(local_day + timedelta(days=offset)):
            if utc(end) == utc(instant):
                return True
    return False
