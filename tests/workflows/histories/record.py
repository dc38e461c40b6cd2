"""Record the committed histories the replay test checks against the current workflow code.

Run after a deliberate, versioned change to the workflows (never to hide a replay failure):

    .venv/bin/python -m tests.workflows.histories.record

It plays one finished case on the time-skipping server: a safety concern flagged on a Saturday
at 02:00, the lead silent, the manager notified at 02:15 and again at 02:30 and 02:45,
acknowledged at 02:50, resolved with documentation at 03:10, then the interaction resolved.
"""

from __future__ import annotations

import asyncio
import tempfile
from datetime import timedelta
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.notifications import LogChannel
from domain.messages import AcknowledgeInput, EscalationResolveInput, ResolveInput
from domain.models import TeamConfig
from store.db import make_engine, make_sessionmaker, unit_of_work
from store.migrate import upgrade
from store.models import Escalation, Staff
from store.repositories import upsert_team
from tests.conftest import CHICAGO_TEAM, advance_to, binary
from tests.workflows.support import eventually, interaction_input, next_weekday_at, start, team
from workers.client import ensure_search_attributes
from workers.main import build_worker
from workflows.escalation import EscalationWorkflow
from workflows.interaction import InteractionWorkflow

HERE = Path(__file__).parent
# Bump when a deliberate, patched change alters the commands; keep the older files: they are
# what runs started before the change look like, and they must still replay.
VERSION = "v2"  # v2: the keep-unchanged-timer patch
ESCALATION = HERE / f"escalation_safety_night.{VERSION}.json"
INTERACTION = HERE / f"interaction_with_escalation.{VERSION}.json"


async def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    url = f"sqlite:///{tmp / 'record.db'}"
    upgrade(url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    with unit_of_work(sessions) as s:
        cfg = TeamConfig.model_validate(CHICAGO_TEAM)
        upsert_team(s, "eastside", cfg.name, cfg.model_dump(mode="json"))
        for staff_id, role in (("mgr-1", "manager"), ("lead-1", "lead"), ("chw-ana", "chw")):
            s.add(Staff(id=staff_id, team_id="eastside", name=staff_id, role=role))
    async with await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter, test_server_existing_path=binary("temporal-test-server")
    ) as env:
        await ensure_search_attributes(env.client)
        async with build_worker(env.client, task_queue="record", sessions=sessions, channel=LogChannel()):
            saturday = next_weekday_at(await env.get_current_time(), 5, 2)
            await advance_to(env, saturday)
            inp = interaction_input(
                team(), saturday, channel="voicemail", flags=["safety"], external_id="vm-rec"
            )
            parent = await start(env.client, inp, "record")

            def row() -> Escalation | None:
                with sessions() as s:
                    return s.query(Escalation).filter_by(interaction_id=inp.interaction_id).first()

            async def found() -> Escalation | None:
                return row()

            esc = await eventually(found)
            handle = env.client.get_workflow_handle(esc.workflow_id)
            await advance_to(env, saturday + timedelta(minutes=50))
            await asyncio.sleep(1)
            await handle.execute_update(
                EscalationWorkflow.acknowledge,
                AcknowledgeInput(escalation_id=esc.id, actor_id="mgr-1", actor_role="manager"),
            )
            await advance_to(env, saturday + timedelta(minutes=70))
            await handle.execute_update(
                EscalationWorkflow.resolve,
                EscalationResolveInput(
                    escalation_id=esc.id,
                    actor_id="mgr-1",
                    actor_role="manager",
                    action_taken_given=True,
                    outcome_given=True,
                ),
            )
            await handle.result()
            await parent.execute_update(InteractionWorkflow.resolve_update, ResolveInput(actor_id="chw-ana"))
            await parent.result()
            ESCALATION.write_text((await handle.fetch_history()).to_json())
            INTERACTION.write_text((await parent.fetch_history()).to_json())
    engine.dispose()
    print(f"wrote {ESCALATION.name} and {INTERACTION.name}")


if __name__ == "__main__":
    asyncio.run(main())
