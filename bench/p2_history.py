"""P2: history events of one happy path; history bytes of a case with 20 state changes.

Run: ``python -m bench.p2_history [--changes 20]``.

A time-skipping test server and a worker on a throwaway SQLite file. The happy path is the API's:
a call started with the search attributes the API sets → ``reached`` attempt → resolve; its
event count is the figure (target ≤ 35). Then one case takes ``--changes`` state changes
(unanswered attempts, each adding to the case's state), and the history bytes after each
change are measured: the bytes the last five changes added ÷ the bytes the first five added is
the growth figure (1.0 = linear; the whole-state projection made it grow with every change).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import tempfile
import uuid
from pathlib import Path

from temporalio.client import WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.notifications import LogChannel
from bench.common import TEAM, demo_team, interaction_input, report
from domain.ids import interaction_workflow_id
from domain.messages import AttemptInput, InteractionInput, InteractionState, ResolveInput
from domain.models import Policy, TeamConfig
from store.db import make_engine, make_sessionmaker, unit_of_work
from store.migrate import upgrade
from store.models import Staff
from store.repositories import upsert_team
from workers.client import ensure_search_attributes
from workers.main import build_worker
from workflows.interaction import InteractionWorkflow
from workflows.search_attributes import FT_ASSIGNEE, FT_CHANNEL, FT_STATUS, FT_TEAM

EVENTS_TARGET = 35
GROWTH_TARGET = 1.25  # the last changes may cost at most this much more than the first ones


async def history_size(handle: WorkflowHandle[InteractionWorkflow, InteractionState]) -> tuple[int, int]:
    """(events, bytes) of the run's history."""
    history = await handle.fetch_history()
    return len(history.events), sum(e.ByteSize() for e in history.events)


async def start(
    env: WorkflowEnvironment, inp: InteractionInput
) -> WorkflowHandle[InteractionWorkflow, InteractionState]:
    """As the API starts it: with the search attributes of the new row."""
    handle = await env.client.start_workflow(
        InteractionWorkflow.run,
        inp,
        id=interaction_workflow_id(inp.team_id, inp.external_id),
        task_queue="bench",
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(FT_TEAM, inp.team_id),
                SearchAttributePair(FT_CHANNEL, inp.channel),
                SearchAttributePair(FT_STATUS, "open"),
                SearchAttributePair(FT_ASSIGNEE, inp.assignee_id or "unassigned"),
            ]
        ),
    )
    return handle


async def _many_changes(
    env: WorkflowEnvironment, cfg: TeamConfig, changes: int
) -> tuple[int, int, list[int]]:
    """One case through ``changes`` unanswered attempts: (events, bytes, bytes after each change)."""
    now = await env.get_current_time()
    many = await start(
        env,
        interaction_input(
            f"p2-{uuid.uuid4().hex[:8]}", cfg=cfg, received_at=now, policy=Policy(max_attempts=changes + 10)
        ),
    )
    await many.execute_update(
        InteractionWorkflow.record_attempt, AttemptInput(attempt_id=uuid.uuid4().hex, outcome="no_answer")
    )
    sizes = [(await history_size(many))[1]]
    for _ in range(changes):
        await many.execute_update(
            InteractionWorkflow.record_attempt,
            AttemptInput(attempt_id=uuid.uuid4().hex, outcome="no_answer", staff_id="chw-ana"),
        )
        sizes.append((await history_size(many))[1])
    events, total = await history_size(many)
    return events, total, sizes


async def main(args: argparse.Namespace) -> int:
    cfg = demo_team()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        sessions = make_sessionmaker(make_engine(url))
        with unit_of_work(sessions) as s:
            upsert_team(s, TEAM, cfg.name, cfg.model_dump(mode="json"))
            s.add(Staff(id="chw-ana", team_id=TEAM, name="a", role="chw"))
            s.add(Staff(id="lead-lee", team_id=TEAM, name="l", role="lead"))
        async with await WorkflowEnvironment.start_time_skipping(
            data_converter=pydantic_data_converter,
            test_server_existing_path=str(Path(sys.executable).parent / "temporal-test-server"),
        ) as env:
            await ensure_search_attributes(env.client)
            async with build_worker(env.client, task_queue="bench", sessions=sessions, channel=LogChannel()):
                now = await env.get_current_time()
                happy = await start(
                    env, interaction_input(f"p2-{uuid.uuid4().hex[:8]}", cfg=cfg, received_at=now)
                )
                await happy.execute_update(
                    InteractionWorkflow.record_attempt,
                    AttemptInput(attempt_id=uuid.uuid4().hex, outcome="reached"),
                )
                await happy.execute_update("resolve", ResolveInput(actor_id="chw-ana"))
                await happy.result()
                happy_events, happy_bytes = await history_size(happy)

                with env.auto_time_skipping_disabled():
                    events, total, sizes = await _many_changes(env, cfg, args.changes)
    steps = [b - a for a, b in itertools.pairwise(sizes)]
    k = max(1, min(5, len(steps) // 2))
    first, last = sum(steps[:k]) / k, sum(steps[-k:]) / k
    growth = last / first
    ok = happy_events <= EVENTS_TARGET and growth <= GROWTH_TARGET
    report(
        "P2",
        ok,
        f"happy path {happy_events} events (target ≤ {EVENTS_TARGET}), {happy_bytes} bytes; "
        f"{args.changes} state changes: {total} bytes/{events} events, a change adds {first:.0f} B "
        f"(first {k}) → {last:.0f} B (last {k}): growth {growth:.2f} "
        f"(linear ≈ 1.0, target ≤ {GROWTH_TARGET})",
    )
    return 0 if ok else 1


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--changes", type=int, default=20)
    return p.parse_args()


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(parse())))
