"""The SLA report of merged cases (docs/rules.md §2.10, issue 21): the first response is judged
against the deadline the *first* contact had, however repeat contacts moved the case's deadline;
``repeat_contacts`` counts the merged contacts per channel. Worked examples on the time-skipping
server, read through the projection as a lead reads them (``GET /v1/reports/sla``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.messages import FlagInput
from services import presenters
from services.reports import sla_report
from services.schemas import SlaReport
from store.models import Interaction
from tests.conftest import advance_to, now_of
from tests.workflows.support import (
    at,
    attempt,
    eventually,
    interaction_input,
    next_weekday_at,
    now_value,
    start,
    state_of,
    team,
    timeline,
)
from tests.workflows.test_repeat_contacts import contact_again
from workflows.interaction import InteractionWorkflow

Handle = WorkflowHandle[Any, Any]


async def answered_row(sessions: sessionmaker[Session], interaction_id: str, contacts: int) -> Interaction:
    """The case's row once the projection holds its first response and its contacts."""

    def read() -> Interaction | None:
        with sessions() as s:
            row = s.get(Interaction, interaction_id)
            ok = row is not None and row.first_response_at is not None and row.contacts == contacts
            return row if ok else None

    return await eventually(lambda: now_value(read()))


def report_of(sessions: sessionmaker[Session], monday: datetime) -> SlaReport:
    """The team's report over the week of ``monday``."""
    with sessions() as s:
        return sla_report(s, "eastside", monday - timedelta(hours=10), monday + timedelta(days=7))


def sla_met_shown(sessions: sessionmaker[Session], interaction_id: str) -> bool | None:
    """The case's ``sla_met`` as the API and the console show it."""
    with sessions() as s:
        row = s.get(Interaction, interaction_id)
        assert row is not None
        return presenters.interaction(s, row).sla_met


async def test_a_first_response_in_time_for_the_first_contact_is_on_time_though_the_moved_deadline_passed(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    """A text Mon 10:00 (due Tue 10:00), the member calls Mon 11:00 (the case is now due Mon
    17:00), the CHW calls back Mon 17:37: the case went overdue at 17:00, but the report counts
    the first response on time, against the text's Tue 10:00. (Updates are sent off the minutes
    a timer of the case may fire at: the time-skipping server fails an activation that has both.)"""
    monday = next_weekday_at(await now_of(env), 0, 10)
    await advance_to(env, monday)
    inp = interaction_input(team(), monday, channel="text")
    handle = await start(client, inp, task_queue)
    await eventually(lambda: state_of(handle))
    await advance_to(env, at(monday, 11))
    st = await contact_again(handle, "call", at(monday, 11))
    assert st.due_at == at(monday, 17) and st.first_due_at == at(monday, 10, plus_days=1)

    await advance_to(env, at(monday, 17, 37))
    await eventually(lambda: now_value(timeline(sessions, inp.interaction_id, "overdue")))  # the queue's
    await attempt(handle, "reached")
    row = await answered_row(sessions, inp.interaction_id, contacts=2)
    assert row.due_at == at(monday, 17) and row.first_due_at == at(monday, 10, plus_days=1)

    report = report_of(sessions, monday)
    text, call = report.channels["text"], report.channels["call"]
    assert (text.received, text.answered_on_time, text.answered_late, text.open_overdue) == (1, 1, 0, 0)
    assert text.repeat_contacts == 1
    # The merged call is counted on the case's channel, not as a call received.
    assert (call.received, call.repeat_contacts) == (0, 0)
    assert report.blocked_by_contact_window == 0  # not late, so not counted as held by a window
    assert sla_met_shown(sessions, inp.interaction_id) is True


async def test_a_late_first_response_stays_late_when_a_later_contact_resets_the_deadline(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    """A call Mon 10:00 (due Mon 17:00) first answered Tue 09:37, late; the member texts Tue
    10:07 and the case is due Wed 10:07 from the text: the first response stays late."""
    monday = next_weekday_at(await now_of(env), 0, 10)
    await advance_to(env, monday)
    inp = interaction_input(team(), monday, channel="call")
    handle = await start(client, inp, task_queue)
    await eventually(lambda: state_of(handle))
    await advance_to(env, at(monday, 9, 37, plus_days=1))
    await attempt(handle, "reached")
    await advance_to(env, at(monday, 10, 7, plus_days=1))
    st = await contact_again(handle, "text", at(monday, 10, 7, plus_days=1))
    assert st.due_at == at(monday, 10, 7, plus_days=2) and st.awaiting_response

    row = await answered_row(sessions, inp.interaction_id, contacts=2)
    assert row.due_at == at(monday, 10, 7, plus_days=2) and row.first_due_at == at(monday, 17)
    call = report_of(sessions, monday).channels["call"]
    assert (call.received, call.answered_on_time, call.answered_late, call.repeat_contacts) == (1, 0, 1, 1)
    assert sla_met_shown(sessions, inp.interaction_id) is False


async def test_flagged_urgent_after_a_merge_the_first_contact_is_held_to_the_urgent_deadline(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    """A text Mon 10:00 (due Tue 10:00), a call Mon 11:00 (due Mon 17:00), flagged urgent Mon
    11:30: the text would have been due Mon 12:00 (120 open minutes), so an answer at Mon 13:07
    is late (the case's own deadline is Mon 12:00 as well)."""
    monday = next_weekday_at(await now_of(env), 0, 10)
    await advance_to(env, monday)
    inp = interaction_input(team(), monday, channel="text")
    handle = await start(client, inp, task_queue)
    await eventually(lambda: state_of(handle))
    await advance_to(env, at(monday, 11))
    await contact_again(handle, "call", at(monday, 11))
    await advance_to(env, at(monday, 11, 30))
    st = await handle.execute_update(InteractionWorkflow.flag, FlagInput(flag="urgent", flag_id="f-1"))
    assert st.due_at == at(monday, 12) and st.first_due_at == at(monday, 12)
    await advance_to(env, at(monday, 13, 7))
    await attempt(handle, "reached")
    await answered_row(sessions, inp.interaction_id, contacts=2)
    text = report_of(sessions, monday).channels["text"]
    assert (text.answered_on_time, text.answered_late, text.repeat_contacts) == (0, 1, 1)


async def test_a_case_no_contact_joined_reports_as_before(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    """Without repeat contacts the first contact's deadline is the case's: a call Mon 10:00
    answered Mon 10:37 is on time, and no repeat contact is counted."""
    monday = next_weekday_at(await now_of(env), 0, 10)
    await advance_to(env, monday)
    inp = interaction_input(team(), monday, channel="call")
    handle = await start(client, inp, task_queue)
    st = await eventually(lambda: state_of(handle))
    assert st.first_due_at is None
    await advance_to(env, at(monday, 10, 37))
    await attempt(handle, "reached")
    row = await answered_row(sessions, inp.interaction_id, contacts=1)
    assert row.first_due_at == row.due_at == at(monday, 17)
    call = report_of(sessions, monday).channels["call"]
    assert (call.received, call.answered_on_time, call.answered_late, call.repeat_contacts) == (1, 1, 0, 0)
