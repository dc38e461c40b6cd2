"""When check-ins happen (start of day, midday, 1-2 hours before the end).

Per business day in the team's time zone: the opening, midday (halfway between the day's
opening and close) and 90 minutes before the close. A moment before the opening is skipped,
and two moments at the same instant are one check-in. Pure, so a workflow can sleep to the
next one on every wake-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from domain.calendar import MAX_GAP_DAYS, BusinessCalendar

CheckinKind = Literal["opening", "midday", "before_close"]
BEFORE_CLOSE = timedelta(minutes=90)


@dataclass(frozen=True)
class CheckinMoment:
    """One check-in: when (team time zone), which one, and the end of that local day."""

    at: datetime
    kind: CheckinKind
    day: date
    day_end: datetime


def checkins_on(calendar: BusinessCalendar, day: date) -> list[CheckinMoment]:
    """The check-ins of ``day`` in time order; none on a closed day (weekend, holiday, closure)."""
    opening, close = calendar.opening_of(day), calendar.close_of(day)
    if opening is None or close is None:
        return []
    o, c = opening.astimezone(UTC), close.astimezone(UTC)
    candidates: list[tuple[datetime, CheckinKind]] = [(o, "opening"), (o + (c - o) / 2, "midday")]
    if c - BEFORE_CLOSE >= o:
        candidates.append((c - BEFORE_CLOSE, "before_close"))
    next_midnight = datetime.combine(day + timedelta(days=1), time(0), tzinfo=calendar.tz)
    moments: list[CheckinMoment] = []
    for at, kind in sorted(candidates, key=lambda m: m[0]):
        if moments and moments[-1].at == at:
            continue  # a short day: "before close" is the opening itself
        moments.append(
            CheckinMoment(at=at.astimezone(calendar.tz), kind=kind, day=day, day_end=next_midnight)
        )
    return moments


def next_checkin(calendar: BusinessCalendar, after: datetime) -> CheckinMoment:
    """The first check-in strictly after ``after``.

    Raises:
        ValueError: on a naive ``after``, or if no business day lies within ``MAX_GAP_DAYS``.
    """
    if after.tzinfo is None or after.tzinfo.utcoffset(after) is None:
        raise ValueError("after must be timezone-aware")
    a = after.astimezone(UTC)
    # Start a day early: a night shift's check-ins can fall on the next local date.
    day = a.astimezone(calendar.tz).date() - timedelta(days=1)
    for _ in range(MAX_GAP_DAYS + 2):
        for moment in checkins_on(calendar, day):
            if moment.at.astimezone(UTC) > a:
                return moment
        day += timedelta(days=1)
    raise ValueError(f"no business day within {MAX_GAP_DAYS} days after {after.isoformat()}")
