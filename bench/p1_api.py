"""P1: the happy path through the HTTP API ÷ a bare one-activity workflow, same dev server, same run.

Run: ``python -m bench.p1_api [--clients 10 50] [--lifecycles 100] [--rounds 3] [--db sqlite|postgres]``.

Starts the stack of the drills (dev server in memory, SQLite, one worker and one API as
subprocesses). For each client count: that many concurrent clients run whole lifecycles
(create as system → ``reached`` attempt → resolve, projection and outbox included) until
``--lifecycles`` are done; then as many concurrent clients start-and-await bare workflows with one
activity (``drills.baseline``) the same number of times. With ``--rounds`` > 1 the two alternate;
the figure is the median of the rounds' ratios, each round's lifecycles against the baseline run
right after them (on a shared machine the load moves within seconds; a round's two halves see
about the same), and the rates shown are the medians of the rounds' rates.
Target: ratio ≥ 0.5 at 10 clients, ≥ 0.35 at 50 (issue 24).

The clients are well-behaved: a 503 is repeated after the ``Retry-After`` the API sent (not
sooner), under the same ``Idempotency-Key`` (a create under the same ``external_id``, which makes
it repeat-safe); every repeat is counted. The line also gives the CPU the API and the worker
process used per lifecycle, which the machine's other load hardly changes.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import time
import uuid
from pathlib import Path
from statistics import median

import httpx

from bench.common import report
from drills import baseline
from drills.common import Api, Stats, converge, log, percentile, run_clients, stack, wait_ready

# Lifecycles per second ÷ bare workflows per second, by client count (issue 24); 0.5 otherwise.
TARGETS = {10: 0.5, 50: 0.35}
# A well-behaved client waits what the API asks (its Retry-After), up to this long.
RETRY_AFTER_CAP = 60.0
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def target(clients: int) -> float:
    return TARGETS.get(clients, 0.5)


def client(base_url: str, *, transport: httpx.AsyncBaseTransport | None = None) -> Api:
    """The figure's well-behaved client: a 503 is sent again, under the same Idempotency-Key,
    once the ``Retry-After`` it came with has passed (``Stats.retried_503`` counts the repeats)."""
    return Api(base_url, Stats(), retry_cap=RETRY_AFTER_CAP, transport=transport)


async def main(args: argparse.Namespace) -> int:
    prefix = f"p1-{uuid.uuid4().hex[:6]}"
    misses = 0
    with stack(db=args.db) as s:
        await wait_ready(s.base_url)
        async with client(s.base_url) as api:
            await run_clients(api, 2, 2, f"{prefix}-warm")  # imports, pools, first workflow tasks
            await baseline.measure(s.temporal_address, 2, 2)
            for clients in args.clients:
                per_client = max(1, math.ceil(args.lifecycles / clients))
                total = clients * per_client
                api.stats = Stats()
                rates: list[float] = []
                base_rates: list[float] = []
                ids: list[str] = []
                failed = 0
                api_cpu = worker_cpu = 0.0
                for rnd in range(args.rounds):
                    log(f"P1: round {rnd + 1}: {clients} clients x {per_client} lifecycles through the API")
                    cpu0 = cpu_seconds(s.api.pid), cpu_seconds(s.worker.pid)
                    t0 = time.monotonic()
                    outcomes = await run_clients(api, clients, per_client, f"{prefix}-c{clients}-r{rnd}")
                    rates.append(total / (time.monotonic() - t0))
                    api_cpu += cpu_seconds(s.api.pid) - cpu0[0]
                    worker_cpu += cpu_seconds(s.worker.pid) - cpu0[1]
                    failed += sum(not o.resolved for o in outcomes)
                    ids += [o.external_id for o in outcomes]
                    log(f"P1: round {rnd + 1}: {clients} clients x {per_client} bare one-activity workflows")
                    base_rates.append((await baseline.measure(s.temporal_address, clients, per_client))[0])
                a = await converge(s, f"{prefix}-c{clients}", ids, within=120)
                attempt = api.stats.latencies.get("attempt", [math.nan])
                rate, base_rate = median(rates), median(base_rates)
                ratio = median(r / b for r, b in zip(rates, base_rates, strict=True))
                done = total * args.rounds
                ok = ratio >= target(clients) and not failed and a.ok()
                misses += not ok
                report(
                    "P1",
                    ok,
                    f"{clients} clients, {done} happy paths through the API {rate:.1f}/s ÷ bare "
                    f"one-activity workflows {base_rate:.1f}/s: ratio {ratio:.2f} (median of the rounds' "
                    f"{' '.join(f'{r:.1f}/{b:.1f}' for r, b in zip(rates, base_rates, strict=True))}; "
                    f"target ≥ {target(clients)}); "
                    f"attempt p50={percentile(attempt, 50) * 1000:.0f} ms; "
                    f"CPU per lifecycle: API {api_cpu / done * 1000:.0f} ms, "
                    f"worker {worker_cpu / done * 1000:.0f} ms; "
                    f"failed={failed} 503s repeated after Retry-After={api.stats.retried_503}; "
                    f"audit {'ok' if a.ok() else a.line()} (db={args.db}, "
                    f"load average {os.getloadavg()[0]:.1f})",
                )
    return 1 if misses else 0


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--clients", type=int, nargs="+", default=[10, 50])
    p.add_argument("--lifecycles", type=int, default=100, help="per client count and round (rounded up)")
    p.add_argument("--rounds", type=int, default=3, help="API and baseline rounds, alternating")
    p.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    return p.parse_args()


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(parse())))
