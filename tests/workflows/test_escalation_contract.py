"""Every escalation has its own workflow; one that ends without resolving (terminated) never
blocks its case; a trigger raised again while the previous escalation still finishes opens a
real escalation that can be acknowledged and resolved."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from activities.notifications import LogChannel
from domain.messages import (
    AcknowledgeInput,
    FlagInput,
    ResolveInput,
)
from store.models import Escalation
from tests.workflows.support import (
    eventually,
    interaction_input,
    now_value,
    resolve_update,
    resolved_by_lead,
    start,
    state_of,
    team,
    timeline,
)
from workers.main import build_worker
from workflows.common import PATCHES_AT_START_PATCH
from workflows.escalation import EscalationWorkflow
from workflows.interaction import InteractionWorkflow
from workflows.interaction_escalations import END_AFTER_ESCALATIONS_PATCH
from workflows.registry import ALL_WORKFLOWS


def escalations(sessions: sessionmaker[Session], interaction_id: str) -> list[Escalation]:
    with sessions() as s:
        return list(
            s.scalars(
                select(Escalation)
                .where(Escalation.interaction_id == interaction_id)
                .order_by(Escalation.started_at)
            )
        )


async def test_a_terminated_escalation_does_not_block_its_case_and_a_new_flag_escalates_again(
    dev_env: WorkflowEnvironment, sessions: sessionmaker[Session], task_queue: str
) -> None:
    client = dev_env.client
    async with build_worker(client, task_queue=task_queue, sessions=sessions, channel=LogChannel()):
        inp = interaction_input(team(), datetime.now(UTC), channel="call", flags=["safety"])
        parent = await start(client, inp, task_queue)
        [first] = await eventually(lambda: now_value(escalations(sessions, inp.interaction_id)))
        await client.get_workflow_handle(first.workflow_id).terminate("ops ended it by mistake")

        async def unblocked() -> bool:
            return (await state_of(parent)).status != "escalated"

        await eventually(unblocked)
        assert [e.status for e in escalations(sessions, inp.interaction_id)] == ["resolved"]
        assert timeline(sessions, inp.interaction_id, "escalation_ended_unresolved")
        # Raised again: a new escalation with a workflow of its own that a lead can work.
        await parent.execute_update(
            InteractionWorkflow.flag, FlagInput(flag="safety", flag_id="f-2", staff_id="chw-ana")
        )
        rows = escalations(sessions, inp.interaction_id)
        assert len(rows) == 2 and rows[1].status == "open"
        assert rows[1].workflow_id != first.workflow_id
        second = client.get_workflow_handle(rows[1].workflow_id)
        await second.execute_update(
            EscalationWorkflow.acknowledge,
            AcknowledgeInput(escalation_id=rows[1].id, actor_id="lead-1", actor_role="lead"),
        )
        await second.execute_update(EscalationWorkflow.resolve, resolved_by_lead(rows[1].id))
        done = await parent.execute_update(resolve_update, ResolveInput(actor_id="chw-ana"))
        assert done.status == "resolved"


async def test_a_trigger_raised_again_while_its_escalation_finishes_opens_a_real_one(
    dev_env: WorkflowEnvironment, sessions: sessionmaker[Session], task_queue: str
) -> None:
    client = dev_env.client
    async with build_worker(client, task_queue=task_queue, sessions=sessions, channel=LogChannel()):
        inp = interaction_input(team(), datetime.now(UTC), channel="call", flags=["complaint"])
        parent = await start(client, inp, task_queue)
        [first] = await eventually(lambda: now_value(escalations(sessions, inp.interaction_id)))
        await client.get_workflow_handle(first.workflow_id).execute_update(
            EscalationWorkflow.resolve, resolved_by_lead(first.id)
        )
        # At once, before the first escalation's workflow has necessarily finished.
        await parent.execute_update(
            InteractionWorkflow.flag, FlagInput(flag="complaint", flag_id="f-2", staff_id="chw-ana")
        )
        rows = escalations(sessions, inp.interaction_id)
        assert [r.status for r in rows] == ["resolved", "open"]
        assert (await state_of(parent)).status == "escalated"
        second = client.get_workflow_handle(rows[1].workflow_id)
        await second.execute_update(EscalationWorkflow.resolve, resolved_by_lead(rows[1].id))
        done = await parent.execute_update(resolve_update, ResolveInput(actor_id="chw-ana"))
        assert done.status == "resolved"


class HeldEscalationNotices:
    """Delivers the case's own notices at once and holds the escalation's until released, so a
    resolved escalation's workflow is still ending (draining its notice) when the case resolves."""

    def __init__(self) -> None:
        self.released = threading.Event()

    def deliver(self, body: dict[str, Any]) -> None:
        if any(n["kind"] == "escalation" for n in body["notifications"]):
            self.released.wait(timeout=60)


async def test_a_case_resolved_while_its_escalation_still_ends_ends_after_it(
    dev_env: WorkflowEnvironment, sessions: sessionmaker[Session], task_queue: str
) -> None:
    """A lead resolves the escalation and the CHW the case at once. The case's run ends only
    after the escalation's (had it ended in the task that carried the resolve, the escalation's
    end arriving meanwhile would make the server refuse that task and fail the CHW's resolve)."""
    client = dev_env.client
    channel = HeldEscalationNotices()
    async with build_worker(client, task_queue=task_queue, sessions=sessions, channel=channel):
        try:
            inp = interaction_input(team(), datetime.now(UTC), channel="call", flags=["complaint"])
            parent = await start(client, inp, task_queue)
            [esc] = await eventually(lambda: now_value(escalations(sessions, inp.interaction_id)))
            child = client.get_workflow_handle(esc.workflow_id)
            await child.execute_update(EscalationWorkflow.resolve, resolved_by_lead(esc.id))
            done = await parent.execute_update(resolve_update, ResolveInput(actor_id="chw-ana"))
            assert done.status == "resolved"
            await asyncio.sleep(1.0)  # time enough for the case's run to end, were it to
            assert (await child.describe()).status == WorkflowExecutionStatus.RUNNING
            assert (await parent.describe()).status == WorkflowExecutionStatus.RUNNING
        finally:
            channel.released.set()
        assert (await parent.result()).status == "resolved"
        case_ended = (await parent.describe()).close_time
        escalation_ended = (await child.describe()).close_time
        assert case_ended is not None and escalation_ended is not None
        assert case_ended >= escalation_ended
        # The new path is marked (older runs replay without the wait): a new run by
        # patches-at-start, asked when it began; and it replays deterministically.
        history = await parent.fetch_history()
        markers = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED]
        patch_ids = [
            p.data
            for e in markers
            if "patch-data" in e.marker_recorded_event_attributes.details
            for p in e.marker_recorded_event_attributes.details["patch-data"].payloads
        ]
        assert any(PATCHES_AT_START_PATCH.encode() in d for d in patch_ids)
        assert not any(END_AFTER_ESCALATIONS_PATCH.encode() in d for d in patch_ids)
        replayer = Replayer(workflows=ALL_WORKFLOWS, data_converter=pydantic_data_converter)
        await replayer.replay_workflow(history)
