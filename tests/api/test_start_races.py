"""Two saves of a team at once: the signal-with-start that loses the race ("already started")
hands its calendar to the running CheckinWorkflow instead of failing the save."""

from __future__ import annotations

from typing import Any

from temporalio.exceptions import WorkflowAlreadyStartedError

from config.settings import Settings
from domain.models import TeamConfig
from services.checkins import refresh_checkins
from tests.conftest import CHICAGO_TEAM


class Handle:
    def __init__(self) -> None:
        self.signals: list[tuple[str, Any]] = []

    async def signal(self, signal: Any, arg: Any, **_: Any) -> None:
        self.signals.append((getattr(signal, "__name__", str(signal)), arg))


class LostRace:
    def __init__(self) -> None:
        self.handle = Handle()
        self.handles: list[str] = []

    async def start_workflow(self, *args: Any, id: str, **kwargs: Any) -> None:
        raise WorkflowAlreadyStartedError(id, "CheckinWorkflow")

    def get_workflow_handle(self, workflow_id: str) -> Handle:
        self.handles.append(workflow_id)
        return self.handle


async def test_a_save_that_loses_the_start_race_signals_the_running_checkins() -> None:
    client = LostRace()
    cfg = TeamConfig.model_validate(CHICAGO_TEAM)
    await refresh_checkins(client, Settings(), "eastside", cfg)  # type: ignore[arg-type]
    assert client.handles == ["checkin:eastside"]
    [(name, calendar)] = client.handle.signals
    assert name == "calendar_changed"
    assert calendar.timezone == "America/Chicago"
