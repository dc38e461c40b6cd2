"""Contact windows as minutes after local midnight (docs/rules.md §2.7): reading ``"HH:MM"``.

Pure and below every other domain module: the team configuration (``domain.models``) checks
its ``contact_window`` with these, and ``domain.contact`` works with the windows they give.
"""

from __future__ import annotations

from collections.abc import Sequence

# ``(start, end)`` in minutes after local midnight, ``start < end``, read on every day.
Window = tuple[int, int]


def parse_hhmm(value: str) -> int:
    """``"08:30"`` → 510; ``"24:00"`` is the end of the day. Raises ValueError otherwise."""
    parts = value.split(":")
    if len(parts) != 2 or not all(p.isdigit() and len(p) == 2 for p in parts):
        raise ValueError(f"'{value}' is not a time of day HH:MM")
    hours, minutes = int(parts[0]), int(parts[1])
    if minutes >= 60 or hours > 24 or (hours == 24 and minutes != 0):
        raise ValueError(f"'{value}' is not a time of day HH:MM")
    return hours * 60 + minutes


def parse_window(value: Sequence[str]) -> Window:
    """``["09:00", "19:00"]`` → ``(540, 1140)``; the start must come before the end."""
    if len(value) != 2:
        raise ValueError("a contact window is two times of day, [start, end]")
    start, end = parse_hhmm(value[0]), parse_hhmm(value[1])
    if start >= end:
        raise ValueError(f"a contact window must start before it ends (got {value[0]}-{value[1]})")
    return start, end
