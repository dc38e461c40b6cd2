"""The periodic reconcile: every ``RECONCILE_INTERVAL_SECONDS`` one worker replica (the holder of
the ``reconcile`` lease, by the database's clock) runs ``services.reconcile``.

Runs beside the Temporal worker and the outbox dispatcher (``followthrough worker`` and ``dev``).
Every replica looks often (a quarter of the interval, at most a minute) whether the run is due;
the lease makes exactly one of them run it, and the run makes the next one due an interval
later, whoever runs it. A failed run (Temporal or the database away) is logged and tried again
at the next look.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from config.settings import Settings
from services.db import Database
from services.reconcile import Memo, reconcile_leased

log = structlog.get_logger(__name__)

# The first look waits this long, so the worker beside it polls before the run asks its workflows.
FIRST_LOOK_SECONDS = 10.0


class Reconciler:
    def __init__(self, client: Client, settings: Settings, sessions: sessionmaker[Session]) -> None:
        self._client = client
        self._settings = settings
        self._db = Database(sessions, threads=4)
        self._stop = asyncio.Event()
        # Cases found in step, with their history lengths: not asked again until either side moves.
        self._memo = Memo()
        interval = float(settings.reconcile_interval_seconds)
        self._look_every = min(max(interval / 4, 1.0), 60.0)
        self._first = min(FIRST_LOOK_SECONDS, interval)

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Look every so often whether the run is due, and run it, until ``stop()``."""
        if self._settings.reconcile_interval_seconds <= 0:
            await self._stop.wait()  # off: the command runs it (from a scheduler) instead
            return
        wait = self._first
        while not await self._stopped_within(wait):
            wait = self._look_every
            try:
                report = await reconcile_leased(
                    self._db, self._client, self._settings, scheduled=True, memo=self._memo
                )
            except Exception as err:  # Temporal or the database away: the next look tries again
                log.warning("reconcile.run_failed", error_type=type(err).__name__)
                continue
            if report is not None:
                log.info("reconcile.summary", summary=report.summary())

    async def _stopped_within(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)
        return self._stop.is_set()
