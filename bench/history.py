"""History size of an interaction's happy path (target: about 35 events).

Run: ``.venv/bin/python -m bench.history``. Starts a time-skipping test server and a worker on a
throwaway SQLite file, runs call → reached → resolve and a call that goes overdue, and prints
the number of history events of each, with the overdue path as the in-run baseline.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.notifications import LogChannel
from domain.messages import AttemptInput, EscalationResolveInput, InteractionInput, ResolveInput
from domain.models import TeamConfig
from store.db import make_engine, make_sessionmaker, unit_of_work
from store.migrate import upgrade
from store.repositories import upsert_team
from workers.client import ensure_search_attributes
from workers.main import build_worker
from workflows.escalation import EscalationWorkflow
from workflows.interaction import InteractionWorkflow

TEAM = {
    "name": "bench",
    "calendar": {
        "timezone": "America/Chicago",
        "hours": {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
        "holiday_country": "US",
    },
}


def _input(cfg: TeamConfig, received: object) -> InteractionInput:
    return InteractionInput.model_validate(
        {
            "interaction_id": uuid.uuid4().hex,
            "team_id": "bench",
            "external_id": uuid.uuid4().hex[:8],
            "member_id": "m",
            "channel": "call",
            "received_at": received,
            "assignee_id": "chw",
            "calendar": cfg.calendar.snapshot(2025, 2029),
            "policy": cfg.policy,
        }
    )


async def main() -> None:
    cfg = TeamConfig.model_validate(TEAM)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        sessions = make_sessionmaker(make_engine(url))
        with unit_of_work(sessions) as s:
            upsert_team(s, "bench", cfg.name, cfg.model_dump(mode="json"))
        async with await WorkflowEnvironment.start_time_skipping(
            data_converter=pydantic_data_converter,
            test_server_existing_path=str(Path(sys.executable).parent / "temporal-test-server"),
        ) as env:
            await ensure_search_attributes(env.client)
            async with build_worker(env.client, task_queue="bench", sessions=sessions, channel=LogChannel()):
                now = await env.get_current_time()
                happy = await env.client.start_workflow(
                    InteractionWorkflow.run, _input(cfg, now), id=f"bench-{uuid.uuid4()}", task_queue="bench"
                )
                await happy.execute_update(
                    InteractionWorkflow.record_attempt, AttemptInput(attempt_id="a1", outcome="reached")
                )
                await happy.execute_update("resolve", ResolveInput(actor_id="chw"))
                await happy.result()
                inp = _input(cfg, now - timedelta(days=3))
                late = await env.client.start_workflow(
                    InteractionWorkflow.run,
                    inp,
                    id=f"interaction:bench:{inp.external_id}",
                    task_queue="bench",
                )
                # Overdue at once: the deadline_missed escalation must be resolved first.
                esc_id = f"escalation:bench:{inp.external_id}:deadline_missed"
                escalation = env.client.get_workflow_handle(esc_id)
                state = None
                for _ in range(100):
                    try:
                        state = await escalation.query(EscalationWorkflow.state)
                        break
                    except RPCError:
                        await asyncio.sleep(0.1)
                assert state is not None, "the deadline_missed escalation did not start"
                await escalation.execute_update(
                    EscalationWorkflow.resolve,
                    EscalationResolveInput(
                        escalation_id=state.escalation_id,
                        actor_id="lead",
                        actor_role="lead",
                        action_taken_given=True,
                        outcome_given=True,
                    ),
                )
                await late.execute_update("resolve", ResolveInput(actor_id="lead"))
                await late.result()
                n_happy = len((await happy.fetch_history()).events)
                n_late = len((await late.fetch_history()).events)
                n_esc = len((await escalation.fetch_history()).events)
    print(f"happy path (call → reached → resolve): {n_happy} history events")
    print(
        f"baseline: backfilled call overdue at once → escalation resolved → resolve: {n_late} history events"
    )
    print(f"  its deadline_missed escalation (notify lead → resolve): {n_esc} history events")
    print(f"ratio happy/baseline: {n_happy / n_late:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
