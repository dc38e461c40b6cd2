"""Change feeds for the console's live updates: one database poll per team, not per browser.

While at least one console page of a team is open, one task reads the team's change mark
(``services.queues.Queues.change_mark``) every ``interval`` seconds and wakes every open event
stream of that team when it moves; with the last page closed, the task stops. A hundred open
consoles of one team cost the database one small query per interval.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from api.console.common import EVENT_STREAM_SECONDS, KEEPALIVE_SECONDS, signed_in
from domain.errors import Unavailable

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/console", include_in_schema=False)


class TeamFeed:
    """The change count of one team, and a way to wait for the next change."""

    def __init__(self) -> None:
        self.version = 0
        self.subscribers = 0
        self._changed = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def bump(self) -> None:
        self.version += 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait(self, seen: int, within: float) -> int:
        """The version once it differs from ``seen``, or the same after ``within`` seconds."""
        if self.version == seen:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(within):
                    await self._changed.wait()
        return self.version


class ChangeFeeds:
    def __init__(self, mark: Callable[[str], Awaitable[str]], *, interval: float) -> None:
        self.mark = mark
        self.interval = interval
        self.feeds: dict[str, TeamFeed] = {}

    async def _poll(self, team_id: str, feed: TeamFeed) -> None:
        last: str | None = None
        while True:
            mark: str | None
            try:
                mark = await self.mark(team_id)
            except Unavailable:
                mark = last  # the database is away: nothing to report; try again next time
            if last is not None and mark != last:
                feed.bump()
            last = mark
            await asyncio.sleep(self.interval)

    @asynccontextmanager
    async def subscribe(self, team_id: str) -> AsyncIterator[TeamFeed]:
        feed = self.feeds.get(team_id)
        if feed is None:
            feed = self.feeds[team_id] = TeamFeed()
            feed.task = asyncio.create_task(self._poll(team_id, feed), name=f"console-feed-{team_id}")
        feed.subscribers += 1
        try:
            yield feed
        finally:
            feed.subscribers -= 1
            if feed.subscribers == 0 and self.feeds.get(team_id) is feed:
                del self.feeds[team_id]
                if feed.task is not None:
                    feed.task.cancel()


@router.get("/events")
async def events(request: Request) -> Response:
    """Server-sent events: ``change`` whenever anything of the caller's team changes.

    The stream ends after a few minutes and the browser reconnects, so the session is checked
    again; it is exempt from the request deadline (``api.errors.STREAM_PATHS``).
    """
    principal = await signed_in(request)
    feeds: ChangeFeeds = request.app.state.console_feeds
    team_id = principal.team_id or ""

    async def stream() -> AsyncIterator[str]:
        yield "retry: 1000\n\n"
        async with feeds.subscribe(team_id) as feed:
            seen = feed.version
            loop = asyncio.get_running_loop()
            ends = loop.time() + EVENT_STREAM_SECONDS
            while loop.time() < ends:
                now = await feed.wait(seen, within=KEEPALIVE_SECONDS)
                if await request.is_disconnected():
                    return
                if now != seen:
                    seen = now
                    yield "event: change\ndata: {}\n\n"
                else:
                    yield ": keep-alive\n\n"

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
