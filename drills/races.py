"""Races: two leads resolve the same safety escalation at the same instant, round after round, on
the real stack (API and worker processes, the dev server). Every round must answer one 200 and
one 409 (never a 5xx), and the stored documentation must be the winner's, with the winner as
``resolved_by``; no pending text may outlive its round.

Run: ``python -m drills.races [--rounds 20] [--db sqlite|postgres]``.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from drills.common import SYSTEM, Api, Stats, log, stack, wait_ready

RIVALS = {"lead-lee": "drill-lead", "mgr-maria": "drill-manager"}


@dataclass
class Figures:
    rounds: int = 0
    answers: dict[str, int] = field(default_factory=dict)  # "200+409" → rounds
    wrong: list[str] = field(default_factory=list)  # rounds whose stored text is not the winner's
    pending_left: int = 0

    def ok(self) -> bool:
        return set(self.answers) <= {"200+409"} and not self.wrong and self.pending_left == 0


def documentation(staff_id: str, n: int) -> dict[str, str]:
    return {"action_taken": f"drill {staff_id} called back ({n})", "outcome": f"drill {staff_id}: safe ({n})"}


async def safety_escalation(api: Api, external_id: str) -> str:
    body = {
        "team_id": "eastside",
        "external_id": external_id,
        "member_id": "mem-1001",
        "channel": "call",
        "received_at": datetime.now(UTC).isoformat(),
        "flags": ["safety"],
    }
    r = await api.request("create", "POST", "/v1/interactions", token=SYSTEM, json_body=body)
    if r.status_code not in (200, 201):
        raise RuntimeError(f"create: {r.status_code} {r.text[:200]}")
    escalations: list[dict[str, Any]] = r.json()["escalations"]
    if not escalations:
        raise RuntimeError(f"{external_id}: no safety escalation in the answer")
    return str(escalations[0]["id"])


async def one_round(api: Api, n: int, eid: str, figures: Figures) -> None:
    async def resolve(staff_id: str) -> tuple[str, int]:
        r = await api.request(
            "resolve",
            "POST",
            f"/v1/escalations/{eid}/resolve",
            token=RIVALS[staff_id],
            json_body=documentation(staff_id, n),
            key=uuid.uuid4().hex,
        )
        return staff_id, r.status_code

    answers = await asyncio.gather(*(resolve(s) for s in RIVALS))
    codes = "+".join(str(c) for _, c in sorted(answers, key=lambda a: a[1]))
    figures.answers[codes] = figures.answers.get(codes, 0) + 1
    winners = [s for s, c in answers if c == 200]
    r = await api.request("read", "GET", f"/v1/escalations/{eid}", token="drill-lead")
    got = r.json()
    if len(winners) == 1:
        want = documentation(winners[0], n)
        if (got["action_taken"], got["outcome"], got["resolved_by"]) != (
            want["action_taken"],
            want["outcome"],
            winners[0],
        ):
            figures.wrong.append(
                f"round {n}: winner {winners[0]}, stored by {got['resolved_by']}: "
                f"{'the winner' if got['action_taken'] == want['action_taken'] else 'NOT the winner'}'s text"
            )


async def drill(args: argparse.Namespace) -> tuple[int, Figures]:
    figures = Figures(rounds=args.rounds)
    prefix = f"race-{uuid.uuid4().hex[:6]}"
    with stack(db=args.db) as s:
        await wait_ready(s.base_url)
        async with Api(s.base_url, Stats(), retry_cap=1.0, give_up_after=60) as api:
            eids = [await safety_escalation(api, f"{prefix}-{n:03}") for n in range(args.rounds)]
            log(f"{len(eids)} safety escalations open; racing")
            for n, eid in enumerate(eids):
                await one_round(api, n, eid, figures)
        figures.pending_left = int(s.sql("SELECT count(*) FROM pending_texts")[0][0])
    for line in figures.wrong:
        print(f"  {line}")
    print(
        f"races {'OK' if figures.ok() else 'FAILED'}: db={args.db} rounds={figures.rounds} "
        f"answers={dict(sorted(figures.answers.items()))} wrong_documentation={len(figures.wrong)} "
        f"pending_texts_left={figures.pending_left}"
    )
    return (0 if figures.ok() else 1), figures


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    raise SystemExit(asyncio.run(drill(p.parse_args()))[0])


if __name__ == "__main__":
    main()
