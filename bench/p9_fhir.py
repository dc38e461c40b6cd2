"""P9 (issue 22): ``GET /fhir/r4/Task?owner=…&_count=50`` against the same page of
``GET /v1/interactions``, with 100,000 interactions in PostgreSQL: p95 ratio.

Run: ``python -m bench.p9_fhir [--rows 100000] [--requests 200]``.

The stack of the drills on a throwaway PostgreSQL cluster. Rows are inserted directly (a fifth
active, the rest resolved, spread over four assignees, a year of receipts, each changed a while
after it came in; one attempt on every other case), then analysed. The lead reads one CHW's
cases both ways, one request of each in turn so both see the same machine: the FHIR search
(``owner=Practitioner/chw-ana&_count=50``, with its ``total``, as a plan's client asks by default)
and the JSON list of the same cases (``assignee_id=chw-ana``, every status, ``limit=50``). Also
reported, not judged: the FHIR search without the total (``_total=none``). Target: FHIR p95 ≤
1.5 times the JSON list's p95.
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
from store.models import Attempt, Interaction

TARGET = 1.5
ASSIGNEES = ["chw-ana", "chw-ben", None, "lead-lee"]
LEAD = {"Authorization": "Bearer drill-lead"}
ASKS = {
    "fhir": "/fhir/r4/Task?owner=Practitioner/chw-ana&_count=50",
    "json": (
        f"/v1/interactions?team_id={TEAM}&assignee_id=chw-ana"
        "&status=open,attempting,escalated,resolved&limit=50"
    ),
    "fhir_no_total": "/fhir/r4/Task?owner=Practitioner/chw-ana&_count=50&_total=none",
}


def insert_rows(url: str, count: int) -> None:
    engine = create_engine(url)
    now = datetime.now(UTC)
    try:
        with engine.begin() as conn:
            for lo in range(0, count, 5000):
                cases: list[dict[str, Any]] = []
                attempts: list[dict[str, Any]] = []
                for i in range(lo, min(count, lo + 5000)):
                    active = i % 5 == 0
                    received = now - timedelta(minutes=i % 525_600)
                    cid = uuid.uuid4().hex
                    cases.append(
                        {
                            "id": cid,
                            "workflow_id": f"interaction:{TEAM}:p9-{i}",
                            "team_id": TEAM,
                            "external_id": f"p9-{i}",
                            "member_id": f"mem-{i % 5000}",
                            "channel": "call",
                            "status": ("open", "attempting", "escalated")[i % 3] if active else "resolved",
                            "assignee_id": ASSIGNEES[i % 4],
                            "assignment_source": "owner",
                            "received_at": received,
                            "due_at": received + timedelta(hours=8),
                            "flags": [],
                            "triggers": [],
                            "attempt_count": i % 2,
                            "version": 1,
                            "created_at": received,
                            "updated_at": received + timedelta(minutes=i % 97),
                            "resolved_at": None if active else received + timedelta(hours=2),
                        }
                    )
                    if i % 2:
                        attempts.append(
                            {
                                "id": uuid.uuid4().hex,
                                "interaction_id": cid,
                                "seq": 1,
                                "outcome": "reached" if i % 4 == 1 else "no_answer",
                                "staff_id": ASSIGNEES[i % 4],
                                "at": received + timedelta(minutes=30),
                            }
                        )
                conn.execute(insert(Interaction), cases)
                conn.execute(insert(Attempt), attempts)
            conn.execute(text("ANALYZE interactions"))
            conn.execute(text("ANALYZE attempts"))
    finally:
        engine.dispose()


async def read_both(base_url: str, n: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {name: [] for name in ASKS}
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        for i in range(n + 10):
            for name, path in ASKS.items():
                t0 = time.monotonic()
                r = await http.get(path, headers=LEAD)
                took = time.monotonic() - t0
                r.raise_for_status()
                body = r.json()
                assert len(body.get("entry") or body.get("items") or []) == 50, r.text[:200]
                if i >= 10:  # the first ten warm pools and caches
                    out[name].append(took)
    return out


async def main(args: argparse.Namespace) -> int:
    with stack(db="postgres") as s:
        await wait_ready(s.base_url)
        t0 = time.monotonic()
        insert_rows(s.db_url, args.rows)
        log(f"P9: inserted {args.rows} rows in {time.monotonic() - t0:.0f} s")
        took = await read_both(s.base_url, args.requests)
    p95 = {name: percentile(values, 95) for name, values in took.items()}
    ratio = p95["fhir"] / p95["json"]
    ok = ratio <= TARGET
    report(
        "P9",
        ok,
        f"one CHW's cases with {args.rows} rows in PostgreSQL, {args.requests} of each in turn: "
        f"FHIR Task search p95 {ms(p95['fhir'])} ÷ GET /v1/interactions p95 {ms(p95['json'])} = "
        f"{ratio:.2f} (target ≤ {TARGET}); FHIR {spread(took['fhir'])}; JSON {spread(took['json'])}; "
        f"FHIR with _total=none {spread(took['fhir_no_total'])}",
    )
    return 0 if ok else 1


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--requests", type=int, default=200)
    return p.parse_args()


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(parse())))
