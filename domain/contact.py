"""When a member may be contacted: contact windows and the daily cap (docs/rules.md §2.7).

Pure functions, no clock and no I/O. A *window* (``domain.windows``) is a pair of minutes after
local midnight ``(start, end)`` with ``start < end``, read in the member's time zone on every day. The
window in force is the intersection of the legal window (08:00-21:00, 08:00-20:00 in FL, OK
and MD), the team's ``contact_window`` and the member's own; the daily cap counts attempts on
a rolling 24 hours.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from domain.calendar import BusinessCalendar
from domain.windows import Window

LEGAL_WINDOW: Window = (8 * 60, 21 * 60)
# States whose rules end the calling day at 20:00 (Fla. Stat. 501.616, Okla. Stat. 15-775C.4,
# Md. Com. Law 14-4504).
NARROW_STATES = frozenset({"FL", "OK", "MD"})
NARROW_WINDOW: Window = (8 * 60, 20 * 60)
DEFAULT_MAX_ATTEMPTS_PER_DAY = 3
CAP_PERIOD = timedelta(hours=24)
# How many alternations between "next open business instant" and "next window opening" are
# tried before concluding that the team's hours and the member's window never meet.
_MAX_STEPS = 120


def format_hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def local_hhmm(at: datetime, zone: str) -> str:
    """``at`` on the member's clock, ``"08:00"``."""
    return f"{at.astimezone(ZoneInfo(zone)):%H:%M}"


def intersect(windows: Iterable[Window]) -> Window | None:
    """The common part of every window, or None when they do not overlap."""
    start, end = 0, 24 * 60
    for s, e in windows:
        start, end = max(start, s), min(end, e)
    return (start, end) if start < end else None


def contact_window(*, state: str | None, team: Window, member: Window | None) -> Window | None:
    """The member's window in force: legal ∩ state ∩ team ∩ member's own (None: never)."""
    parts = [LEGAL_WINDOW, team]
    if state is not None and state.upper() in NARROW_STATES:
        parts.append(NARROW_WINDOW)
    if member is not None:
        parts.append(member)
    return intersect(parts)


def _local_at(day: datetime, minutes: int, tz: ZoneInfo) -> datetime:
    """The instant at ``minutes`` after midnight of ``day``'s date on the local wall clock (on a
    DST day 08:00 stays 08:00; a wall time skipped by spring-forward moves on with the clocks)."""
    wall = datetime(day.year, day.month, day.day, minutes // 60, minutes % 60, tzinfo=tz)
    return wall.astimezone(UTC).astimezone(tz)


def in_window(at: datetime, zone: str, window: Window) -> bool:
    """Whether ``at`` lies inside the window on the member's local clock."""
    tz = ZoneInfo(zone)
    local = at.astimezone(tz)
    minute = local.hour * 60 + local.minute + (local.second + local.microsecond / 1e6) / 60
    return window[0] <= minute < window[1]


def next_window_opening(at: datetime, zone: str, window: Window) -> datetime:
    """``at`` if inside the window, else the next instant the window opens (member-local)."""
    if at.tzinfo is None:
        raise ValueError("'at' must carry a time zone")
    if in_window(at, zone, window):
        return at
    tz = ZoneInfo(zone)
    local = at.astimezone(tz)
    today = _local_at(local, window[0], tz)
    if today > at:
        return today
    return _local_at(local + timedelta(days=1), window[0], tz)


def next_contact_instant(
    at: datetime,
    *,
    calendar: BusinessCalendar,
    zone: str,
    window: Window,
    not_before: datetime | None = None,
) -> datetime | None:
    """The first instant at or after ``at`` (and ``not_before``) that is both within the team's
    business hours and within the member's window; None when the two never meet."""
    t = at if not_before is None or not_before <= at else not_before
    for _ in range(_MAX_STEPS):
        t = calendar.next_open_instant(t)
        if in_window(t, zone, window):
            return t
        t = next_window_opening(t, zone, window)
        if calendar.is_open(t):
            return t
    return None


def attempts_in_period(times: Iterable[datetime], at: datetime) -> list[datetime]:
    """The attempts that count against the cap at ``at``: made in ``(at - 24 h, at]``."""
    return sorted(t for t in times if at - CAP_PERIOD < t <= at)


def over_daily_cap(prior: Iterable[datetime], at: datetime, cap: int) -> bool:
    """Whether an attempt at ``at`` is over the cap, given the member's earlier attempts."""
    return len(attempts_in_period(prior, at)) >= cap


def cap_clears_at(times: Iterable[datetime], at: datetime, cap: int) -> datetime | None:
    """After the attempts ``times`` (including one at ``at``), the first instant another attempt
    is under the cap again; None when it already is."""
    recent = attempts_in_period(times, at)
    if len(recent) < cap:
        return None
    return recent[len(recent) - cap] + CAP_PERIOD
