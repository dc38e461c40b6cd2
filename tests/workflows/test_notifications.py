"""The outbox: a retried notification activity writes once and delivers once (docs/rules.md §2.6)."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks import Webhook, WebhookVerificationError
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.notifications import LogChannel, NotificationActivities, WebhookChannel
from domain.messages import NotificationRequest
from store.db import unit_of_work
from store.models import Absence, Notification, Staff
from tests.conftest import now_of
from tests.workflows.support import eventually, interaction_input, start, team
from workers.main import build_worker

SECRET = "whsec_" + base64.b64encode(b"followthrough-test-webhook-secret").decode()


class Receiver:
    """A local webhook endpoint that records what it was sent."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append((dict(self.headers), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


async def test_retried_notify_writes_one_row_and_calls_the_webhook_once(
    env: WorkflowEnvironment,
    client: Client,
    sessions: sessionmaker[Session],
    task_queue: str,
    receiver: Receiver,
) -> None:
    crashes: list[str] = []

    def crash_once_after_insert(req: NotificationRequest) -> None:
        if req.kind == "assigned" and not crashes:
            crashes.append(req.key)
            raise RuntimeError("worker died after writing the outbox row")

    worker = build_worker(
        client,
        task_queue=task_queue,
        sessions=sessions,
        channel=WebhookChannel(receiver.url, SECRET),
        after_insert=crash_once_after_insert,
    )
    async with worker:
        inp = interaction_input(team(), await now_of(env), channel="call")
        await start(client, inp, task_queue)

        def delivered() -> list[Notification]:
            with sessions() as s:
                rows = list(
                    s.scalars(select(Notification).where(Notification.interaction_id == inp.interaction_id))
                )
            return [r for r in rows if r.delivered_at is not None]

        async def check() -> list[Notification]:
            return delivered()

        rows = await eventually(check, within=30)
    assert crashes, "the first attempt did crash"
    assert len(rows) == 1 and rows[0].kind == "assigned" and rows[0].recipient_id == "chw-ana"
    assert rows[0].delivery_attempts == 1
    assert len(receiver.calls) == 1
    headers, body = receiver.calls[0]
    sent = Webhook(SECRET).verify(body, headers)
    assert headers["webhook-id"] == rows[0].key  # receivers drop a repeat by its id
    assert headers["webhook-signature"].startswith("v1,")
    assert sent["id"] == rows[0].key and sent["recipient_id"] == "chw-ana"
    [notice] = sent["notifications"]
    assert notice["kind"] == "assigned" and notice["interaction_id"] == inp.interaction_id


def test_a_replayed_or_tampered_webhook_fails_verification() -> None:
    """Standard Webhooks: the signature covers id, timestamp and body; old deliveries are refused."""
    channel = WebhookChannel("http://127.0.0.1:9/hook", SECRET)
    raw = json.dumps({"id": 1, "key": "k:1", "kind": "assigned"})
    now = datetime.now(UTC)
    headers = channel.headers("k:1", raw, now)
    assert Webhook(SECRET).verify(raw, headers)["kind"] == "assigned"
    with pytest.raises(WebhookVerificationError):  # replayed an hour later
        Webhook(SECRET).verify(raw, channel.headers("k:1", raw, now - timedelta(hours=1)))
    with pytest.raises(WebhookVerificationError):  # body changed on the way
        Webhook(SECRET).verify(raw.replace("assigned", "resolved"), headers)
    with pytest.raises(WebhookVerificationError):  # another notice's id
        Webhook(SECRET).verify(raw, {**headers, "webhook-id": "k:2"})
    other = "whsec_" + base64.b64encode(b"another-receivers-secret-value!!").decode()
    with pytest.raises(WebhookVerificationError):  # signed with someone else's secret
        Webhook(other).verify(raw, headers)


def _away(sessions: sessionmaker[Session], staff_id: str, absence_id: str) -> None:
    now = datetime.now(UTC)
    with unit_of_work(sessions) as s:
        s.add(
            Absence(
                id=absence_id,
                workflow_id=f"absence:{absence_id}",
                team_id="eastside",
                staff_id=staff_id,
                starts_at=now - timedelta(hours=1),
                ends_at=now + timedelta(hours=8),
                status="active",
                version=1,
                created_at=now,
                updated_at=now,
            )
        )


def test_role_notices_skip_staff_who_are_away(sessions: sessionmaker[Session]) -> None:
    """Leads on duty are told; with every lead away, the managers; with everyone away, all of them."""
    notify = NotificationActivities(sessions, LogChannel()).notify

    def tell(key: str, role: str = "lead") -> list[str]:
        notify(NotificationRequest(key=key, team_id="eastside", kind="unassigned", recipient_role=role))
        with sessions() as s:
            rows = s.scalars(select(Notification).where(Notification.key.like(f"{key}:%")))
            return sorted(n.recipient_id for n in rows)

    with unit_of_work(sessions) as s:
        s.add(Staff(id="lead-2", team_id="eastside", name="lead-2", role="lead"))
    assert tell("k1") == ["lead-1", "lead-2"]
    _away(sessions, "lead-1", "a1")
    assert tell("k2") == ["lead-2"]
    _away(sessions, "lead-2", "a2")
    assert tell("k3") == ["mgr-1"]
    _away(sessions, "mgr-1", "a3")
    assert tell("k4") == ["lead-1", "lead-2", "mgr-1"]  # never nobody
    assert tell("k5", role="manager") == ["mgr-1"]


def test_an_escalation_naming_someone_away_also_reaches_the_leads_on_duty(
    sessions: sessionmaker[Session],
) -> None:
    notify = NotificationActivities(sessions, LogChannel()).notify

    def tell(key: str, kind: str) -> list[str]:
        notify(NotificationRequest(key=key, team_id="eastside", kind=kind, recipient_id="chw-ben"))
        with sessions() as s:
            rows = s.scalars(select(Notification).where(Notification.key.like(f"{key}:%")))
            return sorted(n.recipient_id for n in rows)

    assert tell("e1", "escalation") == ["chw-ben"]
    _away(sessions, "chw-ben", "b1")
    assert tell("e2", "escalation") == ["chw-ben", "lead-1"]
    assert tell("e3", "assigned") == ["chw-ben"]  # other notices keep their addressee
