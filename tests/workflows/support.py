"""Helpers for workflow tests: calendars, inputs, polling."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowExecutionDescription, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode
from temporalio.workflow import UpdateMethodMultiParam

from domain.calendar import BusinessCalendar
from domain.ids import interaction_workflow_id
from domain.messages import (
    AssignInput,
    AttemptInput,
    EscalationResolveInput,
    InteractionInput,
    InteractionState,
    MemberContact,
    ResolveInput,
)
from domain.models import TeamConfig
from store.models import Interaction, Notification, TimelineEvent
from tests.conftest import CHICAGO_TEAM
from workflows.interaction import InteractionWorkflow

CHICAGO = ZoneInfo("America/Chicago")
T = TypeVar("T")

# temporalio types a handler decorated with ``@workflow.update(name=...)`` as answering its
# coroutine (only the bare ``@workflow.update`` unwraps the ``Awaitable``), so
# ``handle.execute_update(InteractionWorkflow.resolve_update, ...)`` would read as a coroutine.
# The same two handlers, typed with what the update answers:
resolve_update = cast(
    "UpdateMethodMultiParam[[InteractionWorkflow, ResolveInput], InteractionState]",
    InteractionWorkflow.resolve_update,
)
assign_update = cast(
    "UpdateMethodMultiParam[[InteractionWorkflow, AssignInput], InteractionState]",
    InteractionWorkflow.assign_update,
)


def team(**policy: Any) -> TeamConfig:
    return TeamConfig.model_validate({**CHICAGO_TEAM, "policy": policy})


def next_weekday_at(
    now: datetime, weekday: int, hour: int, minute: int = 0, tz: ZoneInfo = CHICAGO
) -> datetime:
    """The first local ``weekday`` (0 = Monday) at hour:minute at least a week after ``now``
    whose neighbourhood (three days before to ten after) has no holiday of the test team's
    calendar, so a test's "Monday 10:00 … Friday 09:30" reads the same on any run date (a run
    in mid-December would otherwise land on Christmas week)."""
    local = now.astimezone(tz)
    day = local.date() + timedelta(days=7)
    while day.weekday() != weekday:
        day += timedelta(days=1)
    cal = BusinessCalendar.from_config(team().calendar, around=day)
    while any(
        (d := day + timedelta(days=k)).weekday() < 5 and not cal.is_business_day(d) for k in range(-3, 11)
    ):
        day += timedelta(days=7)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)


def interaction_input(
    cfg: TeamConfig,
    received_at: datetime,
    *,
    channel: str = "call",
    assignee_id: str | None = "chw-ana",
    urgent: bool = False,
    flags: list[str] | None = None,
    external_id: str | None = None,
    team_id: str = "eastside",
) -> InteractionInput:
    ext = external_id or f"ext-{uuid.uuid4().hex[:10]}"
    return InteractionInput.model_validate(
        {
            "interaction_id": uuid.uuid4().hex,
            "team_id": team_id,
            "external_id": ext,
            "member_id": "mem-1",
            "channel": channel,
            "received_at": received_at,
            "urgent": urgent,
            "flags": flags or [],
            "assignee_id": assignee_id,
            "assignment_source": "owner" if assignee_id else "unassigned",
            "calendar": cfg.calendar.snapshot(received_at.year - 1, received_at.year + 2),
            "policy": cfg.policy,
            "escalation_matrix": cfg.escalation_matrix,
        }
    )


async def start(client: Client, inp: InteractionInput, task_queue: str) -> WorkflowHandle[Any, Any]:
    return await client.start_workflow(
        InteractionWorkflow.run,
        inp,
        id=interaction_workflow_id(inp.team_id, inp.external_id),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )


async def attempt(
    handle: WorkflowHandle[Any, Any],
    outcome: str = "no_answer",
    contact: MemberContact | None = None,
    *,
    staff: str = "chw-ana",
    **fields: Any,
) -> InteractionState:
    """Record one attempt through the workflow's update (a fresh attempt id); ``fields`` are
    further ``AttemptInput`` fields (marks such as ``over_daily_cap``)."""
    inp = AttemptInput(
        attempt_id=uuid.uuid4().hex, outcome=outcome, staff_id=staff, contact=contact, **fields
    )
    result: InteractionState = await handle.execute_update(InteractionWorkflow.record_attempt, inp)
    return result


async def state_of(handle: WorkflowHandle[Any, Any]) -> InteractionState:
    result: InteractionState = await handle.query(InteractionWorkflow.state)
    return result


async def described(client: Client, workflow_id: str) -> WorkflowExecutionDescription | None:
    """The workflow's description; None when the server knows no such workflow."""
    try:
        return await client.get_workflow_handle(workflow_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


async def status_of(client: Client, workflow_id: str) -> WorkflowExecutionStatus | None:
    """The workflow's status; None when the server knows no such workflow."""
    found = await described(client, workflow_id)
    return None if found is None else found.status


async def eventually(check: Callable[[], Awaitable[T | None]], *, within: float = 15.0) -> T:
    """Poll until ``check`` returns a truthy value (real time: activities run in real time); a
    check that answers ``None`` until the value is there gives the value, never ``None``."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {within}s (last value {value!r})")
        await asyncio.sleep(0.05)


def resolved_by_lead(escalation_id: str) -> EscalationResolveInput:
    """A lead resolving an escalation with its documentation (action taken and outcome)."""
    return EscalationResolveInput(
        escalation_id=escalation_id,
        actor_id="lead-1",
        actor_role="lead",
        action_taken_given=True,
        outcome_given=True,
    )


async def steady(read: Callable[[], Awaitable[T]], *, quiet: float = 0.4, within: float = 15.0) -> T:
    """Read until the value stops changing for ``quiet`` seconds (background projections and
    deliveries have landed), so a later re-read that differs was changed by the test."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    value = await read()
    since = loop.time()
    while loop.time() - since < quiet:
        if loop.time() > deadline:
            raise AssertionError(f"value still changing after {within}s (last value {value!r})")
        await asyncio.sleep(0.05)
        again = await read()
        if again != value:
            value, since = again, loop.time()
    return value


def _strings(value: Any, out: list[str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            out.append(str(k))
            _strings(v, out)
    elif isinstance(value, list):
        for v in value:
            _strings(v, out)
    elif isinstance(value, str):
        out.append(value)
        # Payload data and metadata are base64 in the JSON form: read them decoded too.
        with contextlib.suppress(ValueError, binascii.Error):
            out.append(base64.b64decode(value, validate=True).decode("utf-8", errors="replace"))


async def history_text(handle: WorkflowHandle[Any, Any]) -> str:
    """Every string of a workflow's history, with payloads decoded: what an operator could read."""
    history = await handle.fetch_history()
    out: list[str] = []
    _strings(json.loads(history.to_json()), out)
    return "\n".join(out)


async def settled_history_length(
    handle: WorkflowHandle[Any, Any], *, still_running: frozenset[str] = frozenset()
) -> int:
    """History length once background work (notices, projections) has finished: no activity
    pending (but those of the types in ``still_running``) and the length equal over 0.5 s."""
    last = -1
    while True:
        n = len((await handle.fetch_history()).events)
        pending = (await handle.describe()).raw_description.pending_activities
        if n == last and all(a.activity_type.name in still_running for a in pending):
            return n
        last = n
        await asyncio.sleep(0.5)


def add_interaction_row(session: Any, *, assignee_id: str | None, due_at: datetime, **over: Any) -> Any:
    """A read-model row without a workflow (for what activities read from SQL: fan-out, digests)."""
    from store.models import Interaction

    ext = over.pop("external_id", f"ext-{uuid.uuid4().hex[:10]}")
    team_id = over.pop("team_id", "eastside")
    row = Interaction(
        id=uuid.uuid4().hex,
        workflow_id=interaction_workflow_id(team_id, ext),
        team_id=team_id,
        external_id=ext,
        member_id="mem-1",
        channel="call",
        status="open",
        assignee_id=assignee_id,
        assignment_source="owner" if assignee_id else "unassigned",
        received_at=due_at - timedelta(hours=8),
        due_at=due_at,
        version=0,
        created_at=due_at,
        updated_at=due_at,
    )
    for key, value in over.items():
        setattr(row, key, value)
    session.add(row)
    return row


def at(day: datetime, hour: int, minute: int = 0, *, plus_days: int = 0) -> datetime:
    """``hour:minute`` Chicago time on ``day`` (plus ``plus_days``)."""
    d = (day + timedelta(days=plus_days)).date()
    return datetime(d.year, d.month, d.day, hour, minute, tzinfo=CHICAGO)


def timeline(sessions: sessionmaker[Session], interaction_id: str, kind: str) -> list[TimelineEvent]:
    """The interaction's timeline lines of one kind, oldest first."""
    with sessions() as s:
        return list(
            s.scalars(
                select(TimelineEvent)
                .where(TimelineEvent.interaction_id == interaction_id, TimelineEvent.kind == kind)
                .order_by(TimelineEvent.at)
            )
        )


async def overdue_row(sessions: sessionmaker[Session], interaction_id: str) -> Interaction | None:
    """The interaction's row once it says overdue (None before: for ``eventually``)."""
    with sessions() as s:
        row = s.get(Interaction, interaction_id)
        return row if row is not None and row.overdue else None


def notices(sessions: sessionmaker[Session], interaction_id: str, kind: str) -> list[Notification]:
    """The outbox rows of one kind about the interaction, in order."""
    with sessions() as s:
        return list(
            s.scalars(
                select(Notification)
                .where(Notification.interaction_id == interaction_id, Notification.kind == kind)
                .order_by(Notification.id)
            )
        )


async def now_value(value: T) -> T:
    """``value`` as an awaitable, for ``eventually`` over a synchronous read."""
    return value
