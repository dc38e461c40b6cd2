"""Webhook outage: notices wait in the outbox with backoff and go out once the endpoint is back;
no workflow waits on delivery (a resolved escalation finishes; deadlines keep firing)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from structlog.testing import capture_logs
from temporalio.testing import WorkflowEnvironment

from activities import notifications
from activities.notifications import NotificationActivities, Outbox
from domain.messages import DeliveryRequest, NotificationRequest
from store import outbox
from store.models import Delivery, Notification
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


class GroupEndpoint(Endpoint):
    """``Endpoint`` for grouped deliveries: counts each notice a delivery carries."""

    def deliver(self, body: dict[str, Any]) -> None:
        if not self.up:
            raise ConnectionError("endpoint down")
        self.received.update(str(notice["key"]) for notice in body["notifications"])


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

    def away_twice(session: Session, notification_id: int, token: str) -> bool:
        if blips["left"]:
            blips["left"] -= 1
            raise OperationalError(
                "UPDATE notifications", {}, ConnectionError("server closed the connection")
            )
        return real(session, notification_id, token)

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

    def maybe_away(session: Session, notification_id: int, token: str) -> bool:
        if away["on"]:
            raise OperationalError(
                "UPDATE notifications", {}, ConnectionError("server closed the connection")
            )
        return real(session, notification_id, token)

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


@contextmanager
def away_after_claim(sessions: sessionmaker[Session], table: str) -> Iterator[dict[str, int]]:
    """The database goes away for one statement: the one after the first claim of a row of
    ``table`` (``raised`` counts it)."""
    engine = sessions.kw["bind"]
    fault = {"armed": 0, "raised": 0}

    def away(conn: object, cursor: object, sql: str, params: object, context: object, many: bool) -> None:
        if fault["armed"]:
            fault["armed"], fault["raised"] = 0, 1
            raise OperationalError(sql, {}, ConnectionError("server closed the connection"))
        claim = sql.lstrip().upper().startswith(f"UPDATE {table.upper()}") and "claim_token" in sql
        fault["armed"] = int(claim and "delivery_attempts" in sql and not fault["raised"])

    event.listen(engine, "before_cursor_execute", away)
    try:
        yield fault
    finally:
        event.remove(engine, "before_cursor_execute", away)


@pytest.mark.parametrize("grouped", [False, True], ids=["notice", "grouped delivery"])
def test_a_database_gone_as_a_claim_commits_does_not_hold_the_notice_for_its_lease(
    sessions: sessionmaker[Session], grouped: bool
) -> None:
    """The database went away just after a try claimed its notice (the PostgreSQL outage drill,
    2026-12-06: the claim committed, the read after it failed, the activity's retry found the
    notice held by a lease its first try never saw, and only the dispatcher would send it, 60 s
    later). Now the claim answers its row in the same statement and a grouped delivery reads
    what it carries before the claim commits: the retry sends the notice at once, once."""
    endpoint = GroupEndpoint() if grouped else Endpoint()
    activities = NotificationActivities(sessions, endpoint)
    key = "wf-6:x"
    if grouped:
        notification_id = _notice(sessions, key)  # its own try failed: a delivery will carry it
        endpoint.up = True
        req = DeliveryRequest(
            delivery_id="dlv-6",
            team_id="eastside",
            recipient_id="chw-ana",
            notification_ids=[notification_id],
        )

        def act() -> None:
            activities.deliver_group(req)

    else:
        endpoint.up = True
        notice = NotificationRequest(
            key=key, team_id="eastside", kind="assigned", recipient_id="chw-ana", details={}
        )

        def act() -> None:
            activities.notify(notice)

    with away_after_claim(sessions, "deliveries" if grouped else "notifications") as fault:
        try:
            act()
        except OperationalError:
            act()  # Temporal's retry of the activity
    assert fault["raised"] == 1
    assert undelivered(sessions) == []
    assert endpoint.received == Counter({f"{key}:chw-ana": 1})


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


# ------------------------------------------------------------------ fenced leases (issue 19 §5)
def _notice(sessions: sessionmaker[Session], key: str) -> int:
    """A notice waiting in the outbox, due now (its first try failed)."""
    NotificationActivities(sessions, Endpoint()).notify(
        NotificationRequest(key=key, team_id="eastside", kind="assigned", recipient_id="chw-ana", details={})
    )
    make_due(sessions)
    [row] = undelivered(sessions)
    return row.id


def _row(sessions: sessionmaker[Session], notification_id: int) -> Notification:
    with sessions() as s:
        row = s.get(Notification, notification_id)
        assert row is not None
        return row


class _Ahead(datetime):
    """The Python clock of a worker whose clock runs 90 s ahead."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
        return datetime.now(tz or UTC) + timedelta(seconds=90)


