"""The console's event stream is long-lived: the request deadline must not cut it."""

from __future__ import annotations

import asyncio

from starlette.types import Message, Receive, Scope, Send

from api import errors


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
