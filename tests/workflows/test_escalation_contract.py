"""Every escalation has its own workflow; one that ends without resolving (terminated) never
blocks its case; a trigger raised again while the previous escalation still finishes opens a
real escalation that can be acknowledged and resolved."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import WorkflowEnvironment

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
    resolved_by_lead,
    start,
    state_of,
    team,
    timeline,
)
from workers.main import build_worker
from workflows.escalation import EscalationWorkflow
from workflows.interaction import InteractionWorkflow


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
        done = await parent.execute_update(
            InteractionWorkflow.resolve_update, ResolveInput(actor_id="chw-ana")
        )
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
        done = await parent.execute_update(
            InteractionWorkflow.resolve_update, ResolveInput(actor_id="chw-ana")
        )
        assert done.status == "resolved"
