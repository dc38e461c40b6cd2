"""P3: N interactions due at one instant: p99 lateness of their overdue notices ÷ p99 lateness of
N bare workflows sleeping to one instant then running one activity, same dev server, same run.

Run: ``python -m bench.p3_deadlines [--n 5000] [--lead SECONDS] [--base-lead SECONDS] [--db sqlite|postgres]
[--workers N] [--apis N] [--history CASES]``.

Real short deadlines, no time skipping. The stack of the drills (dev server in memory, SQLite, one
worker subprocess; no API; ``--workers``: that many worker processes on the product's queue,
``--apis``: that many API processes running beside, idle, all on the same Temporal and database). A
team open around the clock; N texts (one each from N members) received one business minute before an instant T
(``text_response_business_minutes=1``, no due-soon reminder) are started directly on the worker's
queue, so all N fall due at T. Each goes overdue at T and raises its ``deadline_missed`` escalation,
whose first notice (to the lead) lands in the outbox: lateness = ``notifications.created_at - T``.
The baseline has the same Temporal shape with none of our code: N bare workflows on the same server
(worker in this process, on its own task queue) sleeping to an instant T2, then one local activity,
then an abandoned child workflow that runs one local activity and one activity stamping its wall
time (the case's timer, its projection, the escalation child, the escalation's projection and the
lead's notice), run before the herd and again after it (``--no-baseline-after``: before only), the
ratio taken against the mean of the two p99s, since the load of a shared machine moves in minutes.
Target (issue 24): ratio of p99s ≤ 1.3 at N = 1,000 (≤ 1.5 at 5,000). The load average is printed
with the figure (a shared machine). Nothing lost or doubled: every case has exactly one row, exactly
one ``deadline_missed`` notice to the lead and exactly one ``deadline_missed`` escalation
(``lost=… doubled=…``, counted in cases; either non-zero is a MISS). The line also gives the
largest peak resident memory of the workers (``VmHWM``) by the end: the cases' and the
escalations' sticky caches at their fullest.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import Worker

from bench.common import (
    ROW,
    Once,
    OverdueChild,
    OverdueShape,
    always_open_team,
    connect,
    cpu_seconds,
    interaction_input,
    profiled,
    report,
    rss_mb,
    scale_checked,
    scale_options,
    scale_out,
    seed_history,
    spread,
    stamp,
    stamped,
    start_interactions,
    step,
    tally_settled,
    task_queue,
    wait_rows,
)
from domain.models import Policy
from drills.common import drill_team, log, percentile, stack

TARGET = 1.3
# The herd of 5,000 (and more) may cost more per case than the herd of 1,000 (issue 24).
TARGET_LARGE, LARGE = 1.5, 5000
LEAD = "lead-lee"  # the demo team's lead, the deadline_missed escalation's first level
# Every case overdue once: its row, the lead's notice, the escalation.
OVERDUE_ONCE = (
    ROW,
    Once(
        f"deadline_missed notice to {LEAD}",
        "notifications",
        "t.trigger = 'deadline_missed' AND t.recipient_id = :lead",
        {"lead": LEAD},
    ),
    Once("deadline_missed escalation", "escalations", "t.trigger = 'deadline_missed'"),
)


@dataclass
class Cpu:
    """CPU seconds the Temporal server and the workers used from the instant until the last
    notice (or bare activity) was in: a herd's cost, steadier than its lateness on a shared
    machine. The bare workflows' worker runs in the bench's own process."""

    server: float = 0.0
    workers: float = 0.0

    def mean(self, other: Cpu) -> Cpu:
        return Cpu((self.server + other.server) / 2, (self.workers + other.workers) / 2)

    def per_case(self, n: int) -> str:
        return f"server {1000 * self.server / n:.1f} ms, workers {1000 * self.workers / n:.1f} ms"


def cpu_now(server: int, workers: Sequence[int]) -> Cpu:
    """The CPU used so far by the server and the workers (pid 0: this process, by itself)."""
    mine = time.process_time()
    return Cpu(cpu_seconds(server), sum(cpu_seconds(p) if p else mine for p in workers))


def cpu_since(start: Cpu, server: int, workers: Sequence[int]) -> Cpu:
    end = cpu_now(server, workers)
    return Cpu(end.server - start.server, end.workers - start.workers)


async def bare(client: Client, n: int, lead: float, server: int) -> tuple[list[float], Cpu]:
    """Lateness (s) of N bare workflows of the overdue shape (``OverdueShape``: timer, local
    activity, abandoned child doing a local activity and an activity) due at one instant: the
    wall time of each child's activity; and the CPU of the server and of this process (their
    worker) meanwhile."""
    queue = f"bench-bare-{uuid.uuid4().hex[:6]}"
    at = time.time() + lead
    async with Worker(
        client,
        task_queue=queue,
        workflows=[OverdueShape, OverdueChild],
        activities=[stamp, step],
        max_concurrent_activities=100,
    ):
        for i in range(0, n, 100):
            await asyncio.gather(
                *(
                    client.start_workflow(OverdueShape.run, at, id=f"{queue}-{j}", task_queue=queue)
                    for j in range(i, min(n, i + 100))
                )
            )
        if time.time() > at:
            log(f"P3 baseline: starting took longer than --lead ({lead:g} s): raise it")
        log(f"P3 baseline: {n} bare workflows started, due in {at - time.time():.0f} s")
        await asyncio.sleep(max(0.0, at - time.time()))
        start = cpu_now(server, [0])
        stamps = await stamped(queue, n)
        cpu = cpu_since(start, server, [0])
    return [s - at for s in stamps], cpu


async def main(args: argparse.Namespace) -> int:
    n = args.n
    lead = args.lead if args.lead is not None else 30 + n / 25
    cfg = always_open_team()
    prefix = f"p3-{uuid.uuid4().hex[:6]}"
    with (
        stack(db=args.db, start_api=False, team=partial(drill_team, grouped=args.notices == "grouped")) as s,
        contextlib.ExitStack() as extra,
        contextlib.ExitStack() as spying,
    ):
        fleet = await scale_out(s, extra, workers=args.workers, apis=args.apis)
        workers = [w.pid for w in fleet.workers]
        client = await connect(s)
        if args.history:
            seed_history(s.db_url, args.history)
            log(f"P3: {args.history} earlier cases of other members in the read model")
        log(f"P3 baseline: {n} bare workflows sleeping to one instant")
        base_lead = args.base_lead if args.base_lead is not None else 15 + n / 30
        base, base_cpu = await bare(client, n, base_lead, s.temporal.pid)
        loads = [_load()]
        due = (datetime.now(UTC) + timedelta(seconds=lead)).replace(microsecond=0)
        policy = cfg.policy.model_copy(update={"text_response_business_minutes": 1, "due_soon_minutes": 0})
        inputs = [
            interaction_input(
                f"{prefix}-{i:05}",
                cfg=cfg,
                received_at=due - timedelta(minutes=1),
                policy=Policy.model_validate(policy.model_dump()),
                member_id=f"mem-p3-{i:05}",  # 17:00's herd: one case each of N members
            )
            for i in range(n)
        ]
        log(f"P3: starting {n} interactions due at {due:%H:%M:%S} (in {lead:.0f} s)")
        took = await start_interactions(client, task_queue(s), inputs)
        await wait_rows(s, prefix, n, within=lead * 3)
        settled_before = (due - datetime.now(UTC)).total_seconds()
        log(f"P3: started in {took:.0f} s, all rows projected {settled_before:.0f} s before the deadline")
        if args.profile:
            await asyncio.sleep(max(0.0, settled_before - 1))
            spying.enter_context(profiled(s.worker.pid, args.profile, "P3: the worker"))
        deadline = time.monotonic() + max(0.0, settled_before) + 600
        await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()))
        start = cpu_now(s.temporal.pid, workers)
        rows: list[tuple[object, ...]] = []
        while time.monotonic() < deadline:
            rows = s.sql(
                "SELECT n.created_at FROM notifications n JOIN interactions i ON i.id = n.interaction_id "
                "WHERE n.trigger = 'deadline_missed' AND i.external_id LIKE :p",
                p=f"{prefix}-%",
            )
            if len(rows) >= n:
                break
            await asyncio.sleep(2)
        cpu = cpu_since(start, s.temporal.pid, workers)
        spying.close()
        loads.append(_load())
        after: list[float] = []
        if args.baseline_after:  # the machine's load moves: the same baseline again, after the herd
            log(f"P3 baseline again: {n} bare workflows sleeping to one instant")
            after, after_cpu = await bare(client, n, base_lead, s.temporal.pid)
            base_cpu = base_cpu.mean(after_cpu)
            loads.append(_load())
        counted = await tally_settled(s.sql, prefix, [i.external_id for i in inputs], OVERDUE_ONCE)
        peak = max(rss_mb(w.pid, field="VmHWM") for w in fleet.workers)  # both caches at their fullest
    lateness = [(_aware(r[0]) - due).total_seconds() for r in rows]
    if not lateness:
        report("P3", False, "no overdue notice was recorded")
        return 1
    base_p99 = percentile(base, 99)
    if after:  # the mean of the baseline's p99 before and after the herd
        base_p99 = (base_p99 + percentile(after, 99)) / 2
    ratio = percentile(lateness, 99) / base_p99
    load = ", ".join(loads)
    target = TARGET_LARGE if n >= LARGE else TARGET
    ok = ratio <= target and len(rows) >= n and settled_before > 0 and counted.ok()
    report(
        "P3",
        ok,
        f"{n} interactions due at one instant: overdue notices {len(rows)}/{n}, lateness {spread(lateness)}; "
        f"same-shape bare workflows: {spread(base)}"
        + (f", again after: {spread(after)}" if after else "")
        + f"; p99 ratio {ratio:.2f} (target ≤ {target}); "
        f"CPU per case from the instant: {cpu.per_case(n)} (bare: {base_cpu.per_case(n)}); "
        f"the workers' peak memory (VmHWM, the largest) {peak:.0f} MB; "
        f"set-up ended {settled_before:.0f} s before the instant; {counted.line()} "
        f"(db={args.db}, {args.workers} workers, {args.apis} APIs, {args.history} earlier cases, "
        f"notices {args.notices}); "
        f"load average (1 min) {load}",
    )
    return 0 if ok else 1


def _load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def _aware(value: object) -> datetime:
    at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n", type=int, default=5000)
    scale_options(p, apis=0, apis_help="API processes running beside, idle")
    p.add_argument(
        "--lead", type=float, default=None, help="seconds from now to the instant (default 30 + n/25)"
    )
    p.add_argument(
        "--base-lead",
        type=float,
        default=None,
        help="seconds from the baseline's start to its instant (default 15 + n/30; all must start before it)",
    )
    p.add_argument(
        "--baseline-after",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the baseline again after the herd; the ratio is against the mean of both p99s",
    )
    p.add_argument(
        "--history",
        type=int,
        default=0,
        help="earlier resolved cases (of other members) put in the read model first",
    )
    p.add_argument(
        "--notices",
        choices=("grouped", "alone"),
        default="grouped",
        help="the lead's notices grouped (the product's default) or each delivered alone "
        "(notifications: null; every P3 figure before 2026-12-06 07:00)",
    )
    p.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="py-spy on the worker from the instant on (raw samples of the GIL's holder) into this file",
    )
    return scale_checked(p)


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(parse())))
