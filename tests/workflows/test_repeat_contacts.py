"""A member's repeat contact joins the open case (``contact_again``, docs/rules.md §2.10), on the
time-skipping server."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.messages import ContactAgainInput, InteractionState
from store.models import Interaction
from tests.conftest import advance_to, now_of
from tests.workflows.support import (
    at,
    attempt,
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
from tests.workflows.test_patch_after_local_activity import markers
from workflows.interaction import MERGE_CONTACTS_PATCH, InteractionWorkflow

Handle = WorkflowHandle[Any, Any]


async def contact_again(
    handle: Handle, channel: str, when: datetime, contact_id: str | None = None
) -> InteractionState:
    inp = ContactAgainInput(contact_id=contact_id or uuid.uuid4().hex, channel=channel, at=when)
    result: InteractionState = await handle.execute_update(
        InteractionWorkflow.contact_again, inp, id=f"contact_again-{inp.contact_id}"
    )
    return result


async def test_a_call_after_a_text_moves_the_deadline_earlier_never_later(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    monday = next_weekday_at(await now_of(env), 0, 10)
    await advance_to(env, monday)
    inp = interaction_input(team(), monday, channel="text")
    handle = await start(client, inp, task_queue)
    st = await eventually(lambda: state_of(handle))
    assert st.due_at == at(monday, 10, plus_days=1)  # a text: one business day

    await advance_to(env, at(monday, 11))
    st = await contact_again(handle, "call", at(monday, 11), contact_id="call-1")
    assert st.due_at == at(monday, 17)  # the call's same-day deadline is earlier
    assert st.contacts == 2 and st.last_contact_at == at(monday, 11)

    # The same contact again (its update id) applies nothing.
    st = await contact_again(handle, "call", at(monday, 11), contact_id="call-1")
    assert st.contacts == 2

    await advance_to(env, at(monday, 12))
    st = await contact_again(handle, "text", at(monday, 12))
    assert st.due_at == at(monday, 17)  # a text's later deadline never moves it later
    assert st.contacts == 3 and st.last_contact_at == at(monday, 12)

    lines = await eventually(
        lambda: now_value(
            v if len(v := timeline(sessions, inp.interaction_id, "contacted_again")) == 2 else None
        )
    )
    assert lines[0].details["channel"] == "call"
    assert lines[0].details["old_due_at"] == at(monday, 10, plus_days=1).isoformat()
    told = await eventually(lambda: now_value(notices(sessions, inp.interaction_id, "contacted_again")))
    assert {n.recipient_id for n in told} == {"chw-ana"}

    def row() -> Interaction | None:
        with sessions() as s:
            found = s.get(Interaction, inp.interaction_id)
            return found if found is not None and found.contacts == 3 else None

    projected = await eventually(lambda: now_value(row()))
    assert projected.last_contact_at == at(monday, 12)
    assert projected.due_at == at(monday, 17)

    # The new deadline is the one the case keeps: overdue at Mon 17:00.
    await advance_to(env, at(monday, 17, 1))
    await eventually(lambda: now_value(timeline(sessions, inp.interaction_id, "overdue")))
    # The patch is asked in the handler, before its projection: never right after a local activity.
    found = markers(await handle.fetch_history())
    assert found.count(MERGE_CONTACTS_PATCH) == 1
    assert found[found.index(MERGE_CONTACTS_PATCH) + 1] == "LA"


async def test_a_contact_after_the_first_response_sets_a_new_deadline_and_restarts_the_ladder(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    monday = next_weekday_at(await now_of(env), 0, 10)
    await advance_to(env, monday)
    inp = interaction_input(team(max_attempts=2), monday, channel="call")
    handle = await start(client, inp, task_queue)
    await eventually(lambda: state_of(handle))

    await advance_to(env, at(monday, 10, 30))
    await attempt(handle, "no_answer")
    st = await attempt(handle, "no_answer")
    assert st.unreachable and st.first_response_at is not None

    await advance_to(env, at(monday, 16, 30))  # past the cutoff: next day's close
    st = await contact_again(handle, "call", at(monday, 16, 30))
    assert st.due_at == at(monday, 17, plus_days=1)  # from the new contact, later than the first
    assert st.awaiting_response and not st.overdue
    assert st.unsuccessful_attempts == 0 and not st.unreachable and st.next_retry_at is None
    assert st.first_response_at is not None  # the SLA's first response stays what it was

    # The ladder starts over: one more unsuccessful attempt does not make the member unreachable.
    await advance_to(env, at(monday, 9, 30, plus_days=1))
    st = await attempt(handle, "no_answer")
    assert not st.unreachable and st.unsuccessful_attempts == 1 and not st.awaiting_response
    await eventually(lambda: now_value(timeline(sessions, inp.interaction_id, "responded_again")))


async def test_an_unanswered_repeat_after_a_response_goes_overdue(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    monday = next_weekday_at(await now_of(env), 0, 10)
    await advance_to(env, monday)
    inp = interaction_input(team(), monday, channel="call")
    handle = await start(client, inp, task_queue)
    await eventually(lambda: state_of(handle))
    await advance_to(env, at(monday, 10, 30))
    await attempt(handle, "reached")
    await advance_to(env, at(monday, 11))
    st = await contact_again(handle, "text", at(monday, 11))
    assert st.due_at == at(monday, 11, plus_days=1)

    await advance_to(env, at(monday, 11, 1, plus_days=1))
    overdue = await eventually(lambda: now_value(timeline(sessions, inp.interaction_id, "overdue")))
    assert overdue[0].details["due_at"] == at(monday, 11, plus_days=1).isoformat()
    assert (await state_of(handle)).overdue
