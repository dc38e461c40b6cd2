"""A member's contact rules on a case's retries (docs/rules.md §2.7): a retry reminder waits for
the member's contact window and daily cap, and says why it waits."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.calendar import BusinessCalendar
    from domain.contact import format_hhmm, local_hhmm, next_contact_instant
    from domain.messages import AttemptInput, InteractionState, MemberContact

# Runs that record this patch hold a retry reminder until the member's contact window opens and
# the daily cap allows another attempt (docs/rules.md §2.7); only attempts that carry the
# member's contact rules call it, so histories from before replay unchanged.
CONTACT_WINDOW_PATCH = "contact-window-retry"
# Runs that record this patch keep the retry of a member with no window in force (an attempt
# carries ``(0, 0)``: the member's own window never meets the legal one) to business hours as
# ``no_overlap``; before it, that empty window "opened" at the member's midnight, and a retry was
# held there whenever the team was open at that instant.
NO_WINDOW_PATCH = "no-window-no-overlap"


def hold_for_contact(
    s: InteractionState,
    contact: MemberContact | None,
    *,
    calendar: BusinessCalendar,
    patched: Callable[[str], bool],
) -> dict[str, Any]:
    """Move the scheduled retry to the first instant in business hours, in the member's window
    and under the daily cap; say why it waits (timeline details, timer summary).

    ``patched`` is the workflow's patch check, asked only for an attempt that carries the
    member's rules and schedules a retry.
    """
    s.retry_held_by, s.retry_zone, s.retry_text_refused = None, None, False
    if contact is None or s.next_retry_at is None or not patched(CONTACT_WINDOW_PATCH):
        return {}
    s.retry_zone = contact.zone
    s.retry_text_refused = contact.text_refused
    base = s.next_retry_at
    window = (contact.window_start, contact.window_end)
    at: datetime | None = None
    if not (window[0] >= window[1] and patched(NO_WINDOW_PATCH)):  # an empty window never opens
        at = next_contact_instant(
            base, calendar=calendar, zone=contact.zone, window=window, not_before=contact.cap_clears_at
        )
    if at is None:  # no window, or the team's hours never meet it: keep business hours
        s.retry_held_by = "no_overlap"
        return {"held_by": "no_overlap", "member_zone": contact.zone}
    unheld = next_contact_instant(base, calendar=calendar, zone=contact.zone, window=window)
    if at > base:
        s.retry_held_by = "daily_cap" if unheld is not None and at > unheld else "contact_window"
    s.next_retry_at = at
    if s.retry_held_by is None:
        return {}
    return {
        "held_by": s.retry_held_by,
        "member_zone": contact.zone,
        "window_opens": format_hhmm(contact.window_start),
        "unheld_retry_at": base.isoformat(),
    }


def retry_wait_reason(s: InteractionState, at: datetime) -> str:
    """Why the retry reminder at ``at`` waits (for its timer's summary); empty if it does not."""
    if s.retry_held_by is None or s.retry_zone is None:
        return ""
    if s.retry_held_by == "no_overlap":
        return "the member's window never meets business hours, "
    local = local_hhmm(at, s.retry_zone)
    if s.retry_held_by == "daily_cap":
        return f"waiting for the member's daily cap, clears {local} {s.retry_zone}, "
    return f"waiting for the member's window, opens {local} {s.retry_zone}, "


def contact_marks(inp: AttemptInput) -> dict[str, bool | str]:
    """The attempt's marks for the timeline: only those that are set (so an attempt of an older
    caller, without ``channel``, writes the line it always wrote)."""
    marks: dict[str, bool | str | None] = {
        "channel": inp.channel,
        "outside_contact_window": inp.outside_contact_window,
        "over_daily_cap": inp.over_daily_cap,
        "consent_refused": inp.consent_refused,
    }
    return {k: v for k, v in marks.items() if v}
