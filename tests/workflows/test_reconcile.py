"""``followthrough reconcile`` keeps the read model true to Temporal (docs/architecture.md §3.15).

On the real dev server (reconcile lists running cases from visibility, which the time-skipping
server lacks), in real time. Each test uses a team of its own and reconciles only that team, so
the other tests' workflows on the shared dev server are not its business.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio import workflow
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

import services.reconcile
from activities.notifications import LogChannel
from config.settings import Settings
from domain.messages import AcknowledgeInput, AttemptInput, EscalationState, InteractionState, ResolveInput
from services.access import Principal
from services.context import Context, TemporalLink
from services.db import Database
from services.interactions import Interactions, require_interaction
from services.reconcile import LEASE_NAME, Memo, Report, reconcile
from services.schemas import InteractionCreate
from store import leases
from store.db import unit_of_work
from store.figures import figures
from store.models import Attempt, Escalation, Interaction, Member, PendingText
from store.repositories import upsert_team
from tests.conftest import CHICAGO_TEAM, binary
from tests.workflows.support import (
    add_interaction_row,
    eventually,
    resolve_update,
    settled_history_length,
    status_of,
)
from workers.main import build_worker
from workers.reconcile import Reconciler
from workflows.escalation import EscalationWorkflow
from workflows.interaction import InteractionWorkflow
from workflows.search_attributes import SEARCH_ATTRIBUTE_TYPES

SYSTEM = Principal(role="system")


def new_team(sessions: sessionmaker[Session]) -> str:
    team_id = f"rec-{uuid.uuid4().hex[:10]}"
    with unit_of_work(sessions) as s:
        upsert_team(s, team_id, "Reconcile", {**CHICAGO_TEAM, "policy": {"merge_repeat_contacts": False}})
        s.add(Member(team_id=team_id, id="mem-1", owner_id="chw-ana"))
    return team_id


@pytest_asyncio.fixture(loop_scope="session")
async def running(
    dev_env: WorkflowEnvironment, sessions: sessionmaker[Session], task_queue: str
) -> AsyncIterator[Worker]:
    async with build_worker(
        dev_env.client, task_queue=task_queue, sessions=sessions, channel=LogChannel()
    ) as w:
        yield w


async def create(
    client: Client, db: Database, settings: Settings, team_id: str, **body: Any
) -> tuple[Interaction, Any]:
    """A case started as ``POST /v1/interactions`` starts it, once its first projection landed."""
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
    started = await Interactions(Context(db, settings, TemporalLink.of(client))).create(SYSTEM, inp)
    assert started.status == 201
    row = await db.run(require_interaction, started.value.id)
    handle: WorkflowHandle[InteractionWorkflow, InteractionState] = client.get_workflow_handle_for(
        InteractionWorkflow.run, row.workflow_id
    )
    await eventually(lambda: in_step(db, handle, row.id))
    return row, handle


def row_of(session: Session, interaction_id: str) -> Interaction | None:
    session.expire_all()
    return session.get(Interaction, interaction_id)


async def in_step(db: Database, handle: Any, interaction_id: str) -> bool:
    """The row says what the workflow's state says (status, assignee, version, attempts)."""
    st: InteractionState = await handle.query(InteractionWorkflow.state)
    row = await db.run(row_of, interaction_id)
    return (
        row is not None
        and st.version > 0
        and (row.status, row.assignee_id, row.version, row.attempt_count)
        == (st.status, st.assignee_id, st.version, len(st.attempts))
    )


async def listed(client: Client, team_id: str, n: int) -> bool:
    query = f"WorkflowType = 'InteractionWorkflow' AND ExecutionStatus = 'Running' AND FtTeam = '{team_id}'"
    return (await client.count_workflows(query)).count == n


def kinds(report: Report) -> set[tuple[str, str]]:
    return {
        (d.kind, d.ids.get("escalation_id") or d.ids.get("interaction_id") or "") for d in report.differences
    }


