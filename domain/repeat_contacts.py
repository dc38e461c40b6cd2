"""Repeat contacts (docs/rules.md §2.10): a member who contacts the team again while a case of
theirs is open joins that case, and its response deadline moves.

Pure: the deadline the new contact would have had on a case of its own is computed by the
caller (``domain.deadlines.due_at`` from the contact's time and channel, with the case's
urgency); this module only decides what the case's deadline becomes.

Worked examples (Chicago, business hours Mon-Fri 09:00-17:00; a call's deadline is the close of
its day, a text's one business day later):

>>> from datetime import datetime
>>> from zoneinfo import ZoneInfo
>>> tz = ZoneInfo("America/Chicago")
>>> def t(day: int, hour: int) -> datetime:
...     return datetime(2026, 12, day, hour, tzinfo=tz)

A text at Mon 10:00 (due Tue 10:00), then a call at Mon 11:00 (it would be due Mon 17:00): the
deadline moves earlier, to Mon 17:00.

>>> deadline_after_contact(t(8, 10), t(7, 17), responded=False).isoformat()
'2026-12-07T17:00:00-06:00'

A call at Mon 10:00 (due Mon 17:00), then a text at Mon 11:00 (it would be due Tue 11:00): the
deadline never moves later, it stays Mon 17:00.

>>> deadline_after_contact(t(7, 17), t(8, 11), responded=False).isoformat()
'2026-12-07T17:00:00-06:00'

A call at Mon 10:00 answered at 10:30, then the member calls again at Tue 09:30: the member is
waiting again, the case is due at the new contact's deadline, Tue 17:00 (earlier or later than
the first one, whichever it is).

>>> deadline_after_contact(t(7, 17), t(8, 17), responded=True).isoformat()
'2026-12-08T17:00:00-06:00'

The SLA report judges the first response against the deadline the *first* contact had, which
no repeat contact moves (``first_deadline``): in the text-then-call example the case is due Mon
17:00, but a first response at Mon 17:30 is on time against the text's Tue 10:00.

>>> first_deadline(t(8, 10), None).isoformat()
'2026-12-08T10:00:00-06:00'
>>> first_deadline(t(7, 17), t(8, 10)).isoformat()
'2026-12-08T10:00:00-06:00'
"""

from __future__ import annotations

from datetime import UTC, datetime


def deadline_after_contact(current: datetime, contact_due: datetime, *, responded: bool) -> datetime:
    """The case's response deadline once the member contacted again.

    ``current``: the case's deadline now; ``contact_due``: the one the new contact would have
    had on a case of its own; ``responded``: the case's first response was already made (the
    member is waiting again, so the new contact's deadline is the case's).

    Otherwise the earlier of the two, compared in UTC; the winner keeps its own time zone. A
    deadline already passed stays passed (the earlier wins).

    Raises:
        ValueError: on a naive datetime.
    """
    for name, value in (("current", current), ("contact_due", contact_due)):
        if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
            raise ValueError(f"{name} must be timezone-aware")
    if responded:
        return contact_due
    return current if current.astimezone(UTC) <= contact_due.astimezone(UTC) else contact_due


def first_deadline(current: datetime, kept: datetime | None) -> datetime:
    """The deadline the case's first contact had, once a repeat contact is merged: ``kept`` (what
    an earlier merge kept) or, at the first merge, ``current`` (no repeat contact has moved it
    yet). The case's deadline may then move (``deadline_after_contact``); this one does not, so
    the SLA report measures the first response against the first contact (docs/rules.md §2.10).
    """
    return current if kept is None else kept
