"""Response deadlines (docs/rules.md §2.2) and retry spacing (docs/rules.md §2.3).

Pure functions of ``received_at`` and the team calendar, never of when a workflow started,
so a backfilled interaction gets the deadline it would have had and replays are stable.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.calendar import BusinessCalendar
from domain.models import CHANNELS, Policy, TeamConfig


def _require_aware(value: datetime, name: str) -> None:
    """Naive datetimes are ambiguous across time zones, so they are refused outright."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(f"{name} must be timezone-aware")


def _require_channel(channel: str) -> None:
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}: expected one of {', '.join(CHANNELS)}")


def _same_day_due(received_at: datetime, calendar: BusinessCalendar, policy: Policy) -> datetime:
    """Calls and voicemails: close of the day of receipt, or of the next business day past the cutoff."""
    day = calendar.day_of_receipt(received_at)
    close = calendar.close_instant_of(day)
    cutoff = close.astimezone(UTC) - timedelta(minutes=policy.same_day_cutoff_minutes)
    if received_at.astimezone(UTC) > cutoff:
        return calendar.close_instant_of(calendar.next_business_day(day))
    return close


def due_at(
    received_at: datetime,
    channel: str,
    *,
    urgent: bool,
    calendar: BusinessCalendar,
    policy: Policy,
) -> datetime:
    """The response deadline of an interaction, in the team time zone (docs/rules.md §2.2).

    Raises:
        ValueError: on a naive ``received_at`` or an unknown channel.
    """
    _require_aware(received_at, "received_at")
    _require_channel(channel)
    if channel == "text":
        due = calendar.add_open_minutes(received_at, policy.text_response_business_minutes)
    else:
        due = _same_day_due(received_at, calendar, policy)
    if urgent:
        urgent_due = calendar.add_open_minutes(received_at, policy.urgent_response_business_minutes)
        # Compare in UTC: same-ZoneInfo comparisons ignore DST folds.
        if urgent_due.astimezone(UTC) < due.astimezone(UTC):
            due = urgent_due
    return due


def response_due(received_at: datetime, channel: str, *, urgent: bool, team: TeamConfig) -> datetime:
    """docs/api.md §4.4 entry point: ``due_at`` for a team configuration.

    Raises:
        ValueError: on a naive ``received_at`` or an unknown channel.
    """
    _require_aware(received_at, "received_at")
    _require_channel(channel)
    calendar = BusinessCalendar.from_config(team.calendar, around=received_at.date())
    return due_at(received_at, channel, urgent=urgent, calendar=calendar, policy=team.policy)


def retry_due_at(after: datetime, *, calendar: BusinessCalendar, policy: Policy) -> datetime:
    """When the next contact attempt is due after an unsuccessful one (docs/rules.md §2.3)."""
    _require_aware(after, "after")
    return calendar.add_open_minutes(after, policy.retry_spacing_business_minutes)


def due_soon_at(due: datetime, *, policy: Policy) -> datetime:
    """When the due-soon reminder fires: ``due_soon_minutes`` of clock time before ``due``."""
    _require_aware(due, "due")
    return (due.astimezone(UTC) - timedelta(minutes=policy.due_soon_minutes)).astimezone(due.tzinfo)