async def test_an_edited_row_and_a_deleted_row_are_reprojected_then_nothing_differs(
    dev_env: WorkflowEnvironment, sessions: sessionmaker[Session], settings: Settings, running: Worker
) -> None:
    client, db = dev_env.client, Database(sessions, threads=4)
    team_id = new_team(sessions)
    (edited, h_edited), (deleted, h_deleted), (untouched, h_untouched) = [
        await create(client, db, settings, team_id) for _ in range(3)
    ]
    with unit_of_work(sessions) as s:  # a hand edit, and a row a restore lost
        row = s.get(Interaction, edited.id)
        assert row is not None
        row.assignee_id, row.status = "chw-ben", "attempting"
        s.delete(s.get(Interaction, deleted.id))

    await eventually(lambda: listed(client, team_id, 3))  # visibility may lag a moment
    dry = await reconcile(db, client, settings, team_id=team_id, dry_run=True)
    assert kinds(dry) == {("row_differs", edited.id), ("row_missing", deleted.id)}
    detail = next(d.detail for d in dry.differences if d.kind == "row_differs").split(",")
    assert {"assignee_id", "status"} <= set(detail)
    # A dry run writes nothing.
    assert (await db.run(row_of, edited.id)).assignee_id == "chw-ben"  # type: ignore[union-attr]
    assert await db.run(row_of, deleted.id) is None

    report = await reconcile(db, client, settings, team_id=team_id)
    assert report.running == 3
    assert kinds(report) == {("row_differs", edited.id), ("row_missing", deleted.id)}
    assert all(d.repaired for d in report.differences) and not report.failed
    for case, handle in ((edited, h_edited), (deleted, h_deleted), (untouched, h_untouched)):
        await eventually(functools.partial(in_step, db, handle, case.id))
    back = await db.run(row_of, deleted.id)
    assert back is not None and back.workflow_id == deleted.workflow_id and back.member_id == "mem-1"

    again = await reconcile(db, client, settings, team_id=team_id)
    assert again.differences == [], again.differences


async def test_the_workers_memo_asks_only_cases_that_moved_on_either_side(
    dev_env: WorkflowEnvironment, sessions: sessionmaker[Session], settings: Settings, running: Worker
) -> None:
    """A worker remembers what it found in step (history length, row fingerprint): unchanged
    cases are not queried (a query may replay a whole history), but a hand edit of the row, or a
    change in Temporal whose projection was lost, is still found."""
    client, db = dev_env.client, Database(sessions, threads=4)
    team_id = new_team(sessions)
    cases = [await create(client, db, settings, team_id) for _ in range(3)]
    (edited, _), (moved, h_moved), (still, _) = cases
    await eventually(lambda: listed(client, team_id, 3))
    for _, handle in cases:  # the creation notices delivered: the histories stop growing
        await settled_history_length(handle)
    memo = Memo()
    first = await reconcile(db, client, settings, team_id=team_id, memo=memo)
    assert (first.asked, first.differences) == (3, [])
    second = await reconcile(db, client, settings, team_id=team_id, memo=memo)
    assert (second.asked, second.differences) == (0, [])

    with unit_of_work(sessions) as s:  # a hand edit that keeps the version
        row = s.get(Interaction, edited.id)
        assert row is not None
        row.assignee_id = "chw-ben"
    await h_moved.execute_update(
        InteractionWorkflow.record_attempt,
        AttemptInput(attempt_id=uuid.uuid4().hex, outcome="no_answer", staff_id="chw-ana"),
    )
    await eventually(lambda: in_step(db, h_moved, moved.id))
    with unit_of_work(sessions) as s:  # ...whose projection a restore then lost
        row = s.get(Interaction, moved.id)
        assert row is not None
        before = row.version
        row.status, row.attempt_count, row.first_attempt_outcome, row.first_response_at = (
            "open",
            0,
            None,
            None,
        )
        row.next_retry_at, row.version = None, before - 1
        s.execute(delete(Attempt).where(Attempt.interaction_id == moved.id))

    third = await reconcile(db, client, settings, team_id=team_id, memo=memo)
    assert third.asked == 2  # not the case that did not move
    assert kinds(third) == {("row_differs", edited.id), ("row_differs", moved.id)}
    assert still.id not in {d.ids["interaction_id"] for d in third.differences}


