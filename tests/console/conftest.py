"""Console fixtures: one real API server (uvicorn), worker and Chromium per test module.

Browser tests run against Debian's ``chromium`` (``apt-get install chromium``; Playwright's own
browser downloads are not used). Without it they skip, except where
``FOLLOWTHROUGH_REQUIRE_BROWSER=1`` (CI, ``.ci/run``) makes its absence a failure.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import uvicorn
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.notifications import LogChannel
from api.app import create_app
from config.settings import Settings
from store.db import make_engine, make_sessionmaker
from store.migrate import upgrade
from tests.api.support import setup_team
from tests.conftest import TOKENS
from workers.main import build_worker

REQUIRE_ENV = "FOLLOWTHROUGH_REQUIRE_BROWSER"


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def require_browser() -> str:
    path = chromium_path()
    if path is None:
        reason = "chromium is not installed (apt-get install chromium): console browser tests NOT RUN"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{reason} ({REQUIRE_ENV}=1)", pytrace=False)
        pytest.skip(reason)
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"playwright is not installed ({REQUIRE_ENV}=1)", pytrace=False)
        pytest.skip("playwright is not installed: console browser tests NOT RUN")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Console:
    base: str
    api: httpx.AsyncClient
    settings: Settings


@asynccontextmanager
async def serve_console(client: Client, directory: Path) -> AsyncIterator[Console]:
    """The API (with the console) on a real port, a worker, and the standard team."""
    url = f"sqlite:///{directory / 'followthrough.db'}"
    upgrade(url)
    settings = Settings(
        database_url=url,
        task_queue=f"tq-console-{uuid.uuid4().hex[:8]}",
        tokens=TOKENS,
        console_secure_cookie=False,
        console_session_key="test-console-session-key",
    )
    engine = make_engine(url)
    worker = build_worker(
        client, task_queue=settings.task_queue, sessions=make_sessionmaker(engine), channel=LogChannel()
    )
    app = create_app(settings, temporal_client=client)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    async with worker:
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                await task
            await asyncio.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        try:
            async with httpx.AsyncClient(base_url=base, timeout=30) as api:
                await setup_team(api)
                yield Console(base=base, api=api, settings=settings)
        finally:
            server.should_exit = True
            await task
    engine.dispose()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def console_server(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Console]:
    async with serve_console(dev_env.client, tmp_path_factory.mktemp("console")) as console:
        yield console


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def browser(console_server: Console) -> AsyncIterator[Any]:
    path = require_browser()
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield b
        await b.close()


async def sign_in(browser: Any, console: Console, token: str, **context: Any) -> Any:
    """A fresh browser context signed in with ``token``; returns its page (on its landing page:
    My queue for a CHW, the Team page for a lead or manager)."""
    ctx = await browser.new_context(**context)
    page = await ctx.new_page()
    page.set_default_timeout(10_000)
    await page.goto(f"{console.base}/console")
    await page.get_by_label("Token").fill(token)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(re.compile(r"/console/(queue|overview)$"))
    return page


async def laid_out(page: Any, *parts: Any) -> list[dict[str, float]]:
    """The boxes of ``parts`` (locators) on ``page``, measured again until every one is laid out:
    a live refresh may swap the page's parts while they are measured (a box is None then), and a
    box does not wait for its element as an assertion does."""
    boxes: list[Any] = []
    for _ in range(50):
        boxes = [await part.bounding_box() for part in parts]
        if all(boxes):
            return boxes
        await page.wait_for_timeout(100)
    raise AssertionError(f"not laid out within 5 s: {boxes}")
