"""A case's escalations run on a task queue of their own, served by the same worker with a sticky
cache of its own (``workers.main.CaseWorker``): at 17:00 the escalations the overdue cases start
no longer push the cases out of the cache (bench/README.md, P3). The recipients' grouping
workflows stay on the cases' queue; the two workers run and stop as one."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import WorkflowEnvironment

from activities.notifications import LogChannel
from domain.ids import case_task_queue, escalation_task_queue, group_workflow_id
from store.models import Notification
from tests.workflows.support import described, eventually, interaction_input, now_value, start, team
from tests.workflows.test_escalation_contract import escalations
from tests.workflows.test_grouping import with_grouping
from workers.main import build_worker


def grouped_leads(sessions: sessionmaker[Session], escalation_id: str) -> list[str]:
    """The recipients of the escalation's grouped notices."""
    with sessions() as s:
        rows = s.scalars(
            select(Notification.recipient_id).where(
                Notification.escalation_id == escalation_id, Notification.group_id.is_not(None)
            )
        )
        return sorted(set(rows))


def test_the_escalations_queue_is_named_after_the_cases_and_back() -> None:
    assert escalation_task_queue("followthrough") == "followthrough-escalations"
    assert case_task_queue("followthrough-escalations") == "followthrough"
    assert case_task_queue("followthrough") == "followthrough"


async def test_an_escalation_runs_on_its_own_queue_and_the_leads_grouping_on_the_cases(
    dev_env: WorkflowEnvironment, sessions: sessionmaker[Session], task_queue: str
) -> None:
    client = dev_env.client
    with_grouping(sessions, group_wait_seconds=1)
    worker = build_worker(
        client, task_queue=task_queue, sessions=sessions, channel=LogChannel(), max_cached_escalations=1
    )
    async with worker:
        inp = interaction_input(team(), datetime.now(UTC), channel="call", flags=["complaint"])
        case = await start(client, inp, task_queue)
        [row] = await eventually(lambda: now_value(escalations(sessions, inp.interaction_id)))
        child = await client.get_workflow_handle(row.workflow_id).describe()
        assert child.task_queue == escalation_task_queue(task_queue)
        assert child.parent_id == case.id
        assert (await case.describe()).task_queue == task_queue
        # The escalation's notice to a lead (sent from the escalations' queue) joined the lead's
        # grouping workflow, which lives on the cases' queue.
        [lead] = await eventually(lambda: now_value(grouped_leads(sessions, row.id)))
        group = client.get_workflow_handle(group_workflow_id(inp.team_id, lead))

        async def grouped() -> str | None:
            found = await described(client, group.id)
            return None if found is None else found.task_queue

        try:
            assert await eventually(grouped) == task_queue
        finally:  # the dev server outlives this test: no grouping workflow left for the next one
            await group.terminate("test over")
        assert worker.escalations.is_running
    assert worker.is_shutdown and worker.escalations.is_shutdown


async def test_the_two_workers_stop_together_when_one_is_shut_down(
    dev_env: WorkflowEnvironment, sessions: sessionmaker[Session], task_queue: str
) -> None:
    worker = build_worker(dev_env.client, task_queue=task_queue, sessions=sessions, channel=LogChannel())
    running = asyncio.create_task(worker.run())

    async def both_running() -> bool:
        return worker.is_running and worker.escalations.is_running

    await eventually(both_running)
    await asyncio.wait_for(worker.shutdown(), timeout=30)
    await asyncio.wait_for(running, timeout=30)
    assert worker.is_shutdown and worker.escalations.is_shutdown
