"""Behaviours docs/rules.md promises that no other test checked (issue 26), on the time-skipping
server: one open escalation per trigger, `unreachable` once per case, resolving clears a pending
retry, reminders of unassigned cases go to the leads, `held_by: no_overlap`, and inhibition
lifting once the safety escalation is resolved."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.messages import (
    AssignInput,
    FlagInput,
    InteractionState,
    MemberContact,
    ResolveInput,
)
from store.db import unit_of_work
from store.models import Absence, Escalation, Notification
from tests.conftest import advance_to, now_of
from tests.workflows.support import (
    add_interaction_row,
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
    start,
    state_of,
    steady,
    team,
    timeline,
)
from tests.workflows.test_absence import start_absence
from tests.workflows.test_checkins import (
    at as checkin_at,
    digests_at,
    holiday_then_business_day,
    start_checkins,
)
from workflows.escalation import EscalationWorkflow
from workflows.interaction import InteractionWorkflow

TOLERANCE = timedelta(seconds=5)


async def flag(handle: WorkflowHandle[Any, Any], name: str) -> InteractionState:
    result: InteractionState = await handle.execute_update(
        InteractionWorkflow.flag,
        FlagInput(flag=name, flag_id=uuid.uuid4().hex, staff_id="lead-1"),
    )
    return result


def escalations(sessions: sessionmaker[Session], interaction_id: str, trigger: str) -> list[Escalation]:
    with sessions() as s:
        return list(
            s.scalars(
                select(Escalation)
                .where(Escalation.interaction_id == interaction_id, Escalation.trigger == trigger)
                .order_by(Escalation.started_at)
            )
        )


async def resolve_escalation(client: Client, sessions: sessionmaker[Session], row: Escalation) -> None:
    handle = client.get_workflow_handle(row.workflow_id)
    await handle.execute_update(EscalationWorkflow.resolve, resolved_by_lead(row.id))

    def status() -> str | None:
        with sessions() as s:
            found = s.get(Escalation, row.id)
            return found.status if found is not None else None

    await eventually(lambda: now_value(status() == "resolved"))


async def monday_ten(env: WorkflowEnvironment) -> Any:
    monday = next_weekday_at(await now_of(env), 0, 10)
    await advance_to(env, monday)
    return monday


async def test_reflagging_an_open_trigger_adds_trigger_repeated_and_no_second_escalation(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    """rules.md §2.4 "One escalation per trigger": a repeated flag while the escalation is open is a
    `trigger_repeated` timeline line naming it; once it is resolved, the flag starts a new one."""
    monday = await monday_ten(env)
    inp = interaction_input(team(), monday, channel="call", flags=["complaint"])
    handle = await start(client, inp, task_queue)
    first = (await eventually(lambda: now_value(escalations(sessions, inp.interaction_id, "complaint"))))[0]

    st = await flag(handle, "complaint")
    assert [e.escalation_id for e in st.escalations if e.trigger == "complaint"] == [first.id]
    repeated = await eventually(lambda: now_value(timeline(sessions, inp.interaction_id, "trigger_repeated")))
    assert [(r.details["trigger"], r.details["escalation_id"]) for r in repeated] == [("complaint", first.id)]
    # Nothing more lands: still one complaint escalation, one ladder notice.
    rows = await steady(
        lambda: now_value([e.id for e in escalations(sessions, inp.interaction_id, "complaint")])
    )
    assert rows == [first.id]
    assert len(notices(sessions, inp.interaction_id, "escalation")) == 1

    # Resolved: the same flag starts a new escalation of its own.
    await resolve_escalation(client, sessions, first)
    await eventually(lambda: _parent_sees(handle, first.id, "resolved"))
    st = await flag(handle, "complaint")
    second = await eventually(
        lambda: now_value(
            r[1:] if len(r := escalations(sessions, inp.interaction_id, "complaint")) == 2 else []
        )
    )
    assert second[0].id != first.id and second[0].status != "resolved"
    assert len(timeline(sessions, inp.interaction_id, "trigger_repeated")) == 1


async def _parent_sees(handle: WorkflowHandle[Any, Any], escalation_id: str, status: str) -> bool:
    st = await state_of(handle)
    return any(e.escalation_id == escalation_id and e.status == status for e in st.escalations)


async def test_unreachable_is_raised_once_per_case_and_attempts_still_record_after_it(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    """rules.md §2.3: `unreachable` once per case (further failed attempts do not raise it again,
    not even after its escalation was resolved); attempts stay recordable after it."""
    monday = await monday_ten(env)
    inp = interaction_input(team(), monday, channel="call")
    handle = await start(client, inp, task_queue)
    for outcome in ("no_answer", "busy", "left_voicemail"):
        st = await attempt(handle, outcome)
    assert st.unreachable and st.next_retry_at is None
    first = (await eventually(lambda: now_value(escalations(sessions, inp.interaction_id, "unreachable"))))[0]

    # While it is open: more failures are recorded, no repeat is raised.
    st = await attempt(handle, "no_answer")
    st = await attempt(handle, "wrong_number")
    assert st.next_retry_at is None
    assert await eventually(lambda: now_value(len(timeline(sessions, inp.interaction_id, "attempt")) == 5))
    # Resolved: still no second unreachable escalation for this case.
    await resolve_escalation(client, sessions, first)
    await eventually(lambda: _parent_sees(handle, first.id, "resolved"))
    st = await attempt(handle, "busy")
    st = await attempt(handle, "wrong_number")
    assert st.status == "attempting" and st.attempts[-1].seq == 7
    assert [e.escalation_id for e in st.escalations] == [first.id]
    rows = await steady(
        lambda: now_value([e.id for e in escalations(sessions, inp.interaction_id, "unreachable")])
    )
    assert rows == [first.id]
    assert timeline(sessions, inp.interaction_id, "trigger_repeated") == []
    assert len(timeline(sessions, inp.interaction_id, "attempt")) == 7


async def test_resolving_clears_a_pending_retry(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    """rules.md §2.3: "Resolving a case clears any pending retry": no `retry_due` after it."""
    monday = await monday_ten(env)
    inp = interaction_input(team(), monday, channel="call")
    handle = await start(client, inp, task_queue)
    st = await attempt(handle, "no_answer")
    assert st.next_retry_at is not None and abs(st.next_retry_at - at(monday, 12)) < TOLERANCE

    await advance_to(env, at(monday, 11))
    done: InteractionState = await handle.execute_update(
        resolve_update,
        ResolveInput(actor_id="chw-ana"),
    )
    assert done.status == "resolved" and done.next_retry_at is None
    final: InteractionState = await handle.result()
    assert final.next_retry_at is None
    await advance_to(env, at(monday, 12, 30))
    assert timeline(sessions, inp.interaction_id, "retry_reminder") == []
    assert notices(sessions, inp.interaction_id, "retry_due") == []


async def test_due_soon_and_retry_reminders_of_an_unassigned_case_go_to_the_leads(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    """rules.md §2.2 and §2.6: `due_soon` and `retry_due` of a case in the unassigned queue go to
    the leads."""
    monday = await monday_ten(env)
    texted = interaction_input(team(), monday, channel="text", assignee_id=None)  # due Tue 10:00
    called = interaction_input(team(), monday, channel="call", assignee_id=None)
    text_handle = await start(client, texted, task_queue)
    call_handle = await start(client, called, task_queue)
    await eventually(lambda: state_of(text_handle))
    st = await attempt(call_handle, "no_answer")
    assert st.assignee_id is None and st.next_retry_at is not None

    await advance_to(env, at(monday, 12, 1))
    retry = await eventually(lambda: now_value(notices(sessions, called.interaction_id, "retry_due")))
    assert [n.recipient_id for n in retry] == ["lead-1"]

    await advance_to(env, at(monday, 9, 1, plus_days=1))
    due_soon = await eventually(lambda: now_value(notices(sessions, texted.interaction_id, "due_soon")))
    assert [n.recipient_id for n in due_soon] == ["lead-1"]


async def test_a_member_window_that_never_meets_business_hours_keeps_business_hours(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    """rules.md §2.7: parts that do not overlap give no lawful window; the retry keeps business
    hours and the timeline says `held_by: no_overlap`."""
    monday = await monday_ten(env)
    inp = interaction_input(team(), monday, channel="call")
    handle = await start(client, inp, task_queue)
    never = MemberContact(zone="America/Chicago", window_start=0, window_end=0)
    st = await attempt(handle, "no_answer", never)
    assert st.next_retry_at is not None and abs(st.next_retry_at - at(monday, 12)) < TOLERANCE
    scheduled = timeline(sessions, inp.interaction_id, "retry_scheduled")
    assert len(scheduled) == 1
    assert scheduled[0].details["held_by"] == "no_overlap"
    assert scheduled[0].details["member_zone"] == "America/Chicago"

    await advance_to(env, at(monday, 12, 1))
    reminder = (
        await eventually(lambda: now_value(timeline(sessions, inp.interaction_id, "retry_reminder")))
    )[0]
    assert abs(reminder.at - at(monday, 12)) < TOLERANCE


async def test_inhibition_lifts_once_the_safety_escalation_is_resolved(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    """rules.md §2.8 example 4: while mem-1's safety escalation is open an `unreachable` notice about
    mem-1 is recorded with `inhibited_by` and not delivered; after it is resolved, the next is."""
    monday = await monday_ten(env)
    safety = interaction_input(team(), monday, channel="call", flags=["safety"])
    await start(client, safety, task_queue)
    safety_row = (
        await eventually(lambda: now_value(escalations(sessions, safety.interaction_id, "safety")))
    )[0]

    before = interaction_input(team(), monday, channel="call")
    await attempt(await start(client, before, task_queue), "wrong_number")
    held = await eventually(lambda: now_value(_unreachable_notices(sessions, before.interaction_id)))
    assert [(n.recipient_id, n.inhibited_by) for n in held] == [("lead-1", safety_row.id)]
    assert timeline(sessions, before.interaction_id, "notice_inhibited") != []

    await resolve_escalation(client, sessions, safety_row)
    after = interaction_input(team(), monday, channel="call")
    await attempt(await start(client, after, task_queue), "wrong_number")
    sent = await eventually(
        lambda: now_value(
            r if (r := _unreachable_notices(sessions, after.interaction_id)) and r[0].delivered_at else []
        )
    )
    assert [(n.recipient_id, n.inhibited_by) for n in sent] == [("lead-1", None)]
    assert timeline(sessions, after.interaction_id, "notice_inhibited") == []
    # The inhibited one stays recorded and undelivered.
    assert [n.delivered_at for n in _unreachable_notices(sessions, before.interaction_id)] == [None]


def _unreachable_notices(sessions: sessionmaker[Session], interaction_id: str) -> list[Notification]:
    return [n for n in notices(sessions, interaction_id, "escalation") if n.trigger == "unreachable"]


async def test_flagging_urgent_moves_the_due_soon_reminder_and_it_fires_once(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    """rules.md §2.2: when urgency moves `due_at`, the reminder is rescheduled for the new deadline."""
    monday = next_weekday_at(await now_of(env), 0, 16)
    await advance_to(env, monday)
    inp = interaction_input(team(), monday, channel="text")  # due Tue 16:00, reminder Tue 15:00
    handle = await start(client, inp, task_queue)
    await eventually(lambda: state_of(handle))
    st = await flag(handle, "urgent")
    assert st.due_at == at(monday, 10, plus_days=1)

    await advance_to(env, at(monday, 8, 59, plus_days=1))
    assert notices(sessions, inp.interaction_id, "due_soon") == []
    await advance_to(env, at(monday, 9, 1, plus_days=1))
    reminder = (
        await eventually(lambda: now_value(timeline(sessions, inp.interaction_id, "due_soon_reminder")))
    )[0]
    assert abs(reminder.at - at(monday, 9, plus_days=1)) < TOLERANCE
    await advance_to(env, at(monday, 17, plus_days=1))  # past the old reminder and deadline
    sent = notices(sessions, inp.interaction_id, "due_soon")
    assert [datetime.fromisoformat(n.payload["due_at"]) for n in sent] == [at(monday, 10, plus_days=1)]
    assert len(timeline(sessions, inp.interaction_id, "due_soon_reminder")) == 1


async def test_a_reminder_already_sent_is_sent_again_for_a_new_earlier_deadline_once(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    """rules.md §2.2: one reminder per deadline: the old deadline's reminder went out, so the
    earlier deadline urgency sets gets its own, once."""
    cfg = team(due_soon_minutes=120, urgent_response_business_minutes=400)
    monday = await monday_ten(env)
    received = at(monday, 9)
    inp = interaction_input(cfg, received, channel="text")  # due Mon 17:00, reminder 15:00
    handle = await start(client, inp, task_queue)
    assert (await eventually(lambda: state_of(handle))).due_at == at(monday, 17)
    await advance_to(env, at(monday, 15, 10))
    await eventually(lambda: now_value(notices(sessions, inp.interaction_id, "due_soon")))

    st = await flag(handle, "urgent")
    assert st.due_at == at(monday, 15, 40)  # 400 open minutes from 09:00
    both = await eventually(
        lambda: now_value(r if len(r := notices(sessions, inp.interaction_id, "due_soon")) == 2 else [])
    )
    assert [datetime.fromisoformat(n.payload["due_at"]) for n in both] == [at(monday, 17), at(monday, 15, 40)]
    await advance_to(env, at(monday, 15, 39))
    assert len(notices(sessions, inp.interaction_id, "due_soon")) == 2
    assert len(timeline(sessions, inp.interaction_id, "due_soon_reminder")) == 2


async def test_with_no_lead_on_duty_the_managers_get_the_leads_digest(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    """rules.md §2.5 Check-ins: with no lead on duty the managers on duty get the leads' digest
    (with the unassigned queue)."""
    holiday, day = holiday_then_business_day(await now_of(env))
    await advance_to(env, checkin_at(holiday, 0, 5))
    await start_checkins(client, task_queue, holiday)
    with unit_of_work(sessions) as s:
        queued_id = add_interaction_row(s, assignee_id=None, due_at=checkin_at(day, 17)).id
        s.add(
            Absence(
                id="abs-lead",
                workflow_id="absence:abs-lead",
                team_id="eastside",
                staff_id="lead-1",
                starts_at=checkin_at(holiday, 0),
                ends_at=checkin_at(day, 23),
                status="active",
                version=1,
                created_at=checkin_at(holiday, 0),
                updated_at=checkin_at(holiday, 0),
            )
        )
    await advance_to(env, checkin_at(day, 9, 1))
    opening = await digests_at(sessions, checkin_at(day, 9), 3)
    assert sorted(opening) == ["chw-ana", "chw-ben", "mgr-1"]
    assert (opening["mgr-1"]["unassigned"], opening["mgr-1"]["unassigned_ids"]) == (1, [queued_id])
    assert "unassigned" not in opening["chw-ana"]


async def test_a_case_a_lead_assigned_to_the_absent_chw_moves_and_returns(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    """rules.md §2.5 Absences: "A case a lead had assigned *to* the absent CHW moves at the start
    like any other and returns at the end"."""
    monday = next_weekday_at(await now_of(env), 0, 8)
    await advance_to(env, monday)
    inp = interaction_input(team(), monday, channel="call", assignee_id="chw-ben")
    handle = await start(client, inp, task_queue)
    await eventually(lambda: state_of(handle))
    st = await handle.execute_update(assign_update, AssignInput(assignee_id="chw-ana", actor_id="lead-1"))
    assert (st.assignee_id, st.assignment_source) == ("chw-ana", "lead:lead-1")

    absence_id, absence = await start_absence(
        client, task_queue, starts_at=at(monday, 9), ends_at=at(monday, 14), backup_id="lead-1"
    )
    await advance_to(env, at(monday, 9, 1))
    moved = await eventually(lambda: _assignee_is(handle, "lead-1"))
    assert moved.assignment_source == f"absence:{absence_id}"
    assert moved.due_at == at(monday, 17)

    await advance_to(env, at(monday, 14, 1))
    back = await eventually(lambda: _assignee_is(handle, "chw-ana"))
    assert back.due_at == at(monday, 17)
    await absence.result()


async def _assignee_is(handle: WorkflowHandle[Any, Any], staff_id: str) -> InteractionState | None:
    st = await state_of(handle)
    return st if st.assignee_id == staff_id else None
