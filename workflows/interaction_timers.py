"""What a case's timers say in the UI: the next wake-up's kind and when, in the team's zone."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from temporalio import workflow

from workflows.interaction_contact import retry_wait_reason

with workflow.unsafe.imports_passed_through():
    from domain.calendar import BusinessCalendar
    from domain.messages import InteractionState

WakeKind = Literal["due_soon", "overdue", "retry_due"]


def timer_summary(s: InteractionState, calendar: BusinessCalendar, kind: WakeKind, at: datetime) -> str:
    """The summary of the timer that wakes the case at ``at`` for ``kind``."""
    local = at.astimezone(calendar.tz)
    when = f"{local:%a %d %b %H:%M} {calendar.tz.key}"
    if kind == "due_soon":
        return f"due-soon reminder, {when}"
    if kind == "retry_due":
        return f"retry reminder (attempt {len(s.attempts) + 1}), {retry_wait_reason(s, at)}{when}"
    label = "same-day deadline" if s.channel in ("call", "voicemail") else "one-business-day deadline"
    if s.channel == "referral":
        label = "referral deadline"
    if s.urgent:
        label = "urgent deadline"
    return f"{label}, {when}"
