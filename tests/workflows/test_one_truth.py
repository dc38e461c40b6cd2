"""One truth: the read model follows the workflow after a restore, a hand edit, a deleted row or
work Temporal lost, and a repeated update is applied once, across continue-as-new too."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.messages import AttemptInput, FlagInput, InteractionState
from store.db import unit_of_work
from store.models import Attempt, Interaction
from tests.conftest import now_of
from tests.workflows.support import eventually, interaction_input, resolved_by_lead, start, state_of, team
from workflows.escalation import EscalationWorkflow
from workflows.interaction import InteractionWorkflow


def row_of(sessions: sessionmaker[Session], interaction_id: str) -> Interaction | None:
    with sessions() as s:
        return s.get(Interaction, interaction_id)


def differences(sessions: sessionmaker[Session], st: InteractionState) -> dict[str, tuple[Any, Any]]:
    """Where the row and the workflow's state differ: {field: (row, workflow)}."""
    with sessions() as s:
        row = s.get(Interaction, st.interaction_id)
        if row is None:
            return {"row": (None, "present")}
        attempts = sorted(s.scalars(select(Attempt.id).where(Attempt.interaction_id == st.interaction_id)))
        theirs = {
            "status": (row.status, st.status),
            "assignee_id": (row.assignee_id, st.assignee_id),
            "version": (row.version, st.version),
            "attempt_count": (row.attempt_count, len(st.attempts)),
            "attempts": (attempts, sorted(a.attempt_id for a in st.attempts)),
            "resolved_by": (row.resolved_by, st.resolved_by),
            "flags": (sorted(row.flags), sorted(st.flags)),
        }
    return {k: v for k, v in theirs.items() if v[0] != v[1]}


async def agree(sessions: sessionmaker[Session], handle: WorkflowHandle[Any, Any]) -> bool:
    return not differences(sessions, await state_of(handle))


async def attempt(
    handle: WorkflowHandle[Any, Any], outcome: str = "no_answer", **kw: Any
) -> InteractionState:
    inp = AttemptInput(attempt_id=kw.pop("attempt_id", uuid.uuid4().hex), outcome=outcome, staff_id="chw-ana")
    result: InteractionState = await handle.execute_update(InteractionWorkflow.record_attempt, inp, **kw)
    return result


