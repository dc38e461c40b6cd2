"""The notification outbox's delivery bookkeeping: claim a notice, record success or backoff.

A notice is claimed with a conditional update (``next_attempt_at`` moved a lease ahead), which
works the same on SQLite and PostgreSQL: of two deliverers (the ``notify`` activity's first try
and the worker's dispatcher, or two worker replicas) exactly one gets it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from store.models import Delivery, Notification

LEASE = timedelta(seconds=60)
FIRST_RETRY = timedelta(seconds=2)
MAX_BACKOFF = timedelta(minutes=10)


def _now() -> datetime:
    return datetime.now(UTC)


def backoff(attempts: int) -> timedelta:
    """2 s, 4 s, 8 s, … capped at 10 minutes: a dead endpoint is asked about six times an hour."""
    wait: timedelta = FIRST_RETRY * (2 ** min(max(attempts - 1, 0), 16))
    return min(wait, MAX_BACKOFF)


# A notice delivered on its own, or a grouped delivery: the same claim/backoff bookkeeping.
Tracked = TypeVar("Tracked", Notification, Delivery)


def _claim(session: Session, model: type[Tracked], key: Any) -> Tracked | None:
    """Take a row for one delivery try (committed), or None if delivered or held elsewhere."""
    now = _now()
    result = session.execute(
        update(model)
        .where(
            model.id == key,
            model.delivered_at.is_(None),
            or_(model.next_attempt_at.is_(None), model.next_attempt_at <= now),
        )
        # ``last_error`` is set only while a row waits out a backoff (see ``release_backlog``).
        .values(next_attempt_at=now + LEASE, delivery_attempts=model.delivery_attempts + 1, last_error=None)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return session.get(model, key)


def _failed(session: Session, model: type[Tracked], key: Any, reason: str) -> datetime | None:
    """Schedule the row's next try with backoff; returns when it is due."""
    row = session.get(model, key)
    if row is None or row.delivered_at is not None:
        session.commit()
        return None
    row.next_attempt_at = _now() + backoff(row.delivery_attempts)
    row.last_error = reason[:200]
    session.commit()
    return row.next_attempt_at


def release_backlog(session: Session) -> int:
    """The endpoint answers again: every notice and grouped delivery waiting out a backoff is due
    now (the dispatcher sends them on its next round) instead of at the end of a wait of up to
    ``MAX_BACKOFF``. A row held by a deliverer has no ``last_error``, so it is left alone."""
    now = _now()
    released = 0
    for model in (Notification, Delivery):
        result = session.execute(
            update(model)
            .where(model.delivered_at.is_(None), model.last_error.is_not(None), model.next_attempt_at > now)
            .values(next_attempt_at=now)
            .execution_options(synchronize_session=False)
        )
        released += result.rowcount  # type: ignore[attr-defined]
    session.commit()
    return released


def claim(session: Session, notification_id: int) -> Notification | None:
    """Take the notice for one delivery try (committed), or None if delivered or held elsewhere."""
    return _claim(session, Notification, notification_id)


def delivered(session: Session, notification_id: int) -> None:
    row = session.get(Notification, notification_id)
    if row is not None and row.delivered_at is None:
        row.delivered_at = _now()
        row.next_attempt_at = None
        row.last_error = None
    session.commit()


def failed(session: Session, notification_id: int, reason: str) -> datetime | None:
    """Schedule the next try with backoff; returns when it is due."""
    return _failed(session, Notification, notification_id, reason)


def due(session: Session, *, limit: int) -> list[int]:
    """Undelivered notices whose next try is due, oldest first."""
    now = _now()
    return list(
        session.scalars(
            select(Notification.id)
            .where(
                Notification.delivered_at.is_(None),
                or_(Notification.next_attempt_at.is_(None), Notification.next_attempt_at <= now),
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
def claim_delivery(session: Session, delivery_id: str) -> Delivery | None:
    """Take a grouped delivery for one try (committed), or None if delivered or held elsewhere."""
    return _claim(session, Delivery, delivery_id)


def delivery_done(session: Session, delivery_id: str) -> None:
    now = _now()
    row = session.get(Delivery, delivery_id)
    if row is not None and row.delivered_at is None:
        row.delivered_at, row.next_attempt_at, row.last_error = now, None, None
        session.execute(
            update(Notification)
            .where(Notification.delivery_id == delivery_id, Notification.delivered_at.is_(None))
            .values(delivered_at=now)
            .execution_options(synchronize_session=False)
        )
    session.commit()


def delivery_failed(session: Session, delivery_id: str, reason: str) -> datetime | None:
    return _failed(session, Delivery, delivery_id, reason)


def due_deliveries(session: Session, *, limit: int) -> list[str]:
    now = _now()
    return list(
        session.scalars(
            select(Delivery.id)
            .where(
                Delivery.delivered_at.is_(None),
                or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now),
            )
            .order_by(Delivery.created_at)
            .limit(limit)
        )
    )
