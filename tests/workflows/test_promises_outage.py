"""docs/rules.md §2.6 (issue 26): no workflow waits for delivery, so deadlines and escalation
ladders keep firing while the webhook endpoint is down; the notices wait in the outbox."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from store.models import Escalation, Notification
from tests.conftest import advance_to, now_of
from tests.workflows.support import (
    at,
    eventually,
    interaction_input,
    next_weekday_at,
    notices,
    now_value,
    start,
    state_of,
    team,
    timeline,
)


class DownChannel:
    """The webhook endpoint is down: every delivery fails."""

    def __init__(self) -> None:
        self.tries = 0

    def deliver(self, body: dict[str, Any]) -> None:
        self.tries += 1
        raise ConnectionError("endpoint down (test)")


@pytest.fixture
def channel() -> DownChannel:  # the worker fixture delivers through it
    return DownChannel()


async def test_deadlines_and_ladders_fire_while_the_webhook_is_down(
    env: WorkflowEnvironment,
    client: Client,
    worker: Worker,
    sessions: sessionmaker[Session],
    task_queue: str,
    channel: DownChannel,
) -> None:
    monday = next_weekday_at(await now_of(env), 0, 10)
    await advance_to(env, monday)
    inp = interaction_input(team(), monday, channel="text", flags=["complaint"])  # due Tue 10:00
    handle = await start(client, inp, task_queue)
    await eventually(lambda: state_of(handle))

    def ladder() -> list[tuple[str, str | None, int]]:
        return [
            (n.recipient_id, n.trigger, n.payload["level"])
            for n in notices(sessions, inp.interaction_id, "escalation")
        ]

    await eventually(lambda: now_value(ladder() == [("lead-1", "complaint", 1)]))
    await advance_to(env, at(monday, 11, 1))  # 60 business minutes unacknowledged: the manager
    await eventually(lambda: now_value(("mgr-1", "complaint", 2) in ladder()))

    await advance_to(env, at(monday, 10, 1, plus_days=1))  # the deadline passes
    await eventually(lambda: now_value(timeline(sessions, inp.interaction_id, "overdue")))
    await eventually(lambda: now_value(("lead-1", "deadline_missed", 1) in ladder()))
    assert (await state_of(handle)).overdue

    # Nothing went out; every notice waits in the outbox with its failure, and no workflow holds
    # an activity retrying a delivery.
    with sessions() as s:
        waiting = list(
            s.scalars(select(Notification).where(Notification.interaction_id == inp.interaction_id))
        )
        workflow_ids = list(s.scalars(select(Escalation.workflow_id)))
    assert waiting and all(n.delivered_at is None and n.last_error is not None for n in waiting)
    assert channel.tries >= len(waiting)
    for wid in [handle.id, *workflow_ids]:
        pending = (await client.get_workflow_handle(wid).describe()).raw_description.pending_activities
        assert [a.activity_type.name for a in pending if a.activity_type.name == "notify"] == [], wid
