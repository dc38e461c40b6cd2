"""P7: worker resident memory with N open interactions (sticky cache at its configured size).

Run: ``python -m bench.p7_memory [--n 10000]``.

The stack of the drills (dev server in memory, SQLite, one worker subprocess; no API). The
baseline is the worker's resident memory (VmRSS) once it has run one interaction; then N
interactions are started directly on its queue and projected (each runs its first workflow task
on this worker, so the sticky cache holds as many as it is configured to: the SDK's
``max_cached_workflows``), and the worker's memory is read again. Target: ≤ 400 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from datetime import UTC, datetime

from bench.common import (
    connect,
    demo_team,
    interaction_input,
    report,
    rss_mb,
    start_interactions,
    task_queue,
    wait_rows,
)
from drills.common import log, stack

TARGET_MB = 400.0


async def main(args: argparse.Namespace) -> int:
    n = args.n
    cfg = demo_team()
    prefix = f"p7-{uuid.uuid4().hex[:6]}"
    with stack(start_api=False) as s:
        client = await connect(s)
        now = datetime.now(UTC)
        await start_interactions(
            client, task_queue(s), [interaction_input(f"{prefix}-warm-0", cfg=cfg, received_at=now)]
        )
        await wait_rows(s, f"{prefix}-warm", 1, within=60)
        await asyncio.sleep(3)
        idle = rss_mb(s.worker.pid)
        log(f"P7: worker RSS after one interaction {idle:.0f} MB; starting {n}")
        inputs = [interaction_input(f"{prefix}-{i:05}", cfg=cfg, received_at=now) for i in range(n)]
        took = await start_interactions(client, task_queue(s), inputs)
        await wait_rows(s, prefix, n + 1, within=600 + n / 10)
        await asyncio.sleep(5)
        loaded = rss_mb(s.worker.pid)
        peak = rss_mb(s.worker.pid, field="VmHWM")
    ok = loaded <= TARGET_MB and peak <= TARGET_MB
    report(
        "P7",
        ok,
        f"worker RSS with {n} open interactions {loaded:.0f} MB (peak {peak:.0f} MB; "
        f"target ≤ {TARGET_MB:.0f}) vs {idle:.0f} MB with one: +{(loaded - idle) * 1024 / n:.1f} KiB per "
        f"open case; started in {took:.0f} s",
    )
    return 0 if ok else 1


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n", type=int, default=10_000)
    return p.parse_args()


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(parse())))
