"""Every path of an interaction's life, on the time-skipping server (docs/rules.md §2.2, §2.3)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from domain.messages import (
    AssignInput,
    FlagInput,
    InteractionState,
    ResolveInput,
)
from store.models import Attempt
from tests.conftest import advance_to, now_of
from tests.workflows.support import (
    assign_update,
    at,
    attempt,
    eventually,
    interaction_input,
    next_weekday_at,
    notices,
    now_value,
    resolve_update,
    resolved_by_lead,
    settled_history_length,
    start,
    state_of,
    team,
    timeline,
)
from workers.main import WORKFLOW_PASSTHROUGH_MODULES, build_worker
from workflows.escalation import EscalationWorkflow
from workflows.interaction import ANSWER_ATTEMPTS, InteractionWorkflow

TOLERANCE = timedelta(seconds=5)


async def test_due_soon_reminder_then_overdue(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    monday = next_weekday_at(await now_of(env), 0, 10)
    await advance_to(env, monday)
    inp = interaction_input(team(), monday, channel="text")
    handle = await start(client, inp, task_queue)
    st = await eventually(lambda: state_of(handle))
    assert st.due_at == at(monday, 10, plus_days=1)  # text: 480 business minutes → Tue 10:00

    await advance_to(env, at(monday, 8, 59, plus_days=1))
    assert timeline(sessions, inp.interaction_id, "due_soon_reminder") == []

    await advance_to(env, at(monday, 9, 1, plus_days=1))
    reminder = (
        await eventually(lambda: now_value(timeline(sessions, inp.interaction_id, "due_soon_reminder")))
    )[0]
    assert abs(reminder.at - at(monday, 9, plus_days=1)) < TOLERANCE  # 60 clock minutes before due
    due_soon = await eventually(lambda: now_value(notices(sessions, inp.interaction_id, "due_soon")))
    assert [n.recipient_id for n in due_soon] == ["chw-ana"]
    assert not (await state_of(handle)).overdue

    await advance_to(env, at(monday, 10, 1, plus_days=1))
    overdue = (await eventually(lambda: now_value(timeline(sessions, inp.interaction_id, "overdue"))))[0]
    assert abs(overdue.at - st.due_at) < TOLERANCE
    escalation = await eventually(lambda: now_value(notices(sessions, inp.interaction_id, "escalation")))
    assert [(n.recipient_id, n.trigger) for n in escalation] == [("lead-1", "deadline_missed")]
    st = await state_of(handle)
    assert st.overdue and st.status == "escalated" and st.triggers == ["deadline_missed"]


async def test_attempt_before_due_meets_sla_and_never_goes_overdue(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    monday = next_weekday_at(await now_of(env), 0, 10)
    await advance_to(env, monday)
    inp = interaction_input(team(), monday, channel="call")
    handle = await start(client, inp, task_queue)
    await advance_to(env, at(monday, 11))
    st = await attempt(handle, "reached")
    assert st.first_response_at is not None and st.first_response_at <= st.due_at
    assert st.next_retry_at is None

    await advance_to(env, at(monday, 18))
    st = await state_of(handle)
    assert not st.overdue and st.status == "attempting" and st.triggers == []
    assert timeline(sessions, inp.interaction_id, "overdue") == []
    assert timeline(sessions, inp.interaction_id, "due_soon_reminder") == []
    first = timeline(sessions, inp.interaction_id, "first_response")
    assert first[0].details["sla_met"] is True


async def test_an_update_answers_with_the_latest_attempts_and_the_case_keeps_them_all(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    """Each update's answer is stored in the history: it carries the latest attempts only, so a
    case's history grows by the same amount per attempt; the state and the read model keep all."""
    monday = next_weekday_at(await now_of(env), 0, 10)
    await advance_to(env, monday)
    inp = interaction_input(team(), monday, channel="call")
    handle = await start(client, inp, task_queue)
    for _ in range(ANSWER_ATTEMPTS + 2):
        st = await attempt(handle, "reached")
    assert [a.seq for a in st.attempts] == list(range(3, ANSWER_ATTEMPTS + 3))
    assert [a.seq for a in (await state_of(handle)).attempts] == list(range(1, ANSWER_ATTEMPTS + 3))

    def projected() -> list[int]:
        with sessions() as session:
            rows = session.query(Attempt).filter_by(interaction_id=inp.interaction_id).all()
            return sorted(r.seq for r in rows)

    assert await eventually(lambda: now_value(projected())) == list(range(1, ANSWER_ATTEMPTS + 3))


