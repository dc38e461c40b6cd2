"""Webhook outage: notices wait in the outbox with backoff and go out once the endpoint is back;
no workflow waits on delivery (a resolved escalation finishes; deadlines keep firing)."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import WorkflowEnvironment

from activities import notifications
from activities.notifications import NotificationActivities, Outbox
from domain.messages import NotificationRequest
from store import outbox
from store.models import Notification
from tests.workflows.support import eventually, interaction_input, resolved_by_lead, start, team
from tests.workflows.test_escalation import escalation_handle, ladder_of_length
from workers.main import build_worker
from workflows.escalation import EscalationWorkflow


class Endpoint:
    """A delivery channel that is down until ``up`` is set; counts deliveries per outbox key."""

    def __init__(self) -> None:
        self.up = False
        self.received: Counter[str] = Counter()

    def deliver(self, body: dict[str, Any]) -> None:
        if not self.up:
            raise ConnectionError("endpoint down")
        [notice] = body["notifications"]  # one notice per delivery without a grouping policy
        assert body["id"] == notice["key"]
        self.received[str(notice["key"])] += 1


def undelivered(sessions: sessionmaker[Session]) -> list[Notification]:
    with sessions() as s:
        return list(s.scalars(select(Notification).where(Notification.delivered_at.is_(None))))


def make_due(sessions: sessionmaker[Session]) -> None:
    """Skip the backoff wait (the test does not sleep through it)."""
    with sessions() as s:
        s.execute(update(Notification).values(next_attempt_at=None))
        s.commit()


def test_a_failed_delivery_waits_with_backoff_and_goes_out_once(sessions: sessionmaker[Session]) -> None:
    endpoint = Endpoint()
    activities = NotificationActivities(sessions, endpoint)
    req = NotificationRequest(
        key="wf-1:created", team_id="eastside", kind="assigned", recipient_id="chw-ana", details={}
    )
    assert activities.notify(req) == 1  # the endpoint is down, and the activity does not fail
    [row] = undelivered(sessions)
    assert row.delivery_attempts == 1 and row.last_error == "ConnectionError"
    assert row.next_attempt_at is not None and row.next_attempt_at > datetime.now(UTC)
    box = Outbox(sessions, endpoint)
    assert box.deliver_due() == (0, 0)  # not due yet: backing off
    make_due(sessions)
    assert box.deliver_due() == (0, 1)  # still down: the next wait is longer
    [row] = undelivered(sessions)
    assert row.delivery_attempts == 2
    assert outbox.backoff(2) == 2 * outbox.backoff(1)
    assert outbox.backoff(50) == timedelta(minutes=10)
    endpoint.up = True
    make_due(sessions)
    assert box.deliver_due() == (1, 0)
    assert box.deliver_due() == (0, 0)
    assert activities.notify(req) == 1  # a retried activity finds the row delivered: no resend
    assert endpoint.received == Counter({"wf-1:created:chw-ana": 1})
    assert undelivered(sessions) == []


def test_a_delivery_recorded_after_a_database_blip_is_not_sent_twice(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The endpoint took the notice, then the database was away for a moment as the delivery was
    being recorded: the try waits for it, so the notice is not left to its lease (and sent again)."""
    endpoint = Endpoint()
    endpoint.up = True
    real = outbox.delivered
    blips = {"left": 2}

    def away_twice(session: Session, notification_id: int) -> None:
        if blips["left"]:
            blips["left"] -= 1
            raise OperationalError(
                "UPDATE notifications", {}, ConnectionError("server closed the connection")
            )
        real(session, notification_id)

    monkeypatch.setattr(outbox, "delivered", away_twice)
    req = NotificationRequest(
        key="wf-3:x", team_id="eastside", kind="assigned", recipient_id="chw-ana", details={}
    )
    assert NotificationActivities(sessions, endpoint).notify(req) == 1
    assert blips["left"] == 0
    assert undelivered(sessions) == []
    make_due(sessions)
    assert Outbox(sessions, endpoint).deliver_due() == (0, 0)
    assert endpoint.received == Counter({"wf-3:x:chw-ana": 1})


