"""The outbox dispatcher: delivers notices that are waiting, with backoff, until they go through.

Runs beside the Temporal worker in the same process (``followthrough worker`` and ``dev``).
Workflows never wait on delivery: ``notify`` writes the outbox and tries once; everything that
did not go through (the webhook endpoint is down) is retried here, oldest first, each notice on
its own backoff (2 s doubling to 10 minutes). Several worker replicas may run it: a notice is
claimed by one of them at a time, on a lease measured by the database's clock and fenced by a
claim token (``store.outbox``), so a replica with a wrong clock neither takes a held notice nor
overwrites what its holder records.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from activities.notifications import Outbox

log = structlog.get_logger(__name__)


class Dispatcher:
    def __init__(self, outbox: Outbox, *, interval: float = 1.0, batch: int = 100) -> None:
        self._outbox = outbox
        self._interval = interval
        self._batch = batch
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Deliver due notices every ``interval`` seconds until ``stop()``."""
        while not self._stop.is_set():
            try:
                delivered, failed = await asyncio.to_thread(self._outbox.deliver_due, limit=self._batch)
                if delivered or failed:
                    log.info("outbox.dispatched", delivered=delivered, failed=failed)
            except Exception as err:  # the database is down: try again next round
                log.warning("outbox.dispatch_failed", error_type=type(err).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self._interval)