async def test_three_no_answers_are_spaced_by_business_time_then_unreachable(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    thursday = next_weekday_at(await now_of(env), 3, 15)
    await advance_to(env, thursday)
    inp = interaction_input(team(), thursday, channel="call")
    handle = await start(client, inp, task_queue)

    # 15:30, not 16:00: the due-soon timer fires at 16:00, and the Java test server wedges when
    # an update cancels a timer that fired in the same workflow task (sdk-java#2606, #3088).
    await advance_to(env, at(thursday, 15, 30))
    st = await attempt(handle, "no_answer")
    # 90 open minutes left on Thursday, 30 more on Friday morning: across the night.
    assert st.next_retry_at is not None
    assert abs(st.next_retry_at - at(thursday, 9, 30, plus_days=1)) < TOLERANCE

    await advance_to(env, at(thursday, 9, 31, plus_days=1))
    reminders = await eventually(lambda: now_value(timeline(sessions, inp.interaction_id, "retry_reminder")))
    assert abs(reminders[0].at - at(thursday, 9, 30, plus_days=1)) < TOLERANCE
    assert [
        n.recipient_id
        for n in await eventually(lambda: now_value(notices(sessions, inp.interaction_id, "retry_due")))
    ] == ["chw-ana"]

    await advance_to(env, at(thursday, 16, 30, plus_days=1))  # Friday 16:30
    st = await attempt(handle, "busy")
    # 30 open minutes on Friday, then the weekend is closed, 90 minutes on Monday.
    assert st.next_retry_at is not None
    assert abs(st.next_retry_at - at(thursday, 10, 30, plus_days=4)) < TOLERANCE

    await advance_to(env, at(thursday, 10, 31, plus_days=4))
    reminders = await eventually(
        lambda: now_value(
            r if len(r := timeline(sessions, inp.interaction_id, "retry_reminder")) == 2 else []
        )
    )
    assert abs(reminders[1].at - at(thursday, 10, 30, plus_days=4)) < TOLERANCE

    await advance_to(env, at(thursday, 11, plus_days=4))
    st = await attempt(handle, "left_voicemail")
    assert st.unreachable and st.next_retry_at is None and "unreachable" in st.triggers
    escalation = await eventually(lambda: now_value(notices(sessions, inp.interaction_id, "escalation")))
    assert [(n.recipient_id, n.trigger) for n in escalation] == [("lead-1", "unreachable")]
    # No third reminder comes: retries have stopped.
    await advance_to(env, at(thursday, 17, plus_days=5))
    assert len(timeline(sessions, inp.interaction_id, "retry_reminder")) == 2


async def test_wrong_number_is_unreachable_at_once(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    inp = interaction_input(team(), await now_of(env), channel="voicemail")
    handle = await start(client, inp, task_queue)
    st = await attempt(handle, "wrong_number")
    assert st.unreachable and st.triggers == ["unreachable"] and st.next_retry_at is None
    assert st.status == "escalated"


async def test_reached_then_resolve_counts_as_first_contact_resolution(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    inp = interaction_input(team(), await now_of(env), channel="call")
    handle = await start(client, inp, task_queue)
    await attempt(handle, "reached")
    st = await handle.execute_update(resolve_update, ResolveInput(actor_id="chw-ana"))
    assert st.status == "resolved"
    final: InteractionState = await handle.result()
    assert final.status == "resolved" and final.resolved_by == "chw-ana"
    resolved = timeline(sessions, inp.interaction_id, "resolved")
    assert resolved[0].details == {"first_contact_resolution": True}


async def test_assign_moves_the_case_without_changing_due_at(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    inp = interaction_input(team(), await now_of(env), channel="text")
    handle = await start(client, inp, task_queue)
    before = await eventually(lambda: state_of(handle))
    st = await handle.execute_update(assign_update, AssignInput(assignee_id="chw-ben", actor_id="lead-1"))
    assert st.assignee_id == "chw-ben" and st.assignment_source == "lead:lead-1"
    assert st.due_at == before.due_at
    assigned = await eventually(
        lambda: now_value(
            [n for n in notices(sessions, inp.interaction_id, "assigned") if n.recipient_id == "chw-ben"]
        )
    )
    assert len(assigned) == 1
    st = await handle.execute_update(assign_update, AssignInput(assignee_id=None, actor_id="lead-1"))
    assert st.assignee_id is None and st.assignment_source == "unassigned" and st.due_at == before.due_at
    unassigned = await eventually(lambda: now_value(notices(sessions, inp.interaction_id, "unassigned")))
    assert [n.recipient_id for n in unassigned] == ["lead-1"]


async def test_flagging_urgent_only_moves_due_at_earlier(
    env: WorkflowEnvironment, client: Client, worker: Worker, task_queue: str
) -> None:
    monday = next_weekday_at(await now_of(env), 0, 16)
    await advance_to(env, monday)
    handle = await start(client, interaction_input(team(), monday, channel="text"), task_queue)
    st = await eventually(lambda: state_of(handle))
    assert st.due_at == at(monday, 16, plus_days=1)  # 60 open minutes Monday + 420 Tuesday
    st = await handle.execute_update(InteractionWorkflow.flag, FlagInput(flag="urgent", flag_id="f1"))
    assert st.urgent and st.due_at == at(monday, 10, plus_days=1)  # rules §2.2: urgent Mon 16:00 → Tue 10:00


class HeldChannel:
    """Delivers nothing until released: the creation notice keeps its activity running, so a
    resolved case's workflow is still open (draining its notices) and later updates reach the
    validator instead of a closed workflow."""

    def __init__(self) -> None:
        self.released = threading.Event()

    def deliver(self, body: dict[str, Any]) -> None:
        self.released.wait(timeout=60)


@pytest.mark.parametrize("case", ["resolve_twice", "attempt_on_resolved", "same_assignee"])
async def test_rejected_updates_leave_history_unchanged(
    dev_env: WorkflowEnvironment, sessions: sessionmaker[Session], task_queue: str, case: str
) -> None:
    """On the real dev server: a rejected update rides on a speculative workflow task that
    leaves no trace (the time-skipping server does not implement speculative tasks). The
    validator is what refuses: the workflow is still running when the rejected update arrives."""
    client = dev_env.client
    channel = HeldChannel()
    async with build_worker(client, task_queue=task_queue, sessions=sessions, channel=channel):
        try:
            await _rejected_update_case(client, task_queue, case)
        finally:
            channel.released.set()  # before the worker stops: it waits for running activities


async def _rejected_update_case(client: Client, task_queue: str, case: str) -> None:
    handle = await start(client, interaction_input(team(), datetime.now(UTC), channel="call"), task_queue)
    await eventually(lambda: state_of(handle))
    if case in ("resolve_twice", "attempt_on_resolved"):
        done = await handle.execute_update(resolve_update, ResolveInput(actor_id="lead-1"))
        assert done.status == "resolved"
    before = await settled_history_length(handle, still_running=frozenset({"notify"}))  # the held notice
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    rejected: dict[str, Callable[[], Awaitable[Any]]] = {
        "resolve_twice": lambda: handle.execute_update(resolve_update, ResolveInput(actor_id="lead-1")),
        "attempt_on_resolved": lambda: attempt(handle, "reached"),
        "same_assignee": lambda: handle.execute_update(
            assign_update, AssignInput(assignee_id="chw-ana", actor_id="lead-1")
        ),
    }
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await rejected[case]()
    assert "already" in str(info.value.cause)
    after = (await handle.fetch_history()).events
    assert len(after) == before, [e.event_type for e in after[before:]]


async def test_invalid_signal_changes_nothing_and_is_recorded_as_rejected(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    inp = interaction_input(team(), await now_of(env), channel="call")
    handle = await start(client, inp, task_queue)
    await eventually(lambda: state_of(handle))
    await handle.signal("assign", AssignInput(assignee_id="chw-ana", actor_id="lead-1"))
    rejected = await eventually(lambda: now_value(timeline(sessions, inp.interaction_id, "rejected")))
    assert rejected[0].details["action"] == "assign"
    assert (await state_of(handle)).assignee_id == "chw-ana"
    await handle.signal("resolve", ResolveInput(actor_id="lead-1"))
    assert (await handle.result()).status == "resolved"


@pytest.mark.parametrize("sandbox", [True, False], ids=["production-sandbox", "no-sandbox"])
async def test_the_worker_runs_a_case_from_start_to_resolution_with_and_without_the_sandbox(
    env: WorkflowEnvironment, client: Client, sessions: sessionmaker[Session], channel: Any, sandbox: bool
) -> None:
    """The same workflows, escalation child included, run in the worker's production sandbox
    (``WORKFLOW_PASSTHROUGH_MODULES`` passed through, docs/adr/sandbox.md) and, with
    ``WORKER_WORKFLOW_SANDBOX=false``, without the SDK's sandbox."""
    queue = f"sandbox-{sandbox}-{uuid.uuid4().hex[:6]}"
    worker = build_worker(client, task_queue=queue, sessions=sessions, channel=channel, sandbox=sandbox)
    runner = worker.config()["workflow_runner"]
    if sandbox:
        assert isinstance(runner, SandboxedWorkflowRunner)
        assert set(WORKFLOW_PASSTHROUGH_MODULES) <= runner.restrictions.passthrough_modules
    else:
        assert isinstance(runner, UnsandboxedWorkflowRunner)
    async with worker:
        inp = interaction_input(team(), await now_of(env), channel="call")
        handle = await start(client, inp, queue)
        st = await handle.execute_update(InteractionWorkflow.flag, FlagInput(flag="complaint", flag_id="f-1"))
        (esc,) = st.escalations
        assert esc.trigger == "complaint"
        await attempt(handle, "reached")
        resolved = resolved_by_lead(esc.escalation_id)
        await client.get_workflow_handle(esc.workflow_id).execute_update(EscalationWorkflow.resolve, resolved)
        await handle.execute_update(resolve_update, ResolveInput(actor_id="chw-ana"))
        assert (await handle.result()).status == "resolved"
    assert [e.kind for e in timeline(sessions, inp.interaction_id, "resolved")] == ["resolved"]
