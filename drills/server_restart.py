"""Server restart: the Temporal dev server runs on a file database (``--db-filename``); it is
stopped under load and started again on the same port and file. Every lifecycle still ends
resolved, none lost, no duplicates.

Run: ``python -m drills.server_restart [--clients 20] [--seconds 30] [--stop-at 10] [--down 5] [--kill]``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

from drills.common import (
    Api,
    Stats,
    answered_503_between,
    converge,
    failures,
    log,
    run_for,
    stack,
    wait_ready,
)


async def drill(args: argparse.Namespace) -> int:
    prefix = f"sr-{uuid.uuid4().hex[:6]}"
    with stack(db=args.db, temporal_db_file=True) as s:
        await wait_ready(s.base_url)
        stats = Stats()
        async with Api(s.base_url, stats, retry_cap=1.0, give_up_after=args.give_up) as api:
            load = asyncio.create_task(run_for(api, args.clients, args.seconds, prefix))
            await asyncio.sleep(args.stop_at)
            stopped_at = time.monotonic()
            if args.kill:
                s.temporal.kill9()
            else:
                s.temporal.stop()
            log(f"temporal dev server {'killed (-9)' if args.kill else 'stopped'}; down {args.down:g} s")
            await asyncio.sleep(args.down)
            s.start_temporal()
            started_at = time.monotonic()
            log(f"temporal dev server started again in {started_at - stopped_at - args.down:.1f} s")
            outcomes = await load
            done_at = time.monotonic()
        a = await converge(s, prefix, [o.external_id for o in outcomes], within=args.settle)
    failed = failures(outcomes)
    for line in stats.route_lines():
        print(line)
    for line in a.details():
        print(line)
    print(f"  audit: {a.line()}")
    down_503 = answered_503_between(stats, stopped_at, started_at)
    ok = not failed and a.ok() and not stats.bad_5xx
    print(
        f"server_restart {'OK' if ok else 'FAILED'}: db={args.db} clients={args.clients} "
        f"lifecycles={len(outcomes)} resolved={a.resolved} lost={len(a.lost)} client_errors={len(failed)} "
        f"not_resolved={len(a.not_resolved)} dup_rows={a.duplicate_rows} "
        f"duplicate={len(a.duplicate)} undelivered={len(a.undelivered)} "
        f"disagreements={len(a.disagreements)} "
        f"assigned_per_case={dict(sorted(a.assigned_notices.items()))}; "
        f"server {'-9' if args.kill else 'stopped'} at {args.stop_at:g}s for {args.down:g}s; "
        f"503s while down={down_503} (retried {stats.retried_503}); max answer {stats.max_seconds:.1f}s, "
        f"slow>10s={stats.slow}; other_5xx={len(stats.bad_5xx)}; non-2xx={stats.non_2xx()}; "
        f"clients done {done_at - started_at:.1f}s after restart"
    )
    return 0 if ok else 1


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--seconds", type=float, default=30, help="clients start lifecycles for this long")
    p.add_argument("--stop-at", type=float, default=10)
    p.add_argument("--down", type=float, default=5, help="seconds the server stays down")
    p.add_argument("--kill", action="store_true", help="kill -9 instead of SIGTERM")
    p.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--give-up", type=float, default=300)
    p.add_argument("--settle", type=float, default=180)
    raise SystemExit(asyncio.run(drill(p.parse_args())))


if __name__ == "__main__":
    main()
