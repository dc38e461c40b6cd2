"""Notification grouping per recipient (docs/rules.md §2.8) on a real worker: forty notices at
close become one delivery listing all forty, a safety notice goes at once and alone, and a
worker restart during the group wait neither loses nor duplicates a delivery."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.notifications import NotificationActivities
from domain.messages import DeliveryRequest, NotificationRequest
from domain.models import TeamConfig
from store.db import unit_of_work
from store.models import Notification
from store.repositories import upsert_team
from tests.conftest import CHICAGO_TEAM
from tests.workflows.support import eventually, steady
from workers.main import build_worker


class Recording:
    """A channel that keeps every body it is given."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def deliver(self, body: dict[str, Any]) -> None:
        with self._lock:
            self.bodies.append(body)

    def groups(self) -> list[dict[str, Any]]:
        with self._lock:
            return [b for b in self.bodies if "notifications" in b]


@pytest.fixture
def channel() -> Recording:  # the worker fixture delivers through it
    return Recording()


def with_grouping(sessions: sessionmaker[Session], **policy: Any) -> None:
    with unit_of_work(sessions) as s:
        cfg = TeamConfig.model_validate({**CHICAGO_TEAM, "notifications": policy})
        upsert_team(s, "eastside", cfg.name, cfg.model_dump(mode="json"))


async def notify(
    client: Client,
    sessions: sessionmaker[Session],
    channel: Recording,
    task_queue: str,
    req: NotificationRequest,
) -> None:
    """Run the ``notify`` activity as a workflow would (in a worker thread, on ``task_queue``)."""
    await run_notify(NotificationActivities(sessions, channel, client=client), task_queue, req)


async def run_notify(
    acts: NotificationActivities,
    task_queue: str,
    req: NotificationRequest,
    threads: ThreadPoolExecutor | None = None,
) -> None:
    """``notify`` of one worker's activities (``acts``), in a worker thread (of ``threads``, as
    a worker's activity slots; else the loop's few default ones), on ``task_queue``."""
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, task_queue=task_queue)
    await asyncio.get_running_loop().run_in_executor(threads, env.run, acts.notify, req)


@pytest.fixture
def threads() -> Iterator[ThreadPoolExecutor]:
    """Activity slots for notices running at once (the worker's are many; the loop's default few)."""
    with ThreadPoolExecutor(max_workers=48) as pool:
        yield pool


def overdue(n: int) -> NotificationRequest:
    return NotificationRequest(
        key=f"interaction:eastside:case-{n}:{uuid.uuid4().hex[:6]}:deadline_missed",
        team_id="eastside",
        kind="escalation",
        recipient_id="lead-1",
        trigger="deadline_missed",
    )


def rows(sessions: sessionmaker[Session]) -> list[Notification]:
    with sessions() as s:
        return list(s.scalars(select(Notification).order_by(Notification.id)))


async def test_forty_at_close_are_grouped_and_safety_goes_alone_at_once(
    env: WorkflowEnvironment,
    client: Client,
    worker: Any,
    sessions: sessionmaker[Session],
    channel: Recording,
    task_queue: str,
) -> None:
    with_grouping(sessions)
    await asyncio.gather(*(notify(client, sessions, channel, task_queue, overdue(n)) for n in range(40)))
    # The group waits (30 s of workflow time; the test server does not skip time here): nothing
    # goes out for a while after the signals, not just the instant after them.
    assert await steady(lambda: _groups(channel), quiet=1.0) == []
    loop = asyncio.get_running_loop()
    started = loop.time()
    safety = NotificationRequest(
        key="interaction:eastside:case-s:safety", team_id="eastside", kind="escalation",
        recipient_id="lead-1", trigger="safety",
    )  # fmt: skip
    await notify(client, sessions, channel, task_queue, safety)
    [alone] = channel.groups()
    assert loop.time() - started < 5
    assert [n["trigger"] for n in alone["notifications"]] == ["safety"]

    await env.sleep(timedelta(seconds=35))
    grouped = await eventually(lambda: _settled(channel, 41))
    overdue_deliveries = [g for g in grouped if g is not alone]
    assert len(overdue_deliveries) == 1  # forty is under the 50 a delivery may list: one delivery
    listed = [n["id"] for g in overdue_deliveries for n in g["notifications"]]
    assert len(listed) == len(set(listed)) == 40
    assert {g["recipient_id"] for g in grouped} == {"lead-1"}
    # Each notice says which delivery carried it.
    by_delivery = {g["id"]: {n["id"] for n in g["notifications"]} for g in grouped}
    stored = rows(sessions)
    assert all(r.delivery_id in by_delivery and r.id in by_delivery[r.delivery_id] for r in stored)
    assert all(r.delivered_at is not None for r in stored)


