"""Absence rules that need no I/O (docs/rules.md §2.5): the window, and who covers whom."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime


def window_error(starts_at: datetime, ends_at: datetime) -> str | None:
    """Why ``[starts_at, ends_at)`` is not a valid absence window, or None.

    The one home of "ends_at must be after starts_at": request validation, the change of an
    absence's end and the workflow's own check all raise with this message.
    """
    for name, value in (("starts_at", starts_at), ("ends_at", ends_at)):
        if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
            return f"{name} must be timezone-aware"
    if ends_at <= starts_at:
        return "ends_at must be after starts_at"
    return None


def absence_source(absence_id: str) -> str:
    """The ``assignment_source`` of a case an absence moved: hand-back reverts only these."""
    return f"absence:{absence_id}"


def resolve_cover(
    staff_id: str, absence_of: Callable[[str], tuple[str, str | None] | None], *, max_hops: int = 5
) -> tuple[str | None, str | None]:
    """Who takes ``staff_id``'s new cases: ``(assignee or None, absence id or None)``.

    ``absence_of(staff)`` answers ``(absence_id, backup_id)`` for a staff member absent right
    now, else None. A backup who is absent themselves hands on to their own backup (a chain,
    at most ``max_hops`` long, never a loop); the end of the chain with no backup is the
    unassigned queue. The absence id is always the first one (the owner's), so the owner's
    hand-back returns the case.
    """
    first = absence_of(staff_id)
    if first is None:
        return staff_id, None
    absence_id, current = first[0], first[1]
    seen = {staff_id}
    for _ in range(max_hops):
        if current is None or current in seen:
            return None, absence_id
        seen.add(current)
        nxt = absence_of(current)
        if nxt is None:
            return current, absence_id
        current = nxt[1]
    return None, absence_id
