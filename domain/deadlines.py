"""Response deadlines and retry spacing.

Pure functions of ``received_at`` and the team calendar, never of when a workflow started,
so a backfilled interaction gets the deadline it would have had and replays are stable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Literal, get_args

from domain.calendar import BusinessCalendar
from domain.models import CHANNELS, Policy, TeamConfig

DeadlineKind = Literal["same_day", "one_business_day", "business_days", "urgent"]
DEADLINE_KINDS: tuple[DeadlineKind, ...] = get_args(DeadlineKind)
# How each channel's deadline is computed when the case is not urgent.
CHANNEL_DEADLINE_KIND: Mapping[str, DeadlineKind] = MappingProxyType(
    {
        "call": "same_day",
        "voicemail": "same_day",
        "text": "one_business_day",
        "referral": "business_days",
    }
)
DEADLINE_LABELS: Mapping[DeadlineKind, str] = MappingProxyType(
    {
        "same_day": "same-day deadline",
        "one_business_day": "one-business-day deadline",
        "business_days": "referral deadline",
        "urgent": "urgent deadline",
    }
)


def _require_aware(value: datetime, name: str) -> None:
    """Naive datetimes are ambiguous across time zones, so they are refused outright."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(f"{name} must be timezone-aware")


def _require_channel(channel: str) -> None:
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}: expected one of {', '.join(CHANNELS)}")


def deadline_kind(channel: str, *, urgent: bool) -> DeadlineKind:
    """Which rule sets the deadline: the channel's (same day or one business day), or urgency.

    An urgent case is labelled ``urgent`` even when its channel deadline happens to be earlier:
    ``due_at`` is then the earlier of the two (see ``due_at``).

    Raises:
        ValueError: on an unknown channel.
    """
    _require_channel(channel)
    return "urgent" if urgent else CHANNEL_DEADLINE_KIND[channel]


def is_urgent(flags: Iterable[str], *, urgent: bool = False) -> bool:
    """A case is urgent when started with ``urgent`` set or with the ``urgent`` flag among its flags."""
    return urgent or "urgent" in flags


def earliest(first: datetime, *others: datetime) -> datetime:
    """The earliest instant, compared in UTC (same-ZoneInfo comparisons ignore DST folds).

    The winner keeps its own time zone.
    """
    return min((first, *others), key=lambda at: at.astimezone(UTC))


def _same_day_due(received_at: datetime, calendar: BusinessCalendar, policy: Policy) -> datetime:
    """Calls and voicemails: close of the day of receipt, or of the next business day past the cutoff."""
    day = calendar.day_of_receipt(received_at)
    close = calendar.close_instant_of(day)
    cutoff = close.astimezone(UTC) - timedelta(minutes=policy.same_day_cutoff_minutes)
    if received_at.astimezone(UTC) > cutoff:
        return calendar.close_instant_of(calendar.next_business_day(day))
    return close


def _business_days_due(received_at: datetime, days: int, calendar: BusinessCalendar) -> datetime:
    """Referrals: the close of the ``days``-th business day after the day of receipt."""
    day = calendar.day_of_receipt(received_at)
    for _ in range(days):
        day = calendar.next_business_day(day)
    return calendar.close_instant_of(day)


def due_at(
    received_at: datetime,
    channel: str,
    *,
    urgent: bool,
    calendar: BusinessCalendar,
    policy: Policy,
) -> datetime:
    """The response deadline of an interaction, in the team time zone.

    Raises:
        ValueError: on a naive ``received_at`` or an unknown channel.
    """
    _require_aware(received_at, "received_at")
    kind = deadline_kind(channel, urgent=False)
    if kind == "one_business_day":
        due = calendar.add_open_minutes(received_at, policy.text_response_business_minutes)
    elif kind == "business_days":
        due = _business_days_due(received_at, policy.referral_response_business_days, calendar)
    else:
        due = _same_day_due(received_at, calendar, policy)
    if urgent:
        # Urgency only ever moves the deadline earlier.
        due = earliest(due, calendar.add_open_minutes(received_at, policy.urgent_response_business_minutes))
    return due


