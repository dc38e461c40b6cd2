"""Absences on the time-skipping server (docs/rules.md §2.5): cases move to the backup at the start, new
ones route around the absent CHW, and the moved ones come back at the end, deadlines untouched."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.ids import absence_workflow_id
from domain.messages import (
    AbsenceCancelInput,
    AbsenceChangeInput,
    AbsenceInput,
    AbsenceState,
    AssignInput,
    InteractionInput,
    InteractionState,
)
from services.routing import route_new
from store import repositories as repo
from store.db import unit_of_work
from store.models import Absence, Member, Staff, TimelineEvent
from tests.conftest import advance_to, now_of
from tests.workflows.support import (
    assign_update,
    at,
    eventually,
    interaction_input,
    next_weekday_at,
    notices,
    now_value,
    start,
    state_of,
    steady,
    team,
)
from workflows.absence import AbsenceWorkflow

TOLERANCE = timedelta(seconds=5)
Handle = WorkflowHandle[Any, Any]


async def start_absence(
    client: Client,
    task_queue: str,
    *,
    starts_at: datetime,
    ends_at: datetime,
    backup_id: str | None = "chw-ben",
    staff_id: str = "chw-ana",
    history_limit: int = 2000,
) -> tuple[str, Handle]:
    absence_id = uuid.uuid4().hex
    handle = await client.start_workflow(
        AbsenceWorkflow.run,
        AbsenceInput(
            absence_id=absence_id,
            team_id="eastside",
            staff_id=staff_id,
            backup_id=backup_id,
            starts_at=starts_at,
            ends_at=ends_at,
            history_limit=history_limit,
        ),
        id=absence_workflow_id(absence_id),
        task_queue=task_queue,
    )
    return absence_id, handle


async def open_cases(
    client: Client, task_queue: str, received_at: datetime, n: int
) -> list[tuple[InteractionInput, Handle]]:
    """``n`` calls for chw-ana received before opening: each is due Monday 17:00."""
    cases = []
    for _ in range(n):
        inp = interaction_input(team(), received_at, channel="call", assignee_id="chw-ana")
        handle = await start(client, inp, task_queue)
        await eventually(lambda h=handle: state_of(h))  # type: ignore[misc]
        cases.append((inp, handle))
    return cases


async def assignees(handles: list[Handle]) -> list[str | None]:
    return [(await state_of(h)).assignee_id for h in handles]


async def until_assignees(handles: list[Handle], expected: list[str | None]) -> list[InteractionState]:
    """Wait until the cases sit with ``expected`` (real time: fan-out and signals run in real time)."""

    async def check() -> list[InteractionState] | None:
        states = [await state_of(h) for h in handles]
        return states if [s.assignee_id for s in states] == expected else None

    return await eventually(check)


def coverage_moves(sessions: sessionmaker[Session], interaction_id: str) -> list[TimelineEvent]:
    with sessions() as s:
        return [
            e
            for e in s.scalars(
                select(TimelineEvent)
                .where(TimelineEvent.interaction_id == interaction_id, TimelineEvent.kind == "assigned")
                .order_by(TimelineEvent.id)
            )
            if "coverage" in e.details
        ]


async def moves_recorded(sessions: sessionmaker[Session], interaction_id: str, n: int) -> list[TimelineEvent]:
    """The coverage moves once ``n`` are in the timeline (the projection lags the state by an activity)."""
    return await eventually(
        lambda: now_value(m if len(m := coverage_moves(sessions, interaction_id)) == n else [])
    )


def absence_row(sessions: sessionmaker[Session], absence_id: str) -> Absence | None:
    with sessions() as s:
        return s.get(Absence, absence_id)


async def status_becomes(sessions: sessionmaker[Session], absence_id: str, status: str) -> Absence:
    async def check() -> Absence | None:
        row = absence_row(sessions, absence_id)
        return row if row is not None and row.status == status else None

    return await eventually(check)


def add_member(sessions: sessionmaker[Session], member_id: str, owner_id: str) -> None:
    with unit_of_work(sessions) as s:
        s.add(Member(team_id="eastside", id=member_id, owner_id=owner_id))


async def case_for_member(
    client: Client, sessions: sessionmaker[Session], task_queue: str, member_id: str, received_at: datetime
) -> Handle:
    """Start a case the way the API does: routed by ``route_new`` against the SQL read model."""
    with sessions() as s:
        assignee, source = route_new(s, "eastside", member_id)
    inp = interaction_input(team(), received_at, channel="call", assignee_id=assignee).model_copy(
        update={"assignment_source": source}
    )
    handle = await start(client, inp, task_queue)
    await eventually(lambda: state_of(handle))
    return handle


# ---------------------------------------------------------------- the whole absence
async def test_absence_moves_open_cases_at_start_routes_new_ones_and_hands_back_at_end(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    monday = next_weekday_at(await now_of(env), 0, 8)
    await advance_to(env, monday)
    add_member(sessions, "mem-ana", "chw-ana")
    cases = await open_cases(client, task_queue, monday, 3)
    handles = [h for _, h in cases]
    due_before = [(await state_of(h)).due_at for h in handles]
    assert due_before == [at(monday, 17)] * 3

    absence_id, absence = await start_absence(
        client, task_queue, starts_at=at(monday, 9), ends_at=at(monday, 14)
    )
    await status_becomes(sessions, absence_id, "scheduled")

    # Not before 09:00.
    await advance_to(env, at(monday, 8, 59))
    assert await assignees(handles) == ["chw-ana"] * 3
    assert (absence_row(sessions, absence_id) or Absence()).status == "scheduled"
    with sessions() as s:
        assert route_new(s, "eastside", "mem-ana") == ("chw-ana", "owner")

    # At 09:00 all three move to the backup, deadlines untouched.
    await advance_to(env, at(monday, 9, 1))
    states = await until_assignees(handles, ["chw-ben"] * 3)
    assert [s.assignment_source for s in states] == [f"absence:{absence_id}"] * 3
    assert [s.due_at for s in states] == due_before
    started = await status_becomes(sessions, absence_id, "active")
    assert started.started_at is not None and abs(started.started_at - at(monday, 9)) < TOLERANCE
    for inp, _ in cases:
        (move,) = await moves_recorded(sessions, inp.interaction_id, 1)
        assert move.details["from"] == "chw-ana" and move.details["to"] == "chw-ben"
        assert at(monday, 9) <= move.at <= at(monday, 9, 1) + TOLERANCE
        assigned = await eventually(lambda i=inp: now_value(notices(sessions, i.interaction_id, "assigned")))  # type: ignore[misc]
        assert "chw-ben" in [n.recipient_id for n in assigned]

    # A case of Ana's member received during the absence goes straight to the backup.
    await advance_to(env, at(monday, 10))
    newcomer = await case_for_member(client, sessions, task_queue, "mem-ana", at(monday, 10))
    new_state = await state_of(newcomer)
    assert (new_state.assignee_id, new_state.assignment_source) == ("chw-ben", f"absence:{absence_id}")
    new_due = new_state.due_at

    # A lead takes the first case over: it is no longer the absence's to hand back.
    await advance_to(env, at(monday, 10, 5))
    await handles[0].execute_update(assign_update, AssignInput(assignee_id="lead-1", actor_id="lead-1"))

    # At 14:00 the two still-open moved cases and the newcomer return to Ana; the lead's stays.
    await advance_to(env, at(monday, 13, 59))
    assert await assignees([*handles, newcomer]) == ["lead-1", "chw-ben", "chw-ben", "chw-ben"]
    await advance_to(env, at(monday, 14, 1))
    states = await until_assignees([*handles, newcomer], ["lead-1", "chw-ana", "chw-ana", "chw-ana"])
    assert [s.assignment_source for s in states] == ["lead:lead-1", "owner", "owner", "owner"]
    assert [s.due_at for s in states] == [*due_before, new_due]
    ended = await status_becomes(sessions, absence_id, "ended")
    assert ended.ended_at is not None and abs(ended.ended_at - at(monday, 14)) < TOLERANCE
    for inp, _ in cases[1:]:
        back = (await moves_recorded(sessions, inp.interaction_id, 2))[-1]
        assert (back.details["from"], back.details["to"], back.details["coverage"]) == (
            "chw-ben",
            "chw-ana",
            "end",
        )
        await eventually(
            lambda i=inp: now_value(  # type: ignore[misc]
                [n for n in notices(sessions, i.interaction_id, "assigned") if n.recipient_id == "chw-ana"]
            )
        )
    assert [e.details["coverage"] for e in coverage_moves(sessions, cases[0][0].interaction_id)] == ["start"]
    final: AbsenceState = await absence.result()
    assert final.status == "ended"
    with sessions() as s:
        assert route_new(s, "eastside", "mem-ana") == ("chw-ana", "owner")


async def test_cancel_while_active_hands_back_at_once(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    monday = next_weekday_at(await now_of(env), 0, 8)
    await advance_to(env, monday)
    cases = await open_cases(client, task_queue, monday, 2)
    handles = [h for _, h in cases]
    absence_id, absence = await start_absence(
        client, task_queue, starts_at=at(monday, 9), ends_at=at(monday, 17, plus_days=4)
    )
    await advance_to(env, at(monday, 9, 1))
    await until_assignees(handles, ["chw-ben"] * 2)

    await advance_to(env, at(monday, 11, 17))
    result: AbsenceState = await absence.execute_update(
        AbsenceWorkflow.cancel, AbsenceCancelInput(actor_id="lead-1")
    )
    assert result.status == "cancelled"
    # Back before the clock moves on: the hand-back ran inside the cancel.
    states = await until_assignees(handles, ["chw-ana"] * 2)
    assert all(s.due_at == at(monday, 17) for s in states)
    row = await status_becomes(sessions, absence_id, "cancelled")
    assert row.ended_at is not None and abs(row.ended_at - at(monday, 11, 17)) < TOLERANCE
    assert (await absence.result()).status == "cancelled"


async def test_cancel_before_start_moves_nothing(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    monday = next_weekday_at(await now_of(env), 0, 8)
    await advance_to(env, monday)
    cases = await open_cases(client, task_queue, monday, 1)
    absence_id, absence = await start_absence(
        client, task_queue, starts_at=at(monday, 9), ends_at=at(monday, 12)
    )
    await status_becomes(sessions, absence_id, "scheduled")
    await absence.execute_update(AbsenceWorkflow.cancel, AbsenceCancelInput(actor_id="chw-ana"))
    assert (await absence.result()).status == "cancelled"
    await advance_to(env, at(monday, 9, 30))
    assert await assignees([cases[0][1]]) == ["chw-ana"]
    assert coverage_moves(sessions, cases[0][0].interaction_id) == []


async def test_absence_without_backup_fills_the_unassigned_queue_and_notifies_every_lead(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    with unit_of_work(sessions) as s:
        s.add(Staff(id="lead-2", team_id="eastside", name="lead-2", role="lead"))
    add_member(sessions, "mem-ana", "chw-ana")
    monday = next_weekday_at(await now_of(env), 0, 8)
    await advance_to(env, monday)
    cases = await open_cases(client, task_queue, monday, 2)
    handles = [h for _, h in cases]
    absence_id, _ = await start_absence(
        client, task_queue, starts_at=at(monday, 9), ends_at=at(monday, 15), backup_id=None
    )
    await advance_to(env, at(monday, 9, 1))
    states = await until_assignees(handles, [None, None])
    assert [s.assignment_source for s in states] == [f"absence:{absence_id}"] * 2
    for inp, _ in cases:
        landed = await eventually(
            lambda i=inp: now_value(
                r if len(r := notices(sessions, i.interaction_id, "unassigned")) == 2 else []
            )  # type: ignore[misc]
        )
        assert sorted(n.recipient_id for n in landed) == ["lead-1", "lead-2"]

    async def queue() -> list[str]:
        with sessions() as s:
            rows, _ = repo.list_interactions(
                s,
                repo.InteractionFilter(team_id="eastside", assignee_id=repo.UNASSIGNED),
                cursor=None,
                limit=50,
            )
            return sorted(r.id for r in rows)

    assert await eventually(queue) == sorted(inp.interaction_id for inp, _ in cases)
    # A newcomer of Ana's member lands in the queue too, and leads hear of it.
    await advance_to(env, at(monday, 10))
    newcomer = await case_for_member(client, sessions, task_queue, "mem-ana", at(monday, 10))
    newcomer_state = await state_of(newcomer)
    assert newcomer_state.assignee_id is None
    await eventually(lambda: now_value(notices(sessions, newcomer_state.interaction_id, "unassigned")))
    heard = await steady(
        lambda: now_value(
            sorted(n.recipient_id for n in notices(sessions, newcomer_state.interaction_id, "unassigned"))
        )
    )
    assert heard == ["lead-1", "lead-2"]

    await advance_to(env, at(monday, 15, 1))
    await until_assignees([*handles, newcomer], ["chw-ana"] * 3)


async def test_extend_then_shorten_moves_the_hand_back(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    monday = next_weekday_at(await now_of(env), 0, 8)
    await advance_to(env, monday)
    handles = [h for _, h in await open_cases(client, task_queue, monday, 1)]
    absence_id, absence = await start_absence(
        client, task_queue, starts_at=at(monday, 9), ends_at=at(monday, 12)
    )
    await status_becomes(sessions, absence_id, "scheduled")
    await absence.execute_update(
        AbsenceWorkflow.change_end, AbsenceChangeInput(ends_at=at(monday, 12, plus_days=1))
    )
    await advance_to(env, at(monday, 12, 1))
    await until_assignees(handles, ["chw-ben"])  # extended: still covered after the old end

    await advance_to(env, at(monday, 13, 7))
    state = await absence.execute_update(
        AbsenceWorkflow.change_end, AbsenceChangeInput(ends_at=at(monday, 15))
    )
    assert state.ends_at == at(monday, 15) and state.status == "active"
    await advance_to(env, at(monday, 14, 59))
    assert await assignees(handles) == ["chw-ben"]
    await advance_to(env, at(monday, 15, 1))
    await until_assignees(handles, ["chw-ana"])
    with sessions() as s:
        kinds = [e.kind for e in repo.absence_timeline(s, absence_id)]
    assert kinds[:2] == ["absence_scheduled", "absence_extended"]
    assert "absence_shortened" in kinds and kinds[-1] == "handed_back"


@pytest.mark.parametrize(
    ("case", "error_type", "message"),
    [
        ("before_start", "Invalid", "after starts_at"),
        ("in_the_past", "Invalid", "already passed"),
    ],
)
async def test_invalid_changes_are_rejected(
    env: WorkflowEnvironment,
    client: Client,
    worker: Worker,
    sessions: sessionmaker[Session],
    task_queue: str,
    case: str,
    error_type: str,
    message: str,
) -> None:
    monday = next_weekday_at(await now_of(env), 0, 8)
    await advance_to(env, monday)
    absence_id, absence = await start_absence(
        client, task_queue, starts_at=at(monday, 9), ends_at=at(monday, 12)
    )
    await status_becomes(sessions, absence_id, "scheduled")
    ends_at = at(monday, 8, 30)
    if case == "in_the_past":
        await advance_to(env, at(monday, 10, 3))
        await status_becomes(sessions, absence_id, "active")
        ends_at = at(monday, 9, 30)
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await absence.execute_update(AbsenceWorkflow.change_end, AbsenceChangeInput(ends_at=ends_at))
    cause = info.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == error_type and message in cause.message
    assert (await absence.query(AbsenceWorkflow.state)).ends_at == at(monday, 12)  # unchanged


async def test_long_absence_continues_as_new_and_keeps_its_state(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    monday = next_weekday_at(await now_of(env), 0, 8)
    await advance_to(env, monday)
    handles = [h for _, h in await open_cases(client, task_queue, monday, 1)]
    absence_id, absence = await start_absence(
        client, task_queue, starts_at=at(monday, 9), ends_at=at(monday, 10), history_limit=12
    )
    first_run = (await absence.describe()).run_id
    for minutes in (11, 12, 13):  # each change adds history: the workflow continues as new
        await absence.execute_update(
            AbsenceWorkflow.change_end, AbsenceChangeInput(ends_at=at(monday, minutes))
        )
    state: AbsenceState = await absence.query(AbsenceWorkflow.state)
    assert state.ends_at == at(monday, 13) and state.version >= 4
    history = await client.get_workflow_handle(absence.id, run_id=first_run).fetch_history()
    assert history.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    assert len(history.events) < 40

    await advance_to(env, at(monday, 9, 1))
    await until_assignees(handles, ["chw-ben"])
    await advance_to(env, at(monday, 13, 1))
    await until_assignees(handles, ["chw-ana"])
    assert (await status_becomes(sessions, absence_id, "ended")).ends_at == at(monday, 13)


async def test_repeated_coverage_signals_change_nothing(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    from domain.messages import CoverageInput

    inp, handle = (await open_cases(client, task_queue, await now_of(env), 1))[0]
    start_signal = CoverageInput(
        absence_id="a1", action="start", absent_staff_id="chw-ana", backup_id="chw-ben"
    )
    for _ in range(2):
        await handle.signal("coverage", start_signal)
    await until_assignees([handle], ["chw-ben"])
    # Another absence's hand-back does not touch a case this one moved.
    await handle.signal("coverage", start_signal.model_copy(update={"absence_id": "a2", "action": "end"}))
    await handle.signal("coverage", start_signal.model_copy(update={"action": "end"}))
    await handle.signal("coverage", start_signal.model_copy(update={"action": "end"}))
    await until_assignees([handle], ["chw-ana"])
    moves = await moves_recorded(sessions, inp.interaction_id, 2)
    assert [(m.details["absence_id"], m.details["coverage"]) for m in moves] == [
        ("a1", "start"),
        ("a1", "end"),
    ]
    assert (await state_of(handle)).version == 3  # created, moved, handed back
