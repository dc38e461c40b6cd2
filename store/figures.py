"""The running totals of what ``followthrough reconcile`` found (``reconcile_figures``), which
the API's ``/metrics`` serves: the worker that runs reconcile serves only the SDK's metrics, and
several replicas take turns running it, so the figures live in the database they share."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import ReconcileFigure

# The row counting whole runs; its ``updated_at`` is when the last one finished.
RUNS = "run"


def record_figures(session: Session, counts: dict[str, int], *, whole: bool) -> None:
    """Add this run's differences to the running totals (and count a whole run, with its time)."""
    now = datetime.now(UTC)
    adds = dict(counts)
    if whole:
        adds[RUNS] = 1
    for kind, n in adds.items():
        row = session.get(ReconcileFigure, kind, with_for_update=True)
        if row is None:
            session.add(ReconcileFigure(kind=kind, total=n, updated_at=now))
        else:
            row.total += n
            row.updated_at = now
    session.commit()


def figures(session: Session) -> tuple[dict[str, int], int, datetime | None]:
    """The totals by kind, the number of whole runs, and when the last whole run finished."""
    by_kind: dict[str, int] = {}
    runs, last = 0, None
    for row in session.scalars(select(ReconcileFigure)):
        if row.kind == RUNS:
            runs, last = row.total, row.updated_at
        else:
            by_kind[row.kind] = row.total
    return by_kind, runs, last
