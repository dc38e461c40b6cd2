"""docs/rules.md §2.8 `repeat_interval_minutes` (issue 26): a recipient's grouping workflow stays
that long after its last delivery, waiting for more, then ends without re-sending; a new notice
starts it again."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from domain.ids import group_workflow_id
from tests.workflows.support import eventually
from tests.workflows.test_grouping import Recording, notify, overdue, with_grouping


@pytest.fixture
def channel() -> Recording:  # the worker fixture delivers through it
    return Recording()


async def test_repeat_interval_ends_an_idle_grouping_workflow_without_resending(
    env: WorkflowEnvironment,
    client: Client,
    worker: Any,
    sessions: sessionmaker[Session],
    channel: Recording,
    task_queue: str,
) -> None:
    with_grouping(sessions, group_wait_seconds=30, repeat_interval_minutes=10)
    await notify(client, sessions, channel, task_queue, overdue(1))
    group = client.get_workflow_handle(group_workflow_id("eastside", "lead-1"))
    first_run = (await group.describe()).run_id

    await env.sleep(timedelta(seconds=35))
    await eventually(lambda: _now(len(channel.groups()) == 1))
    await env.sleep(timedelta(minutes=9))  # 9.5 minutes after the delivery: still waiting for more
    assert (await group.describe()).status == WorkflowExecutionStatus.RUNNING

    await env.sleep(timedelta(minutes=1))  # 10.5 minutes after it: ended
    await eventually(lambda: _status_is(group, WorkflowExecutionStatus.COMPLETED))
    assert len(channel.groups()) == 1  # nothing re-sent

    # A new notice starts the workflow again and goes out on its own group wait.
    await notify(client, sessions, channel, task_queue, overdue(2))
    assert (await group.describe()).run_id != first_run
    await env.sleep(timedelta(seconds=35))
    await eventually(lambda: _now(len(channel.groups()) == 2))


async def _now(value: Any) -> Any:
    return value


async def _status_is(handle: Any, status: WorkflowExecutionStatus) -> bool:
    return bool((await handle.describe()).status == status)
