"""``task_updated`` notices (issue 22, docs/fhir.md "Changes out"): a team whose notifications
policy asks for them tells its FHIR subscribers each time a case changes, ids only, through the
outbox and grouping like any notice; a team that does not ask sends none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks import Webhook
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.interactions import InteractionActivities
from activities.notifications import WebhookChannel
from domain.grouping import TASK_SUBSCRIBER
from domain.messages import InteractionProjection, InteractionState
from domain.models import TeamConfig
from store.db import unit_of_work
from store.models import Notification
from store.repositories import upsert_team
from tests.conftest import CHICAGO_TEAM, now_of
from tests.workflows.support import attempt, eventually, interaction_input, start, team
from tests.workflows.test_notifications import SECRET, Receiver, receiver  # noqa: F401
from workers.main import build_worker


def _subscribe(sessions: sessionmaker[Session], **notifications: object) -> None:
    cfg = TeamConfig.model_validate({**CHICAGO_TEAM, "notifications": notifications})
    with unit_of_work(sessions) as s:
        upsert_team(s, "eastside", cfg.name, cfg.model_dump(mode="json"))


def _task_notices(sessions: sessionmaker[Session], interaction_id: str) -> list[Notification]:
    with sessions() as s:
        return list(
            s.scalars(
                select(Notification)
                .where(Notification.interaction_id == interaction_id, Notification.kind == "task_updated")
                .order_by(Notification.id)
            )
        )


async def test_a_subscribed_team_tells_its_fhir_subscribers_of_every_change_ids_only(
    env: WorkflowEnvironment,
    client: Client,
    sessions: sessionmaker[Session],
    task_queue: str,
    receiver: Receiver,  # noqa: F811
) -> None:
    _subscribe(sessions, task_updated=True, group_wait_seconds=0, group_interval_minutes=0)
    worker = build_worker(
        client, task_queue=task_queue, sessions=sessions, channel=WebhookChannel(receiver.url, SECRET)
    )
    async with worker:
        inp = interaction_input(team(), await now_of(env), channel="call")
        handle = await start(client, inp, task_queue)

        async def first() -> list[Notification] | None:
            rows = _task_notices(sessions, inp.interaction_id)
            return rows if rows and all(r.delivered_at for r in rows) else None

        await eventually(first, within=30)
        await attempt(handle, "no_answer")

        async def two_versions() -> list[Notification] | None:
            rows = _task_notices(sessions, inp.interaction_id)
            versions = {r.payload["version"] for r in rows}
            return rows if len(versions) >= 2 and all(r.delivered_at for r in rows) else None

        rows = await eventually(two_versions, within=30)
    assert {r.recipient_id for r in rows} == {TASK_SUBSCRIBER}
    # one notice per version of the case, each naming the Task to read again
    assert len({r.key for r in rows}) == len(rows) == len({r.payload["version"] for r in rows})
    assert all(r.payload["resource"] == f"Task/{inp.interaction_id}" for r in rows)
    sent = [Webhook(SECRET).verify(body, headers) for headers, body in receiver.calls]
    told = [n for d in sent if d["recipient_id"] == TASK_SUBSCRIBER for n in d["notifications"]]
    assert told and {n["kind"] for n in told} == {"task_updated"}
    assert {n["interaction_id"] for n in told} == {inp.interaction_id}
    # ids and kinds only: nothing of the member (their id included) goes out with it
    for _, body in receiver.calls:
        assert inp.member_id is None or inp.member_id.encode() not in body


async def test_a_team_that_does_not_ask_sends_no_task_notices(
    env: WorkflowEnvironment,
    client: Client,
    sessions: sessionmaker[Session],
    task_queue: str,
    receiver: Receiver,  # noqa: F811
) -> None:
    _subscribe(sessions, group_wait_seconds=0)
    worker = build_worker(
        client, task_queue=task_queue, sessions=sessions, channel=WebhookChannel(receiver.url, SECRET)
    )
    async with worker:
        inp = interaction_input(team(), await now_of(env), channel="call")
        await start(client, inp, task_queue)

        async def assigned() -> list[Notification] | None:
            with sessions() as s:
                rows = list(
                    s.scalars(select(Notification).where(Notification.interaction_id == inp.interaction_id))
                )
            return rows or None

        rows = await eventually(assigned, within=30)
    assert {r.kind for r in rows} == {"assigned"}


def test_a_projection_retried_after_its_commit_still_tells_and_a_stale_one_does_not(
    sessions: sessionmaker[Session],
) -> None:
    told: list[tuple[str, str, int]] = []

    def hook(team_id: str, interaction_id: str, version: int) -> None:
        told.append((team_id, interaction_id, version))
        if len(told) == 1:
            raise RuntimeError("the notice could not be handed on")

    activities = InteractionActivities(sessions, on_projected=hook)
    received = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)

    def projection(version: int) -> InteractionProjection:
        state = InteractionState(
            interaction_id="c" * 32,
            team_id="eastside",
            channel="call",
            received_at=received,
            due_at=received + timedelta(hours=2),
            version=version,
        )
        return InteractionProjection(
            workflow_id="interaction:eastside:ext-1", external_id="ext-1", member_id="mem-1", state=state
        )

    with pytest.raises(RuntimeError):
        activities.sync_interaction(projection(1))
    activities.sync_interaction(projection(1))  # the activity's retry: the row already holds v1
    activities.sync_interaction(projection(2))
    activities.sync_interaction(projection(1))  # late and stale: nothing to tell
    assert told == [("eastside", "c" * 32, 1), ("eastside", "c" * 32, 1), ("eastside", "c" * 32, 2)]