async def test_escalation_rows_follow_their_workflows(
    dev_env: WorkflowEnvironment, sessions: sessionmaker[Session], settings: Settings, running: Worker
) -> None:
    """A lost escalation row is written again (with the rule its workflow runs); a row that missed
    an acknowledgement says it."""
    client, db = dev_env.client, Database(sessions, threads=4)
    team_id = new_team(sessions)
    lost, _ = await create(client, db, settings, team_id, flags=["safety"])
    behind, _ = await create(client, db, settings, team_id, flags=["safety"])

    def escalation_of(session: Session, interaction_id: str) -> Escalation | None:
        session.expire_all()
        return session.scalar(select(Escalation).where(Escalation.interaction_id == interaction_id))

    lost_esc = await eventually(lambda: db.run(escalation_of, lost.id))
    behind_esc = await eventually(lambda: db.run(escalation_of, behind.id))
    esc_handle: WorkflowHandle[EscalationWorkflow, EscalationState] = client.get_workflow_handle_for(
        EscalationWorkflow.run, behind_esc.workflow_id
    )
    await esc_handle.execute_update(
        EscalationWorkflow.acknowledge,
        AcknowledgeInput(escalation_id=behind_esc.id, actor_id="lead-1", actor_role="lead"),
    )

    async def acknowledged_in_sql() -> Escalation | None:
        row = await db.run(escalation_of, behind.id)
        return row if row is not None and row.status == "acknowledged" else None

    acked = await eventually(acknowledged_in_sql)
    with unit_of_work(sessions) as s:  # a backup from before the acknowledgement, and before the first
        s.delete(s.get(Escalation, lost_esc.id))
        row = s.get(Escalation, behind_esc.id)
        assert row is not None
        row.status, row.acknowledged_by, row.acknowledged_at = "open", None, None
        row.version = acked.version - 1

    report = await reconcile(db, client, settings, team_id=team_id)
    assert kinds(report) == {
        ("escalation_row_missing", lost_esc.id),
        ("escalation_row_differs", behind_esc.id),
    }, report.differences
    assert not report.failed
    made = await db.run(escalation_of, lost.id)
    assert made is not None and made.id == lost_esc.id and made.status == "open" and made.trigger == "safety"
    assert made.rule == lost_esc.rule and made.workflow_id == lost_esc.workflow_id
    healed = await db.run(escalation_of, behind.id)
    assert healed is not None and healed.status == "acknowledged" and healed.acknowledged_by == "lead-1"
    assert healed.version == acked.version
    assert (await reconcile(db, client, settings, team_id=team_id)).differences == []


async def test_a_case_due_about_now_is_not_asked_until_the_next_run(
    dev_env: WorkflowEnvironment, sessions: sessionmaker[Session], settings: Settings, running: Worker
) -> None:
    """Its timer may fire while the query waits for the worker (bench/incidents/2026-12-06-p3-
    5000-early-timer), and at 17:00 the worker needs the time for the deadlines: a case whose row
    says it is due within two minutes either side is deferred, and asked once it is not."""
    client, db = dev_env.client, Database(sessions, threads=4)
    team_id = new_team(sessions)
    (case, _handle), (retry, _retry_handle) = [await create(client, db, settings, team_id) for _ in range(2)]
    now = datetime.now(UTC)
    with unit_of_work(sessions) as s:  # both rows differ from their cases, and say "due now"
        s.get(Interaction, case.id).due_at = now + timedelta(seconds=90)  # type: ignore[union-attr]
        s.get(Interaction, retry.id).next_retry_at = now - timedelta(seconds=90)  # type: ignore[union-attr]
    await eventually(lambda: listed(client, team_id, 2))
    deferred = await reconcile(db, client, settings, team_id=team_id, dry_run=True)
    assert (deferred.deferred, deferred.asked, deferred.differences) == (2, 0, [])
    assert "2 due now or mid-task: next run" in deferred.summary()

    with unit_of_work(sessions) as s:  # the instants are past the margin
        s.get(Interaction, case.id).due_at = now + timedelta(minutes=3)  # type: ignore[union-attr]
        s.get(Interaction, retry.id).next_retry_at = now - timedelta(minutes=3)  # type: ignore[union-attr]
    asked = await reconcile(db, client, settings, team_id=team_id, dry_run=True)
    assert (asked.deferred, asked.asked) == (0, 2)
    assert kinds(asked) == {("row_differs", case.id), ("row_differs", retry.id)}


async def first_task_pending(handle: Any) -> bool:
    raw = (await handle.describe()).raw_description
    return bool(raw.HasField("pending_workflow_task") and raw.pending_workflow_task.attempt == 1)


async def settled(handle: Any) -> bool:
    return not await first_task_pending(handle)


