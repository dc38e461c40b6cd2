"""The one context every service is built on: the database, Temporal, the settings and the clock.

Front ends (the JSON API, the console, the CLI, the phone-system webhooks, the FHIR facade) build
one ``Context`` where the application is assembled and hand it to the services
(``services.commands``); they never reach the database or Temporal themselves.

Temporal is connected on first use (``TemporalLink``): a service that needs only the database
works, and saves, while Temporal is unreachable, and one that needs Temporal answers 503.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

import structlog
from temporalio.client import Client

from config.settings import Settings
from services.common import StartRefused, now_utc
from services.db import Database

log = structlog.get_logger(__name__)


class TemporalLink:
    """The process's Temporal client, connected once on first use (then shared)."""

    def __init__(
        self,
        connect: Callable[[], Awaitable[Client]],
        *,
        timeout_seconds: float,
        client: Client | None = None,
    ) -> None:
        self._connect = connect
        self._timeout = timeout_seconds
        self._client = client
        self._lock = asyncio.Lock()

    @classmethod
    def of(cls, client: Client) -> TemporalLink:
        """A link to a client already connected (tests, the CLI, workers)."""

        async def same() -> Client:
            return client

        return cls(same, timeout_seconds=0, client=client)

    @property
    def connected(self) -> Client | None:
        return self._client

    async def client(self) -> Client:
        """The client; ``StartRefused`` (503: nothing was sent) when Temporal cannot be reached."""
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                try:
                    async with asyncio.timeout(self._timeout or None):
                        self._client = await self._connect()
                except Exception as err:
                    log.warning("temporal.connect_failed", error_type=type(err).__name__)
                    # Nothing reached Temporal: what led up to this call may be undone.
                    raise StartRefused("Temporal is not reachable; try again shortly") from err
        return self._client


@dataclass(frozen=True)
class Context:
    """What a service needs from the process; one per application, shared by every request."""

    db: Database
    settings: Settings
    temporal: TemporalLink
    clock: Callable[[], datetime] = field(default=now_utc)

    async def client(self) -> Client:
        return await self.temporal.client()


class Service:
    """A service of one aggregate, built on the application's ``Context``: its commands and
    queries are what every front end calls (``services.interactions.Interactions`` …)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.db = ctx.db
        self.settings = ctx.settings
