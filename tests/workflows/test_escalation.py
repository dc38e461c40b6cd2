"""The escalation ladder of docs/rules.md §2.4 on the time-skipping server."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.notifications import LogChannel
from domain.messages import (
    AcknowledgeInput,
    AttemptInput,
    EscalationResolveInput,
    EscalationState,
    ResolveInput,
)
from domain.models import TeamConfig
from store.db import unit_of_work
from store.models import Escalation, Notification, Team
from store.repositories import upsert_team
from tests.conftest import CHICAGO_TEAM, advance_to, now_of
from tests.workflows.support import (
    at,
    eventually,
    interaction_input,
    next_weekday_at,
    notices,
    now_value,
    resolve_update,
    resolved_by_lead,
    settled_history_length,
    start,
    state_of,
    steady,
    team,
)
from workers.main import build_worker
from workflows.escalation import KEEP_NOTICES, EscalationWorkflow
from workflows.interaction import InteractionWorkflow

TOLERANCE = timedelta(seconds=5)


def escalation_notices(sessions: sessionmaker[Session], interaction_id: str) -> list[Notification]:
    return notices(sessions, interaction_id, "escalation")


def ladder(sessions: sessionmaker[Session], interaction_id: str) -> list[tuple[str, int, str]]:
    """(recipient, level, reason) of every escalation notice so far."""
    return [
        (n.recipient_id, n.payload["level"], n.payload["reason"])
        for n in escalation_notices(sessions, interaction_id)
    ]


async def ladder_of_length(
    sessions: sessionmaker[Session], interaction_id: str, n: int
) -> list[tuple[str, int, str]]:
    """The ladder once it has ``n`` rungs and has stopped growing: exactly ``n``, nothing more."""
    await eventually(lambda: now_value(len(escalation_notices(sessions, interaction_id)) >= n))
    got = await steady(lambda: now_value(ladder(sessions, interaction_id)), quiet=0.3)
    assert len(got) == n, f"expected {n} escalation notices, got {got}"
    return got


async def escalation_handle(client: Client, sessions: sessionmaker[Session], interaction_id: str) -> Any:
    def find() -> Escalation | None:
        with sessions() as s:
            return s.scalars(select(Escalation).where(Escalation.interaction_id == interaction_id)).first()

    row = await eventually(lambda: now_value(find()))
    return row, client.get_workflow_handle(row.workflow_id)


async def esc_state(handle: WorkflowHandle[Any, Any]) -> EscalationState:
    result: EscalationState = await handle.query(EscalationWorkflow.state)
    return result


async def test_safety_at_night_climbs_to_the_manager_and_repeats_until_acknowledged(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    saturday = next_weekday_at(await now_of(env), 5, 2)  # Saturday 02:00: closed, wall clock runs
    await advance_to(env, saturday)
    inp = interaction_input(team(), saturday, channel="voicemail", flags=["safety"])
    await start(client, inp, task_queue)

    await ladder_of_length(sessions, inp.interaction_id, 1)
    assert ladder(sessions, inp.interaction_id) == [("lead-1", 1, "level")]
    row, handle = await escalation_handle(client, sessions, inp.interaction_id)
    assert row.clock == "wall" and row.trigger == "safety"

    await advance_to(env, at(saturday, 2, 14))
    assert ladder(sessions, inp.interaction_id) == [("lead-1", 1, "level")]
    await advance_to(env, at(saturday, 2, 16))
    assert await ladder_of_length(sessions, inp.interaction_id, 2) == [
        ("lead-1", 1, "level"),
        ("mgr-1", 2, "level"),
    ]
    st = await esc_state(handle)
    assert st.level == 2 and abs(st.level_notified_at - at(saturday, 2, 15)) < TOLERANCE

    # No cap: the manager hears again every 15 minutes, through the night.
    for k in range(1, 6):
        await advance_to(env, at(saturday, 2, 16) + timedelta(minutes=15 * k))
        await ladder_of_length(sessions, inp.interaction_id, 2 + k)
    assert ladder(sessions, inp.interaction_id)[2:] == [("mgr-1", 2, "repeat")] * 5
    st = await esc_state(handle)
    repeats = [n.at for n in st.notified if n.reason == "repeat"]
    assert [round((b - a).total_seconds() / 60) for a, b in itertools.pairwise(repeats)] == [15] * 4
    assert abs(repeats[0] - at(saturday, 2, 30)) < TOLERANCE

    # Acknowledging stops the ladder.
    st = await handle.execute_update(
        EscalationWorkflow.acknowledge,
        AcknowledgeInput(escalation_id=row.id, actor_id="mgr-1", actor_role="manager"),
    )
    assert st.status == "acknowledged" and st.acknowledged_by == "mgr-1"
    count = len(escalation_notices(sessions, inp.interaction_id))
    await advance_to(env, at(saturday, 5, 50))  # well past more repeats, before the resolve deadline
    assert len(escalation_notices(sessions, inp.interaction_id)) == count
    interaction = client.get_workflow_handle(inp_wid(inp))
    parent = await eventually(lambda: _status_is(interaction, "acknowledged"))
    assert parent.status == "escalated"


async def test_business_clock_escalation_waits_overnight(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    monday = next_weekday_at(await now_of(env), 0, 16, 30)  # 30 open minutes left today
    await advance_to(env, monday)
    inp = interaction_input(team(), monday, channel="call", flags=["outside_role"])
    await start(client, inp, task_queue)
    await ladder_of_length(sessions, inp.interaction_id, 1)
    row, handle = await escalation_handle(client, sessions, inp.interaction_id)
    assert row.clock == "business"

    await advance_to(env, at(monday, 8, 59, plus_days=1))  # the whole night: only 30 minutes counted
    assert ladder(sessions, inp.interaction_id) == [("lead-1", 1, "level")]
    assert (await esc_state(handle)).level == 1
    await advance_to(env, at(monday, 9, 31, plus_days=1))  # 30 + 30 = 60 business minutes
    await ladder_of_length(sessions, inp.interaction_id, 2)
    assert ladder(sessions, inp.interaction_id) == [("lead-1", 1, "level"), ("mgr-1", 2, "level")]
    st = await esc_state(handle)
    assert abs(st.level_notified_at - at(monday, 9, 30, plus_days=1)) < TOLERANCE


async def test_resolve_needs_documentation_and_a_rejection_leaves_no_trace(
    dev_env: WorkflowEnvironment, sessions: sessionmaker[Session], task_queue: str
) -> None:
    """On the dev server: rejected updates ride on speculative workflow tasks and leave no event."""
    client = dev_env.client
    async with build_worker(client, task_queue=task_queue, sessions=sessions, channel=LogChannel()):
        inp = interaction_input(team(), datetime.now(UTC), channel="text", flags=["complaint"])
        parent = await start(client, inp, task_queue)
        row, handle = await escalation_handle(client, sessions, inp.interaction_id)
        await ladder_of_length(sessions, inp.interaction_id, 1)
        before = await settled_history_length(handle)
        parent_before = await settled_history_length(parent)

        undocumented = EscalationResolveInput(
            escalation_id=row.id, actor_id="lead-1", actor_role="lead", action_taken_given=True
        )
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await handle.execute_update(EscalationWorkflow.resolve, undocumented)
        assert "requires documentation" in str(err.value.cause)
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await handle.execute_update(
                EscalationWorkflow.acknowledge,
                AcknowledgeInput(escalation_id=row.id, actor_id="chw-ana", actor_role="chw"),
            )
        assert "only a lead" in str(err.value.cause)
        # The interaction cannot be resolved while its escalation is open.
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await parent.execute_update(resolve_update, ResolveInput(actor_id="chw-ana"))
        assert row.id in str(err.value.cause) and "complaint" in str(err.value.cause)
        assert len((await handle.fetch_history()).events) == before
        assert len((await parent.fetch_history()).events) == parent_before
        assert (await esc_state(handle)).status == "open"

        documented = resolved_by_lead(row.id)
        st = await handle.execute_update(EscalationWorkflow.resolve, documented)
        assert st.status == "resolved" and st.acknowledged_by == "lead-1"
        assert (await handle.result())["status"] == "resolved"
        # The parent heard of it before the update returned: resolving the interaction works now.
        done = await parent.execute_update(resolve_update, ResolveInput(actor_id="chw-ana"))
        assert done.status == "resolved"


async def test_resolve_overdue_notifies_the_next_level(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    saturday = next_weekday_at(await now_of(env), 5, 10)
    await advance_to(env, saturday)
    inp = interaction_input(team(), saturday, channel="call", flags=["safety"])
    await start(client, inp, task_queue)
    row, handle = await escalation_handle(client, sessions, inp.interaction_id)
    await ladder_of_length(sessions, inp.interaction_id, 1)
    await advance_to(env, at(saturday, 10, 5))
    await handle.execute_update(
        EscalationWorkflow.acknowledge,
        AcknowledgeInput(escalation_id=row.id, actor_id="lead-1", actor_role="lead"),
    )
    # safety: resolve within 240 wall minutes of acknowledgement (10:05 → 14:05).
    await advance_to(env, at(saturday, 14, 4))
    assert ladder(sessions, inp.interaction_id) == [("lead-1", 1, "level")]
    await advance_to(env, at(saturday, 14, 6))
    assert await ladder_of_length(sessions, inp.interaction_id, 2) == [
        ("lead-1", 1, "level"),
        ("mgr-1", 2, "resolve_overdue"),
    ]
    await advance_to(env, at(saturday, 20))  # once, not again
    assert len(escalation_notices(sessions, inp.interaction_id)) == 2


async def test_deadline_missed_and_unreachable_start_escalations(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    monday = next_weekday_at(await now_of(env), 0, 10)
    await advance_to(env, monday)
    inp = interaction_input(team(), monday, channel="call")
    handle = await start(client, inp, task_queue)
    await advance_to(env, at(monday, 17, 1))  # the same-day deadline passes
    row, esc = await escalation_handle(client, sessions, inp.interaction_id)
    assert row.trigger == "deadline_missed"
    assert esc.id == f"escalation:eastside:{inp.external_id}:deadline_missed"

    st = await handle.execute_update(
        InteractionWorkflow.record_attempt,
        AttemptInput(attempt_id="a1", outcome="wrong_number", staff_id="chw-ana"),
    )
    assert "unreachable" in st.triggers
    st = await eventually(lambda: _open_triggers(handle, {"deadline_missed", "unreachable"}))
    assert {e.trigger for e in st.escalations} == {"deadline_missed", "unreachable"}
    with sessions() as s:
        rows = s.scalars(select(Escalation).where(Escalation.interaction_id == inp.interaction_id)).all()
        assert sorted(r.trigger for r in rows) == ["deadline_missed", "unreachable"]


async def test_changing_the_matrix_does_not_touch_a_running_escalation(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    saturday = next_weekday_at(await now_of(env), 5, 2)
    await advance_to(env, saturday)
    first = interaction_input(team(), saturday, channel="call", flags=["safety"])
    await start(client, first, task_queue)
    row, _ = await escalation_handle(client, sessions, first.interaction_id)
    assert row.matrix_version == 1

    # The team now gives leads 60 minutes to acknowledge safety concerns (version 2).
    changed = {
        **CHICAGO_TEAM,
        "escalation_matrix": {
            "safety": {
                "levels": [
                    {"role": "lead", "ack_within_minutes": 60},
                    {"role": "manager", "ack_within_minutes": 60},
                ],
                "resolve_within_minutes": 240,
            }
        },
    }
    with unit_of_work(sessions) as s:  # as PUT /v1/teams stores it
        cfg = TeamConfig.model_validate(changed)
        assert upsert_team(s, "eastside", cfg.name, cfg.model_dump(mode="json")).version == 2
    with sessions() as s:
        stored = s.get(Team, "eastside")
        assert stored is not None and stored.version == 2
    second = interaction_input(team(), saturday, channel="call", flags=["safety"])
    await start(client, second, task_queue)
    row2, _ = await escalation_handle(client, sessions, second.interaction_id)
    assert row2.matrix_version == 2 and row2.rule["levels"][0]["ack_within_minutes"] == 60

    await advance_to(env, at(saturday, 2, 16))
    climbed = [("lead-1", 1, "level"), ("mgr-1", 2, "level")]
    # The running one kept 15 minutes; the new one (60 minutes) has not climbed.
    assert await ladder_of_length(sessions, first.interaction_id, 2) == climbed
    assert await ladder_of_length(sessions, second.interaction_id, 1) == climbed[:1]
    await advance_to(env, at(saturday, 3, 1))
    assert await ladder_of_length(sessions, second.interaction_id, 2) == climbed


def inp_wid(inp: Any) -> str:
    return f"interaction:{inp.team_id}:{inp.external_id}"


async def _status_is(handle: WorkflowHandle[Any, Any], status: str) -> Any:
    st = await state_of(handle)
    return st if any(e.status == status for e in st.escalations) else None


async def _open_triggers(handle: WorkflowHandle[Any, Any], triggers: set[str]) -> Any:
    st = await state_of(handle)
    return st if {e.trigger for e in st.escalations} == triggers else None


async def test_a_long_ladder_continues_as_new_and_keeps_its_promises(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    """With a small history limit both workflows continue-as-new; notices, ack and the parent go on."""
    saturday = next_weekday_at(await now_of(env), 5, 2)
    await advance_to(env, saturday)
    inp = interaction_input(team(), saturday, channel="call", flags=["safety"]).model_copy(
        update={"history_limit": 60}
    )
    parent = await start(client, inp, task_queue)
    row, handle = await escalation_handle(client, sessions, inp.interaction_id)
    await ladder_of_length(sessions, inp.interaction_id, 1)
    first_run = (await handle.describe()).run_id
    for k in range(10):  # level 2 at 02:15, then a repeat every 15 minutes
        await advance_to(env, at(saturday, 2, 16) + timedelta(minutes=15 * k))
        await ladder_of_length(sessions, inp.interaction_id, 2 + k)
    assert ladder(sessions, inp.interaction_id)[2:] == [("mgr-1", 2, "repeat")] * 9
    assert (await handle.describe()).run_id != first_run  # continued as new on the way
    st = await esc_state(handle)
    # Every notice counted; the state keeps the latest (bounded), the read model all of them.
    assert st.notice_count == 11 and len(st.notified) == KEEP_NOTICES and st.level == 2

    await handle.execute_update(
        EscalationWorkflow.acknowledge,
        AcknowledgeInput(escalation_id=row.id, actor_id="mgr-1", actor_role="manager"),
    )
    assert (await eventually(lambda: _status_is(parent, "acknowledged"))).status == "escalated"
    history = await client.get_workflow_handle(handle.id, run_id=first_run).fetch_history()
    assert history.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    assert len(history.events) < 60 + 40  # the limit, plus at most the step in flight


async def test_an_escalation_outlives_a_terminated_interaction(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    """Ops terminate a case from the UI: its escalation can still be acknowledged and closed."""
    inp = interaction_input(team(), await now_of(env), channel="call", flags=["sensitive"])
    parent = await start(client, inp, task_queue)
    row, handle = await escalation_handle(client, sessions, inp.interaction_id)
    await ladder_of_length(sessions, inp.interaction_id, 1)
    await parent.terminate("opened by mistake")
    st = await handle.execute_update(
        EscalationWorkflow.acknowledge,
        AcknowledgeInput(escalation_id=row.id, actor_id="lead-1", actor_role="lead"),
    )
    assert st.status == "acknowledged"
    documented = resolved_by_lead(row.id)
    assert (await handle.execute_update(EscalationWorkflow.resolve, documented)).status == "resolved"
    assert (await handle.result())["status"] == "resolved"