async def test_the_workers_run_does_not_ask_a_case_mid_task_until_its_task_ended(
    dev_env: WorkflowEnvironment, sessions: sessionmaker[Session], settings: Settings, task_queue: str
) -> None:
    """At 17:00 thousands of cases have a task queued behind the herd: a query waits for it (and
    replays a case the worker no longer caches). The worker's run, which describes every case for
    its memo, defers a case whose workflow task waits on its first attempt; once the task ran, the
    next run asks it and repairs its row."""
    client, db = dev_env.client, Database(sessions, threads=4)
    team_id = new_team(sessions)
    async with build_worker(client, task_queue=task_queue, sessions=sessions, channel=LogChannel()):
        row, handle = await create(client, db, settings, team_id)
        await settled_history_length(handle)
    await handle.signal("reproject")  # a task no worker takes: the case is mid-task
    await eventually(lambda: first_task_pending(handle))
    await eventually(lambda: listed(client, team_id, 1))
    memo = Memo()  # knows nothing: any case not deferred is asked
    deferred = await reconcile(db, client, settings, team_id=team_id, memo=memo)
    assert (deferred.deferred, deferred.asked, deferred.differences) == (1, 0, [])
    assert "1 due now or mid-task: next run" in deferred.summary()

    async with build_worker(client, task_queue=task_queue, sessions=sessions, channel=LogChannel()):
        await eventually(lambda: settled(handle), within=30)
        await settled_history_length(handle)
        with unit_of_work(sessions) as s:  # a row that differs, for the run to find
            edited = s.get(Interaction, row.id)
            assert edited is not None
            edited.assignee_id = "chw-ben"
        asked = await reconcile(db, client, settings, team_id=team_id, memo=memo)
    assert (asked.deferred, asked.asked) == (0, 1)
    assert kinds(asked) == {("row_differs", row.id)}
    fixed = await db.run(require_interaction, row.id)
    assert fixed.assignee_id == "chw-ana"