def referral_due(
    received_at: datetime,
    *,
    requested: datetime | None,
    urgent: bool,
    calendar: BusinessCalendar,
    policy: Policy,
) -> datetime:
    """The response deadline of a referral (docs/rules.md §2.2): the deadline the referrer
    asked for (a FHIR Task's ``restriction.period.end``) when given, else the close of the
    ``referral_response_business_days``-th business day after the day of receipt. Urgency only
    ever moves it earlier: the earlier of it and the urgent deadline.

    Raises:
        ValueError: on a naive ``received_at`` or ``requested``, or a ``requested`` deadline
            not after ``received_at``.
    """
    _require_aware(received_at, "received_at")
    if requested is None:
        return due_at(received_at, "referral", urgent=urgent, calendar=calendar, policy=policy)
    _require_aware(requested, "requested")
    if requested.astimezone(UTC) <= received_at.astimezone(UTC):
        raise ValueError("the requested deadline is not after the referral's receipt")
    due = requested.astimezone(calendar.tz)
    if urgent:
        due = earliest(due, calendar.add_open_minutes(received_at, policy.urgent_response_business_minutes))
    return due


def due_when_flagged_urgent(
    current_due: datetime,
    received_at: datetime,
    channel: str,
    *,
    calendar: BusinessCalendar,
    policy: Policy,
) -> datetime:
    """The deadline once a case is flagged urgent after it started: the earlier of ``current_due``
    and the urgent deadline, which still counts from ``received_at``, not from when the flag was
    raised. The InteractionWorkflow's ``flag`` applies this rule.

    Compared with Python's ``min``, not ``earliest``, because that is how the workflow has always
    compared them, and cases in flight replay with it. The two differ only in a DST fold: two
    instants in the team's own ``ZoneInfo`` compare by wall clock, so for a team open through the
    fall-back hour the later instant can win (01:10 CST over 01:40 CDT). A fix changes a running
    case's deadline, so it needs a workflow patch (docs/adr/patching.md).

    Raises:
        ValueError: on a naive datetime or an unknown channel.
    """
    _require_aware(current_due, "current_due")
    return min(current_due, due_at(received_at, channel, urgent=True, calendar=calendar, policy=policy))


def response_due(received_at: datetime, channel: str, *, urgent: bool, team: TeamConfig) -> datetime:
    """The public entry point: ``due_at`` for a team configuration.

    Raises:
        ValueError: on a naive ``received_at`` or an unknown channel.
    """
    _require_aware(received_at, "received_at")
    _require_channel(channel)
    calendar = BusinessCalendar.from_config(team.calendar, around=received_at.date())
    return due_at(received_at, channel, urgent=urgent, calendar=calendar, policy=team.policy)


def retry_due_at(after: datetime, *, calendar: BusinessCalendar, policy: Policy) -> datetime:
    """When the next contact attempt is due after an unsuccessful one."""
    _require_aware(after, "after")
    return calendar.add_open_minutes(after, policy.retry_spacing_business_minutes)


def due_soon_at(due: datetime, *, policy: Policy) -> datetime:
    """When the due-soon reminder fires: ``due_soon_minutes`` of clock time before ``due``."""
    _require_aware(due, "due")
    return (due.astimezone(UTC) - timedelta(minutes=policy.due_soon_minutes)).astimezone(due.tzinfo)


def is_overdue(
    due_at: datetime,
    first_response_at: datetime | None,
    now: datetime,
    *,
    resolved_at: datetime | None = None,
) -> bool:
    """Overdue: not answered, not resolved, and the deadline has come (``due_at <= now``).

    The workflow raises ``deadline_missed`` at ``due_at`` itself, so the deadline instant
    already counts as overdue. ``store.repositories.overdue_clause`` is the SQL form of this
    rule; keep the two identical (a property test checks they agree).
    """
    if first_response_at is not None or resolved_at is not None:
        return False
    return due_at.astimezone(UTC) <= now.astimezone(UTC)


def sla_met(first_response_at: datetime | None, due_at: datetime) -> bool | None:
    """Whether the first response kept the promise (``first_response_at <= due_at``); None if unanswered."""
    if first_response_at is None:
        return None
    return first_response_at.astimezone(UTC) <= due_at.astimezone(UTC)
