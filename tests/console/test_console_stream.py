"""The console's event stream is long-lived: the request deadline must not cut it."""

from __future__ import annotations

import asyncio

from starlette.types import Message, Receive, Scope, Send

from api import errors
from api.console.live import ChangeFeeds


async def test_event_stream_is_exempt_from_the_request_deadline() -> None:
    async def slow(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await asyncio.sleep(0.3)
        await send({"type": "http.response.body", "body": b"event: change\n\n"})

    async def call(path: str) -> list[Message]:
        sent: list[Message] = []

        async def receive() -> Message:
            return {"type": "http.request", "body": b""}

        async def send(message: Message) -> None:
            sent.append(message)

        await errors.Deadline(slow, seconds=0.1)(
            {"type": "http", "path": path, "method": "GET"}, receive, send
        )
        return sent

    stream = await call("/console/events")
    assert stream[-1]["body"] == b"event: change\n\n"
    page = await call("/console/queue")
    assert all(m.get("body") != b"event: change\n\n" for m in page)  # cut at the deadline


class CountingMarks:
    """Stands in for ``services.queues.Queues.change_mark``: the team's change mark, and how
    often it was read."""

    def __init__(self) -> None:
        self.mark = "a"
        self.reads = 0

    async def __call__(self, team_id: str) -> str:
        self.reads += 1
        return self.mark


async def test_one_poll_per_team_wakes_every_open_page_and_stops_with_the_last() -> None:
    marks = CountingMarks()
    feeds = ChangeFeeds(marks, interval=0.02)
    async with feeds.subscribe("eastside") as one, feeds.subscribe("eastside") as two:
        assert one is two and len(feeds.feeds) == 1
        await asyncio.sleep(0.1)
        seen = one.version
        marks.mark = "b"
        assert await one.wait(seen, within=1.0) == seen + 1
        assert await two.wait(seen, within=1.0) == seen + 1
        reads = marks.reads
        await asyncio.sleep(0.1)
        assert marks.reads - reads <= 7  # one poller for both pages, not one each
        assert await one.wait(seen + 1, within=0.05) == seen + 1  # nothing new: times out
    assert feeds.feeds == {}
    reads = marks.reads
    await asyncio.sleep(0.1)
    assert marks.reads == reads  # no page open: no polling