async def test_in_a_herd_the_workers_run_also_leaves_cases_that_just_changed_for_later(
    dev_env: WorkflowEnvironment,
    sessions: sessionmaker[Session],
    settings: Settings,
    task_queue: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Once a run has met ``HERD_MID_TASK`` cases mid-task (here: one), the worker is behind: a
    case whose row changed within ``STILL_FOR`` is not asked either (its change was just
    projected; the query would replay it). Outside a herd the same case is asked at once."""
    monkeypatch.setattr(services.reconcile, "HERD_MID_TASK", 1)
    client, db = dev_env.client, Database(sessions, threads=4)
    team_id = new_team(sessions)
    async with build_worker(client, task_queue=task_queue, sessions=sessions, channel=LogChannel()):
        (_busy, h_busy), (fresh, h_fresh) = [await create(client, db, settings, team_id) for _ in range(2)]
        for handle in (h_busy, h_fresh):
            await settled_history_length(handle)
    await h_busy.signal("reproject")  # a task no worker takes
    await eventually(lambda: first_task_pending(h_busy))
    await eventually(lambda: listed(client, team_id, 2))
    with unit_of_work(sessions) as s:  # the idle case's row, changed a moment ago, differs
        edited = s.get(Interaction, fresh.id)
        assert edited is not None
        edited.assignee_id = "chw-ben"
    herd = await reconcile(db, client, settings, team_id=team_id, memo=Memo())
    assert (herd.deferred, herd.asked, herd.differences) == (2, 0, [])

    async with build_worker(client, task_queue=task_queue, sessions=sessions, channel=LogChannel()):
        await eventually(lambda: settled(h_busy), within=30)
        calm = await reconcile(db, client, settings, team_id=team_id, memo=Memo())
    assert (calm.deferred, calm.asked) == (0, 2)
    assert kinds(calm) == {("row_differs", fresh.id)}


@workflow.defn(name="InteractionWorkflow", sandboxed=False)
class BrokenRelease:
    """A release whose InteractionWorkflow cannot run the cases in flight: every task fails (as
    a nondeterminism error does) and the server retries it."""

    @workflow.run
    async def run(self, inp: Any) -> None:
        raise RuntimeError("this release cannot run the case")

    @workflow.signal(name="reproject")
    def reproject(self) -> None:
        pass


async def failing_attempt(handle: Any) -> int | None:
    raw = (await handle.describe()).raw_description
    attempt = raw.pending_workflow_task.attempt if raw.HasField("pending_workflow_task") else 0
    return int(attempt) if attempt >= 2 else None


async def test_a_case_whose_workflow_task_keeps_failing_is_reported_as_such(
    dev_env: WorkflowEnvironment,
    sessions: sessionmaker[Session],
    settings: Settings,
    task_queue: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Not merely "did not answer": ops are told the case is stuck on its own code (its task fails
    and is retried, bench/incidents/2026-12-06-p3-5000-early-timer), and at which attempt."""
    monkeypatch.setattr(services.reconcile, "QUERY_PATIENCE", timedelta(seconds=2))
    client, db = dev_env.client, Database(sessions, threads=4)
    team_id = new_team(sessions)
    async with build_worker(client, task_queue=task_queue, sessions=sessions, channel=LogChannel()):
        row, handle = await create(client, db, settings, team_id)
    async with Worker(
        client, task_queue=task_queue, workflows=[BrokenRelease], workflow_runner=UnsandboxedWorkflowRunner()
    ):
        try:
            await handle.signal("reproject")  # a task for the new release to run
            await eventually(lambda: failing_attempt(handle), within=30)
            await eventually(lambda: listed(client, team_id, 1))
            report = await reconcile(db, client, settings, team_id=team_id)
        finally:  # not left running on the shared server for a later test to meet
            await handle.terminate("test over")
    found = [d for d in report.differences if d.ids.get("workflow_id") == row.workflow_id]
    assert [d.kind for d in found] == ["workflow_task_failing"], report.differences
    assert found[0].detail.startswith("attempt ") and found[0].outcome == "failed"
    assert report.failed


async def test_a_row_that_never_got_its_workflow_is_started_once_it_is_a_minute_old(
    dev_env: WorkflowEnvironment, sessions: sessionmaker[Session], settings: Settings, running: Worker
) -> None:
    client, db = dev_env.client, Database(sessions, threads=4)
    team_id = new_team(sessions)
    now = datetime.now(UTC)
    with unit_of_work(sessions) as s:  # the API died between the insert and the start
        old = add_interaction_row(
            s,
            assignee_id="chw-ana",
            due_at=now + timedelta(hours=2),
            team_id=team_id,
            received_at=now - timedelta(minutes=3),
            created_at=now - timedelta(minutes=2),
        )
        young = add_interaction_row(
            s,
            assignee_id="chw-ana",
            due_at=now + timedelta(hours=2),
            team_id=team_id,
            received_at=now,
            created_at=now,
        )
    assert await status_of(client, old.workflow_id) is None

    report = await reconcile(db, client, settings, team_id=team_id)
    assert kinds(report) == {("workflow_started", old.id)} and not report.failed
    assert await status_of(client, old.workflow_id) == WorkflowExecutionStatus.RUNNING
    assert await status_of(client, young.workflow_id) is None  # may still be getting it from the API
    handle: WorkflowHandle[InteractionWorkflow, InteractionState] = client.get_workflow_handle_for(
        InteractionWorkflow.run, old.workflow_id
    )
    await eventually(lambda: in_step(db, handle, old.id))
    started = await db.run(row_of, old.id)
    assert started is not None and started.version > 0


async def test_a_case_resolved_in_temporal_whose_row_says_open_becomes_resolved(
    dev_env: WorkflowEnvironment, sessions: sessionmaker[Session], settings: Settings, running: Worker
) -> None:
    client, db = dev_env.client, Database(sessions, threads=4)
    team_id = new_team(sessions)
    case, handle = await create(client, db, settings, team_id)
    await handle.execute_update(
        InteractionWorkflow.record_attempt,
        AttemptInput(attempt_id=uuid.uuid4().hex, outcome="reached", staff_id="chw-ana"),
    )
    await handle.execute_update(resolve_update, ResolveInput(actor_id="chw-ana"))
    final = await handle.result()
    assert final.status == "resolved"

    async def resolved_in_sql() -> Interaction | None:
        row = await db.run(row_of, case.id)
        return row if row is not None and row.status == "resolved" else None

    await eventually(resolved_in_sql)
    with unit_of_work(sessions) as s:  # restored from a backup taken before the resolve
        row = s.get(Interaction, case.id)
        assert row is not None
        row.status, row.resolved_at, row.resolved_by, row.version = (
            "attempting",
            None,
            None,
            final.version - 1,
        )

    report = await reconcile(db, client, settings, team_id=team_id)
    assert kinds(report) == {("resolved_in_temporal", case.id)} and not report.failed
    row = await db.run(row_of, case.id)
    assert row is not None
    assert (row.status, row.resolved_by, row.resolved_at, row.version) == (
        "resolved",
        "chw-ana",
        final.resolved_at,
        final.version,
    )
    assert (await reconcile(db, client, settings, team_id=team_id)).differences == []


async def test_stale_pending_texts_are_placed_or_purged_and_fresh_ones_kept(
    dev_env: WorkflowEnvironment, sessions: sessionmaker[Session], settings: Settings
) -> None:
    client, db = dev_env.client, Database(sessions, threads=4)
    team_id = new_team(sessions)
    now = datetime.now(UTC)
    stale = now - timedelta(seconds=settings.pending_text_ttl_seconds + 60)
    attempt_id = uuid.uuid4().hex
    with unit_of_work(sessions) as s:
        case = add_interaction_row(
            s,
            assignee_id="chw-ana",
            due_at=now,
            team_id=team_id,
            status="resolved",
            resolved_by="chw-ana",
            version=5,
        )
        s.flush()
        s.add(
            Attempt(
                id=attempt_id, interaction_id=case.id, seq=1, outcome="no_answer", staff_id="chw-ana", at=now
            )
        )
        s.add_all(
            [
                # an attempt recorded, whose request died before placing its note
                PendingText(
                    key=f"attempt:{attempt_id}", text="left a message with her son", created_at=stale
                ),
                # a resolve Temporal applied, whose request died before placing its text and
                # whose client never repeated it: placed on the case (its author resolved it)
                PendingText(
                    key=f"resolution:{case.id}:{uuid.uuid4().hex}",
                    text="referred to food bank",
                    created_at=stale,
                    author_id="chw-ana",
                ),
                # another person's resolve of the same case, which lost (its request died too)
                PendingText(
                    key=f"resolution:{case.id}:{uuid.uuid4().hex}",
                    text="gave the pantry hours",
                    created_at=stale,
                    author_id="lead-1",
                ),
                # a key from before per-case resolution keys: its case cannot be known
                PendingText(key=f"resolution:{uuid.uuid4().hex}", text="called back", created_at=stale),
                # an action in flight
                PendingText(key=f"flag:{uuid.uuid4().hex}", text="sounded distressed", created_at=now),
            ]
        )

    report = await reconcile(db, client, settings, team_id=team_id)
    assert sorted(d.kind for d in report.differences) == [
        "pending_text_placed",
        "pending_text_placed",
        "pending_text_purged",
        "pending_text_purged",
    ]
    assert not report.failed
    assert all(
        "food bank" not in line and "son" not in line and "pantry" not in line
        for line in map(lambda d: d.line(), report.differences)
    )

    def texts(session: Session) -> list[str]:
        return sorted(k.split(":")[0] for k in session.scalars(select(PendingText.key)))

    def note(session: Session) -> str | None:
        attempt = session.get(Attempt, attempt_id)
        return None if attempt is None else attempt.note

    def resolution(session: Session) -> str | None:
        row = session.get(Interaction, case.id)
        return None if row is None else row.resolution

    assert await db.run(texts) == ["flag"]
    assert await db.run(note) == "left a message with her son"
    assert await db.run(resolution) == "referred to food bank"  # the resolver's, not the loser's
    assert (await reconcile(db, client, settings, team_id=team_id)).differences == []


async def test_the_worker_runs_whole_reconciles_every_interval_under_its_lease(
    sessions: sessionmaker[Session], settings: Settings, task_queue: str
) -> None:
    """On a server of its own (a whole run reconciles every case in the namespace)."""
    async with await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=binary("temporal"),
        dev_server_extra_args=[
            a for n, k in SEARCH_ATTRIBUTE_TYPES.items() for a in ("--search-attribute", f"{n}={k}")
        ],
        ui=False,
    ) as own:
        client, db = own.client, Database(sessions, threads=4)
        team_id = new_team(sessions)
        every = settings.model_copy(update={"reconcile_interval_seconds": 1})
        async with build_worker(client, task_queue=task_queue, sessions=sessions, channel=LogChannel()):
            case, handle = await create(client, db, settings, team_id)
            await eventually(lambda: listed(client, team_id, 1))
            with unit_of_work(sessions) as s:
                row = s.get(Interaction, case.id)
                assert row is not None
                row.assignee_id = "chw-ben"
            reconciler = Reconciler(client, every, sessions)
            loop = asyncio.create_task(reconciler.run())
            try:
                await eventually(lambda: in_step(db, handle, case.id), within=30)
                runs = await eventually(
                    lambda: db.run(lambda s: figures(s) if figures(s)[1] >= 2 else None), within=30
                )
            finally:
                reconciler.stop()
                await asyncio.wait_for(loop, 10)
        by_kind, _, last = runs
        assert by_kind == {"row_differs": 1}
        assert last is not None
        with sessions() as s:
            assert leases.holder(s, LEASE_NAME) == (None, None)  # released
            # Another process finds the next run not due yet: one run per interval, whoever runs it.
            assert leases.acquire(s, LEASE_NAME, seconds=60, scheduled=True) is None
