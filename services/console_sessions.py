"""Console sessions (``ConsoleSessions``): a sign-in opens one, sign-out ends it, and every page
asks whether it is still open.

A session is known by its key, the SHA-256 of the session id its sealed cookie carries
(``api.console.security``); it lasts at most ``CONSOLE_SESSION_HOURS``. ``now`` is the clock
the cookie's seal goes by, so both agree. The rows are ``store.console_sessions``.
"""

from __future__ import annotations

from datetime import datetime

from services.context import Service
from store import console_sessions


class ConsoleSessions(Service):
    """The console's server-side sessions."""

    async def open(self, key: str, *, staff_id: str | None, now: datetime) -> None:
        """Record a new sign-in, open for ``CONSOLE_SESSION_HOURS`` from ``now``."""
        hours = self.settings.console_session_hours
        await self.db.run(console_sessions.open_session, key, staff_id=staff_id, now=now, hours=hours)

    async def is_live(self, key: str, *, now: datetime) -> bool:
        """Not signed out, and no older than ``CONSOLE_SESSION_HOURS`` (as set now)."""
        hours = self.settings.console_session_hours
        return await self.db.run(console_sessions.is_live, key, now=now, hours=hours)

    async def end(self, key: str) -> None:
        """Sign-out: the session is gone; its cookie, wherever copied, opens nothing."""
        await self.db.run(console_sessions.end_session, key)
