"""The TimerLoop contract is enforced by the base, not left to each workflow to remember."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from domain.messages import TimelineEntry
from workflows.checkin import CheckinWorkflow
from workflows.common import TimerLoop
from workflows.registry import ALL_WORKFLOWS


class Complete(TimerLoop[None]):
    recorded: list[list[TimelineEntry]]

    def __init__(self) -> None:
        self._init_loop(ready=True)
        self.recorded = []
        self.changed_when_recorded: bool | None = None

    def _wake(self) -> tuple[datetime, str] | None:
        return None

    async def _fire_due(self) -> None:
        return None

    def _carry_over(self) -> Any:
        return None

    async def _record(self, events: list[TimelineEntry], extra: None) -> None:
        self.changed_when_recorded = self._changed
        self.recorded.append(events)


async def test_commit_wakes_the_loop_before_recording() -> None:
    loop = Complete()
    await loop._commit([])
    assert loop.recorded == [[]] and loop.changed_when_recorded is True


def test_a_workflow_missing_a_hook_cannot_be_built() -> None:
    class NoRecord(TimerLoop[None]):
        def _wake(self) -> tuple[datetime, str] | None:
            return None

        async def _fire_due(self) -> None:
            return None

        def _carry_over(self) -> Any:
            return None

    with pytest.raises(TypeError, match="_record"):
        NoRecord()  # type: ignore[abstract]


def test_a_workflow_may_not_override_commit() -> None:
    with pytest.raises(TypeError, match="implement _record instead"):

        class OwnCommit(Complete):
            async def _commit(self, events: list[TimelineEntry], extra: None = None) -> None:  # type: ignore[misc]
                await self._record(events, extra)


def test_the_three_stateful_workflows_run_on_the_loop_and_checkins_do_not() -> None:
    assert [w.__name__ for w in ALL_WORKFLOWS if issubclass(w, TimerLoop)] == [
        "InteractionWorkflow",
        "EscalationWorkflow",
        "AbsenceWorkflow",
    ]
    assert not issubclass(CheckinWorkflow, TimerLoop)