async def _groups(channel: Recording) -> list[dict[str, Any]]:
    return channel.groups()


async def _settled(channel: Recording, total: int) -> list[dict[str, Any]] | None:
    groups = channel.groups()
    return groups if sum(len(g["notifications"]) for g in groups) >= total else None


async def test_a_worker_restart_during_the_group_wait_loses_and_duplicates_nothing(
    dev_env: WorkflowEnvironment, sessions: sessionmaker[Session], channel: Recording, task_queue: str
) -> None:
    """On the real dev server (real time): the worker stops inside a 3-second group wait and
    another one takes over; the one delivery lists all twelve notices, once."""
    client = dev_env.client
    with_grouping(sessions, group_wait_seconds=3)
    first = build_worker(client, task_queue=task_queue, sessions=sessions, channel=channel)
    async with first:
        await asyncio.gather(*(notify(client, sessions, channel, task_queue, overdue(n)) for n in range(12)))
        await asyncio.sleep(0.5)
    assert channel.groups() == []  # stopped inside the wait
    second = build_worker(client, task_queue=task_queue, sessions=sessions, channel=channel)
    async with second:
        await eventually(lambda: _settled(channel, 12), within=60)
        await asyncio.sleep(4)  # a duplicate would come now
        groups = channel.groups()
        # The dev server outlives this test: leave no grouping workflow behind for the next one.
        await client.get_workflow_handle("notify:eastside:lead-1").terminate("test over")
    assert len(groups) == 1
    assert len(groups[0]["notifications"]) == 12


async def test_a_repeated_delivery_activity_sends_once(
    sessions: sessionmaker[Session], channel: Recording, client: Client, task_queue: str
) -> None:
    with_grouping(sessions)
    acts = NotificationActivities(sessions, channel)  # no client: per-notice outbox rows
    ids = [ActivityEnvironment().run(acts.notify, overdue(n)) for n in range(3)]
    assert ids == [1, 1, 1]
    channel.bodies.clear()
    nids = [r.id for r in rows(sessions)]
    req = DeliveryRequest(
        delivery_id="dlv_test", team_id="eastside", recipient_id="lead-1", notification_ids=nids
    )
    assert acts.deliver_group(req) == 0  # already delivered one by one: nothing left to carry
    with unit_of_work(sessions) as s:
        for r in s.scalars(select(Notification)):
            r.delivery_id, r.delivered_at = None, None
    assert acts.deliver_group(req) == 3
    assert acts.deliver_group(req) == 3  # the retry finds the delivery: no second send
    assert len(channel.groups()) == 1


def test_an_open_safety_escalation_inhibits_deadline_notices_about_its_member(
    sessions: sessionmaker[Session], channel: Recording
) -> None:
    from datetime import UTC, datetime

    from store.models import Escalation, TimelineEvent
    from tests.workflows.support import add_interaction_row

    now = datetime.now(UTC)
    with unit_of_work(sessions) as s:
        safe_case = add_interaction_row(s, assignee_id="chw-ana", due_at=now, member_id="mem-9")
        late_case = add_interaction_row(s, assignee_id="chw-ana", due_at=now, member_id="mem-9")
        other_case = add_interaction_row(s, assignee_id="chw-ana", due_at=now, member_id="mem-1")
        s.flush()
        s.add(
            Escalation(
                id="esc-safety", workflow_id="escalation:x", interaction_id=safe_case.id, team_id="eastside",
                trigger="safety", severity=1, status="acknowledged", clock="wall", matrix_version=1,
                started_at=now, updated_at=now,
            )
        )  # fmt: skip
        late_id, other_id = late_case.id, other_case.id
    acts = NotificationActivities(sessions, channel)
    for iid, trigger in (
        (late_id, "deadline_missed"),
        (late_id, "unreachable"),
        (other_id, "deadline_missed"),
    ):
        ActivityEnvironment().run(
            acts.notify,
            NotificationRequest(
                key=f"interaction:{iid}:{trigger}", team_id="eastside", kind="escalation",
                recipient_id="lead-1", trigger=trigger, interaction_id=iid,
            ),
        )  # fmt: skip
    stored = {(r.interaction_id, r.trigger): r for r in rows(sessions)}
    assert stored[(late_id, "deadline_missed")].inhibited_by == "esc-safety"
    assert stored[(late_id, "unreachable")].inhibited_by == "esc-safety"
    assert stored[(late_id, "deadline_missed")].delivered_at is None
    assert stored[(other_id, "deadline_missed")].inhibited_by is None  # another member
    assert [b["notifications"][0]["interaction_id"] for b in channel.bodies] == [other_id]
    with sessions() as s:
        lines = list(s.scalars(select(TimelineEvent).where(TimelineEvent.kind == "notice_inhibited")))
    assert {(line.interaction_id, line.details["trigger"]) for line in lines} == {
        (late_id, "deadline_missed"),
        (late_id, "unreachable"),
    }
    # The dispatcher leaves inhibited notices alone.
    assert acts.outbox.deliver_due() == (0, 0)


