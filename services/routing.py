"""Caseload routing: who gets a new case, around absences."""

from __future__ import annotations

from sqlalchemy.orm import Session

from domain.absences import absence_source, resolve_cover
from domain.errors import Invalid
from services.common import now_utc
from store import repositories as repo


def cover_for(session: Session, owner_id: str) -> tuple[str | None, str]:
    """Who gets a new case of ``owner_id``'s member: ``(assignee or None, assignment_source)``.

    The owner; if absent, the absence's backup (a backup away in turn hands on to their own
    backup); if nobody, the unassigned queue. A case routed around an absence carries its
    source ``absence:{id}``, so the hand-back at its end returns it to the owner.
    """
    now = now_utc()

    def absence_of(staff_id: str) -> tuple[str, str | None] | None:
        absence = repo.current_absence(session, staff_id, now)
        return None if absence is None else (absence.id, absence.backup_id)

    assignee, absence_id = resolve_cover(owner_id, absence_of)
    if absence_id is None:
        return assignee, "owner"
    return assignee, absence_source(absence_id)


def route_new(session: Session, team_id: str, member_id: str) -> tuple[str | None, str]:
    """A new case goes to the member's owner; if absent, the backup; else the unassigned queue."""
    member = repo.get_member(session, team_id, member_id)
    if member is None:
        raise Invalid(f"unknown member '{member_id}' in team '{team_id}'")
    if member.owner_id is None:
        return None, "unassigned"
    return cover_for(session, member.owner_id)