def test_a_delivery_the_database_could_not_record_for_long_is_recorded_later_not_sent_twice(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database stayed away past the try's patience: the activity fails (Temporal retries
    it), and its retry records the delivery that went out instead of leaving the notice to its
    lease and a second send."""
    endpoint = Endpoint()
    endpoint.up = True
    real = outbox.delivered
    away = {"on": True}

    def maybe_away(session: Session, notification_id: int) -> None:
        if away["on"]:
            raise OperationalError(
                "UPDATE notifications", {}, ConnectionError("server closed the connection")
            )
        real(session, notification_id)

    monkeypatch.setattr(outbox, "delivered", maybe_away)
    monkeypatch.setattr(notifications, "RECORD_PATIENCE_SECONDS", 0.0)
    activities = NotificationActivities(sessions, endpoint)
    req = NotificationRequest(
        key="wf-5:x", team_id="eastside", kind="assigned", recipient_id="chw-ana", details={}
    )
    with pytest.raises(OperationalError):
        activities.notify(req)
    away["on"] = False
    assert activities.notify(req) == 1  # Temporal's retry of the activity
    assert undelivered(sessions) == []
    make_due(sessions)
    assert Outbox(sessions, endpoint).deliver_due() == (0, 0)
    assert endpoint.received == Counter({"wf-5:x:chw-ana": 1})


def test_the_first_delivery_after_an_outage_releases_the_backlog(sessions: sessionmaker[Session]) -> None:
    """Three notices failed while the endpoint was down and wait out their backoff; the first
    notice that goes through once it is back makes them due at once. A row held by a deliverer
    (its lease) is not released."""
    endpoint = Endpoint()
    activities = NotificationActivities(sessions, endpoint)

    def notice(n: int) -> NotificationRequest:
        return NotificationRequest(
            key=f"wf-4:{n}", team_id="eastside", kind="assigned", recipient_id="chw-ana", details={}
        )

    for n in range(3):
        activities.notify(notice(n))
    waiting = undelivered(sessions)
    assert len(waiting) == 3 and all(
        r.next_attempt_at and r.next_attempt_at > datetime.now(UTC) for r in waiting
    )
    with sessions() as s:  # long waits (as after a long outage); another deliverer holds the first one
        later = datetime.now(UTC) + timedelta(minutes=10)
        s.execute(update(Notification).where(Notification.id != waiting[0].id).values(next_attempt_at=later))
        s.execute(update(Notification).where(Notification.id == waiting[0].id).values(next_attempt_at=None))
        s.commit()
        assert outbox.claim(s, waiting[0].id) is not None
    endpoint.up = True
    activities.notify(notice(3))
    box = Outbox(sessions, endpoint)
    assert box.deliver_due() == (2, 0)  # released: due now, not in 10 min
    assert [r.id for r in undelivered(sessions)] == [waiting[0].id]  # still under its lease
    assert endpoint.received == Counter({f"wf-4:{n}:chw-ana": 1 for n in (1, 2, 3)})


def test_one_deliverer_at_a_time(sessions: sessionmaker[Session]) -> None:
    endpoint = Endpoint()
    NotificationActivities(sessions, endpoint).notify(
        NotificationRequest(
            key="wf-2:x", team_id="eastside", kind="assigned", recipient_id="chw-ana", details={}
        )
    )
    make_due(sessions)
    [row] = undelivered(sessions)
    with sessions() as s:
        assert outbox.claim(s, row.id) is not None
    with sessions() as s:
        assert outbox.claim(s, row.id) is None  # held by the first deliverer's lease


async def test_a_resolved_escalation_finishes_while_the_webhook_is_down(
    dev_env: WorkflowEnvironment, sessions: sessionmaker[Session], task_queue: str
) -> None:
    client = dev_env.client
    endpoint = Endpoint()
    async with build_worker(client, task_queue=task_queue, sessions=sessions, channel=endpoint):
        inp = interaction_input(team(), datetime.now(UTC), channel="text", flags=["complaint"])
        await start(client, inp, task_queue)
        row, handle = await escalation_handle(client, sessions, inp.interaction_id)
        await ladder_of_length(sessions, inp.interaction_id, 1)
        resolved = resolved_by_lead(row.id)
        await handle.execute_update(EscalationWorkflow.resolve, resolved)
        result = await asyncio.wait_for(handle.result(), timeout=20)
        assert result["status"] == "resolved"
    waiting = undelivered(sessions)
    assert waiting, "the notices wait in the outbox"
    endpoint.up = True
    make_due(sessions)
    box = Outbox(sessions, endpoint)

    async def all_out() -> bool:
        box.deliver_due()
        return not undelivered(sessions)

    await eventually(all_out)
    assert set(endpoint.received.values()) == {1}
    assert len(endpoint.received) == len(waiting)
