"""Database outage: the read model's PostgreSQL is stopped under load for ``--outage`` seconds
(default 60), then started again. While it is down every request answers 503 with Retry-After
within 10 s; afterwards everything converges: none lost, one attempt per case, and each
assignee got exactly one ``assigned`` notice per interaction.

Run: ``python -m drills.db_outage [--outage 60] [--clients 20] [--down-at 8]`` (``--outage 10``
for a fast run).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

from drills.common import (
    SLOW_SECONDS,
    Api,
    Stats,
    answered_503_between,
    converge,
    failures,
    log,
    run_for,
    slowest_between,
    stack,
    wait_ready,
)


async def drill(args: argparse.Namespace) -> int:
    prefix = f"db-{uuid.uuid4().hex[:6]}"
    with stack(db="postgres") as s:
        await wait_ready(s.base_url)
        stats = Stats()
        async with Api(s.base_url, stats, retry_cap=1.0, give_up_after=args.give_up) as api:
            # Clients keep starting lifecycles until a little after the database is back.
            load = asyncio.create_task(
                run_for(api, args.clients, args.down_at + args.outage + args.after, prefix)
            )
            await asyncio.sleep(args.down_at)
            down_at = time.monotonic()
            await asyncio.to_thread(s.outage.stop)
            log(f"PostgreSQL stopped for {args.outage:g} s")
            await asyncio.sleep(args.outage)
            await asyncio.to_thread(s.outage.start)
            up_at = time.monotonic()
            log(f"PostgreSQL started again ({up_at - down_at:.1f} s down)")
            outcomes = await load
            done_at = time.monotonic()
        a = await converge(s, prefix, [o.external_id for o in outcomes], within=args.settle)
        converged_at = time.monotonic()
    failed = failures(outcomes)
    for line in stats.route_lines():
        print(line)
    for line in a.details():
        print(line)
    print(f"  audit: {a.line()}")
    down_503 = answered_503_between(stats, down_at, up_at)
    down_other = sum(1 for at, _, st, _ in stats.timeline if down_at <= at <= up_at and st != 503)
    # Requests sent while it was down; those in flight at the stop may wait for their update's
    # deadline (the workflow cannot project), which is reported apart.
    slowest_down = slowest_between(stats, down_at, up_at, started_after=down_at + 1.0)
    slowest_in_flight = slowest_between(stats, down_at, up_at)
    replay_409 = [o for o in failed if o.error and " 409 " in f" {o.error} "]
    ok = (
        not failed
        and a.ok()
        and not a.undelivered
        and not stats.bad_5xx
        and slowest_down <= SLOW_SECONDS
        and down_503 > 0
    )
    print(
        f"db_outage {'OK' if ok else 'FAILED'}: clients={args.clients} lifecycles={len(outcomes)} "
        f"resolved={a.resolved} lost={len(a.lost)} client_errors={len(failed)} "
        f"not_resolved={len(a.not_resolved)}; "
        f"PostgreSQL down {up_at - down_at:.0f}s: 503s while down={down_503} (other answers {down_other}), "
        f"slowest answer to a request sent while down {slowest_down:.1f}s (<= {SLOW_SECONDS:g}s: "
        f"{'yes' if slowest_down <= SLOW_SECONDS else 'NO'}), in flight at the stop "
        f"{slowest_in_flight:.1f}s; other_5xx={len(stats.bad_5xx)}; "
        f"409 on a same-key repeat={len(replay_409)}; "
        f"assigned_per_case={dict(sorted(a.assigned_notices.items()))} dup_rows={a.duplicate_rows} "
        f"duplicate={len(a.duplicate)} undelivered={len(a.undelivered)} "
        f"disagreements={len(a.disagreements)}; "
        f"clients done {done_at - up_at:.0f}s and read model converged "
        f"{converged_at - up_at:.0f}s after restart"
    )
    return 0 if ok else 1


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--outage", type=float, default=60, help="seconds PostgreSQL stays down")
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--down-at", type=float, default=8, help="seconds of load before the outage")
    p.add_argument("--after", type=float, default=5, help="seconds of new lifecycles after it")
    p.add_argument("--give-up", type=float, default=600)
    p.add_argument("--settle", type=float, default=240)
    raise SystemExit(asyncio.run(drill(p.parse_args())))


if __name__ == "__main__":
    main()
