"""P8: a safety escalation climbing 3 levels, then re-notified every 15 minutes for 24 hours.

Run: ``python -m bench.p8_ladder [--hours 24] [--history-limit N]``.

A time-skipping test server and a worker on a throwaway SQLite file; nobody acknowledges. Every
hour the current run's history (events, bytes) is read. Figures: the runs the escalation took
(continue-as-new at the history limit, or when the server suggests it), the largest run in events
and bytes, and what one 15-minute repeat adds to the history in the first hour ÷ in the last
hour (the in-run baseline: 1.0 means a repeat costs the same after a day as at the start, so a
run's size is bounded by the history limit times a constant).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.notifications import LogChannel
from bench.common import TEAM, demo_team, report
from domain.messages import EscalationInput
from domain.models import EscalationRule
from store.db import make_engine, make_sessionmaker, unit_of_work
from store.migrate import upgrade
from store.models import Interaction, Staff
from store.repositories import upsert_team
from workers.client import ensure_search_attributes
from workers.main import build_worker
from workflows.escalation import EscalationWorkflow

GROWTH_TARGET = 1.25
RULE = EscalationRule.model_validate(
    {
        "levels": [
            {"role": "lead", "ack_within_minutes": 15},
            {"staff_id": "lead-lee", "ack_within_minutes": 15},
            {"role": "manager", "ack_within_minutes": 15},
        ],
        "resolve_within_minutes": 240,
        "clock": "wall",
        "documentation_required": True,
    }
)


async def _version_after(env: WorkflowEnvironment, wid: str, version: int) -> int:
    """Wait (real time, at most 10 s) until the escalation's state version passes ``version``."""
    for _ in range(200):
        try:
            st = await env.client.get_workflow_handle(wid).query(EscalationWorkflow.state)
            if st.version > version:
                return st.version
        except RPCError:
            pass
        await asyncio.sleep(0.05)
    raise RuntimeError(f"{wid} did not move past version {version}")


async def main(args: argparse.Namespace) -> int:
    cfg = demo_team()
    interaction_id = uuid.uuid4().hex
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        sessions = make_sessionmaker(make_engine(url))
        with unit_of_work(sessions) as s:
            upsert_team(s, TEAM, cfg.name, cfg.model_dump(mode="json"))
            s.add(Staff(id="lead-lee", team_id=TEAM, name="l", role="lead"))
            s.add(Staff(id="mgr-maria", team_id=TEAM, name="m", role="manager"))
            s.add(
                Interaction(
                    id=interaction_id,
                    workflow_id=f"interaction:{TEAM}:p8",
                    team_id=TEAM,
                    external_id="p8",
                    member_id="m",
                    channel="call",
                    received_at=datetime.now(UTC),
                    due_at=datetime.now(UTC),
                    created_at=datetime.now(UTC),
                    updated_at=datetime.now(UTC),
                )
            )
        async with await WorkflowEnvironment.start_time_skipping(
            data_converter=pydantic_data_converter,
            test_server_existing_path=str(Path(sys.executable).parent / "temporal-test-server"),
        ) as env:
            await ensure_search_attributes(env.client)
            async with build_worker(env.client, task_queue="bench", sessions=sessions, channel=LogChannel()):
                now = await env.get_current_time()
                wid = f"escalation:{TEAM}:p8-{uuid.uuid4().hex[:6]}:safety"
                handle = await env.client.start_workflow(
                    EscalationWorkflow.run,
                    EscalationInput(
                        escalation_id=uuid.uuid4().hex,
                        interaction_id=interaction_id,
                        interaction_workflow_id="interaction:bench:none",
                        team_id=TEAM,
                        trigger="safety",
                        rule=RULE,
                        matrix_version=1,
                        calendar=cfg.calendar.snapshot(now.year - 1, now.year + 2),
                        started_at=now,
                        history_limit=args.history_limit,
                    ),
                    id=wid,
                    task_queue="bench",
                )
                runs: dict[str, tuple[int, int]] = {}
                hourly: list[tuple[str, int, int]] = []
                version = await _version_after(env, wid, 0)
                for quarter in range(1, args.hours * 4 + 1):
                    # Half a minute past each 15-minute mark (the first timer starts after ``now``).
                    await env.sleep(timedelta(minutes=15, seconds=30 if quarter == 1 else 0))
                    version = await _version_after(env, wid, version)
                    if quarter % 4:
                        continue
                    latest = env.client.get_workflow_handle(wid)
                    desc = await latest.describe()
                    history = await latest.fetch_history()
                    size = (len(history.events), sum(e.ByteSize() for e in history.events))
                    runs[desc.run_id] = size
                    hourly.append((desc.run_id, *size))
                state = await env.client.get_workflow_handle(wid).query(EscalationWorkflow.state)
                del handle
    # Bytes a repeat (4 per hour) adds, first hour vs last hour of the same run.
    first_run = hourly[0][0]
    same = [h for h in hourly if h[0] == first_run]
    first = (same[1][2] - same[0][2]) / 4 if len(same) > 1 else float("nan")
    last_run = hourly[-1][0]
    tail = [h for h in hourly if h[0] == last_run]
    last = (tail[-1][2] - tail[-2][2]) / 4 if len(tail) > 1 else float("nan")
    growth = last / first
    max_events = max(e for e, _ in runs.values())
    max_bytes = max(b for _, b in runs.values())
    ok = growth <= GROWTH_TARGET
    report(
        "P8",
        ok,
        f"safety, 3 levels, 15-min repeat, {args.hours} h unacknowledged: {len(runs)} run(s), largest "
        f"{max_events} events / {max_bytes / 1024:.0f} KiB; a repeat adds {first:.0f} B in hour 2 → "
        f"{last:.0f} B in hour {args.hours}: growth {growth:.2f} (bounded ≈ 1.0, target ≤ {GROWTH_TARGET}); "
        f"notices in state {len(state.notified)}, level {state.level}, version {state.version}",
    )
    return 0 if ok else 1


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--hours", type=int, default=24)
    p.add_argument("--history-limit", type=int, default=None, help="default: the workflows' own")
    return p.parse_args()


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(parse())))
