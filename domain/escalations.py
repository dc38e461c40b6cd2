"""The escalation ladder's clock and targets, and who may act on an escalation; pure and
sandbox-safe."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from domain.calendar import BusinessCalendar
from domain.models import Clock, EscalationLevel, EscalationRule


def ladder_deadline(start: datetime, minutes: int, *, clock: Clock, calendar: BusinessCalendar) -> datetime:
    """``minutes`` after ``start`` on the rule's clock.

    ``wall``: plain elapsed time (safety runs nights, weekends and holidays). ``business``: open
    minutes of the team calendar, so nothing advances while the team is closed.
    """
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    if minutes < 0:
        raise ValueError("minutes must not be negative")
    if clock == "wall":
        # Elapsed time: add in UTC (aware arithmetic in a DST zone would add wall-clock time).
        return (start.astimezone(UTC) + timedelta(minutes=minutes)).astimezone(start.tzinfo)
    return calendar.add_open_minutes(start, minutes)


def level_of(rule: EscalationRule, level: int) -> EscalationLevel:
    """The rule's level ``level`` (1-based); past the last, the last (it is re-notified)."""
    if level < 1:
        raise ValueError("levels start at 1")
    return rule.levels[min(level, len(rule.levels)) - 1]


def resolve_overdue_target(rule: EscalationRule, level: int) -> tuple[int, EscalationLevel]:
    """Who hears of a resolve deadline missed at ``level``: the next level, or the manager."""
    nxt = level + 1
    if nxt <= len(rule.levels):
        return nxt, rule.levels[nxt - 1]
    return nxt, EscalationLevel(role="manager", ack_within_minutes=rule.levels[-1].ack_within_minutes)


EscalationAction = Literal["acknowledge", "resolve", "assign"]
# Who may take any action on an escalation: the team's leads and managers, and the system.
DECIDING_ROLES = frozenset({"lead", "manager", "system"})


def may_act_on_escalation(
    action: EscalationAction,
    *,
    role: str,
    actor_id: str | None,
    level: EscalationLevel | None = None,
    owner_id: str | None = None,
) -> bool:
    """Whether the actor may ``action`` the escalation (docs/rules.md §2.4, acting on an escalation).

    Acknowledge: leads, managers (and the system), or the staff member named at the escalation's
    current ``level`` (``level_of``). Resolve: the same, or the escalation's owner. Assign: leads,
    managers and the system only. The actor is one of the escalation's team: the API admits only
    the team's staff this far (``services.access``); the workflow's updates come through the API
    or from the system.
    """
    if role in DECIDING_ROLES:
        return True
    if action == "assign" or actor_id is None:
        return False
    if level is not None and level.staff_id == actor_id:
        return True
    return action == "resolve" and actor_id == owner_id
