"""Actions that are safe to repeat: an ``Operation`` names one action, and ``once`` runs it once.

A front end turns the caller's ``Idempotency-Key`` into an ``Operation`` scoped to the
credential they came with and to where they sent it (``api.idempotency.operation``), so two
backends that pick the same key never meet. Every id the action creates (the workflow update id,
an attempt id) derives from the operation's key, so a repeat attaches to the same update instead
of applying it again. The answer is stored, and a repeat with the same key answers it again
(``Answer.replayed``). A refused action (4xx) is not stored: a repeat is judged anew. The same key
with a different body is refused (422). Stored answers are purged after
``IDEMPOTENCY_RETENTION_HOURS`` (``workers.retention``).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy.orm import Session

from domain.errors import DomainError, Invalid, Unavailable
from services.db import Database
from services.faults import crash_point
from store import idempotency as idem

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


@dataclass(frozen=True)
class Operation:
    """One requested action: ``key`` is already scoped to the caller (``None``: not repeat-safe,
    a fresh one-off key is used)."""

    key: str | None = None

    @staticmethod
    def scoped(scope: str, where: str, key: str | None) -> Operation:
        """The operation of ``key`` sent by the credential named ``scope`` to ``where``."""
        if key is None:
            return Operation()
        raw = f"{scope}|{where}|{key}"
        return Operation(hashlib.sha256(raw.encode()).hexdigest()[:48])


@dataclass(frozen=True)
class Answer(Generic[M]):
    """What a command answered, and whether it is the stored answer of an earlier request."""

    value: M
    status: int = 200
    replayed: bool = False

    def body(self) -> Any:
        return self.value.model_dump(mode="json")


def _request_hash(body: BaseModel | None) -> str:
    raw = json.dumps(
        body.model_dump(mode="json", by_alias=True) if body is not None else None, sort_keys=True
    )
    return hashlib.sha256(raw.encode()).hexdigest()


async def once(
    db: Database,
    op: Operation,
    body: BaseModel | None,
    action: Callable[[str], Awaitable[M]],
    model: type[M],
    *,
    status: int = 200,
) -> Answer[M]:
    """Run ``action(operation_key)`` at most once per operation and answer its result."""
    if op.key is None:
        return Answer(await action(uuid.uuid4().hex), status)
    stored = await _stored(db, op.key, body, model)
    if stored is not None:
        return stored
    result = await _acting(db, op.key, action)
    crash_point("after_update_before_answer")
    await db.run(idem.finish_answer, op.key, status, result.model_dump(mode="json"))
    return Answer(result, status)


async def once_then(
    db: Database,
    op: Operation,
    body: BaseModel | None,
    action: Callable[[str], Awaitable[Callable[[Session], M]]],
    model: type[M],
    *,
    status: int = 200,
    claimed: Claim[M] | None = None,
) -> Answer[M]:
    """``once`` for an action whose last step is database work: ``action(operation_key)`` does
    the rest (the update) and answers that step, ``step(session) -> answer`` (it commits what it
    writes and reads its answer as one snapshot: ``services.db.begin_snapshot``). The step and
    the storing of its answer run in one database call, so the request makes one round trip
    after its update instead of two or three. ``claimed``: the command claimed the key already
    (``claim``, in the database call that read what it acts on)."""
    if op.key is None:
        step = await action(uuid.uuid4().hex)
        return Answer(await db.run(step), status)
    key = op.key
    stored = claimed.stored if claimed is not None else await _stored(db, key, body, model)
    if stored is not None:
        return stored
    step = await _acting(db, key, action)
    crash_point("after_update_before_answer")

    def answer(session: Session) -> M:
        result = step(session)
        session.commit()  # the snapshot's end: the answer is stored in a transaction of its own
        idem.finish_answer(session, key, status, result.model_dump(mode="json"))
        return result

    return Answer(await db.run(answer), status)


@dataclass(frozen=True)
class Claim(Generic[M]):
    """An operation's key claimed by ``claim``: ``stored`` is an earlier request's answer."""

    stored: Answer[M] | None


def claim(session: Session, op: Operation, body: BaseModel | None, model: type[M]) -> Claim[M]:
    """Claim ``op``'s key in the caller's database call (committed), for ``once_then(claimed=)``."""
    if op.key is None:
        return Claim(None)
    try:
        stored = idem.begin_answer(session, op.key, _request_hash(body))
    except idem.KeyReused as err:
        raise Invalid("this Idempotency-Key was already used with a different request") from err
    if stored is not None and stored.status is not None:
        return Claim(Answer(model.model_validate(stored.body), stored.status, replayed=True))
    return Claim(None)


async def _stored(db: Database, key: str, body: BaseModel | None, model: type[M]) -> Answer[M] | None:
    """Claim ``key``; the stored answer of an earlier request with it, if there is one."""
    return (await db.run(claim, Operation(key), body, model)).stored


async def _acting(db: Database, key: str, action: Callable[[str], Awaitable[T]]) -> T:
    """``action(key)``; a refusal (not an outage) releases the key, so a repeat is judged anew."""
    try:
        return await action(key)
    except DomainError as err:
        if not isinstance(err, Unavailable):
            await db.run(idem.forget_answer, key)
        raise