def test_a_worker_whose_clock_runs_ahead_cannot_take_a_held_lease(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One deliverer holds a fresh (60 s) lease; a replica whose clock is 90 s ahead finds nothing
    due and cannot claim it: lease times are the database's, not the workers'."""
    notification_id = _notice(sessions, "wf-6:x")
    with sessions() as s:
        assert outbox.claim(s, notification_id) is not None  # held by a deliverer with a true clock
    held = _row(sessions, notification_id)
    endpoint = Endpoint()
    endpoint.up = True
    for module in (outbox, notifications):
        monkeypatch.setattr(module, "datetime", _Ahead, raising=False)
    ahead = Outbox(sessions, endpoint)
    assert ahead.deliver_due() == (0, 0)  # nothing due for it
    assert ahead.deliver(notification_id) is False
    with sessions() as s:
        assert outbox.claim(s, notification_id) is None
    assert endpoint.received == Counter()
    after = _row(sessions, notification_id)
    assert (after.delivery_attempts, after.next_attempt_at) == (held.delivery_attempts, held.next_attempt_at)


class _Held:
    """A channel whose send takes until the test lets it end, then goes through or fails."""

    def __init__(self, *, fails: bool) -> None:
        self.fails = fails
        self.sending = threading.Event()
        self.finish = threading.Event()
        self.sent: list[str] = []

    def deliver(self, body: dict[str, Any]) -> None:
        self.sending.set()
        assert self.finish.wait(timeout=20)
        if self.fails:
            raise ConnectionError("endpoint down")
        self.sent.append(str(body["id"]))


def _in_thread(fn: Any, *args: Any) -> tuple[threading.Thread, list[Any]]:
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(fn(*args)), daemon=True)
    thread.start()
    return thread, result


@pytest.mark.parametrize("late", ["failed", "delivered"])
def test_a_late_write_of_a_lease_that_ran_out_changes_nothing(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch, late: str
) -> None:
    """A's try outlives its lease; B claims the notice and is sending it when A's outcome arrives:
    A's write (a failure's backoff, or a success) names a claim that is no longer current, so it
    changes nothing and is logged; B's own outcome is what the row keeps."""
    monkeypatch.setattr(outbox, "LEASE", timedelta(seconds=1))
    notification_id = _notice(sessions, "wf-7:x")
    a, b = _Held(fails=late == "failed"), _Held(fails=late == "delivered")
    thread_a, result_a = _in_thread(Outbox(sessions, a).deliver, notification_id)
    assert a.sending.wait(timeout=10)
    time.sleep(1.3)  # A's lease runs out while it is still sending
    thread_b, result_b = _in_thread(Outbox(sessions, b).deliver, notification_id)
    assert b.sending.wait(timeout=10), "B could not claim the notice after A's lease ran out"
    held_by_b = _row(sessions, notification_id)
    assert held_by_b.delivery_attempts == 3 and held_by_b.last_error is None
    with capture_logs() as logs:
        a.finish.set()
        thread_a.join(timeout=20)
    assert result_a == [False]
    now = _row(sessions, notification_id)
    assert (now.delivered_at, now.next_attempt_at, now.last_error, now.delivery_attempts) == (
        None,
        held_by_b.next_attempt_at,
        None,
        3,
    ), "A's late write changed the row B holds"
    assert [e["write"] for e in logs if e["event"] == "outbox.stale_write_refused"] == [late]
    b.finish.set()
    thread_b.join(timeout=20)
    final = _row(sessions, notification_id)
    if late == "failed":  # B's success is recorded
        assert result_b == [True] and final.delivered_at is not None
    else:  # B's failure is recorded: it backs off with B's reason
        assert result_b == [False] and final.delivered_at is None
        assert final.last_error == "ConnectionError" and final.next_attempt_at is not None


def test_a_stale_claim_of_a_grouped_delivery_writes_nothing(sessions: sessionmaker[Session]) -> None:
    """The same fencing for a grouped delivery (docs/rules.md §2.8): a late success of a claim
    that was taken over neither marks the delivery nor the notices it carries."""
    notification_id = _notice(sessions, "wf-8:x")
    with sessions() as s:
        s.add(
            Delivery(
                id="dlv-1",
                team_id="eastside",
                recipient_id="chw-ana",
                notification_ids=[notification_id],
                created_at=datetime.now(UTC),
                delivery_attempts=0,
            )
        )
        s.execute(update(Notification).values(delivery_id="dlv-1"))
        s.commit()
        claimed = outbox.claim_delivery(s, "dlv-1")
        assert claimed is not None and claimed[0].claim_token
        assert [n.id for n in claimed[1]] == [notification_id]  # what the try carries
        first = claimed[0].claim_token
        s.execute(update(Delivery).values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1)))
        s.commit()  # the lease ran out
        claimed = outbox.claim_delivery(s, "dlv-1")
        assert claimed is not None and claimed[0].claim_token
        second = claimed[0].claim_token
        assert second != first
        assert outbox.delivery_done(s, "dlv-1", first) is False
        assert outbox.delivery_failed(s, "dlv-1", "HTTP 503", first) is None
        row = s.get(Delivery, "dlv-1", populate_existing=True)
        assert row is not None and row.delivered_at is None and row.last_error is None
        assert row.claim_token == second
        assert _row(sessions, notification_id).delivered_at is None
        assert outbox.delivery_done(s, "dlv-1", second) is True
    assert _row(sessions, notification_id).delivered_at is not None


def test_lease_times_are_the_databases_and_order_with_stored_times(sessions: sessionmaker[Session]) -> None:
    """``db_clock`` reads the database's clock (UTC) and compares correctly with times the store
    wrote, on SQLite (text) as on PostgreSQL (timestamptz)."""
    notification_id = _notice(sessions, "wf-9:x")
    with sessions() as s:
        db_now = outbox.database_now(s)
        assert db_now.tzinfo is not None and abs(db_now - datetime.now(UTC)) < timedelta(seconds=5)
        for offset, is_due in ((-2.0, True), (5.0, False), (-0.001, True), (30.0, False)):
            at = db_now + timedelta(seconds=offset)
            s.execute(update(Notification).values(next_attempt_at=at))
            s.commit()
            assert (outbox.due(s, limit=10) == [notification_id]) is is_due, (offset, at)
        s.execute(update(Notification).values(next_attempt_at=None))
        s.commit()
        claimed = outbox.claim(s, notification_id)
    assert claimed is not None and claimed.next_attempt_at is not None
    lease = claimed.next_attempt_at - db_now
    assert outbox.LEASE - timedelta(seconds=1) < lease < outbox.LEASE + timedelta(seconds=5)
