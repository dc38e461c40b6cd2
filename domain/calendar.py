"""Business-time arithmetic on a team calendar.

Pure and deterministic so workflows can call it on every wake-up: no clock, no I/O, and no
``holidays`` import (holidays arrive already resolved in a ``CalendarSnapshot``).

All arithmetic is done on UTC instants. Python compares and subtracts two datetimes that
share a ``ZoneInfo`` by wall time, which is wrong across DST changes, so local datetimes are
only produced at the edges (results and ``intervals_on``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from domain.models import WEEKDAYS, CalendarConfig, CalendarSnapshot, hhmm_to_minutes

MAX_GAP_DAYS = 800
"""Longest run of closed days searched before giving up, so a bad calendar cannot hang a workflow."""

_ONE_DAY = timedelta(days=1)
_UtcInterval = tuple[datetime, datetime]


def _require_aware(value: datetime, name: str) -> datetime:
    """Return ``value`` in UTC; naive datetimes are ambiguous, so they are refused."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value.astimezone(UTC)


class BusinessCalendar:
    """Open hours of one team, with holidays and closures, in the team's time zone.

    Intervals are half-open ``[start, end)``. Intervals that touch (``20:00-24:00`` followed
    by the next day's ``00:00-04:00``) count as one continuous stretch of open time.
    """

    def __init__(self, snapshot: CalendarSnapshot) -> None:
        self._snapshot = snapshot
        self._tz = ZoneInfo(snapshot.timezone)
        self._weekly: tuple[tuple[tuple[int, int], ...], ...] = tuple(
            tuple(
                (hhmm_to_minutes(start, is_end=False), hhmm_to_minutes(end, is_end=True))
                for start, end in snapshot.hours.get(weekday, [])
            )
            for weekday in WEEKDAYS
        )
        self._closed = frozenset(snapshot.closed_dates)
        self._day_cache: dict[date, tuple[_UtcInterval, ...]] = {}

    @classmethod
    def from_config(
        cls,
        cfg: CalendarConfig,
        *,
        around: date,
        years_before: int = 1,
        years_after: int = 2,
    ) -> BusinessCalendar:
        """Resolve holidays for the years around ``around`` and build a calendar.

        ``around`` is required because the domain never reads the machine clock.
        """
        return cls(cfg.snapshot(around.year - years_before, around.year + years_after))

    @property
    def tz(self) -> ZoneInfo:
        """The team's time zone."""
        return self._tz

    @property
    def snapshot(self) -> CalendarSnapshot:
        """The snapshot this calendar was built from (to pass into workflows)."""
        return self._snapshot

    # ----------------------------------------------------------------------------- days

    def _local(self, d: date, minutes: int) -> datetime:
        """Wall time ``minutes`` after local midnight of ``d`` as a UTC instant (24:00 = next midnight)."""
        if minutes >= 24 * 60:
            d, minutes = d + _ONE_DAY, minutes - 24 * 60
        return datetime.combine(d, time(minutes // 60, minutes % 60), tzinfo=self._tz).astimezone(UTC)

    def _utc_day(self, d: date) -> tuple[_UtcInterval, ...]:
        """The open intervals of ``d`` as sorted, merged UTC instants (cached per date)."""
        cached = self._day_cache.get(d)
        if cached is not None:
            return cached
        merged: list[_UtcInterval] = []
        if d not in self._closed:
            # Wall times inside a DST gap map out of order, so sort and merge after mapping.
            mapped = sorted((self._local(d, s), self._local(d, e)) for s, e in self._weekly[d.weekday()])
            for start, end in mapped:
                if end <= start:
                    continue
                if merged and start <= merged[-1][1]:
                    merged[-1] = (merged[-1][0], max(merged[-1][1], end))
                else:
                    merged.append((start, end))
        result = tuple(merged)
        self._day_cache[d] = result
        return result

    def is_business_day(self, d: date) -> bool:
        """A date with at least one open interval that is not a holiday or closure."""
        return bool(self._utc_day(d))

    def intervals_on(self, d: date) -> list[tuple[datetime, datetime]]:
        """The open intervals of ``d`` in local time; empty on a closed day."""
        return [(s.astimezone(self._tz), e.astimezone(self._tz)) for s, e in self._utc_day(d)]

    def opening_of(self, d: date) -> datetime | None:
        """Start of the first interval of ``d``, or None on a closed day."""
        day = self._utc_day(d)
        return day[0][0].astimezone(self._tz) if day else None

    def close_of(self, d: date) -> datetime | None:
        """End of the last interval of ``d`` (the day's "close"), or None on a closed day."""
        day = self._utc_day(d)
        return day[-1][1].astimezone(self._tz) if day else None

    def next_business_day(self, after: date) -> date:
        """The first business day strictly after ``after``.

        Raises:
            ValueError: if none lies within ``MAX_GAP_DAYS``.
        """
        d = after
        for _ in range(MAX_GAP_DAYS):
            d += _ONE_DAY
            if self._utc_day(d):
                return d
        raise ValueError(f"no open time within {MAX_GAP_DAYS} days after {after.isoformat()}")

    # ------------------------------------------------------------------------ instants

    def _iter_open(self, start: datetime, stop: datetime | None = None) -> Iterator[_UtcInterval]:
        """Yield the open intervals (UTC) that end after ``start``, in order and disjoint.

        Intervals are not merged across midnight (a 24/7 calendar would never end a stretch);
        a night shift split at midnight still behaves as continuous time because one piece
        ends at the very instant the next begins. With ``stop`` the scan ends once no further
        interval can start before it; without it the scan runs until the caller stops.

        Raises:
            ValueError: if, without ``stop``, a run of more than ``MAX_GAP_DAYS`` closed days is met.
        """
        # Start one day early: DST folds can put an instant on a local date after its interval's.
        day = start.astimezone(self._tz).date() - _ONE_DAY
        last_end = start
        idle_days = 0
        while True:
            if stop is not None and self._local(day, 0) >= stop:
                return
            intervals = self._utc_day(day)
            if intervals:
                idle_days = 0
            elif stop is None:
                idle_days += 1
                if idle_days > MAX_GAP_DAYS:
                    local_start = start.astimezone(self._tz).isoformat()
                    raise ValueError(f"no open time within {MAX_GAP_DAYS} days after {local_start}")
            for s, e in intervals:
                if e <= last_end:
                    continue
                # Clamp: nothing before ``start`` is wanted, and a DST change at midnight can make
                # two days overlap, which must never count twice.
                yield max(s, last_end), e
                last_end = e
            day += _ONE_DAY

    def is_open(self, at: datetime) -> bool:
        """Whether ``at`` lies inside an open interval on a non-holiday."""
        a = _require_aware(at, "at")
        for s, _ in self._iter_open(a, stop=a + timedelta(microseconds=1)):
            return s <= a
        return False

    def next_open_instant(self, at: datetime) -> datetime:
        """``at`` itself if open, else the start of the next open interval (team time zone)."""
        a = _require_aware(at, "at")
        for s, _ in self._iter_open(a):
            return max(s, a).astimezone(self._tz)
        raise ValueError(f"no open time after {at.isoformat()}")  # pragma: no cover - unreachable

    def add_open_minutes(self, start: datetime, minutes: float) -> datetime:
        """The instant at which ``minutes`` of open time have elapsed since ``start``.

        If ``start`` is closed the clock starts at the next opening. Running out exactly at
        the end of an interval returns that end rather than the next opening, so a deadline
        never drifts past a closed night.

        Raises:
            ValueError: on a naive ``start``, negative or non-finite ``minutes``.
        """
        a = _require_aware(start, "start")
        if not math.isfinite(minutes) or minutes < 0:
            raise ValueError(f"minutes must be a finite number >= 0, got {minutes!r}")
        try:
            remaining = timedelta(minutes=minutes)
        except OverflowError as exc:
            raise ValueError(f"minutes {minutes!r} is too large") from exc
        if not remaining:
            return self.next_open_instant(a)
        for s, e in self._iter_open(a):
            cursor = max(s, a)
            available = e - cursor
            if available >= remaining:
                return (cursor + remaining).astimezone(self._tz)
            remaining -= available
        raise ValueError(f"no open time after {start.isoformat()}")  # pragma: no cover - unreachable

    def open_minutes_between(self, start: datetime, end: datetime) -> float:
        """Minutes of open time in ``[start, end)``; 0 when ``end <= start``."""
        a = _require_aware(start, "start")
        b = _require_aware(end, "end")
        if b <= a:
            return 0.0
        total = timedelta()
        for s, e in self._iter_open(a, stop=b):
            lo, hi = max(s, a), min(e, b)
            if hi > lo:
                total += hi - lo
        return total / timedelta(minutes=1)

    def day_of_receipt(self, at: datetime) -> date:
        """The day of receipt: the local date of ``at`` if it is a business day and ``at`` is
        before its close, else the first business day after that date."""
        a = _require_aware(at, "at")
        local_day = a.astimezone(self._tz).date()
        intervals = self._utc_day(local_day)
        if intervals and a < intervals[-1][1]:
            return local_day
        return self.next_business_day(local_day)

    def close_instant_of(self, d: date) -> datetime:
        """Like ``close_of`` but for a date known to be a business day.

        Raises:
            ValueError: if ``d`` is not a business day.
        """
        close = self.close_of(d)
        if close is None:
            raise ValueError(f"{d.isoformat()} is not a business day")
        return close
