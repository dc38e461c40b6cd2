"""Retry reminders held for the member's contact window and the daily cap (docs/rules.md §2.7),
on the time-skipping server: the reminder fires at the window's start, the timer says why."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.messages import InteractionInput, InteractionState, MemberContact
from domain.models import TeamConfig
from services.members import MemberProfile, attempt_marks, put_profile
from store.models import Attempt, Member
from tests.conftest import CHICAGO_TEAM, advance_to, now_of
from tests.workflows.support import (
    attempt,
    eventually,
    history_text,
    interaction_input,
    next_weekday_at,
    notices,
    now_value,
    start,
    timeline,
)
from workflows.common import PATCHES_AT_START_PATCH
from workflows.interaction_contact import CONTACT_WINDOW_PATCH

NEW_YORK = ZoneInfo("America/New_York")
CHICAGO = ZoneInfo("America/Chicago")
TOLERANCE = timedelta(seconds=5)
# Open 07:00-21:00 every day in Chicago: an hour behind the member in New York.
LATE_TEAM = TeamConfig.model_validate(
    {
        **CHICAGO_TEAM,
        "calendar": {
            **CHICAGO_TEAM["calendar"],
            "hours": {d: [["07:00", "21:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
            "holiday_country": None,
        },
    }
)
NY_WINDOW = MemberContact(zone="America/New_York", window_start=8 * 60, window_end=21 * 60, text_refused=True)


async def timer_summaries(client: Client, handle: WorkflowHandle[Any, Any]) -> list[str]:
    converter = client.data_converter.payload_converter
    return [
        converter.from_payload(e.user_metadata.summary, str)
        async for e in handle.fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED and e.user_metadata.HasField("summary")
    ]


def local(day: datetime, hour: int, minute: int = 0, *, tz: ZoneInfo, plus_days: int = 0) -> datetime:
    d = day.astimezone(tz).date() + timedelta(days=plus_days)
    return datetime(d.year, d.month, d.day, hour, minute, tzinfo=tz)


async def test_no_answer_at_half_past_seven_member_local_is_reminded_at_the_window_start(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    tuesday = next_weekday_at(await now_of(env), 1, 18)  # 18:00 Chicago = 19:00 New York
    await advance_to(env, tuesday)
    inp = interaction_input(LATE_TEAM, tuesday, channel="call")
    handle = await start(client, inp, task_queue)

    await advance_to(env, local(tuesday, 19, 30, tz=NEW_YORK))
    st = await attempt(handle, "no_answer", NY_WINDOW)
    # Two business hours later is 21:30 in New York (20:30 for the team, still open): too late
    # for the member. The reminder waits for 08:00 New York, 07:00 for the team.
    opens = local(tuesday, 8, tz=NEW_YORK, plus_days=1)
    assert st.next_retry_at == opens
    assert st.retry_held_by == "contact_window"

    async def retry_timers() -> list[str]:
        return [t for t in await timer_summaries(client, handle) if t.startswith("retry reminder")]

    summaries = await eventually(retry_timers)
    assert "waiting for the member's window, opens 08:00 America/New_York" in summaries[-1], summaries
    [scheduled] = timeline(sessions, inp.interaction_id, "retry_scheduled")
    assert scheduled.details["held_by"] == "contact_window"
    assert scheduled.details["window_opens"] == "08:00"
    unheld = datetime.fromisoformat(scheduled.details["unheld_retry_at"])
    assert abs(unheld - local(tuesday, 21, 30, tz=NEW_YORK)) < TOLERANCE

    await advance_to(env, local(tuesday, 21, 45, tz=NEW_YORK))
    assert timeline(sessions, inp.interaction_id, "retry_reminder") == []
    await advance_to(env, opens + timedelta(minutes=1))
    reminders = await eventually(lambda: now_value(timeline(sessions, inp.interaction_id, "retry_reminder")))
    assert abs(reminders[0].at - opens) < TOLERANCE
    # The member refused texts: the reminder asks for a call only.
    [notice] = await eventually(lambda: now_value(notices(sessions, inp.interaction_id, "retry_due")))
    assert notice.payload["channels"] == ["call"]
    # A new run takes the held retry under patches-at-start, asked once when the run began.
    text = await history_text(handle)
    assert PATCHES_AT_START_PATCH in text and CONTACT_WINDOW_PATCH not in text


async def test_over_the_cap_waits_until_it_clears_and_marks_the_attempt(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    """rules.md §2.7: the cap counts the member's real attempts on all their cases (read back from
    SQL by ``services.members.attempt_marks``, as the API does before each attempt): the third
    of a day is under the cap of 3, the fourth over it, and the retry waits until the cap
    clears."""
    wednesday = next_weekday_at(await now_of(env), 2, 10)
    await advance_to(env, wednesday)
    with sessions.begin() as s:
        member = Member(team_id="eastside", id="mem-1")
        put_profile(s, member, MemberProfile(timezone="America/New_York"), LATE_TEAM.calendar.timezone)
        s.add(member)
    first, second = (interaction_input(LATE_TEAM, wednesday, channel="call") for _ in range(2))
    handles = {inp.interaction_id: await start(client, inp, task_queue) for inp in (first, second)}
    assert LATE_TEAM.max_attempts_per_day == 3

    async def marked_attempt(inp: InteractionInput, hour: int, minute: int = 0) -> InteractionState:
        """An attempt at ``hour:minute`` New York time with the marks the service computes from SQL."""
        await advance_to(env, local(wednesday, hour, minute, tz=NEW_YORK))
        with sessions() as s:
            marks = attempt_marks(s, LATE_TEAM, "eastside", "mem-1", await now_of(env))
        st = await attempt(
            handles[inp.interaction_id],
            "busy",
            marks.contact,
            outside_contact_window=marks.outside_contact_window,
            over_daily_cap=marks.over_daily_cap,
        )
        recorded = len(st.attempts)

        async def projected() -> bool:
            with sessions() as s:
                n = s.scalar(select(func.count()).where(Attempt.interaction_id == inp.interaction_id))
            return n == recorded

        await eventually(projected)
        return st

    # Three attempts over two cases: none over the cap, the third (two before it) included.
    clears = local(wednesday, 11, tz=NEW_YORK, plus_days=1)  # the first attempt 24 hours old
    for inp, hour in ((first, 11), (second, 12)):
        st = await marked_attempt(inp, hour)
        assert st.attempts[-1].over_daily_cap is False, (inp.interaction_id, hour)
        assert st.retry_held_by is None
    st = await marked_attempt(first, 13)
    assert st.attempts[-1].over_daily_cap is False
    # With the cap reached, this case's retry already waits for it to clear.
    assert st.retry_held_by == "daily_cap"
    assert st.next_retry_at is not None
    assert abs(st.next_retry_at - clears) < TOLERANCE
    # The fourth, on the second case, is over the cap. Four attempts in the day: another is
    # under the cap once two of them are 24 hours old, at 12:00 tomorrow. (14:30, not 14:00: at
    # 14:00 the second case's retry reminder fires, and on the time-skipping server an update
    # arriving at that very instant was sometimes never answered: 5 runs in 12 hung there.)
    st = await marked_attempt(second, 14, 30)
    assert st.attempts[-1].over_daily_cap is True and st.attempts[-1].outside_contact_window is False
    assert st.next_retry_at is not None
    assert abs(st.next_retry_at - (clears + timedelta(hours=1))) < TOLERANCE
    assert st.retry_held_by == "daily_cap"
    lines = timeline(sessions, second.interaction_id, "attempt")
    assert [line.details.get("over_daily_cap", False) for line in lines] == [False, True]
    assert "outside_contact_window" not in lines[-1].details
    with sessions() as s:
        marked = s.scalars(select(Attempt.over_daily_cap).order_by(Attempt.at)).all()
    assert marked == [False, False, False, True]


async def test_without_the_members_rules_the_retry_keeps_business_hours(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    tuesday = next_weekday_at(await now_of(env), 1, 18)
    await advance_to(env, tuesday)
    inp = interaction_input(LATE_TEAM, tuesday, channel="call")
    handle = await start(client, inp, task_queue)
    await advance_to(env, local(tuesday, 18, 30, tz=CHICAGO))
    st = await attempt(handle, "no_answer", None)
    assert st.next_retry_at is not None
    assert abs(st.next_retry_at - local(tuesday, 20, 30, tz=CHICAGO)) < TOLERANCE
    assert st.retry_held_by is None
    assert CONTACT_WINDOW_PATCH not in await history_text(handle)
