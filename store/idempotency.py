"""Idempotent answers and pending member text (see ``IdempotentAnswer`` and ``PendingText``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store.models import IdempotentAnswer, PendingText


def _now() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------- pending text
def stash_text(session: Session, key: str, text: str) -> None:
    """Store ``text`` under ``key`` (committed) before the update that needs it runs."""
    row = session.get(PendingText, key)
    if row is None:
        session.add(PendingText(key=key, text=text, created_at=_now()))
    else:
        row.text = text
    session.commit()


def pending_text(session: Session, key: str) -> str | None:
    row = session.get(PendingText, key)
    return None if row is None else row.text


def drop_text(session: Session, key: str) -> None:
    """The update was refused: the text has no home (committed)."""
    session.execute(delete(PendingText).where(PendingText.key == key))
    session.commit()


def take_text(session: Session, key: str) -> str | None:
    """The text under ``key``, removed (in the caller's transaction), or None."""
    row = session.get(PendingText, key)
    if row is None:
        return None
    session.delete(row)
    return row.text


# ---------------------------------------------------------------- answers
class KeyReused(Exception):
    """The same Idempotency-Key came with a different request."""


def begin_answer(session: Session, key: str, request_hash: str) -> IdempotentAnswer | None:
    """Claim ``key`` for this request; the stored answer if the key was used before.

    Returns None when the key is new (claimed now) or was claimed by a request that never
    answered (it died or is still running): the caller then runs the action, whose operation
    ids derive from the key, so it is applied at most once.
    """
    row = session.get(IdempotentAnswer, key)
    if row is None:
        session.add(IdempotentAnswer(key=key, request_hash=request_hash, created_at=_now()))
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            row = session.get(IdempotentAnswer, key)
            if row is None:  # pragma: no cover - deleted in between
                raise
        else:
            return None
    if row.request_hash != request_hash:
        raise KeyReused(key)
    return row if row.status is not None else None


def finish_answer(session: Session, key: str, status: int, body: dict[str, Any]) -> None:
    row = session.get(IdempotentAnswer, key)
    if row is not None and row.status is None:
        row.status = status
        row.body = body
        session.commit()


def forget_answer(session: Session, key: str) -> None:
    """The action was refused or failed: a repeat of the key runs it again."""
    session.execute(
        delete(IdempotentAnswer).where(IdempotentAnswer.key == key, IdempotentAnswer.status.is_(None))
    )
    session.commit()
