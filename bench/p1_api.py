"""P1: the happy path through the HTTP API ÷ a bare one-activity workflow, same dev server, same run.

Run: ``python -m bench.p1_api [--clients 10 50] [--lifecycles 60] [--db sqlite|postgres]``.

Starts the stack of the drills (dev server in memory, SQLite, one worker and one API as
subprocesses). For each client count: that many concurrent clients run whole lifecycles
(create as system → ``reached`` attempt → resolve, projection and outbox included) until
``--lifecycles`` are done; then as many concurrent clients start-and-await bare workflows with one
activity (``drills.baseline``) the same number of times. Target: ratio ≥ 0.5.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time
import uuid

from bench.common import report
from drills import baseline
from drills.common import Api, Stats, converge, log, percentile, run_clients, stack, wait_ready

TARGET = 0.5


async def main(args: argparse.Namespace) -> int:
    prefix = f"p1-{uuid.uuid4().hex[:6]}"
    misses = 0
    with stack(db=args.db) as s:
        await wait_ready(s.base_url)
        async with Api(s.base_url, Stats(), retry_cap=1.0) as api:
            await run_clients(api, 2, 2, f"{prefix}-warm")  # imports, pools, first workflow tasks
            await baseline.measure(s.temporal_address, 2, 2)
            for clients in args.clients:
                per_client = max(1, math.ceil(args.lifecycles / clients))
                api.stats = Stats()
                log(f"P1: {clients} clients x {per_client} lifecycles through the API")
                t0 = time.monotonic()
                outcomes = await run_clients(api, clients, per_client, f"{prefix}-c{clients}")
                elapsed = time.monotonic() - t0
                total = clients * per_client
                rate = total / elapsed
                log(f"P1: {clients} clients x {per_client} bare one-activity workflows")
                base_rate, _ = await baseline.measure(s.temporal_address, clients, per_client)
                failed = [o for o in outcomes if not o.resolved]
                a = await converge(s, f"{prefix}-c{clients}", [o.external_id for o in outcomes], within=120)
                attempt = api.stats.latencies.get("attempt", [math.nan])
                ratio = rate / base_rate
                ok = ratio >= TARGET and not failed and a.ok()
                misses += not ok
                report(
                    "P1",
                    ok,
                    f"{clients} clients, {total} happy paths through the API {rate:.1f}/s ÷ bare "
                    f"one-activity workflows {base_rate:.1f}/s = {ratio:.2f} (target ≥ {TARGET}); "
                    f"attempt p50={percentile(attempt, 50) * 1000:.0f} ms; failed={len(failed)} "
                    f"503s retried={api.stats.retried_503}; "
                    f"audit {'ok' if a.ok() else a.line()} (db={args.db})",
                )
    return 1 if misses else 0


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--clients", type=int, nargs="+", default=[10, 50])
    p.add_argument("--lifecycles", type=int, default=100, help="per client count (rounded up)")
    p.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    return p.parse_args()


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(parse())))
