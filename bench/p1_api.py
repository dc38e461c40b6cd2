"""P1: the happy path through the HTTP API ÷ a bare one-activity workflow, same dev server, same run.

Run: ``python -m bench.p1_api [--clients 10 50] [--lifecycles 100] [--rounds 3] [--db sqlite|postgres]
[--apis N] [--workers N] [--profile DIR]``.

Starts the stack of the drills (dev server in memory, SQLite, one worker and one API as
subprocesses; ``--apis``/``--workers``: that many API and worker processes, all on the same
Temporal and database, the clients spread round-robin over the APIs). For each client count:
that many concurrent clients run whole lifecycles
(create as system → ``reached`` attempt → resolve, projection and outbox included) until
``--lifecycles`` are done; then as many concurrent clients start-and-await bare workflows with one
activity (``drills.baseline``) the same number of times. With ``--rounds`` > 1 the two alternate;
the figure is the median of the rounds' ratios, each round's lifecycles against the baseline run
right after them (on a shared machine the load moves within seconds; a round's two halves see
about the same), and the rates shown are the medians of the rounds' rates.
Target: ratio ≥ 0.5 at 10 clients, ≥ 0.35 at 50 (issue 24).

Each round then runs the lifecycle's own Temporal shape the same number of times, with none of our
code (``bench.common.LifecycleShape``: no HTTP, no SQL, no sandbox): the same clients start a
workflow with the case's search attributes, which runs one local activity and one activity, and
send it the two updates, each a search-attribute upsert and a local activity. The line gives its
rate against the bare workflow's (what Temporal alone allows the lifecycle on this machine: the
ceiling of the ratio above) and the lifecycle's rate against it (what our code costs), as INFO.

The clients are well-behaved: a 503 is repeated after the ``Retry-After`` the API sent (not
sooner), under the same ``Idempotency-Key`` (a create under the same ``external_id``, which makes
it repeat-safe); every repeat is counted. The line also gives the CPU the API and the worker
processes (all of them), the Temporal server and the clients (this process) used per lifecycle,
and the server's and this process's (the bare workflows' clients and worker) per bare workflow:
the budget both figures share on this machine, which its other load hardly changes.
Nothing lost or doubled: every lifecycle's case has exactly one row (by external id), resolved,
and exactly one resolution on its timeline (``lost=… doubled=…``, counted in cases; either
non-zero is a MISS).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from statistics import median

import httpx

from bench.common import (
    ROW,
    Once,
    cpu_seconds,
    measure_lifecycle_shape,
    profiled,
    report,
    scale_checked,
    scale_options,
    scale_out,
    tally_settled,
)
from drills import baseline
from drills.common import Api, Outcome, Proc, Stats, converge, log, percentile, run_clients, stack

# Lifecycles per second ÷ bare workflows per second, by client count (issue 24); 0.5 otherwise.
TARGETS = {10: 0.5, 50: 0.35}
# A well-behaved client waits what the API asks (its Retry-After), up to this long.
RETRY_AFTER_CAP = 60.0
# Every lifecycle once: its row, resolved, and one resolution on its timeline.
RESOLVED_ONCE = (
    ROW,
    Once("resolved row", where="i.status = 'resolved'"),
    Once("resolution on the timeline", "timeline_events", "t.kind = 'resolved'"),
)


def cpu_of(procs: Sequence[Proc]) -> float:
    return sum(cpu_seconds(p.pid) for p in procs)


def target(clients: int) -> float:
    return TARGETS.get(clients, 0.5)


def client(base_url: str, *, transport: httpx.AsyncBaseTransport | None = None) -> Api:
    """The figure's well-behaved client: a 503 is sent again, under the same Idempotency-Key,
    once the ``Retry-After`` it came with has passed (``Stats.retried_503`` counts the repeats)."""
    return Api(base_url, Stats(), retry_cap=RETRY_AFTER_CAP, transport=transport)


async def spread_clients(apis: Sequence[Api], clients: int, per_client: int, prefix: str) -> list[Outcome]:
    """``run_clients`` with the clients spread round-robin over ``apis`` (client c on API c mod n)."""
    n = len(apis)
    batches = await asyncio.gather(
        *(
            run_clients(api, len(range(k, clients, n)), per_client, f"{prefix}-a{k}")
            for k, api in enumerate(apis)
            if k < clients
        )
    )
    return [o for batch in batches for o in batch]


async def main(args: argparse.Namespace) -> int:
    prefix = f"p1-{uuid.uuid4().hex[:6]}"
    misses = 0
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    with stack(db=args.db) as s, contextlib.ExitStack() as extra:
        fleet = await scale_out(s, extra, workers=args.workers, apis=args.apis)
        async with contextlib.AsyncExitStack() as clients_of:
            apis = [await clients_of.enter_async_context(client(url)) for url in fleet.urls]
            await spread_clients(apis, 2 * len(apis), 2, f"{prefix}-warm")  # imports, pools, first tasks
            await baseline.measure(s.temporal_address, 2, 2)
            for clients in args.clients:
                per_client = max(1, math.ceil(args.lifecycles / clients))
                total = clients * per_client
                stats = Stats()
                for api in apis:  # one count over every API's clients
                    api.stats = stats
                rates: list[float] = []
                base_rates: list[float] = []
                ids: list[str] = []
                failed = 0
                api_cpu = worker_cpu = server_cpu = client_cpu = 0.0
                base_server_cpu = base_own_cpu = 0.0
                shape_rates: list[float] = []
                shape_server_cpu = shape_own_cpu = 0.0
                for rnd in range(args.rounds):
                    log(f"P1: round {rnd + 1}: {clients} clients x {per_client} lifecycles through the API")
                    cpu0 = cpu_of(fleet.apis), cpu_of(fleet.workers), cpu_seconds(s.temporal.pid)
                    own0 = time.process_time()
                    t0 = time.monotonic()
                    with contextlib.ExitStack() as spying:
                        if args.profile:  # the first API and the first worker, API rounds only
                            for name, proc in (("api", fleet.apis[0]), ("worker", fleet.workers[0])):
                                out = args.profile / f"p1-c{clients}-r{rnd}-{name}.txt"
                                spying.enter_context(profiled(proc.pid, out, f"P1: the {name}"))
                        round_prefix = f"{prefix}-c{clients}-r{rnd}"
                        outcomes = await spread_clients(apis, clients, per_client, round_prefix)
                    rates.append(total / (time.monotonic() - t0))
                    api_cpu += cpu_of(fleet.apis) - cpu0[0]
                    worker_cpu += cpu_of(fleet.workers) - cpu0[1]
                    server_cpu += cpu_seconds(s.temporal.pid) - cpu0[2]
                    client_cpu += time.process_time() - own0
                    failed += sum(not o.resolved for o in outcomes)
                    ids += [o.external_id for o in outcomes]
                    log(f"P1: round {rnd + 1}: {clients} clients x {per_client} bare one-activity workflows")
                    srv0, own0 = cpu_seconds(s.temporal.pid), time.process_time()
                    base_rates.append((await baseline.measure(s.temporal_address, clients, per_client))[0])
                    base_server_cpu += cpu_seconds(s.temporal.pid) - srv0
                    base_own_cpu += time.process_time() - own0
                    log(f"P1: round {rnd + 1}: {clients} clients x {per_client} lifecycle shapes")
                    srv0, own0 = cpu_seconds(s.temporal.pid), time.process_time()
                    shape_rates.append(await measure_lifecycle_shape(s.temporal_address, clients, per_client))
                    shape_server_cpu += cpu_seconds(s.temporal.pid) - srv0
                    shape_own_cpu += time.process_time() - own0
                a = await converge(s, f"{prefix}-c{clients}", ids, within=120)
                counted = await tally_settled(s.sql, f"{prefix}-c{clients}", ids, RESOLVED_ONCE, within=30)
                attempt = stats.latencies.get("attempt", [math.nan])
                rate, base_rate = median(rates), median(base_rates)
                ratio = median(r / b for r, b in zip(rates, base_rates, strict=True))
                shape_ratio = median(h / b for h, b in zip(shape_rates, base_rates, strict=True))
                ours = median(r / h for r, h in zip(rates, shape_rates, strict=True))
                done = total * args.rounds
                ok = ratio >= target(clients) and not failed and a.ok() and counted.ok()
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
                    f"worker {worker_cpu / done * 1000:.0f} ms, "
                    f"Temporal server {server_cpu / done * 1000:.0f} ms, "
                    f"clients {client_cpu / done * 1000:.0f} ms (per bare workflow: server "
                    f"{base_server_cpu / done * 1000:.0f} ms, clients and worker "
                    f"{base_own_cpu / done * 1000:.0f} ms); "
                    f"INFO the lifecycle's Temporal shape alone {median(shape_rates):.1f}/s: "
                    f"shape ÷ bare {shape_ratio:.2f} (the ceiling of the ratio), lifecycle ÷ shape "
                    f"{ours:.2f} (server {shape_server_cpu / done * 1000:.0f} ms, clients and worker "
                    f"{shape_own_cpu / done * 1000:.0f} ms per shape); "
                    f"failed={failed} 503s repeated after Retry-After={stats.retried_503}; "
                    f"{counted.line()}; audit {'ok' if a.ok() else a.line()} (db={args.db}, "
                    f"{len(fleet.workers)} workers, {len(fleet.apis)} APIs, "
                    f"load average {os.getloadavg()[0]:.1f})",
                )
    return 1 if misses else 0


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--clients", type=int, nargs="+", default=[10, 50])
    p.add_argument("--lifecycles", type=int, default=100, help="per client count and round (rounded up)")
    p.add_argument("--rounds", type=int, default=3, help="API and baseline rounds, alternating")
    scale_options(p, apis=1, apis_help="API processes; the clients are spread round-robin")
    p.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="py-spy on the API and the worker during the API rounds (raw samples of the GIL's "
        "holder) into this folder, one file per process and round; the figure is then slower",
    )
    return scale_checked(p)


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(parse())))
