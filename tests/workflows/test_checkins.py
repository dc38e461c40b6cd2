"""Check-in digests on the time-skipping server (docs/rules.md §2.5): opening, midday and 90 minutes
before close on business days, none on a holiday, each with the right counts."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from typing import Any

import holidays
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.calendar import BusinessCalendar
from domain.ids import checkin_workflow_id
from domain.messages import CheckinInput, DigestInput, TeamCalendarInput
from domain.models import CalendarSnapshot
from store.db import unit_of_work
from store.models import Absence, Notification, Staff
from tests.conftest import advance_to, now_of
from tests.workflows.support import CHICAGO, add_interaction_row, eventually, team
from workflows.checkin import CheckinWorkflow


def at(d: date, hour: int, minute: int = 0) -> datetime:
    return datetime(d.year, d.month, d.day, hour, minute, tzinfo=CHICAGO)


def snapshot(around: date) -> CalendarSnapshot:
    return team().calendar.snapshot(around.year - 1, around.year + 2)


def holiday_then_business_day(now: datetime) -> tuple[date, date]:
    """The first US public holiday on a weekday at least a week ahead, and the business day after it."""
    cal = BusinessCalendar(snapshot(now.date()))
    start = now.astimezone(CHICAGO).date() + timedelta(days=7)
    table = holidays.country_holidays("US", years=range(start.year, start.year + 2))
    holiday = min(d for d in table if d >= start and d.weekday() < 5)
    return holiday, cal.next_business_day(holiday)


async def start_checkins(
    client: Client, task_queue: str, around: date, *, history_limit: int = 2000
) -> WorkflowHandle[Any, Any]:
    return await client.start_workflow(
        CheckinWorkflow.run,
        CheckinInput(team_id="eastside", calendar=snapshot(around), history_limit=history_limit),
        id=checkin_workflow_id("eastside"),
        task_queue=task_queue,
    )


def digests(sessions: sessionmaker[Session]) -> list[Notification]:
    with sessions() as s:
        return list(
            s.scalars(select(Notification).where(Notification.kind == "digest").order_by(Notification.id))
        )


async def digests_at(sessions: sessionmaker[Session], moment: datetime, n: int) -> dict[str, dict[str, Any]]:
    """The digests of one check-in by recipient, once ``n`` of them are written."""

    async def check() -> dict[str, dict[str, Any]] | None:
        found = {
            d.recipient_id: d.payload
            for d in digests(sessions)
            if datetime.fromisoformat(d.payload["at"]) == moment
        }
        return found if len(found) == n else None

    return await eventually(check)


def counts(details: dict[str, Any]) -> tuple[int, int, int, int]:
    return details["open"], details["due_today"], details["overdue"], details["retries_due"]


async def test_check_ins_at_opening_midday_and_before_close_with_the_right_counts_and_none_on_a_holiday(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    holiday, day = holiday_then_business_day(await now_of(env))
    await advance_to(env, at(holiday, 0, 5))
    handle = await start_checkins(client, task_queue, holiday)
    assert await eventually(lambda: handle.query(CheckinWorkflow.next_checkin_at)) == at(day, 9)

    with unit_of_work(sessions) as s:
        s.add(Staff(id="chw-cy", team_id="eastside", name="chw-cy", role="chw"))
        s.flush()
        # Ana: one overdue since yesterday, one due at noon, one answered with a retry due at
        # 11:00, one due tomorrow, and one resolved (never counted).
        add_interaction_row(s, assignee_id="chw-ana", due_at=at(day, 9) - timedelta(hours=16))
        add_interaction_row(s, assignee_id="chw-ana", due_at=at(day, 12))
        add_interaction_row(
            s,
            assignee_id="chw-ana",
            due_at=at(day, 17),
            first_response_at=at(day, 8),
            next_retry_at=at(day, 11),
            status="attempting",
        )
        add_interaction_row(s, assignee_id="chw-ana", due_at=at(day, 17) + timedelta(days=1))
        add_interaction_row(s, assignee_id="chw-ana", due_at=at(day, 12), status="resolved")
        add_interaction_row(s, assignee_id="chw-ben", due_at=at(day, 17))
        queued = add_interaction_row(s, assignee_id=None, due_at=at(day, 17))
        queued_id = queued.id
        # Cy is out of office all day: not on duty, no digest.
        s.add(
            Absence(
                id="abs-cy",
                workflow_id="absence:abs-cy",
                team_id="eastside",
                staff_id="chw-cy",
                starts_at=at(holiday, 0),
                ends_at=at(day, 23),
                status="active",
                version=1,
                created_at=at(holiday, 0),
                updated_at=at(holiday, 0),
            )
        )

    await advance_to(env, at(day, 8, 59))
    assert digests(sessions) == []  # nothing on the holiday, nothing before opening

    await advance_to(env, at(day, 9, 1))
    opening = await digests_at(sessions, at(day, 9), 3)
    assert sorted(opening) == ["chw-ana", "chw-ben", "lead-1"]  # on-duty CHWs and the lead
    assert counts(opening["chw-ana"]) == (4, 1, 1, 1)
    assert counts(opening["chw-ben"]) == (1, 1, 0, 0)
    assert (opening["lead-1"]["unassigned"], opening["lead-1"]["unassigned_ids"]) == (1, [queued_id])
    assert "unassigned" not in opening["chw-ana"] and opening["chw-ana"]["moment"] == "opening"

    await advance_to(env, at(day, 13, 1))
    midday = await digests_at(sessions, at(day, 13), 3)
    assert counts(midday["chw-ana"]) == (4, 0, 2, 1)  # the noon case is overdue now
    assert midday["chw-ana"]["moment"] == "midday"

    await advance_to(env, at(day, 15, 31))
    before_close = await digests_at(sessions, at(day, 15, 30), 3)
    assert counts(before_close["chw-ana"]) == (4, 0, 2, 1)
    assert before_close["lead-1"]["moment"] == "before_close" and before_close["lead-1"]["unassigned"] == 1

    await advance_to(env, at(day, 23))
    assert len(digests(sessions)) == 9  # three check-ins, three recipients, nothing twice
    with sessions() as s:
        keys = list(s.scalars(select(Notification.key).where(Notification.kind == "digest")))
    assert len(set(keys)) == 9 and all(k.startswith("checkin:eastside:") for k in keys)
    next_at = await handle.query(CheckinWorkflow.next_checkin_at)
    assert next_at is not None and next_at > at(day, 23)


async def test_a_new_calendar_moves_the_next_check_in(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    _, day = holiday_then_business_day(await now_of(env))
    day = BusinessCalendar(snapshot(day)).next_business_day(day)
    await advance_to(env, at(day, 6))
    handle = await start_checkins(client, task_queue, day)
    assert await eventually(lambda: handle.query(CheckinWorkflow.next_checkin_at)) == at(day, 9)
    later = snapshot(day).model_copy(
        update={"hours": {d: [("10:00", "18:00")] for d in ("mon", "tue", "wed", "thu", "fri")}}
    )
    await handle.signal(CheckinWorkflow.calendar_changed, later)

    async def moved() -> bool:
        return await handle.query(CheckinWorkflow.next_checkin_at) == at(day, 10)

    await eventually(moved)
    await advance_to(env, at(day, 10, 1))
    opening = await digests_at(sessions, at(day, 10), 3)
    assert sorted(opening) == ["chw-ana", "chw-ben", "lead-1"]
    assert not [d for d in digests(sessions) if datetime.fromisoformat(d.payload["at"]) == at(day, 9)]


async def test_checkins_continue_as_new_with_a_small_history_limit_without_gaps_or_repeats(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    _, day = holiday_then_business_day(await now_of(env))
    day = BusinessCalendar(snapshot(day)).next_business_day(day)
    nxt = BusinessCalendar(snapshot(day)).next_business_day(day)
    await advance_to(env, at(day, 6))
    handle = await start_checkins(client, task_queue, day, history_limit=20)
    first_run = (await handle.describe()).run_id
    expected = [at(day, 9), at(day, 13), at(day, 15, 30), at(nxt, 9), at(nxt, 13)]
    for moment in expected:
        await advance_to(env, moment + timedelta(minutes=1))
        await digests_at(sessions, moment, 3)
    sent = sorted(
        datetime.fromisoformat(d.payload["at"]) for d in digests(sessions) if d.recipient_id == "chw-ana"
    )
    assert sent == expected
    history = await client.get_workflow_handle(handle.id, run_id=first_run).fetch_history()
    assert history.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    assert (await handle.describe()).run_id != first_run


async def test_a_calendar_signalled_while_the_refresh_reads_sql_is_the_one_carried_over(
    env: WorkflowEnvironment, client: Client, task_queue: str
) -> None:
    """The API signals the new calendar before it commits it, so the refresh that precedes
    continue-as-new can read the old one from SQL after the signal arrived: the signal wins."""
    _, day = holiday_then_business_day(await now_of(env))
    stale = snapshot(day)
    later = stale.model_copy(
        update={"hours": {d: [("10:00", "18:00")] for d in ("mon", "tue", "wed", "thu", "fri")}}
    )
    reading, release = asyncio.Event(), asyncio.Event()

    @activity.defn(name="team_calendar")
    async def team_calendar(inp: TeamCalendarInput) -> CalendarSnapshot | None:
        if release.is_set():
            return later  # committed by now
        reading.set()
        await release.wait()
        return stale  # read before the API committed

    @activity.defn(name="send_digests")
    async def send_digests(inp: DigestInput) -> int:
        return 0

    await advance_to(env, at(day, 6))
    async with Worker(
        client, task_queue=task_queue, workflows=[CheckinWorkflow], activities=[team_calendar, send_digests]
    ):
        # A history limit of 1: the first run refreshes its calendar and continues as new at once.
        handle = await start_checkins(client, task_queue, day, history_limit=1)
        first_run = (await handle.describe()).run_id
        await asyncio.wait_for(reading.wait(), timeout=15)
        await handle.signal(CheckinWorkflow.calendar_changed, later)
        release.set()
        first = client.get_workflow_handle(handle.id, run_id=first_run)

        async def continued() -> CheckinInput | None:
            last = (await first.fetch_history()).events[-1]
            if last.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
                return None
            payloads = last.workflow_execution_continued_as_new_event_attributes.input.payloads
            carried: CheckinInput = pydantic_data_converter.payload_converter.from_payloads(
                payloads, [CheckinInput]
            )[0]
            return carried

        carried = await eventually(continued)
        await handle.terminate("test over")  # every later run continues as new at once too
    assert carried.calendar == later
