"""Request bodies are limited on every route (issue 23): ``MAX_BODY_BYTES`` (default 1 MiB),
enforced while the body is read, before parsing and before authentication, as a 413 in the error
shape. A 100 MB body with no token is refused without being read (memory stays flat)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from api.app import create_app
from config.settings import Settings
from tests.conftest import TOKENS

SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
MB = 1024 * 1024
CHUNK = 64 * 1024


class Stream:
    """A request body of ``total`` bytes made on demand, counting what the server consumed."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.consumed = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunk = b"x" * CHUNK
        while self.consumed < self.total:
            piece = chunk[: self.total - self.consumed]
            self.consumed += len(piece)
            yield piece


def client(db_url: str, **over: object) -> httpx.AsyncClient:
    app = create_app(Settings(database_url=db_url, tokens=TOKENS, **over))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def assert_too_large(r: httpx.Response) -> None:
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "too_large"
    assert str(MB) in r.json()["error"]["message"]


@SQLITE_ONLY
async def test_a_100_mb_body_without_a_token_is_a_413_not_a_401_and_is_not_read(db_url: str) -> None:
    body = Stream(100 * MB)
    async with client(db_url) as api:
        r = await api.post(
            "/v1/absences",
            content=body.__aiter__(),
            headers={"Content-Length": str(body.total), "Content-Type": "application/json"},
        )
    assert_too_large(r)
    assert body.consumed <= CHUNK  # refused by its Content-Length, before a byte of it was read


@SQLITE_ONLY
async def test_a_chunked_body_without_content_length_is_cut_off_at_the_limit(db_url: str) -> None:
    body = Stream(100 * MB)
    async with client(db_url) as api:
        r = await api.post(
            "/v1/interactions", content=body.__aiter__(), headers={"Content-Type": "application/json"}
        )
    assert_too_large(r)
    assert body.consumed <= MB + CHUNK  # read up to the limit, not to the end


@SQLITE_ONLY
@pytest.mark.parametrize("path", ["/v1/teams/eastside", "/console/sign-in", "/v1/no-such-route", "/healthz"])
async def test_every_route_is_limited_before_anything_else(db_url: str, path: str) -> None:
    body = Stream(3 * MB)
    async with client(db_url) as api:
        r = await api.request(
            "PUT" if path.startswith("/v1/teams") else "POST", path, content=body.__aiter__()
        )
    assert_too_large(r)
    assert body.consumed <= MB + CHUNK


@SQLITE_ONLY
async def test_the_limit_is_a_setting_and_smaller_bodies_pass(db_url: str) -> None:
    async with client(db_url, max_body_bytes=4096) as api:
        small = await api.post("/v1/absences", content=b"{}" + b" " * 4000)
        assert small.status_code == 401  # read and judged as before: no token
        big = await api.post("/v1/absences", content=b"{}" + b" " * 5000)
        assert big.status_code == 413
        assert "4096" in big.json()["error"]["message"]


@SQLITE_ONLY
async def test_the_codec_endpoint_keeps_its_own_limit(db_url: str) -> None:
    """The codec's cap (``CODEC_MAX_BODY_BYTES``, 4 MiB by default) is not lowered to 1 MiB."""
    async with client(db_url) as api:
        r = await api.post(
            "/codec/decode", content=b" " * (2 * MB), headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 422, r.text  # read whole and judged by the codec route
        r = await api.post(
            "/codec/decode", content=b" " * (5 * MB), headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 413
