"""P4: an absence starting over N open interactions: time until all are moved ÷ time for N bare
signals handled, same dev server, same run.

Run: ``python -m bench.p4_absence [--n 1000] [--workers N] [--apis N] [--db sqlite|postgres]``.

The stack of the drills (dev server in memory, SQLite or PostgreSQL, one worker and one API;
``--workers``/``--apis``: that many worker processes on the product's queue and API processes,
all on the same Temporal and database). N interactions assigned to chw-ana are started directly
on the worker's queue and projected; then a lead plans an absence of chw-ana (backup chw-ben)
through ``POST /v1/absences`` of the first API (the others run beside it) starting a few seconds
later. Moved = the row's assignee is chw-ben; the time is from ``starts_at`` to the last row's
``updated_at``. Nothing lost or doubled: every case has exactly one row, assigned to chw-ben,
exactly one ``assigned`` notice to chw-ben and exactly one hand-over line on its timeline
(``lost=… doubled=…``, counted in cases; either non-zero is a MISS). The baseline: N bare
workflows (worker in this process) each waiting for one signal and then running one activity;
the N signals are sent 100 at a time as the fan-out sends them, and the time is from the first
signal to the last activity. Target: ratio ≤ 1.5.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from bench.common import (
    ROW,
    Once,
    SignalThenActivity,
    connect,
    demo_team,
    interaction_input,
    report,
    scale_checked,
    scale_options,
    scale_out,
    stamp,
    stamped,
    start_interactions,
    tally_settled,
    task_queue,
    wait_rows,
)
from drills.common import log, stack

TARGET = 1.5
BACKUP = "chw-ben"
# Every case handed over once: its row, the backup's notice, the hand-over on its timeline.
MOVED_ONCE = (
    ROW,
    Once(f"row assigned to {BACKUP}", where="i.assignee_id = :backup", params={"backup": BACKUP}),
    Once(
        f"assigned notice to {BACKUP}",
        "notifications",
        "t.kind = 'assigned' AND t.recipient_id = :backup",
        {"backup": BACKUP},
    ),
    Once(
        "hand-over on the timeline",
        "timeline_events",
        "t.kind = 'assigned' AND t.key LIKE :start",
        {"start": "%:coverage:%:start"},  # the case's step coverage:<absence>:start
    ),
)


async def bare(client: Client, n: int) -> float:
    queue = f"bench-signal-{uuid.uuid4().hex[:6]}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[SignalThenActivity],
        activities=[stamp],
        max_concurrent_activities=100,
    ):
        handles: list[WorkflowHandle[SignalThenActivity, float]] = []
        for i in range(0, n, 100):
            handles += await asyncio.gather(
                *(
                    client.start_workflow(SignalThenActivity.run, id=f"{queue}-{j}", task_queue=queue)
                    for j in range(i, min(n, i + 100))
                )
            )
        await asyncio.sleep(2)  # their first workflow tasks are done
        t0 = time.time()
        for i in range(0, n, 100):
            await asyncio.gather(*(h.signal(SignalThenActivity.go, "go") for h in handles[i : i + 100]))
        stamps = await stamped(queue, n)
    return max(stamps) - t0


async def main(args: argparse.Namespace) -> int:
    n = args.n
    cfg = demo_team()
    prefix = f"p4-{uuid.uuid4().hex[:6]}"
    with stack(db=args.db) as s, contextlib.ExitStack() as extra:
        fleet = await scale_out(s, extra, workers=args.workers, apis=args.apis)
        client = await connect(s)
        log(f"P4 baseline: {n} bare signals handled")
        base = await bare(client, n)
        now = datetime.now(UTC)
        inputs = [interaction_input(f"{prefix}-{i:05}", cfg=cfg, received_at=now) for i in range(n)]
        log(f"P4: starting {n} interactions assigned to chw-ana")
        await start_interactions(client, task_queue(s), inputs)
        await wait_rows(s, prefix, n, within=600)
        await asyncio.sleep(2)
        starts_at = (datetime.now(UTC) + timedelta(seconds=5)).replace(microsecond=0)
        async with httpx.AsyncClient(base_url=fleet.urls[0], timeout=30) as http:
            r = await http.post(
                "/v1/absences",
                headers={"Authorization": "Bearer drill-lead", "Idempotency-Key": uuid.uuid4().hex},
                json={
                    "staff_id": "chw-ana",
                    "backup_id": BACKUP,
                    "starts_at": starts_at.isoformat(),
                    "ends_at": (starts_at + timedelta(hours=2)).isoformat(),
                },
            )
            r.raise_for_status()
        log(f"P4: absence starts at {starts_at:%H:%M:%S}")
        await wait_rows(
            s, prefix, n, within=600 + n / 5, where=f"AND assignee_id = '{BACKUP}' AND status != 'resolved'"
        )
        last = s.sql(
            "SELECT max(updated_at) FROM interactions WHERE external_id LIKE :p AND assignee_id = :b",
            p=f"{prefix}-%",
            b=BACKUP,
        )[0][0]
        counted = await tally_settled(s.sql, prefix, [i.external_id for i in inputs], MOVED_ONCE)
    last_at = last if isinstance(last, datetime) else datetime.fromisoformat(str(last))
    moved = ((last_at if last_at.tzinfo else last_at.replace(tzinfo=UTC)) - starts_at).total_seconds()
    ratio = moved / base
    ok = ratio <= TARGET and counted.ok()
    report(
        "P4",
        ok,
        f"absence start over {n} open interactions: all moved in {moved:.1f} s ÷ {n} bare signals "
        f"handled in {base:.1f} s = {ratio:.2f} (target ≤ {TARGET}); {counted.line()} "
        f"(db={args.db}, {args.workers} workers, {args.apis} APIs)",
    )
    return 0 if ok else 1


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n", type=int, default=1000)
    scale_options(p, apis=1, apis_help="API processes (the absence is posted to the first)")
    return scale_checked(p)


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(parse())))
