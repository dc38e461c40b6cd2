"""What becomes of one notice: who it reaches (docs/rules.md §2.6) and whether safety holds it
back (§2.8). Pure: no clock, no I/O; the ``notify`` activity reads the facts and writes the rows.

Who a notice reaches:

- a notice naming a recipient that is not an escalation notice goes to that person alone;
- an escalation level naming someone who is away reaches them **and** the leads on duty, who
  can acknowledge it now (with no lead on duty, the managers on duty);
- a role notice reaches everyone of the role who is not away; a lead notice with no lead on duty
  reaches the managers on duty; if everyone of both roles is away, they are all told anyway: a
  notice is never addressed to nobody while the team has staff of the role.

Inhibition: while a safety escalation is open for a member, ``deadline_missed`` and
``unreachable`` escalation notices about that member's cases are recorded with the safety
escalation's id (``inhibited_by``) and not delivered.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from domain.grouping import INHIBITED_TRIGGERS


@dataclass(frozen=True)
class OnRoll:
    """One staff member of the team, as the notice rule sees them."""

    id: str
    role: str


@dataclass(frozen=True)
class Roster:
    """The team's staff, in the order a role's notices list them (by id), and who of them is
    away at the moment of the notice."""

    staff: tuple[OnRoll, ...] = ()
    away: frozenset[str] = frozenset()


def roster_needed(kind: str, recipient_id: str | None) -> bool:
    """Whether who is on duty can change the notice's recipients: a role notice, or an escalation
    notice (its named person may be away). Otherwise ``recipients`` never reads the roster."""
    return recipient_id is None or kind == "escalation"


def recipients(kind: str, recipient_id: str | None, recipient_role: str | None, roster: Roster) -> list[str]:
    """Who the notice is written for, each once: a named recipient first; a role's staff in
    roster order. Empty only for a role notice to a team without staff of the role."""
    if recipient_id is not None and not roster_needed(kind, recipient_id):
        return [recipient_id]
    if recipient_id is not None:
        if recipient_id in roster.away:
            return _once([recipient_id, *on_duty(roster, "lead")])
        return [recipient_id]
    return on_duty(roster, recipient_role or "lead")


def on_duty(roster: Roster, role: str) -> list[str]:
    """Everyone of ``role`` who is not away; for ``lead``, the managers on duty when no lead is.
    If none of them is on duty, all of them (the role's, then for ``lead`` the managers)."""
    roles = [role, "manager"] if role == "lead" else [role]
    everyone: list[str] = []
    for r in roles:
        staff = [s.id for s in roster.staff if s.role == r]
        present = [s for s in staff if s not in roster.away]
        if present:
            return present
        everyone += staff
    return everyone


def inhibitable(kind: str, trigger: str | None) -> bool:
    """Whether an open safety escalation of the member holds this notice back: an escalation
    notice of a trigger that safety inhibits."""
    return kind == "escalation" and trigger in INHIBITED_TRIGGERS


def inhibited_by(kind: str, trigger: str | None, open_safety: str | None) -> str | None:
    """The safety escalation that holds the notice back, or None (delivered as usual).

    ``open_safety``: an unresolved safety escalation of the member the notice is about (None when
    there is none, or the notice is about no case)."""
    return open_safety if inhibitable(kind, trigger) else None


def _once(ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(ids))
