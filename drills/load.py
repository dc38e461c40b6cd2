"""Load: N concurrent clients each run whole lifecycles through the API (create as system →
a ``reached`` attempt as the assignee → resolve), against bare Temporal workflows (one
activity, N concurrent start-and-await clients) on the same dev server in the same run.

Run: ``python -m drills.load [--clients 50] [--per-client 2] [--db sqlite|postgres]``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

from drills import baseline
from drills.common import Api, Stats, converge, log, run_clients, stack, wait_ready


async def drill(args: argparse.Namespace) -> int:
    prefix = f"load-{uuid.uuid4().hex[:6]}"
    with stack(db=args.db) as s:
        await wait_ready(s.base_url)
        stats = Stats()
        async with Api(s.base_url, stats, retry_cap=1.0) as api:
            await run_clients(api, 1, 1, f"warm-{prefix}")  # imports, pools, first workflow task
            stats = api.stats = Stats()  # figures of the measured run only
            log(f"load: {args.clients} clients x {args.per_client} lifecycles")
            t0 = time.monotonic()
            outcomes = await run_clients(api, args.clients, args.per_client, prefix)
            elapsed = time.monotonic() - t0
        total = args.clients * args.per_client
        rate = total / elapsed
        base_rate, base_lat = 0.0, [0.0]
        if not args.skip_baseline:
            log("baseline: bare workflows with one activity on the same dev server")
            base_rate, base_lat = await baseline.measure(s.temporal_address, args.clients, args.per_client)
        a = await converge(s, prefix, [o.external_id for o in outcomes], within=120)
    failed = [o for o in outcomes if not o.resolved]
    for o in failed[:10]:
        print(f"  failed {o.external_id}: {o.error}")
    for line in stats.route_lines():
        print(line)
    print(f"  baseline: {base_rate:.1f} workflows/s, max {max(base_lat) * 1000:.0f} ms per workflow")
    for line in a.details():
        print(line)
    print(f"  audit: {a.line()}")
    ratio = rate / base_rate if base_rate else float("nan")
    ok = not failed and a.ok() and not stats.bad_5xx
    verdict = "FAILED" if not ok else ("OK" if stats.slow == 0 else f"OK BUT {stats.slow} ANSWERS > 10 s")
    print(
        f"load {verdict}: db={args.db} clients={args.clients} lifecycles={total} "
        f"resolved={total - len(failed)} in {elapsed:.1f}s = {rate:.1f} lifecycles/s; "
        f"bare workflows {base_rate:.1f}/s; ratio {ratio:.2f}; {stats.route_summary()}; "
        f"non-2xx={stats.non_2xx()} retried_503={stats.retried_503} "
        f"slow>10s={stats.slow} other_5xx={len(stats.bad_5xx)}; "
        f"lost={len(a.lost)} dup_rows={a.duplicate_rows} disagreements={len(a.disagreements)}"
    )
    return 0 if ok else 1


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--per-client", type=int, default=2, help="lifecycles each client runs in turn")
    p.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--skip-baseline", action="store_true")
    raise SystemExit(asyncio.run(drill(p.parse_args())))


if __name__ == "__main__":
    main()
