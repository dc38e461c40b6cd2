"""Idempotent answers and pending member text (see ``IdempotentAnswer`` and ``PendingText``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from store.db import race_safe_statement
from store.models import IdempotentAnswer, PendingText


def _now() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------- the statements of every action
# Built once (building a statement costs about as much CPU as running it on SQLite); their values
# are given when they run.
_STASH = race_safe_statement(
    lambda insert: (stmt := insert(PendingText)).on_conflict_do_update(
        index_elements=[PendingText.key],
        set_={"text": stmt.excluded.text, "author_id": stmt.excluded.author_id},
    )
)
# "fetch": the deleted row leaves the session too (its key comes back with the text).
_TAKE = (
    delete(PendingText)
    .where(PendingText.key == bindparam("taken"))
    .returning(PendingText.text)
    .execution_options(synchronize_session="fetch")
)
_CLAIM = race_safe_statement(
    lambda insert: (
        insert(IdempotentAnswer)
        .on_conflict_do_nothing(index_elements=[IdempotentAnswer.key])
        .returning(IdempotentAnswer.key)
    )
)
# Leaves an answer already stored, or a claim forgotten meanwhile, as it is.
_FINISH = (
    update(IdempotentAnswer)
    .where(IdempotentAnswer.key == bindparam("claimed"), IdempotentAnswer.status.is_(None))
    .execution_options(synchronize_session=False)
)


# ---------------------------------------------------------------- pending text
def stash_text(session: Session, key: str, text: str, *, author_id: str | None = None) -> None:
    """Store ``text`` (written by ``author_id``) under ``key`` (committed) before the update
    that needs it runs.

    ``key`` names one action (it derives from the action's Idempotency-Key), so only a repeat of
    that same action writes it again, with the same text. An upsert: two requests stashing at
    once never fail on the primary key.
    """
    session.execute(_STASH(session), {"key": key, "text": text, "author_id": author_id, "created_at": _now()})
    session.commit()


def pending_text(session: Session, key: str) -> str | None:
    row = session.get(PendingText, key)
    return None if row is None else row.text


def drop_text(session: Session, key: str) -> None:
    """The update was refused: the text has no home (committed)."""
    session.execute(delete(PendingText).where(PendingText.key == key))
    session.commit()


def take_text(session: Session, key: str) -> str | None:
    """The text under ``key``, removed (in the caller's transaction), or None.

    One ``DELETE … RETURNING``, so two takers of one key (a repeat racing its original) do not
    fail on a row the other already removed: the first gets the text, the other (which waits
    for the first's transaction) gets None and finds the text placed; if the first rolls back,
    the other gets it.
    """
    return session.execute(_TAKE, {"taken": key}).scalar()


# ---------------------------------------------------------------- answers
class KeyReused(Exception):
    """The same Idempotency-Key came with a different request."""


def begin_answer(session: Session, key: str, request_hash: str) -> IdempotentAnswer | None:
    """Claim ``key`` for this request; the stored answer if the key was used before.

    Returns None when the key is new (claimed now) or was claimed by a request that never
    answered (it died or is still running): the caller then runs the action, whose operation
    ids derive from the key, so it is applied at most once.
    """
    claimed = session.execute(
        _CLAIM(session), {"key": key, "request_hash": request_hash, "created_at": _now()}
    ).first()
    session.commit()
    if claimed is not None:
        return None
    row = session.get(IdempotentAnswer, key)
    if row is None:  # forgotten (refused) between the insert and this read: judged anew
        return begin_answer(session, key, request_hash)
    if row.request_hash != request_hash:
        raise KeyReused(key)
    return row if row.status is not None else None


def finish_answer(session: Session, key: str, status: int, body: dict[str, Any]) -> None:
    """Store the answer of the request that claimed ``key`` (committed): one UPDATE, which
    leaves an answer already stored, or a claim forgotten meanwhile, as it is."""
    session.execute(_FINISH, {"claimed": key, "status": status, "body": body})
    session.commit()


def forget_answer(session: Session, key: str) -> None:
    """The action was refused or failed: a repeat of the key runs it again."""
    session.execute(
        delete(IdempotentAnswer).where(IdempotentAnswer.key == key, IdempotentAnswer.status.is_(None))
    )
    session.commit()


# ---------------------------------------------------------------- retention
def purge_answers(session: Session, before: datetime, *, limit: int) -> int:
    """Delete up to ``limit`` stored answers (and unanswered claims) made before ``before``
    (committed); how many. A repeat of a purged key is a new request."""
    keys = list(
        session.scalars(select(IdempotentAnswer.key).where(IdempotentAnswer.created_at < before).limit(limit))
    )
    if keys:
        session.execute(delete(IdempotentAnswer).where(IdempotentAnswer.key.in_(keys)))
        session.commit()
    return len(keys)


def purge_texts(session: Session, before: datetime, *, limit: int) -> int:
    """Delete up to ``limit`` pending texts stored before ``before`` (committed); how many."""
    keys = list(session.scalars(select(PendingText.key).where(PendingText.created_at < before).limit(limit)))
    if keys:
        session.execute(delete(PendingText).where(PendingText.key.in_(keys), PendingText.created_at < before))
        session.commit()
    return len(keys)
