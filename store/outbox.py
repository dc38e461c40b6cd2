"""The notification outbox's delivery bookkeeping: claim a notice, record success or backoff.

A notice is claimed with a conditional update (``next_attempt_at`` moved a lease ahead), which
works the same on SQLite and PostgreSQL: of two deliverers (the ``notify`` activity's first try
and the worker's dispatcher, or two worker replicas) exactly one gets it.

Leases are fenced. Every time here comes from the *database's* clock (``db_clock``), never a
worker's, so a replica whose clock runs ahead cannot take a lease another still holds. Each claim
writes a fresh ``claim_token``, and every write of what a try came to (delivered, or failed and
backing off) names it: a holder whose lease ran out and was claimed by another deliverer changes
nothing with its late write (it is logged as ``outbox.stale_write_refused``).
"""

from __future__ import annotations

import functools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import structlog
from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from store.models import Delivery, Notification, UTCDateTime

log = structlog.get_logger(__name__)

LEASE = timedelta(seconds=60)
FIRST_RETRY = timedelta(seconds=2)
MAX_BACKOFF = timedelta(minutes=10)


class db_clock(FunctionElement[datetime]):
    """The database server's clock (UTC) plus ``seconds``: what leases and backoffs are measured
    by, so no worker's clock decides who holds a notice.

    PostgreSQL: ``statement_timestamp()`` (a ``timestamptz``). SQLite: ``strftime`` of ``'now'``
    (UTC) in the text form SQLAlchemy stores ``UTCDateTime`` in there (``YYYY-MM-DD
    HH:MM:SS.ffffff``, microseconds always written), so the comparison with a stored time, which
    SQLite makes on the text, orders as the instants do.
    """

    type = UTCDateTime()
    inherit_cache = True
    name = "db_clock"

    def __init__(self, seconds: float = 0.0) -> None:
        super().__init__(float(seconds))


@compiles(db_clock)
def _db_clock_postgresql(element: db_clock, compiler: SQLCompiler, **kw: Any) -> str:
    (seconds,) = element.clauses
    offset = f"make_interval(secs => CAST({compiler.process(seconds, **kw)} AS FLOAT))"
    return f"(statement_timestamp() + {offset})"


@compiles(db_clock, "sqlite")
def _db_clock_sqlite(element: db_clock, compiler: SQLCompiler, **kw: Any) -> str:
    (seconds,) = element.clauses
    # %f is SS.SSS: "000" pads it to SQLAlchemy's six digits; the offset as a fixed-point modifier.
    modifier = f"printf('%+.6f seconds', {compiler.process(seconds, **kw)})"
    return f"strftime('%Y-%m-%d %H:%M:%f000', 'now', {modifier})"


def database_now(session: Session) -> datetime:
    """The database's clock, read (aware UTC)."""
    now = session.scalar(select(db_clock()))
    assert isinstance(now, datetime)
    return now


def backoff(attempts: int) -> timedelta:
    """2 s, 4 s, 8 s, … capped at 10 minutes: a dead endpoint is asked about six times an hour."""
    wait: timedelta = FIRST_RETRY * (2 ** min(max(attempts - 1, 0), 16))
    return min(wait, MAX_BACKOFF)


# A notice delivered on its own, or a grouped delivery: the same claim/backoff bookkeeping.
Tracked = TypeVar("Tracked", Notification, Delivery)


def _due(model: type[Tracked]) -> Any:
    return or_(model.next_attempt_at.is_(None), model.next_attempt_at <= db_clock())


@functools.cache
def _take_statement(model: type[Tracked], lease_seconds: float) -> Any:
    """``_take``'s statement for ``model`` and the lease, built once (a claim per notice and per
    delivery)."""
    return (
        update(model)
        .where(model.id == bindparam("taken"), model.delivered_at.is_(None), _due(model))
        # ``last_error`` is set only while a row waits out a backoff (see ``release_backlog``).
        .values(
            next_attempt_at=db_clock(lease_seconds),
            delivery_attempts=model.delivery_attempts + 1,
            last_error=None,
            claim_token=bindparam("token"),
        )
        .returning(model)
        .execution_options(synchronize_session=False, populate_existing=True)
    )


def _take(session: Session, model: type[Tracked], key: Any) -> Tracked | None:
    """A claim up to its commit (``claim``, ``claim_delivery``): the row taken and answered by
    one statement (``RETURNING``), carrying its ``claim_token`` (the try's writes name it).

    Nothing the try needs is read after the commit: a database that went away just then would
    leave a claim its taker never saw, holding the notice for the lease (60 s) until the
    dispatcher takes it again."""
    statement = _take_statement(model, LEASE.total_seconds())
    found: Tracked | None = session.scalars(
        statement, {"taken": key, "token": uuid.uuid4().hex}
    ).one_or_none()
    return found


def _refused(session: Session, model: type[Tracked], key: Any, token: str, write: str) -> None:
    """A write of a try whose claim is no longer current: say so (it changed nothing)."""
    row = session.get(model, key, populate_existing=True)
    log.warning(
        "outbox.stale_write_refused",
        table=model.__tablename__,
        id=key,
        write=write,
        delivered=row is not None and row.delivered_at is not None,
        reclaimed=row is not None and row.claim_token is not None,
    )


