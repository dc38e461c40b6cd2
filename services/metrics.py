"""What ``/metrics`` reads from SQL at scrape time: the queue figures and what reconcile found.

Prometheus collects in its own thread, synchronously, so these read with a short session of
their own (``api.observability`` turns them into metric families).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from store import outbox, repositories as repo
from store.figures import figures as reconcile_figures
from store.repositories import QueueFigures


@dataclass(frozen=True)
class QueueSnapshot:
    """The queue figures per team, and the oldest notice still waiting in the outbox, at ``now``."""

    now: datetime
    figures: QueueFigures
    oldest_undelivered: datetime | None


@dataclass(frozen=True)
class ReconcileSnapshot:
    """Differences found by kind (summed over every run), whole runs, and when the last ended."""

    by_kind: dict[str, int]
    runs: int
    last_at: datetime | None


def queue_snapshot(sessions: sessionmaker[Session]) -> QueueSnapshot:
    with sessions() as session:
        now = datetime.now(UTC)
        return QueueSnapshot(now, repo.queue_figures(session, now), outbox.oldest_undelivered(session))


def reconcile_snapshot(sessions: sessionmaker[Session]) -> ReconcileSnapshot:
    with sessions() as session:
        by_kind, runs, last_at = reconcile_figures(session)
        return ReconcileSnapshot(by_kind, runs, last_at)
