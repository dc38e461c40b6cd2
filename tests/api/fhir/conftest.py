"""Fixtures of the FHIR facade's tests: the API over the seeded read model (``seed.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from api.app import create_app
from config.settings import Settings
from store.db import make_engine, make_sessionmaker, unit_of_work
from tests.api.fhir.seed import BASE, seed


@pytest.fixture
def seeded(db_url: str) -> str:
    engine = make_engine(db_url)
    with unit_of_work(make_sessionmaker(engine)) as s:
        seed(s)
    engine.dispose()
    return db_url


@pytest_asyncio.fixture(loop_scope="session")
async def fhir(settings: Settings, seeded: str) -> AsyncIterator[httpx.AsyncClient]:
    """The API (no Temporal: the facade reads SQL only) over the seeded read model."""
    app = create_app(settings)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
            yield c
    finally:
        app.state.engine.dispose()
