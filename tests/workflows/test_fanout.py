"""The coverage fan-out activity: batches, closed workflows, and resuming from a heartbeat."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import ActivityEnvironment

from activities.absences import AbsenceActivities
from domain.messages import CoverageInput, FanoutInput, FanoutResult
from store.db import unit_of_work
from tests.workflows.support import add_interaction_row


class FakeClient:
    """Records signals; workflows in ``closed`` answer NOT_FOUND like a resolved (closed) one."""

    def __init__(self, closed: set[str] | None = None) -> None:
        self.signals: list[tuple[str, str, Any]] = []
        self.closed = closed or set()

    def get_workflow_handle(self, workflow_id: str) -> Any:
        client = self

        class Handle:
            async def signal(self, name: str, arg: Any) -> None:
                if workflow_id in client.closed:
                    raise RPCError("workflow execution already completed", RPCStatusCode.NOT_FOUND, b"")
                client.signals.append((workflow_id, name, arg))

        return Handle()


@pytest.fixture
def cases(sessions: sessionmaker[Session]) -> list[str]:
    """250 open cases of chw-ana, 5 of chw-ben, 3 of Ana's resolved: ids in workflow-id order."""
    due = datetime.now(UTC) + timedelta(hours=4)
    with unit_of_work(sessions) as s:
        ana = [
            add_interaction_row(s, assignee_id="chw-ana", due_at=due, external_id=f"c{i:03}")
            for i in range(250)
        ]
        for i in range(5):
            add_interaction_row(s, assignee_id="chw-ben", due_at=due, external_id=f"b{i}")
        for i in range(3):
            add_interaction_row(s, assignee_id="chw-ana", due_at=due, external_id=f"r{i}", status="resolved")
        ids = sorted(r.workflow_id for r in ana)
    return ids


START = CoverageInput(absence_id="abs-1", action="start", absent_staff_id="chw-ana", backup_id="chw-ben")


async def test_fan_out_signals_every_open_case_of_the_absent_chw_in_batches(
    sessions: sessionmaker[Session], cases: list[str]
) -> None:
    client = FakeClient(closed={cases[7]})
    heartbeats: list[tuple[Any, ...]] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: heartbeats.append(details)
    acts = AbsenceActivities(sessions, client)  # type: ignore[arg-type]
    result: FanoutResult = await env.run(
        acts.fan_out_coverage, FanoutInput(team_id="eastside", coverage=START, batch_size=100)
    )
    assert result == FanoutResult(signalled=249, closed=1)
    assert sorted(wid for wid, _, _ in client.signals) == [c for c in cases if c != cases[7]]
    assert {(name, arg.backup_id) for _, name, arg in client.signals} == {("coverage", "chw-ben")}
    # One heartbeat per batch of 100: the last workflow id and the running totals.
    assert heartbeats == [(cases[99], 99, 1), (cases[199], 199, 1), (cases[249], 249, 1)]


async def test_retried_fan_out_resumes_after_the_last_heartbeat(
    sessions: sessionmaker[Session], cases: list[str]
) -> None:
    client = FakeClient()
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, heartbeat_details=[cases[199], 200, 0])
    acts = AbsenceActivities(sessions, client)  # type: ignore[arg-type]
    result = await env.run(
        acts.fan_out_coverage, FanoutInput(team_id="eastside", coverage=START, batch_size=100)
    )
    assert [wid for wid, _, _ in client.signals] == cases[200:]
    assert result == FanoutResult(signalled=250, closed=0)


async def test_a_failed_signal_fails_the_attempt_for_a_retry(
    sessions: sessionmaker[Session], cases: list[str]
) -> None:
    class Flaky(FakeClient):
        def get_workflow_handle(self, workflow_id: str) -> Any:
            if workflow_id == cases[150]:

                class Down:
                    async def signal(self, name: str, arg: Any) -> None:
                        raise RPCError("unavailable", RPCStatusCode.UNAVAILABLE, b"")

                return Down()
            return super().get_workflow_handle(workflow_id)

    heartbeats: list[tuple[Any, ...]] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: heartbeats.append(details)
    acts = AbsenceActivities(sessions, Flaky())  # type: ignore[arg-type]
    with pytest.raises(RPCError):
        await env.run(acts.fan_out_coverage, FanoutInput(team_id="eastside", coverage=START, batch_size=100))
    assert heartbeats == [(cases[99], 100, 0)]  # the retry starts at the second batch
