"""The notification outbox and its delivery channels.

``notify`` writes one outbox row per recipient under a unique key (workflow id + step +
recipient), then tries each row's delivery once. A retried activity finds the rows already
there. A delivery that fails (the webhook endpoint is down) does not fail the activity: the
row waits in the outbox and the worker's ``workers.outbox.Dispatcher`` tries it again with
backoff until it goes through, so a workflow never waits on a channel (a resolved escalation
finishes at once; deadlines keep firing during an outage). A notice is sent once unless the
channel fails after accepting it (then at-least-once, keyed by ``Idempotency-Key`` for dedupe).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks import Webhook
from temporalio import activity

from domain.messages import NotificationRequest
from store import outbox
from store.db import unit_of_work
from store.models import Notification, Staff
from store.repositories import absent_staff_at

log = structlog.get_logger(__name__)


def notification_body(row: Notification) -> dict[str, Any]:
    """What a channel sends: ids and kinds only, never member text."""
    return {
        "id": row.id,
        "key": row.key,
        "team_id": row.team_id,
        "recipient_id": row.recipient_id,
        "kind": row.kind,
        "interaction_id": row.interaction_id,
        "escalation_id": row.escalation_id,
        "trigger": row.trigger,
        "details": row.payload,
        "created_at": row.created_at.isoformat(),
    }


class DeliveryChannel(Protocol):
    def deliver(self, body: dict[str, Any]) -> None: ...


class LogChannel:
    """Default channel: one structured log line per notice."""

    def deliver(self, body: dict[str, Any]) -> None:
        log.info(
            "notification.delivered",
            notification_id=body["id"],
            kind=body["kind"],
            recipient_id=body["recipient_id"],
            interaction_id=body["interaction_id"],
            escalation_id=body["escalation_id"],
        )


class WebhookChannel:
    """POST JSON signed the Standard Webhooks way; a non-2xx answer raises (the outbox retries).

    Headers: ``webhook-id`` (the outbox key: the same notice always has the same id, so a
    receiver drops repeats), ``webhook-timestamp`` (Unix seconds; receivers refuse old ones, so
    a captured delivery cannot be replayed later) and ``webhook-signature`` (``v1,<base64>``, an
    HMAC-SHA256 of ``id.timestamp.body`` under the ``whsec_…`` secret). Receivers check them
    with any Standard Webhooks library, e.g. ``standardwebhooks.Webhook(secret).verify(body,
    headers)``.
    """

    def __init__(self, url: str, secret: str, *, timeout: float = 10.0) -> None:
        self._url = url
        self._signer = Webhook(secret)
        self._client = httpx.Client(timeout=timeout)

    def headers(self, message_id: str, raw: str, now: datetime | None = None) -> dict[str, str]:
        """The signed headers for one delivery of ``raw`` (the exact body bytes, as text)."""
        sent_at = now or datetime.now(UTC)
        return {
            "Content-Type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": self._signer.sign(message_id, sent_at, raw),
            "Idempotency-Key": message_id,
        }

    def deliver(self, body: dict[str, Any]) -> None:
        raw = json.dumps(body, sort_keys=True, separators=(",", ":"))
        resp = self._client.post(self._url, content=raw.encode(), headers=self.headers(str(body["key"]), raw))
        resp.raise_for_status()


class NotificationActivities:
    """Outbox writer and deliverer; ``after_insert`` is a test seam for crash injection."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        channel: DeliveryChannel,
        *,
        after_insert: Callable[[NotificationRequest], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._channel = channel
        self._after_insert = after_insert
        self.outbox = Outbox(sessions, channel)

    @activity.defn(name="notify")
    def notify(self, req: NotificationRequest) -> int:
        """Write the notice for each recipient and try to deliver it; returns how many recipients."""
        ids = self._write(req)
        if self._after_insert is not None:
            self._after_insert(req)
        for nid in ids:
            self.outbox.deliver(nid)
        return len(ids)

    def _recipients(self, session: Session, req: NotificationRequest) -> list[str]:
        """A named recipient, or everyone of the role who is not away.

        A team without leads on duty tells its managers on duty; if everyone of both roles is
        away, they are all told anyway: a notice about a member is never addressed to nobody.
        """
        if req.recipient_id is not None and req.kind != "escalation":
            return [req.recipient_id]  # the common case: no absence lookup
        away = absent_staff_at(session, req.team_id, datetime.now(UTC))
        if req.recipient_id is not None:
            if req.recipient_id in away:
                # An escalation level names someone who is out of office: it must still reach
                # somebody who can acknowledge it now, so the team's leads on duty are told too.
                return [req.recipient_id, *self._on_duty(session, req.team_id, "lead", away)]
            return [req.recipient_id]
        return self._on_duty(session, req.team_id, req.recipient_role or "lead", away)

    def _on_duty(self, session: Session, team_id: str, role: str, away: set[str]) -> list[str]:
        roles = [role, "manager"] if role == "lead" else [role]
        everyone: list[str] = []
        for r in roles:
            staff = list(
                session.scalars(
                    select(Staff.id).where(Staff.team_id == team_id, Staff.role == r).order_by(Staff.id)
                )
            )
            on_duty = [s for s in staff if s not in away]
            if on_duty:
                return on_duty
            everyone += staff
        return everyone

    def _write(self, req: NotificationRequest) -> list[int]:
        now = datetime.now(UTC)
        with unit_of_work(self._sessions) as session:
            recipients = self._recipients(session, req)
            if not recipients:
                log.warning("notification.no_recipient", key=req.key, team_id=req.team_id)
            keys = {f"{req.key}:{r}": r for r in recipients}
            existing = {
                n.key: n.id
                for n in session.scalars(select(Notification).where(Notification.key.in_(list(keys))))
            }
            rows = []
            for key, recipient in keys.items():
                if key in existing:
                    continue
                row = Notification(
                    key=key,
                    team_id=req.team_id,
                    recipient_id=recipient,
                    kind=req.kind,
                    interaction_id=req.interaction_id,
                    escalation_id=req.escalation_id,
                    trigger=req.trigger,
                    payload=req.details,
                    created_at=now,
                )
                session.add(row)
                rows.append(row)
            session.flush()
            return sorted([*existing.values(), *(r.id for r in rows)])


def _reason(err: Exception) -> str:
    """Why a delivery failed, without the URL or the answer's body."""
    if isinstance(err, httpx.HTTPStatusError):
        return f"HTTP {err.response.status_code}"
    return type(err).__name__


class Outbox:
    """Delivers outbox rows through a channel: one try per claim, backoff after a failure."""

    def __init__(self, sessions: sessionmaker[Session], channel: DeliveryChannel) -> None:
        self._sessions = sessions
        self._channel = channel

    def deliver(self, notification_id: int) -> bool:
        """Try one delivery of the notice; True if it is delivered (now or before)."""
        with self._sessions() as session:
            row = outbox.claim(session, notification_id)
            if row is None:
                return False
            body = notification_body(row)
        try:
            self._channel.deliver(body)  # outside any transaction
        except Exception as err:
            reason = _reason(err)
            with self._sessions() as session:
                retry_at = outbox.failed(session, notification_id, reason)
            log.warning(
                "notification.delivery_failed",
                notification_id=notification_id,
                reason=reason,
                retry_at=retry_at.isoformat() if retry_at else None,
            )
            return False
        with self._sessions() as session:
            outbox.delivered(session, notification_id)
        return True

    def deliver_due(self, *, limit: int = 100) -> tuple[int, int]:
        """Try every notice whose next try is due (oldest first): ``(delivered, failed)``."""
        with self._sessions() as session:
            ids = outbox.due(session, limit=limit)
        ok = sum(1 for nid in ids if self.deliver(nid))
        return ok, len(ids) - ok
