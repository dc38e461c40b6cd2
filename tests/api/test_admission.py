"""Admission and the request deadline: an overloaded API answers 503 with Retry-After at once
instead of slowing every answer down, and no request runs past its deadline."""

from __future__ import annotations

import asyncio

import httpx
from starlette.types import Receive, Scope, Send

from api.errors import Deadline


async def slow_app(scope: Scope, receive: Receive, send: Send) -> None:
    seconds = scope["path"].strip("/")
    await asyncio.sleep(float(seconds) if seconds.replace(".", "").isdigit() else 0)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def client(app: Deadline) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_a_request_that_cannot_start_soon_is_shed_with_retry_after() -> None:
    app = Deadline(slow_app, 5.0, max_concurrent=1, admission_wait=0.05)
    async with client(app) as api:
        first, second = await asyncio.gather(api.post("/0.5"), api.post("/0.5"))
    statuses = sorted([first.status_code, second.status_code])
    assert statuses == [200, 503]
    shed = first if first.status_code == 503 else second
    assert shed.json()["error"]["code"] == "unavailable"
    assert shed.headers["Retry-After"] == "1"


async def test_a_request_past_its_deadline_answers_503_in_time() -> None:
    app = Deadline(slow_app, 0.2, max_concurrent=10, admission_wait=1.0)
    async with client(app) as api:
        started = asyncio.get_running_loop().time()
        r = await api.get("/5")
        took = asyncio.get_running_loop().time() - started
    assert r.status_code == 503
    assert "Retry-After" in r.headers
    assert took < 2.0
    async with client(app) as api:
        assert (await api.get("/0")).status_code == 200  # the slot was given back


async def test_probes_and_reads_are_never_shed() -> None:
    app = Deadline(slow_app, 5.0, max_concurrent=1, admission_wait=0.0)
    async with client(app) as api:
        busy = asyncio.create_task(api.post("/0.3"))
        await asyncio.sleep(0.05)
        assert (await api.get("/healthz")).status_code == 200
        assert (await api.get("/0")).status_code == 200
        assert (await api.post("/0")).status_code == 503  # an action waits for a slot, in vain
        await busy
