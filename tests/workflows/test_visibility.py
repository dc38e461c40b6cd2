"""What ops see in the Temporal UI: search attributes, list queries and summaries (docs/architecture.md §3).

On the real dev server (the time-skipping server has no advanced visibility), in real time.
Each test uses a team id of its own, so its queries list exactly its own workflows even though
the session's dev server is shared with other tests.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.notifications import LogChannel
from config.settings import Settings
from domain.messages import (
    AssignInput,
    AttemptInput,
    FlagInput,
    InteractionState,
    ResolveInput,
)
from services.access import Principal
from services.context import Context, TemporalLink
from services.db import Database
from services.interactions import Interactions, require_interaction
from services.public import InteractionCreate
from store.db import unit_of_work
from store.models import Member
from store.repositories import upsert_team
from tests.conftest import CHICAGO_TEAM
from tests.workflows.support import assign_update, eventually, resolve_update, resolved_by_lead, state_of
from workers.main import build_worker
from workflows.escalation import EscalationWorkflow
from workflows.interaction import InteractionWorkflow
from workflows.search_attributes import FT_DUE_AT, FT_TRIGGERS

SYSTEM = Principal(role="system")

# "due-soon reminder, Mon 16 Nov 16:00 America/Chicago", "same-day deadline, Mon 16 Nov 17:00 …"
TIMER = re.compile(r"(due-soon reminder|same-day deadline), \w{3} \d{2} \w{3} \d{2}:\d{2} America/Chicago")


def new_team(sessions: sessionmaker[Session]) -> str:
    """A team of its own (members owned by ``chw-ana``, who works for ``eastside``)."""
    team_id = f"vis-{uuid.uuid4().hex[:10]}"
    with unit_of_work(sessions) as s:
        upsert_team(s, team_id, "Visibility", CHICAGO_TEAM)
        s.add(Member(team_id=team_id, id="mem-1", owner_id="chw-ana"))
    return team_id


async def create(
    client: Client, sessions: sessionmaker[Session], settings: Settings, team_id: str, **body: Any
) -> tuple[str, WorkflowHandle[InteractionWorkflow, InteractionState]]:
    """Start an interaction the way ``POST /v1/interactions`` does (initial search attributes, summaries)."""
    inp = InteractionCreate.model_validate(
        {
            "team_id": team_id,
            "external_id": f"call-{uuid.uuid4().hex[:8]}",
            "member_id": "mem-1",
            "channel": "call",
            "received_at": datetime.now(UTC),
            **body,
        }
    )
    db = Database(sessions, threads=4)
    started = await Interactions(Context(db, settings, TemporalLink.of(client))).create(SYSTEM, inp)
    assert started.status == 201
    row = await db.run(require_interaction, started.value.id)
    return row.workflow_id, client.get_workflow_handle_for(InteractionWorkflow.run, row.workflow_id)


async def listed(client: Client, query: str) -> list[str]:
    return sorted([wf.id async for wf in client.list_workflows(query)])


async def lists(client: Client, query: str, expected: list[str]) -> None:
    """Visibility is eventually consistent: poll until ``query`` lists exactly ``expected``."""
    seen: list[list[str]] = []

    async def matches() -> bool:
        seen.append(await listed(client, query))
        return seen[-1] == sorted(expected)

    try:
        await eventually(matches)
    except AssertionError:
        raise AssertionError(f"{query!r} lists {seen[-1]}, expected {sorted(expected)}") from None
    assert (await client.count_workflows(query)).count == len(expected)


def rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def due_around(at: datetime) -> str:
    second = timedelta(seconds=1)
    return f"FtDueAt BETWEEN '{rfc3339(at - second)}' AND '{rfc3339(at + second)}'"


async def test_queries_on_search_attributes_follow_every_state_change(
    dev_env: WorkflowEnvironment, sessions: sessionmaker[Session], settings: Settings, task_queue: str
) -> None:
    client = dev_env.client
    team_id = new_team(sessions)
    team = f"FtTeam = '{team_id}'"
    async with build_worker(client, task_queue=task_queue, sessions=sessions, channel=LogChannel()):
        wid, handle = await create(client, sessions, settings, team_id)
        st: InteractionState = await eventually(lambda: state_of(handle))

        # created: open, with the member's owner
        await lists(client, team, [wid])
        await lists(client, f"{team} AND FtStatus = 'open' AND FtAssignee = 'chw-ana'", [wid])
        await lists(client, f"{team} AND FtChannel = 'call' AND ExecutionStatus = 'Running'", [wid])
        # FtDueAt by range (the dev server's SQLite visibility matches no Datetime equality)
        await lists(client, f"{team} AND {due_around(st.due_at)}", [wid])
        await lists(client, f"{team} AND FtDueAt < '{rfc3339(st.due_at - timedelta(seconds=1))}'", [])
        await lists(client, f"{team} AND FtStatus = 'attempting'", [])

        # a contact attempt: attempting
        await handle.execute_update(
            InteractionWorkflow.record_attempt,
            AttemptInput(attempt_id="a-1", outcome="no_answer", staff_id="chw-ana"),
        )
        await lists(client, f"{team} AND FtStatus = 'attempting'", [wid])
        await lists(client, f"{team} AND FtStatus = 'open'", [])

        # a lead reassigns: the assignee changes, the deadline does not
        await handle.execute_update(assign_update, AssignInput(assignee_id="chw-ben", actor_id="lead-1"))
        await lists(client, f"{team} AND FtAssignee = 'chw-ben'", [wid])
        await lists(client, f"{team} AND FtAssignee = 'chw-ana'", [])
        await lists(client, f"{team} AND {due_around(st.due_at)}", [wid])

        # a complaint: escalated, and the escalation child runs beside it
        st = await handle.execute_update(
            InteractionWorkflow.flag, FlagInput(flag="complaint", flag_id="f-1", staff_id="chw-ben")
        )
        (esc,) = st.escalations
        await lists(client, f"{team} AND FtStatus = 'escalated' AND FtTriggers = 'complaint'", [wid])
        await lists(client, f"{team} AND FtTriggers IN ('safety', 'complaint')", [wid])
        await lists(client, f"{team} AND FtTriggers = 'safety'", [])
        # Only interactions carry Ft* attributes: a team query lists no escalation. Ops find an
        # interaction's escalations by parent, or by the id prefix of docs/architecture.md §3.
        await lists(client, f"ParentWorkflowId = '{wid}'", [esc.workflow_id])
        await lists(
            client,
            f"WorkflowType = 'EscalationWorkflow' AND WorkflowId STARTS_WITH 'escalation:{team_id}:'",
            [esc.workflow_id],
        )
        await lists(client, team, [wid])
        assert esc.workflow_id.startswith(f"escalation:{team_id}:") and esc.workflow_id.endswith(":complaint")

        # the lead resolves the escalation with documentation: the case is attempting again
        await client.get_workflow_handle(esc.workflow_id).execute_update(
            EscalationWorkflow.resolve,
            resolved_by_lead(esc.escalation_id),
        )
        done = f"ParentWorkflowId = '{wid}' AND ExecutionStatus = 'Completed'"
        await lists(client, done, [esc.workflow_id])
        await lists(client, f"{team} AND FtStatus = 'attempting' AND FtTriggers = 'complaint'", [wid])
        await lists(client, f"{team} AND FtStatus = 'escalated'", [])

        # resolved: closed, still found by team
        await handle.execute_update(resolve_update, ResolveInput(actor_id="chw-ben"))
        await handle.result()
        await lists(client, f"{team} AND FtStatus = 'resolved' AND ExecutionStatus = 'Completed'", [wid])
        await lists(client, f"{team} AND ExecutionStatus = 'Running'", [])
        await lists(client, team, [wid])

    attrs = (await handle.describe()).typed_search_attributes
    assert attrs.get(FT_TRIGGERS) == ["complaint"]
    assert attrs.get(FT_DUE_AT) == st.due_at


async def test_interactions_and_escalations_carry_readable_summaries(
    dev_env: WorkflowEnvironment, sessions: sessionmaker[Session], settings: Settings, task_queue: str
) -> None:
    client = dev_env.client
    team_id = new_team(sessions)
    async with build_worker(client, task_queue=task_queue, sessions=sessions, channel=LogChannel()):
        wid, handle = await create(
            client, sessions, settings, team_id, flags=["safety"], summary="MEMBER-TEXT never in Temporal"
        )
        st = await eventually(lambda: _with_escalation(handle))
        assert st is not None
        (esc,) = st.escalations
        await lists(client, f"ParentWorkflowId = '{wid}'", [esc.workflow_id])  # the child has started
        desc = await handle.describe()
        external_id = wid.rsplit(":", 1)[1]
        assert await desc.static_summary() == f"call {external_id} for team {team_id}"
        details = await desc.static_details()
        assert details is not None
        assert f"Interaction {st.interaction_id}: call received" in details
        due_local = st.due_at.astimezone(ZoneInfo("America/Chicago"))
        assert (
            f"due {due_local:%a %d %b %Y %H:%M} (America/Chicago)" in details
            and "assignee chw-ana" in details
        )

        esc_desc = await client.get_workflow_handle(esc.workflow_id).describe()
        assert await esc_desc.static_summary() == f"safety escalation of {wid}"
        esc_details = await esc_desc.static_details()
        assert esc_details is not None
        assert esc_details.startswith(f"Escalation {esc.escalation_id}: 2 level(s), wall clock")

        # Timers and activities read well in the event history too (the first timer starts once
        # the workflow has recorded the escalation: wait for it).
        timers = await eventually(lambda: _summaries(client, handle, EventType.EVENT_TYPE_TIMER_STARTED))
        assert all(TIMER.fullmatch(t) for t in timers), timers
        activities = await _summaries(client, handle, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
        # The projection runs as a local activity (patch perf-lean-history): its summary is on its marker.
        activities += await _summaries(client, handle, EventType.EVENT_TYPE_MARKER_RECORDED)
        assert "record created (v1)" in activities and "read the safety escalation rule" in activities
        esc_timers = await eventually(
            lambda: _summaries(
                client, client.get_workflow_handle(esc.workflow_id), EventType.EVENT_TYPE_TIMER_STARTED
            )
        )
        assert esc_timers[0].startswith("safety: escalate to level 2 unless acknowledged, "), esc_timers
        for text in [details, esc_details, *timers, *activities]:
            assert "MEMBER-TEXT" not in text


async def _with_escalation(handle: WorkflowHandle[Any, Any]) -> InteractionState | None:
    st = await state_of(handle)
    return st if st.escalations else None


async def _summaries(
    client: Client, handle: WorkflowHandle[Any, Any], kind: EventType.ValueType
) -> list[str]:
    """The user-metadata summaries of one kind of event, decoded as the UI shows them."""
    converter = client.data_converter.payload_converter
    return [
        converter.from_payload(e.user_metadata.summary, str)
        async for e in handle.fetch_history_events()
        if e.event_type == kind and e.user_metadata.HasField("summary")
    ]
