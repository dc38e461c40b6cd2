"""Console sessions end server-side and last at most ``CONSOLE_SESSION_HOURS`` (issue 23); every
console answer carries the security headers (CSP with ``default-src 'self'`` and
``frame-ancestors 'none'``, ``nosniff``, ``Referrer-Policy: same-origin``)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from config.settings import Settings
from tests.conftest import TOKENS
from tests.console.test_console_http import signed_in

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
HOUR = 3600


@pytest_asyncio.fixture(loop_scope="session")
async def console(db_url: str, sessions: sessionmaker[Session]) -> AsyncIterator[httpx.AsyncClient]:
    """The API with its console (the standard team's staff in the database), without Temporal."""
    app = create_app(Settings(database_url=db_url, tokens=TOKENS, console_session_key="k" * 40))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c


def later(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Move the wall clock (``time.time``, what the cookie seal and the session record go by)."""
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + seconds)


async def test_a_copied_session_cookie_stops_working_after_sign_out(console: httpx.AsyncClient) -> None:
    ana = await signed_in(console, "t-chw-ana")
    copied = {"Cookie": ana["Cookie"]}  # what an attacker lifted from the browser
    assert (await console.get("/console/queue", headers=copied)).status_code == 200
    r = await console.post("/console/sign-out", data={"csrf": ana["csrf"]}, headers={"Cookie": ana["Cookie"]})
    assert r.status_code == 303
    after = await console.get("/console/queue", headers=copied)
    assert after.status_code == 303 and after.headers["location"] == "/console/sign-in"
    # Other sessions of the same person are their own: signing out one ends only that one.
    again = await signed_in(console, "t-chw-ana")
    assert (await console.get("/console/queue", headers={"Cookie": again["Cookie"]})).status_code == 200


async def test_a_session_lasts_at_most_console_session_hours(
    console: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert Settings().console_session_hours == 10  # a shift
    ana = await signed_in(console, "t-chw-ana")
    cookie = {"Cookie": ana["Cookie"]}
    with monkeypatch.context() as m:
        later(m, 9.9 * HOUR)
        assert (await console.get("/console/queue", headers=cookie)).status_code == 200
    with monkeypatch.context() as m:
        later(m, 10 * HOUR + 60)
        r = await console.get("/console/queue", headers=cookie)
        assert r.status_code == 303 and r.headers["location"] == "/console/sign-in"


CONSOLE_ANSWERS = [
    ("GET", "/console/sign-in"),
    ("GET", "/console/queue"),  # a redirect to sign-in
    ("GET", "/console/static/console.js"),
    ("GET", "/console/no-such-page"),
    ("POST", "/console/sign-in"),  # refused: no CSRF token
]


@pytest.mark.parametrize(("method", "path"), CONSOLE_ANSWERS)
async def test_every_console_answer_carries_the_security_headers(
    console: httpx.AsyncClient, method: str, path: str
) -> None:
    r = await console.request(method, path)
    csp = r.headers.get("content-security-policy", "")
    directives = {d.strip().split(" ", 1)[0]: d.strip() for d in csp.split(";") if d.strip()}
    assert directives.get("default-src") == "default-src 'self'", csp
    assert directives.get("frame-ancestors") == "frame-ancestors 'none'", csp
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert r.headers.get("x-content-type-options") == "nosniff"
    assert r.headers.get("referrer-policy") == "same-origin"


async def test_signed_in_pages_carry_them_too(console: httpx.AsyncClient) -> None:
    ana = await signed_in(console, "t-chw-ana")
    page = await console.get("/console/queue", headers={"Cookie": ana["Cookie"]})
    assert page.status_code == 200
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "same-origin"
    assert "no-store" in page.headers.get("cache-control", "")  # member data stays out of caches