async def test_a_row_restored_from_an_older_backup_is_brought_up_to_the_workflow(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    """The row goes back to v1 with no attempts (a restore): the next action answers at once and
    the row holds the workflow's whole state, instead of a projection retried forever."""
    inp = interaction_input(team(), await now_of(env))
    handle = await start(client, inp, task_queue)
    await attempt(handle)
    await attempt(handle)
    assert await eventually(lambda: agree(sessions, handle))
    with unit_of_work(sessions) as s:  # the backup: before both attempts
        s.execute(delete(Attempt).where(Attempt.interaction_id == inp.interaction_id))
        row = s.get(Interaction, inp.interaction_id)
        assert row is not None
        row.version, row.status, row.attempt_count = 1, "open", 0
    st = await attempt(handle, "reached")  # would wedge: the delta's base (v3) is not what the row holds
    assert st.version == 4 and len(st.attempts) == 3
    assert differences(sessions, await state_of(handle)) == {}


async def test_a_deleted_row_is_made_again_from_the_workflow(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    inp = interaction_input(team(), await now_of(env))
    handle = await start(client, inp, task_queue)
    await attempt(handle)
    assert await eventually(lambda: agree(sessions, handle))
    with unit_of_work(sessions) as s:
        s.execute(delete(Attempt).where(Attempt.interaction_id == inp.interaction_id))
        s.execute(delete(Interaction).where(Interaction.id == inp.interaction_id))
    await attempt(handle, "reached")
    assert differences(sessions, await state_of(handle)) == {}
    row = row_of(sessions, inp.interaction_id)
    assert row is not None and row.summary is None  # the member's text is not invented


async def test_a_row_ahead_of_the_workflow_is_corrected_by_the_next_change(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    """Work Temporal lost (a workflow task that projected, then was dropped in a server restart)
    left the row saying "resolved" at the next version with an attempt the workflow never kept."""
    inp = interaction_input(team(), await now_of(env))
    handle = await start(client, inp, task_queue)
    st = await attempt(handle)
    assert await eventually(lambda: agree(sessions, handle))
    with unit_of_work(sessions) as s:
        row = s.get(Interaction, inp.interaction_id)
        assert row is not None
        row.version, row.status, row.resolved_by = st.version + 1, "resolved", "chw-ana"
        s.add(
            Attempt(id="lost", interaction_id=inp.interaction_id, seq=2, outcome="reached", at=st.received_at)
        )
    await attempt(handle, "reached")  # the same version number, other content
    assert differences(sessions, await state_of(handle)) == {}
    row = row_of(sessions, inp.interaction_id)
    assert row is not None and row.status == "attempting" and row.resolved_by is None


async def test_reproject_writes_the_whole_state_and_changes_nothing_in_temporal(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    inp = interaction_input(team(), await now_of(env))
    handle = await start(client, inp, task_queue)
    await attempt(handle)
    assert await eventually(lambda: agree(sessions, handle))
    before = await state_of(handle)
    with unit_of_work(sessions) as s:  # a hand edit
        row = s.get(Interaction, inp.interaction_id)
        assert row is not None
        row.assignee_id, row.status = "chw-ben", "open"
    assert differences(sessions, before) != {}
    await handle.signal(InteractionWorkflow.reproject)
    assert await eventually(lambda: agree(sessions, handle))
    assert (await state_of(handle)).version == before.version


async def test_a_repeated_update_id_applies_once_across_continue_as_new(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    """Temporal de-duplicates update ids within one run; the case carries the ids it applied into
    the next run, so a complaint flag repeated under its key after continue-as-new opens no
    second escalation, while a new key does."""
    inp = interaction_input(team(), await now_of(env)).model_copy(update={"history_limit": 30})
    handle = await start(client, inp, task_queue)
    st = await handle.execute_update(
        InteractionWorkflow.flag, FlagInput(flag="complaint", flag_id="f-1", staff_id="chw-ana"), id="flag-k1"
    )
    (esc,) = st.escalations
    await client.get_workflow_handle(esc.workflow_id).execute_update(
        EscalationWorkflow.resolve, resolved_by_lead(esc.escalation_id)
    )
    first_run = (await handle.describe()).run_id
    for _ in range(12):
        await attempt(handle, "reached")
        if (await handle.describe()).run_id != first_run:
            break
    assert (await handle.describe()).run_id != first_run, "the case did not continue as new"
    again = await handle.execute_update(
        InteractionWorkflow.flag, FlagInput(flag="complaint", flag_id="f-1", staff_id="chw-ana"), id="flag-k1"
    )
    assert len(again.escalations) == 1 and again.applied_updates == []  # answers carry no ids
    assert len((await state_of(handle)).escalations) == 1
    assert "flag-k1" in (await state_of(handle)).applied_updates
    fresh = await handle.execute_update(
        InteractionWorkflow.flag, FlagInput(flag="complaint", flag_id="f-2", staff_id="chw-ana"), id="flag-k2"
    )
    assert len(fresh.escalations) == 2


async def test_an_attempt_repeated_under_another_update_id_is_answered_not_recorded_again(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    inp = interaction_input(team(), await now_of(env))
    handle = await start(client, inp, task_queue)
    await attempt(handle, attempt_id="a-1")
    st = await attempt(handle, attempt_id="a-1", id="another-update-id")
    assert [a.attempt_id for a in st.attempts] == ["a-1"] and st.version == 2
    assert differences(sessions, await state_of(handle)) == {}


async def test_ops_move_a_long_open_case_onto_current_code_by_continue_as_new(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    """The ``continue_as_new`` signal starts a new run carrying the whole state (so it runs the
    current code and no patch's old branch), and the case goes on as before."""
    inp = interaction_input(team(), await now_of(env))
    handle = await start(client, inp, task_queue)
    await attempt(handle, attempt_id="a-1")
    before = await state_of(handle)
    first_run = (await handle.describe()).run_id
    await handle.signal("continue_as_new")

    async def moved() -> bool:
        return (await handle.describe()).run_id != first_run

    assert await eventually(moved)
    after = await state_of(handle)
    assert after.model_dump(exclude={"applied_updates"}) == before.model_dump(exclude={"applied_updates"})
    again = await attempt(handle, attempt_id="a-1", id="another-id")  # still known in the new run
    assert [a.attempt_id for a in again.attempts] == ["a-1"]
    await attempt(handle, "reached")
    assert differences(sessions, await state_of(handle)) == {}
