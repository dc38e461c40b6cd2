"""Worker kill: ``kill -9`` the worker under load, start it again; clients repeat 503s with the
same Idempotency-Key. Afterwards every interaction is resolved, none lost, one attempt each,
one ``assigned`` notice each, no notification key twice.

Run: ``python -m drills.worker_kill [--clients 30] [--seconds 30] [--kill-at 10] [--down 5]``.
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
    prefix = f"wk-{uuid.uuid4().hex[:6]}"
    with stack(db=args.db) as s:
        await wait_ready(s.base_url)
        stats = Stats()
        async with Api(s.base_url, stats, retry_cap=1.0, give_up_after=args.give_up) as api:
            load = asyncio.create_task(run_for(api, args.clients, args.seconds, prefix))
            await asyncio.sleep(args.kill_at)
            pid = s.worker.pid
            killed_at = time.monotonic()
            s.worker.kill9()
            log(f"worker pid {pid} killed (-9); down for {args.down:g} s")
            await asyncio.sleep(args.down)
            s.start_worker()
            restarted_at = time.monotonic()
            log(f"worker restarted (pid {s.worker.pid})")
            outcomes = await load
            done_at = time.monotonic()
        a = await converge(s, prefix, [o.external_id for o in outcomes], within=args.settle)
    failed = failures(outcomes)
    for line in stats.route_lines():
        print(line)
    for line in a.details():
        print(line)
    print(f"  audit: {a.line()}")
    down_503 = answered_503_between(stats, killed_at, restarted_at + 30)
    ok = not failed and a.ok() and not stats.bad_5xx
    print(
        f"worker_kill {'OK' if ok else 'FAILED'}: db={args.db} clients={args.clients} "
        f"lifecycles={len(outcomes)} resolved={a.resolved} lost={len(a.lost)} client_errors={len(failed)} "
        f"not_resolved={len(a.not_resolved)} dup_rows={a.duplicate_rows} "
        f"duplicate={len(a.duplicate)} undelivered={len(a.undelivered)} "
        f"disagreements={len(a.disagreements)} "
        f"assigned_per_case={dict(sorted(a.assigned_notices.items()))} "
        f"attempts_per_case={dict(sorted(a.attempt_counts.items()))}; worker -9 at {args.kill_at:g}s, "
        f"down {args.down:g}s; 503s around the kill={down_503} (retried {stats.retried_503}); "
        f"max answer {stats.max_seconds:.1f}s, slow>10s={stats.slow}; other_5xx={len(stats.bad_5xx)}; "
        f"non-2xx={stats.non_2xx()}; clients done {done_at - restarted_at:.1f}s after restart"
    )
    return 0 if ok else 1


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--clients", type=int, default=30)
    p.add_argument("--seconds", type=float, default=30, help="clients start lifecycles for this long")
    p.add_argument("--kill-at", type=float, default=10)
    p.add_argument("--down", type=float, default=5, help="seconds the worker stays dead")
    p.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--give-up", type=float, default=300, help="a client stops repeating after this")
    p.add_argument("--settle", type=float, default=180, help="seconds to wait for convergence")
    raise SystemExit(asyncio.run(drill(p.parse_args())))


if __name__ == "__main__":
    main()
