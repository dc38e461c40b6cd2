"""A fired timer's instant has passed, whatever time the activation carries.

The SDK's core can run a workflow past a fired timer with the previous workflow task's time: a
query reaching a run the worker no longer caches, whose history ends with the fired timer and its
workflow task not started yet (bench/incidents/2026-12-06-p3-5000-early-timer). The case then
found its deadline not reached, armed it again, and on replay (with the real time) went overdue
in that task instead: every later task failed and the lead was never told. These tests hand a
case exactly that activation and check it keeps its promise, and that its history replays.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy.orm import Session, sessionmaker
from temporalio.api.enums.v1 import EventType
from temporalio.bridge.proto.workflow_activation import WorkflowActivation
from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import (
    Replayer,
    WorkflowInstance,
    WorkflowInstanceDetails,
    WorkflowRunner,
)

import workers.main
from activities.notifications import DeliveryChannel
from tests.conftest import advance_to, now_of
from tests.workflows.support import (
    eventually,
    interaction_input,
    next_weekday_at,
    overdue_row,
    start,
    state_of,
    team,
    timeline,
)
from workflows.registry import ALL_WORKFLOWS

INCIDENT = "bench/incidents/2026-12-06-p3-5000-early-timer/h-02202.json"


class _StaleOnFirstTimer(WorkflowInstance):
    """The instance, except that the first activation firing a timer carries the time of the
    activation before it (what the core hands over in the incident)."""

    def __init__(self, inner: WorkflowInstance, seen: list[tuple[float, float]]) -> None:
        self._inner = inner
        self._seen = seen
        self._previous: Timestamp | None = None

    def activate(self, act: WorkflowActivation) -> WorkflowActivationCompletion:
        fires = any(job.HasField("fire_timer") for job in act.jobs)
        if fires and self._previous is not None and not self._seen:
            self._seen.append((act.timestamp.ToMicroseconds() / 1e6, self._previous.ToMicroseconds() / 1e6))
            act.timestamp.CopyFrom(self._previous)
        self._previous = Timestamp()
        self._previous.CopyFrom(act.timestamp)
        return self._inner.activate(act)

    def get_serialization_context(self, command_info: Any) -> Any:
        return self._inner.get_serialization_context(command_info)

    def get_external_store_context(self, command_info: Any) -> Any:
        return self._inner.get_external_store_context(command_info)

    def get_info(self) -> Any:
        return self._inner.get_info()

    def get_thread_id(self) -> int | None:
        return self._inner.get_thread_id()


@dataclass
class _StaleRunner(WorkflowRunner):
    """The worker's own runner, whose instances of ``workflow`` get one stale activation."""

    inner: WorkflowRunner
    workflow: str
    seen: list[tuple[float, float]] = field(default_factory=list)

    def prepare_workflow(self, defn: Any) -> None:
        self.inner.prepare_workflow(defn)

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        instance = self.inner.create_instance(det)
        return _StaleOnFirstTimer(instance, self.seen) if det.defn.name == self.workflow else instance

    def set_worker_level_failure_exception_types(self, types: Any) -> None:
        self.inner.set_worker_level_failure_exception_types(types)


@pytest.fixture
def stale_runners(monkeypatch: pytest.MonkeyPatch) -> list[_StaleRunner]:
    """``build_worker`` gets the worker's own runner, wrapped; the runners it built."""
    made: list[_StaleRunner] = []
    real = workers.main.workflow_runner

    def wrapped(sandbox: bool, converter: Any) -> WorkflowRunner:
        made.append(_StaleRunner(real(sandbox, converter), "InteractionWorkflow"))
        return made[-1]

    monkeypatch.setattr(workers.main, "workflow_runner", wrapped)
    return made


async def test_a_deadline_whose_timer_fires_with_a_stale_time_goes_overdue_at_its_instant(
    env: WorkflowEnvironment,
    client: Client,
    sessions: sessionmaker[Session],
    task_queue: str,
    channel: DeliveryChannel,
    stale_runners: list[_StaleRunner],
) -> None:
    monday_10 = next_weekday_at(await now_of(env), 0, 10)
    await advance_to(env, monday_10)
    worker = workers.main.build_worker(client, task_queue=task_queue, sessions=sessions, channel=channel)
    async with worker:
        # One timer, the deadline (no due-soon reminder before it).
        inp = interaction_input(team(due_soon_minutes=0), monday_10, channel="call")
        handle = await start(client, inp, task_queue)
        st = await eventually(lambda: state_of(handle))
        await advance_to(env, st.due_at + timedelta(minutes=1))

        row = await eventually(lambda: overdue_row(sessions, inp.interaction_id))
        assert row is not None and row.triggers == ["deadline_missed"]
        history = await handle.fetch_history()

    seen = [s for r in stale_runners for s in r.seen]
    assert len(seen) == 1, "the deadline's activation was not handed a stale time"
    real, stale = seen[0]
    assert stale < st.due_at.timestamp() <= real  # the activation said: not due yet
    [event] = timeline(sessions, inp.interaction_id, "overdue")
    assert event.at == st.due_at  # the timer's instant, not the stale time nor a re-armed deadline
    timers = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED]
    assert len(timers) == 1, "the deadline was armed again"
    # What the worker did live is what a replay with the real time does.
    result = await Replayer(workflows=ALL_WORKFLOWS, data_converter=pydantic_data_converter).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert result.replay_failure is None, result.replay_failure


async def test_a_history_ending_at_the_fired_timer_runs_the_case_with_the_earlier_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """How the incident's task came about: the case's history up to the fired timer and its
    waiting workflow task (event 19, no task started) runs the workflow past the timer with the
    previous task's time, which the loop notices and says; with the task started (event 20) the
    time is right. Should the SDK stop doing this, the first half fails: then the incident's
    reading and this test are to be revisited, not the loop's clock removed."""
    events = json.loads((Path(__file__).parents[2] / INCIDENT).read_text())["events"]
    assert events[18]["eventType"] == "EVENT_TYPE_WORKFLOW_TASK_SCHEDULED"  # event 19
    said: dict[int, bool] = {}
    for cut in (19, 20):
        caplog.clear()
        history = WorkflowHistory.from_json("h-02202", {"events": events[:cut]})
        with caplog.at_level(logging.WARNING):
            result = await Replayer(
                workflows=ALL_WORKFLOWS, data_converter=pydantic_data_converter
            ).replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, result.replay_failure
        said[cut] = any("timer fired before the workflow's time" in r.getMessage() for r in caplog.records)
    assert said == {19: True, 20: False}
