"""Retention (issue 23): what the API keeps only for a while is purged by the worker.

- stored answers of repeat-safe actions (``idempotent_answers``: they hold member text) and
  pending member text (``pending_texts``) older than ``IDEMPOTENCY_RETENTION_HOURS`` (72): a
  repeat of an action after that is a new request (``followthrough reconcile`` places or purges
  pending texts much sooner, after ``PENDING_TEXT_TTL_SECONDS``; this is the bound whatever runs);
- console sessions past their end (``console_sessions``).

Runs beside the Temporal worker in every worker process (``workers.main.serve``), first shortly
after start and then hourly. Every replica may run it: a purge is a plain DELETE of rows older
than a bound, in batches, so replicas running at once only share the work.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from store import console_sessions, idempotency

log = structlog.get_logger(__name__)

INTERVAL_SECONDS = 3600.0
FIRST_SECONDS = 30.0
BATCH = 1000


@dataclass(frozen=True)
class Purged:
    answers: int
    texts: int
    sessions: int


def purge_expired(
    sessions: sessionmaker[Session], *, retention: timedelta, now: datetime, batch: int = BATCH
) -> Purged:
    """Purge stored answers and pending texts older than ``retention`` and ended console
    sessions, as of ``now``, ``batch`` rows per transaction."""
    before = now - retention

    def drain(purge: Callable[..., int]) -> int:
        total = 0
        while True:
            with sessions() as session:
                n = purge(session, before, limit=batch)
            total += n
            if n < batch:
                return total

    answers = drain(idempotency.purge_answers)
    texts = drain(idempotency.purge_texts)
    with sessions() as session:
        ended = console_sessions.purge_expired(session, now)
    return Purged(answers=answers, texts=texts, sessions=ended)


class Retention:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        *,
        interval: float = INTERVAL_SECONDS,
        first: float = FIRST_SECONDS,
    ) -> None:
        self._retention = timedelta(hours=settings.idempotency_retention_hours)
        self._sessions = sessions
        self._interval = interval
        self._first = first
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Purge now and then until ``stop()``; a failure (the database away) waits for the next round."""
        wait = self._first
        while not await self._stopped_within(wait):
            wait = self._interval
            try:
                purged = await asyncio.to_thread(
                    purge_expired, self._sessions, retention=self._retention, now=datetime.now(UTC)
                )
            except Exception as err:
                log.warning("retention.purge_failed", error_type=type(err).__name__)
                continue
            if purged.answers or purged.texts or purged.sessions:
                log.info(
                    "retention.purged",
                    answers=purged.answers,
                    texts=purged.texts,
                    sessions=purged.sessions,
                )

    async def _stopped_within(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)
        return self._stop.is_set()
