"""Concurrent start: ``--concurrency`` identical ``POST /v1/interactions`` at once (same team and
external_id), for ``--rounds`` external ids. Each round must give one workflow, one row and
answers that agree: the same id everywhere, exactly one 201 and the rest 200.

Run: ``python -m drills.concurrent_start [--concurrency 10] [--rounds 5] [--db sqlite|postgres]``.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from collections import Counter
from dataclasses import dataclass

from temporalio.client import Client

from domain.ids import interaction_workflow_id
from drills.common import TEAM, Api, Stats, interaction_body, log, stack, wait_ready


@dataclass
class Round:
    external_id: str
    statuses: Counter[int]
    ids: set[str]
    rows: int
    workflows: int

    def ok(self) -> bool:
        return (
            self.statuses.get(201, 0) == 1
            and self.statuses.get(200, 0) == sum(self.statuses.values()) - 1
            and len(self.ids) == 1
            and self.rows == 1
            and self.workflows == 1
        )


async def workflow_runs(client: Client, workflow_id: str, *, expect: int = 1, within: float = 10.0) -> int:
    """Runs with this workflow id, as visibility lists them (polled: visibility lags a little)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        n = (await client.count_workflows(f'WorkflowId = "{workflow_id}"')).count
        if n >= expect or loop.time() > deadline:
            return n
        await asyncio.sleep(0.2)


async def one_round(api: Api, client: Client, concurrency: int, external_id: str) -> Round:
    body = interaction_body(external_id, "mem-1001")
    answers = await asyncio.gather(
        *(
            api.request(
                "create", "POST", "/v1/interactions", token="drill-system", json_body=body, retry=False
            )
            for _ in range(concurrency)
        )
    )
    ids = {r.json().get("id", "?") for r in answers if r.status_code in (200, 201)}
    return Round(
        external_id=external_id,
        statuses=Counter(r.status_code for r in answers),
        ids=ids,
        rows=0,
        workflows=await workflow_runs(client, interaction_workflow_id(TEAM, external_id)),
    )


async def drill(args: argparse.Namespace) -> int:
    prefix = f"cs-{uuid.uuid4().hex[:6]}"
    rounds: list[Round] = []
    with stack(db=args.db) as s:
        await wait_ready(s.base_url)
        client = await Client.connect(s.temporal_address)
        stats = Stats()
        async with Api(s.base_url, stats) as api:
            for i in range(args.rounds):
                rnd = await one_round(api, client, args.concurrency, f"{prefix}-{i:03}")
                rnd.rows = int(
                    s.sql(
                        "SELECT count(*) FROM interactions WHERE team_id = :t AND external_id = :e",
                        t=TEAM,
                        e=rnd.external_id,
                    )[0][0]
                )
                rounds.append(rnd)
                log(f"round {i}: {dict(rnd.statuses)} ids={len(rnd.ids)} rows={rnd.rows} wf={rnd.workflows}")
    bad = [r for r in rounds if not r.ok()]
    for r in bad:
        print(
            f"  round {r.external_id}: answers {dict(sorted(r.statuses.items()))}, {len(r.ids)} ids, "
            f"{r.rows} rows, {r.workflows} workflows"
        )
    for line in stats.route_lines():
        print(line)
    total: Counter[int] = Counter()
    for r in rounds:
        total.update(r.statuses)
    print(
        f"concurrent_start {'OK' if not bad else 'FAILED'}: db={args.db} rounds={len(rounds)} x "
        f"{args.concurrency} identical POSTs; rounds with one workflow, one row, one id, one 201: "
        f"{len(rounds) - len(bad)}/{len(rounds)}; answers {dict(sorted(total.items()))}; "
        f"{stats.route_summary()}"
    )
    return 0 if not bad else 1


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--concurrency", type=int, default=10)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    raise SystemExit(asyncio.run(drill(p.parse_args())))


if __name__ == "__main__":
    main()
