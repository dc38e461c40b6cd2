"""Console sessions (``ConsoleSession``): opened at sign-in, ended at sign-out, purged once expired.

Keys are the SHA-256 of the session id the sealed cookie carries (``api.console.security``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from store.models import ConsoleSession


def open_session(session: Session, key: str, *, staff_id: str | None, now: datetime, hours: float) -> None:
    """Record a new sign-in, valid for ``hours`` from ``now`` (committed)."""
    session.add(
        ConsoleSession(id=key, staff_id=staff_id, created_at=now, expires_at=now + timedelta(hours=hours))
    )
    session.commit()


def is_live(session: Session, key: str, *, now: datetime, hours: float) -> bool:
    """The session exists, has not expired, and is no older than ``hours`` (so a lowered
    ``CONSOLE_SESSION_HOURS`` also shortens sessions already open)."""
    row = session.scalar(select(ConsoleSession).where(ConsoleSession.id == key))
    return row is not None and now < row.expires_at and now < row.created_at + timedelta(hours=hours)


def end_session(session: Session, key: str) -> None:
    """Sign-out: the session is gone (committed); its cookie, wherever copied, opens nothing."""
    session.execute(delete(ConsoleSession).where(ConsoleSession.id == key))
    session.commit()


def purge_expired(session: Session, now: datetime) -> int:
    """Delete sessions that have expired (committed); how many."""
    result = session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at <= now))
    session.commit()
    return int(getattr(result, "rowcount", 0) or 0)
