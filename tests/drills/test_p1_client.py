"""P1's clients are well-behaved (issue 24): a 503 is repeated only after the Retry-After the API
sent, under the same Idempotency-Key, and every repeat is counted; with several API processes
(``--apis``) the clients are spread round-robin over them."""

from __future__ import annotations

import httpx
import pytest

from bench import p1_api


async def test_a_503_is_repeated_after_its_retry_after_under_the_same_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[httpx.Request] = []
    waited: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 1:
            body = {"error": {"code": "unavailable", "message": "the service is busy"}}
            return httpx.Response(503, json=body, headers={"Retry-After": "3"})
        return httpx.Response(200, json={"id": "i1", "status": "resolved"})

    async def sleep(seconds: float) -> None:
        waited.append(seconds)

    monkeypatch.setattr("drills.common.asyncio.sleep", sleep)
    async with p1_api.client("http://api", transport=httpx.MockTransport(answer)) as api:
        r = await api.request(
            "resolve", "POST", "/v1/interactions/i1/resolve", token="t", json_body={}, key="key-1"
        )

    assert r.status_code == 200
    assert [q.headers["Idempotency-Key"] for q in seen] == ["key-1", "key-1"]
    assert waited == [3.0]  # what the API asked for, not less
    assert api.stats.retried_503 == 1


async def test_the_clients_are_spread_round_robin_over_the_apis() -> None:
    hosts: list[tuple[str, str]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        hosts.append((request.url.host, request.url.path))
        if request.url.path == "/v1/interactions":
            return httpx.Response(201, json={"id": "i1", "assignee_id": "chw-ana"})
        return httpx.Response(200, json={"id": "i1", "status": "resolved"})

    transport = httpx.MockTransport(answer)
    async with (
        p1_api.client("http://api-1", transport=transport) as one,
        p1_api.client("http://api-2", transport=transport) as two,
    ):
        outcomes = await p1_api.spread_clients([one, two], 3, 2, "p1-x")

    assert len(outcomes) == 6 and all(o.resolved for o in outcomes)
    creates = [host for host, path in hosts if path == "/v1/interactions"]
    assert sorted(creates) == ["api-1"] * 4 + ["api-2"] * 2  # clients 0 and 2 on the first, 1 on the second
    assert len({o.external_id for o in outcomes}) == 6
