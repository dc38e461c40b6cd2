"""P5: ``GET /v1/interactions`` (a lead's queue) with 100,000 interactions in PostgreSQL: p95.

Run: ``python -m bench.p5_queue [--rows 100000] [--requests 200]``.

The stack of the drills on a throwaway PostgreSQL cluster (Debian binaries, as the tests start
one). Rows are inserted directly (a fifth active, the rest resolved, spread over four assignees
and a year of due dates), then analysed. The lead's queue (``?team_id=eastside``, default
statuses, first page of 50) is read ``--requests`` times one after another; the in-run baseline is
the same read with 1,000 rows. Target: p95 ≤ 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import create_engine, insert, text

from bench.common import TEAM, ms, report, spread
from drills.common import log, percentile, stack, wait_ready
from store.models import Interaction

TARGET = 0.050
ASSIGNEES = ["chw-ana", "chw-ben", None, "lead-lee"]


def insert_rows(url: str, start: int, count: int) -> None:
    engine = create_engine(url)
    now = datetime.now(UTC)
    try:
        with engine.begin() as conn:
            for lo in range(start, start + count, 5000):
                rows: list[dict[str, Any]] = []
                for i in range(lo, min(start + count, lo + 5000)):
                    active = i % 5 == 0
                    rows.append(
                        {
                            "id": uuid.uuid4().hex,
                            "workflow_id": f"interaction:{TEAM}:p5-{i}",
                            "team_id": TEAM,
                            "external_id": f"p5-{i}",
                            "member_id": "mem-1001",
                            "channel": "call",
                            "status": ("open", "attempting", "escalated")[i % 3] if active else "resolved",
                            "assignee_id": ASSIGNEES[i % 4],
                            "assignment_source": "owner",
                            "received_at": now - timedelta(minutes=i % 525_600),
                            "due_at": now - timedelta(minutes=i % 525_600) + timedelta(hours=8),
                            "flags": [],
                            "triggers": [],
                            "version": 1,
                            "created_at": now,
                            "updated_at": now,
                            "resolved_at": None if active else now,
                        }
                    )
                conn.execute(insert(Interaction), rows)
            conn.execute(text("ANALYZE interactions"))
    finally:
        engine.dispose()


async def read_queue(base_url: str, n: int) -> list[float]:
    out: list[float] = []
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        for i in range(n + 10):
            t0 = time.monotonic()
            r = await http.get(
                f"/v1/interactions?team_id={TEAM}", headers={"Authorization": "Bearer drill-lead"}
            )
            took = time.monotonic() - t0
            r.raise_for_status()
            assert len(r.json()["items"]) == 50, r.text[:200]
            if i >= 10:  # the first ten warm pools and caches
                out.append(took)
    return out


async def main(args: argparse.Namespace) -> int:
    with stack(db="postgres") as s:
        await wait_ready(s.base_url)
        insert_rows(s.db_url, 0, 1000)
        base = await read_queue(s.base_url, args.requests)
        log(f"P5: baseline at 1,000 rows {spread(base)}; inserting up to {args.rows} rows")
        t0 = time.monotonic()
        insert_rows(s.db_url, 1000, args.rows - 1000)
        log(f"P5: inserted in {time.monotonic() - t0:.0f} s")
        big = await read_queue(s.base_url, args.requests)
    p95 = percentile(big, 95)
    ok = p95 <= TARGET
    report(
        "P5",
        ok,
        f"lead's queue with {args.rows} rows in PostgreSQL: p95 {ms(p95)} (target ≤ {ms(TARGET)}), "
        f"{spread(big)}; "
        f"with 1,000 rows: {spread(base)}; ratio of p95s {p95 / percentile(base, 95):.2f}",
    )
    return 0 if ok else 1


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--requests", type=int, default=200)
    return p.parse_args()


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(parse())))
