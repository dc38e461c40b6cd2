"""P6: ``POST /v1/interactions`` at 50 requests/s for 60 s, on SQLite and on PostgreSQL: p95, errors.

Run: ``python -m bench.p6_create_rate [--rate 50] [--seconds 60] [--db sqlite postgres]``.

For each database, the stack of the drills (dev server in memory, one worker, one API). An open
loop sends one new interaction every 1/rate seconds (whatever the answers take), as the system
role; every answer that is not 201 (and every transport error) is an error. The in-run baseline
is ``GET /readyz`` (the API and its database answering, no Temporal) at the same rate for a tenth
of the time. Target: p95 ≤ 100 ms, 0 errors.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections import Counter
from datetime import UTC, datetime

import httpx

from bench.common import ms, report, spread
from drills.common import MEMBERS, TEAM, log, percentile, stack, wait_ready

TARGET = 0.100


async def open_loop(
    base_url: str, rate: float, seconds: float, make: object
) -> tuple[list[float], Counter[str]]:
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    members = sorted(MEMBERS)
    limits = httpx.Limits(max_connections=500, max_keepalive_connections=500)

    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as http:

        async def one(i: int) -> None:
            t0 = time.monotonic()
            try:
                r = await make(http, i, members[i % len(members)])  # type: ignore[operator]
            except httpx.TransportError as err:
                errors[type(err).__name__] += 1
                return
            latencies.append(time.monotonic() - t0)
            if r.status_code not in (200, 201):
                errors[str(r.status_code)] += 1

        tasks = []
        start = time.monotonic()
        n = int(rate * seconds)
        for i in range(n):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
    return latencies, errors


async def measure(db: str, rate: float, seconds: float) -> tuple[bool, str]:
    prefix = f"p6-{uuid.uuid4().hex[:6]}"

    async def ready(http: httpx.AsyncClient, i: int, member: str) -> httpx.Response:
        return await http.get("/readyz")

    async def create(http: httpx.AsyncClient, i: int, member: str) -> httpx.Response:
        return await http.post(
            "/v1/interactions",
            headers={"Authorization": "Bearer drill-system"},
            json={
                "team_id": TEAM,
                "external_id": f"{prefix}-{i:05}",
                "member_id": member,
                "channel": "call",
                "received_at": datetime.now(UTC).isoformat(),
            },
        )

    with stack(db=db) as s:  # type: ignore[arg-type]
        await wait_ready(s.base_url)
        await open_loop(s.base_url, 5, 2, create)  # warm
        base, base_err = await open_loop(s.base_url, rate, max(5.0, seconds / 10), ready)
        log(f"P6 {db}: baseline GET /readyz {spread(base)}; {rate:g} creates/s for {seconds:g} s")
        lat, errors = await open_loop(s.base_url, rate, seconds, create)
    p95 = percentile(lat, 95)
    ok = p95 <= TARGET and not errors
    return ok, (
        f"{db}: POST /v1/interactions at {rate:g}/s for {seconds:g} s: p95 {ms(p95)} "
        f"(target ≤ {ms(TARGET)}), "
        f"{spread(lat)}, errors {sum(errors.values())} {dict(errors) or ''}; baseline GET /readyz at the "
        f"same rate: p95 {ms(percentile(base, 95))}, errors {sum(base_err.values())}"
    )


async def main(args: argparse.Namespace) -> int:
    misses = 0
    for db in args.db:
        ok, line = await measure(db, args.rate, args.seconds)
        misses += not ok
        report("P6", ok, line)
    return 1 if misses else 0


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rate", type=float, default=50)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--db", nargs="+", choices=["sqlite", "postgres"], default=["sqlite", "postgres"])
    return p.parse_args()


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(parse())))
