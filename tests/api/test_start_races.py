"""Saves of a team at once: the signal-with-start that loses the race ("already started")
hands its calendar to the running CheckinWorkflow instead of failing the save.

On the real time-skipping server. Concurrent signal-with-starts there all succeed (``USE_EXISTING``),
so the lost race itself is staged: a client that lets the real server start the workflow for the
first save, then answers "already started" to the second, as a server does to the loser; what the
running workflow received is read from its real history."""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import WorkflowAlreadyStartedError

from config.settings import Settings
from domain.ids import checkin_workflow_id
from domain.models import CalendarSnapshot, TeamConfig
from services.checkins import refresh_checkins
from tests.conftest import CHICAGO_TEAM

SAVES = 8


def config(n: int) -> TeamConfig:
    """The standard team, its weekday hours ending at a different minute per save."""
    hours = {d: [["09:00", f"16:{n:02d}"]] for d in ("mon", "tue", "wed", "thu", "fri")}
    calendar = {**CHICAGO_TEAM["calendar"], "hours": hours}
    return TeamConfig.model_validate({**CHICAGO_TEAM, "calendar": calendar})


async def signalled_calendars(client: Client, workflow_id: str) -> list[CalendarSnapshot]:
    got: list[CalendarSnapshot] = []
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        if event.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            continue
        attrs = event.workflow_execution_signaled_event_attributes
        assert attrs.signal_name == "calendar_changed"
        [snapshot] = await client.data_converter.decode(attrs.input.payloads, [CalendarSnapshot])
        got.append(snapshot)
    return got


def closing_hours(snapshot: CalendarSnapshot) -> Any:
    return str(snapshot.model_dump(mode="json")["hours"]["mon"])


async def test_saves_that_lose_the_start_race_signal_the_running_checkins(
    client: Client, task_queue: str
) -> None:
    settings = Settings(task_queue=task_queue)
    # Every save succeeds, the ones that lost the start included.
    await asyncio.gather(*(refresh_checkins(client, settings, "eastside", config(n)) for n in range(SAVES)))
    # One run, and every save's calendar reached it: the winner's as its start signal, each
    # loser's as a calendar_changed signal of its own.
    calendars = await signalled_calendars(client, checkin_workflow_id("eastside"))
    expected = [closing_hours(config(n).calendar.snapshot(2025, 2027)) for n in range(SAVES)]
    assert sorted(map(closing_hours, calendars)) == sorted(expected)
    assert {c.timezone for c in calendars} == {"America/Chicago"}


class LosesTheRace:
    """The real client, except that its start of ``workflow_id`` finds the workflow already started
    (the other save won): it starts nothing and raises as the server does."""

    def __init__(self, client: Client) -> None:
        self._client = client

    async def start_workflow(self, *args: Any, id: str, **kwargs: Any) -> None:
        assert (await self._client.get_workflow_handle(id).describe()).status is not None
        raise WorkflowAlreadyStartedError(id, "CheckinWorkflow")

    def get_workflow_handle(self, workflow_id: str) -> WorkflowHandle[Any, Any]:
        return self._client.get_workflow_handle(workflow_id)


async def test_a_save_that_loses_the_start_race_hands_its_calendar_to_the_running_run(
    client: Client, task_queue: str
) -> None:
    settings = Settings(task_queue=task_queue)
    await refresh_checkins(client, settings, "eastside", config(0))  # the winner
    await refresh_checkins(LosesTheRace(client), settings, "eastside", config(1))  # type: ignore[arg-type]
    calendars = await signalled_calendars(client, checkin_workflow_id("eastside"))
    expected = [closing_hours(config(n).calendar.snapshot(2025, 2027)) for n in (0, 1)]
    assert list(map(closing_hours, calendars)) == expected