class StartRace:
    """The client of a notify that lost a signal-with-start race: the server answers "already
    started" (the time-skipping server does so under concurrent signal-with-starts)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def start_workflow(self, *args: Any, id: str, **kwargs: Any) -> Any:
        raise WorkflowAlreadyStartedError(id, "NotificationGroupWorkflow")


async def test_a_notice_that_loses_the_start_race_joins_the_running_group(
    env: WorkflowEnvironment,
    client: Client,
    worker: Any,
    sessions: sessionmaker[Session],
    channel: Recording,
    task_queue: str,
) -> None:
    with_grouping(sessions)
    await notify(client, sessions, channel, task_queue, overdue(1))  # starts the group
    await notify(StartRace(client), sessions, channel, task_queue, overdue(2))  # type: ignore[arg-type]
    await env.sleep(timedelta(seconds=35))
    [group] = await eventually(lambda: _settled(channel, 2))
    assert len(group["notifications"]) == 2


class HeldFirstStart:
    """A client whose signal-with-starts are recorded (the ids each carries); the first is held
    until ``total`` notices are written, so the others arrive while it is on its way."""

    def __init__(self, client: Client, sessions: sessionmaker[Session], total: int) -> None:
        self._client, self._sessions, self._total = client, sessions, total
        self.carried: list[list[int]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def start_workflow(self, *args: Any, **kwargs: Any) -> Any:
        self.carried.append(list(kwargs["start_signal_args"][0].notification_ids))
        if len(self.carried) == 1:
            for _ in range(200):
                if len(rows(self._sessions)) >= self._total:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # the last written reach the hand-over
        return await self._client.start_workflow(*args, **kwargs)


async def test_notices_to_one_lead_at_once_go_to_the_group_in_few_signals(
    env: WorkflowEnvironment,
    client: Client,
    worker: Any,
    sessions: sessionmaker[Session],
    channel: Recording,
    task_queue: str,
    threads: ThreadPoolExecutor,
) -> None:
    """17:00: forty overdue notices to one lead while the first signal is on its way share the
    next one (not forty signal-with-starts), and the lead still gets all forty, once each."""
    with_grouping(sessions)
    held = HeldFirstStart(client, sessions, 40)
    acts = NotificationActivities(sessions, channel, client=held)  # type: ignore[arg-type]
    await asyncio.gather(*(run_notify(acts, task_queue, overdue(n), threads) for n in range(40)))
    assert len(held.carried) <= 2, held.carried  # those written meanwhile go in the held one's wake
    assert sorted(i for ids in held.carried for i in ids) == [r.id for r in rows(sessions)]
    await env.sleep(timedelta(seconds=35))
    [group] = await eventually(lambda: _settled(channel, 40))
    listed = [n["id"] for n in group["notifications"]]
    assert len(listed) == len(set(listed)) == 40


async def test_a_failed_signal_fails_only_the_notices_it_carried(
    env: WorkflowEnvironment,
    client: Client,
    worker: Any,
    sessions: sessionmaker[Session],
    channel: Recording,
    task_queue: str,
    threads: ThreadPoolExecutor,
) -> None:
    """The server refuses the first hand-over: its notice's activity fails, and its retry hands it
    over; the notices that gathered meanwhile go in the next signal. The lead gets all six once."""
    with_grouping(sessions)

    class Refused(RPCError):
        pass

    class RefuseFirst(HeldFirstStart):
        async def start_workflow(self, *args: Any, **kwargs: Any) -> Any:
            if not self.carried:
                self.carried.append([])
                await asyncio.sleep(0.5)
                raise Refused("unavailable", RPCStatusCode.UNAVAILABLE, b"")
            return await super().start_workflow(*args, **kwargs)

    refusing = RefuseFirst(client, sessions, 0)
    acts = NotificationActivities(sessions, channel, client=refusing)  # type: ignore[arg-type]
    req = overdue(0)
    first = asyncio.ensure_future(run_notify(acts, task_queue, req, threads))
    await asyncio.sleep(0.1)
    others = asyncio.gather(*(run_notify(acts, task_queue, overdue(n), threads) for n in range(1, 6)))
    with pytest.raises(Refused):
        await first
    await others
    assert [len(ids) for ids in refusing.carried] == [0, 5]
    await run_notify(acts, task_queue, req)  # the activity's retry
    await env.sleep(timedelta(seconds=35))
    [group] = await eventually(lambda: _settled(channel, 6))
    listed = [n["id"] for n in group["notifications"]]
    assert len(listed) == len(set(listed)) == 6
