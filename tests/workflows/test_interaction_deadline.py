"""InteractionWorkflow keeps the deadline promise on the time-skipping server."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import activities.escalations
from config.settings import Settings
from domain.ids import interaction_workflow_id
from domain.models import TeamConfig
from services.interactions import start_workflow
from store.db import unit_of_work
from store.models import Escalation, Interaction, TimelineEvent
from store.repositories import upsert_team
from tests.conftest import CHICAGO_TEAM, advance_to, now_of
from tests.workflows.support import (
    CHICAGO,
    eventually,
    interaction_input,
    next_weekday_at,
    overdue_row,
    start,
    state_of,
    team,
)


async def test_call_becomes_overdue_at_due_at_and_not_before(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    monday_10 = next_weekday_at(await now_of(env), 0, 10)
    await advance_to(env, monday_10)
    inp = interaction_input(team(), monday_10, channel="call")
    handle = await start(client, inp, task_queue)

    st = await eventually(lambda: state_of(handle))
    assert st.due_at == monday_10.replace(hour=17)  # same business day

    await advance_to(env, st.due_at - timedelta(minutes=1))
    st = await state_of(handle)
    assert not st.overdue and st.status == "open"

    await advance_to(env, st.due_at + timedelta(minutes=1))

    row = await eventually(lambda: overdue_row(sessions, inp.interaction_id))
    assert row.status == "escalated" and row.triggers == ["deadline_missed"]
    with sessions() as s:
        event = s.scalar(
            select(TimelineEvent).where(
                TimelineEvent.interaction_id == inp.interaction_id, TimelineEvent.kind == "overdue"
            )
        )
    assert event is not None
    # Fired at the deadline (timer resolution is milliseconds), not a minute before or after.
    assert abs(event.at - st.due_at) < timedelta(seconds=1)
    assert event.at.astimezone(CHICAGO).hour == 17


async def test_duplicate_start_returns_the_same_workflow(
    env: WorkflowEnvironment, client: Client, worker: Worker, task_queue: str
) -> None:
    """The service's start (services.interactions.start_workflow), not the test helper's: a
    repeat finds the running workflow and neither fails nor starts (or restarts) a run."""
    received = await now_of(env)
    inp = interaction_input(team(), received, channel="text")
    row = Interaction(
        id=inp.interaction_id,
        workflow_id=interaction_workflow_id(inp.team_id, inp.external_id),
        team_id=inp.team_id,
        external_id=inp.external_id,
        member_id=inp.member_id,
        channel=inp.channel,
        status="open",
        assignee_id=inp.assignee_id,
        received_at=received,
        due_at=received + timedelta(hours=1),
    )
    settings = Settings(task_queue=task_queue)
    await start_workflow(client, settings, inp, row)
    handle = client.get_workflow_handle(row.workflow_id)
    first_run = (await handle.describe()).run_id
    await eventually(lambda: state_of(handle))  # the run is under way
    await start_workflow(client, settings, inp, row)
    desc = await handle.describe()
    assert desc.run_id == first_run and desc.status == WorkflowExecutionStatus.RUNNING
    # The first run was not ended by the repeat either (no list on the time-skipping server).
    assert (await client.get_workflow_handle(row.workflow_id, run_id=first_run).describe()).status == (
        WorkflowExecutionStatus.RUNNING
    )


async def test_an_overdue_case_reads_its_escalation_rule_within_its_own_workflow_task(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    """At 17:00 every open case goes overdue at once; each reads the rule in force for its
    deadline_missed escalation by a local activity (no round trip through the server per case),
    and still gets the team's current matrix, changed after the case began."""
    monday_10 = next_weekday_at(await now_of(env), 0, 10)
    await advance_to(env, monday_10)
    inp = interaction_input(team(), monday_10, channel="call")
    handle = await start(client, inp, task_queue)
    st = await eventually(lambda: state_of(handle))
    changed = {
        **CHICAGO_TEAM,
        "escalation_matrix": {
            "deadline_missed": {
                "levels": [{"role": "manager", "ack_within_minutes": 45}],
                "resolve_within_minutes": 240,
            },
        },
    }
    with unit_of_work(sessions) as s:  # as PUT /v1/teams stores it
        cfg = TeamConfig.model_validate(changed)
        assert upsert_team(s, "eastside", cfg.name, cfg.model_dump(mode="json")).version == 2

    await advance_to(env, st.due_at + timedelta(minutes=1))

    async def escalation_row() -> Escalation | None:
        with sessions() as s:
            return s.scalar(select(Escalation).where(Escalation.interaction_id == inp.interaction_id))

    row = await eventually(escalation_row)
    assert row.trigger == "deadline_missed" and row.matrix_version == 2
    assert row.rule["levels"] == [{"role": "manager", "staff_id": None, "ack_within_minutes": 45}]
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        async for e in handle.fetch_history_events()
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert "escalation_rule" not in scheduled, scheduled


class _RuleUnreadable:
    """A team configuration that cannot be read back: the overdue case's rule read fails for good
    (as it does when the read waits out its 2 minutes behind a 17:00 herd)."""

    @staticmethod
    def model_validate(_: object) -> None:
        raise ApplicationError("the team's matrix could not be read", non_retryable=True)


async def test_an_overdue_case_whose_rule_read_fails_escalates_on_its_snapshot_and_lives_on(
    env: WorkflowEnvironment,
    client: Client,
    worker: Worker,
    sessions: sessionmaker[Session],
    task_queue: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The case's promise outlives the rule read: when it fails, the case escalates with the rule
    it started with (its input's matrix) instead of its workflow failing with nobody told."""
    monkeypatch.setattr(activities.escalations, "TeamConfig", _RuleUnreadable)
    monday_10 = next_weekday_at(await now_of(env), 0, 10)
    await advance_to(env, monday_10)
    inp = interaction_input(team(), monday_10, channel="call")
    handle = await start(client, inp, task_queue)
    st = await eventually(lambda: state_of(handle))
    await advance_to(env, st.due_at + timedelta(minutes=1))

    async def escalation_row() -> Escalation | None:
        with sessions() as s:
            return s.scalar(select(Escalation).where(Escalation.interaction_id == inp.interaction_id))

    row = await eventually(escalation_row)
    assert row.trigger == "deadline_missed" and row.matrix_version == inp.matrix_version
    assert row.rule == inp.escalation_matrix["deadline_missed"].model_dump(mode="json")
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