def _failed(session: Session, model: type[Tracked], key: Any, token: str, reason: str) -> datetime | None:
    """Schedule the row's next try with backoff, if this try's claim still holds it; returns when
    it is due (None: the claim was stale, nothing written)."""
    attempts = session.scalar(
        select(model.delivery_attempts).where(
            model.id == key, model.claim_token == token, model.delivered_at.is_(None)
        )
    )
    retry_at = None
    if attempts is not None:
        retry_at = session.scalar(
            update(model)
            .where(model.id == key, model.claim_token == token, model.delivered_at.is_(None))
            .values(
                next_attempt_at=db_clock(backoff(attempts).total_seconds()),
                last_error=reason[:200],
                claim_token=None,
            )
            .returning(model.next_attempt_at)
            .execution_options(synchronize_session=False)
        )
    if retry_at is None:
        _refused(session, model, key, token, "failed")
    session.commit()
    return retry_at


def release_backlog(session: Session) -> int:
    """The endpoint answers again: every notice and grouped delivery waiting out a backoff is due
    now (the dispatcher sends them on its next round) instead of at the end of a wait of up to
    ``MAX_BACKOFF``. A row held by a deliverer has no ``last_error`` (and a claim token), so it is
    left alone."""
    released = 0
    for model in (Notification, Delivery):
        result = session.execute(
            update(model)
            .where(
                model.delivered_at.is_(None),
                model.last_error.is_not(None),
                model.claim_token.is_(None),
                model.next_attempt_at > db_clock(),
            )
            .values(next_attempt_at=db_clock())
            .execution_options(synchronize_session=False)
        )
        released += result.rowcount  # type: ignore[attr-defined]
    session.commit()
    return released


def claim(session: Session, notification_id: int) -> Notification | None:
    """Take the notice for one delivery try (committed), or None if delivered or held elsewhere."""
    row = _take(session, Notification, notification_id)
    session.commit()
    return row


# The try that holds the claim's token records its notice delivered (built once: one per notice).
_DELIVERED = (
    update(Notification)
    .where(
        Notification.id == bindparam("delivered"),
        Notification.claim_token == bindparam("holder"),
        Notification.delivered_at.is_(None),
    )
    .values(delivered_at=db_clock(), next_attempt_at=None, last_error=None, claim_token=None)
    .execution_options(synchronize_session=False)
)


def delivered(session: Session, notification_id: int, token: str) -> bool:
    """Record the try that holds ``token`` as delivered; False (and nothing written) if the
    claim is no longer current."""
    result = session.execute(_DELIVERED, {"delivered": notification_id, "holder": token})
    done: bool = result.rowcount == 1  # type: ignore[attr-defined]
    if not done:
        _refused(session, Notification, notification_id, token, "delivered")
    session.commit()
    return done


def failed(session: Session, notification_id: int, reason: str, token: str) -> datetime | None:
    """Schedule the next try with backoff; returns when it is due (None: the claim was stale)."""
    return _failed(session, Notification, notification_id, token, reason)


def due(session: Session, *, limit: int) -> list[int]:
    """Undelivered notices whose next try is due (by the database's clock), oldest first."""
    return list(
        session.scalars(
            select(Notification.id)
            .where(
                Notification.delivered_at.is_(None),
                _due(Notification),
                # Held by a grouping workflow, or inhibited: not this notice's own delivery.
                Notification.group_id.is_(None),
                Notification.inhibited_by.is_(None),
            )
            .order_by(Notification.id)
            .limit(limit)
        )
    )


def oldest_undelivered(session: Session) -> datetime | None:
    """When the oldest notice still waiting for delivery was written (None: none waits)."""
    oldest: datetime | None = session.scalar(
        select(func.min(Notification.created_at)).where(Notification.delivered_at.is_(None))
    )
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return oldest


# ---------------------------------------------------------------- grouped deliveries (rules §2.8)
def claim_delivery(session: Session, delivery_id: str) -> tuple[Delivery, list[Notification]] | None:
    """Take a grouped delivery for one try, with the notices it carries, read before the claim
    commits (see ``_take``); None if delivered or held elsewhere."""
    row = _take(session, Delivery, delivery_id)
    carried = (
        []
        if row is None
        else list(session.scalars(select(Notification).where(Notification.delivery_id == delivery_id)))
    )
    session.commit()
    return None if row is None else (row, carried)


def delivery_done(session: Session, delivery_id: str, token: str) -> bool:
    """Record the grouped delivery that holds ``token`` as delivered, and each notice it carried;
    False (and nothing written) if the claim is no longer current."""
    delivered_at = session.scalar(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.claim_token == token, Delivery.delivered_at.is_(None))
        .values(delivered_at=db_clock(), next_attempt_at=None, last_error=None, claim_token=None)
        .returning(Delivery.delivered_at)
        .execution_options(synchronize_session=False)
    )
    if delivered_at is None:
        _refused(session, Delivery, delivery_id, token, "delivered")
    else:
        session.execute(
            update(Notification)
            .where(Notification.delivery_id == delivery_id, Notification.delivered_at.is_(None))
            .values(delivered_at=delivered_at)
            .execution_options(synchronize_session=False)
        )
    session.commit()
    return delivered_at is not None


def delivery_failed(session: Session, delivery_id: str, reason: str, token: str) -> datetime | None:
    return _failed(session, Delivery, delivery_id, token, reason)


def due_deliveries(session: Session, *, limit: int) -> list[str]:
    return list(
        session.scalars(
            select(Delivery.id)
            .where(Delivery.delivered_at.is_(None), _due(Delivery))
            .order_by(Delivery.created_at)
            .limit(limit)
        )
    )
