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

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import httpx
import structlog
from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import InterfaceError, OperationalError, TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks import Webhook
from temporalio import activity
from temporalio.client import Client

from activities.group_signals import GroupSignals
from domain.grouping import TASK_SUBSCRIBER, NotificationPolicy, is_bypass, stored_policy
from domain.ids import case_task_queue, group_workflow_id
from domain.messages import DeliveryRequest, GroupInput, NotificationRequest, TimelineEntry
from domain.notices import Roster, inhibitable, inhibited_by, recipients, roster_needed
from services.faults import crash_point
from store import outbox, repositories as repo
from store.db import unit_of_work
from store.models import Delivery, Notification
from store.projection import add_timeline

log = structlog.get_logger(__name__)

POLICIES_KEPT = 256  # teams' notification policies kept per worker
# A notice's rows written by an earlier try (built once: every notice asks).
_NOTICES_BY_KEY = select(Notification).where(Notification.key.in_(bindparam("keys", expanding=True)))


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


def delivery_body(delivery: Delivery, rows: list[Notification]) -> dict[str, Any]:
    """A grouped delivery (docs/rules.md §2.8): its id, the recipient, and each notice as
    ``GET /v1/notifications`` shows it. The webhook id of a grouped delivery is its ``id``."""
    return {
        "id": delivery.id,
        "recipient_id": delivery.recipient_id,
        "notifications": [notification_body(r) for r in sorted(rows, key=lambda r: r.id)],
    }


def single_body(row: Notification) -> dict[str, Any]:
    """A notice delivered on its own, in the same envelope as a group: the delivery id is the
    notice's outbox key (the same notice always has the same id, so a receiver drops repeats)."""
    return {"id": row.key, "recipient_id": row.recipient_id, "notifications": [notification_body(row)]}


def message_id(body: dict[str, Any]) -> str:
    """The id a receiver de-duplicates by (the ``webhook-id``): the delivery's id."""
    return str(body["key"] if "key" in body else body["id"])


class DeliveryChannel(Protocol):
    def deliver(self, body: dict[str, Any]) -> None: ...


class LogChannel:
    """Default channel: one structured log line per notice."""

    def deliver(self, body: dict[str, Any]) -> None:
        if "notifications" in body and len(body["notifications"]) == 1:
            body = body["notifications"][0]
        if "notifications" in body:
            log.info(
                "notification.group_delivered",
                delivery_id=body["id"],
                recipient_id=body["recipient_id"],
                notifications=len(body["notifications"]),
            )
            return
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
        resp = self._client.post(self._url, content=raw.encode(), headers=self.headers(message_id(body), raw))
        resp.raise_for_status()


@dataclass(frozen=True)
class Written:
    """What ``notify`` needs of a notice row it wrote (or found written)."""

    id: int
    team_id: str
    recipient_id: str
    group_id: str | None
    inhibited_by: str | None
    delivered_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, row: Notification) -> Written:
        return cls(
            row.id,
            row.team_id,
            row.recipient_id,
            row.group_id,
            row.inhibited_by,
            row.delivered_at,
            row.created_at,
        )


class NotificationActivities:
    """Outbox writer and deliverer; ``after_insert`` is a test seam for crash injection."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        channel: DeliveryChannel,
        *,
        after_insert: Callable[[NotificationRequest], None] | None = None,
        client: Client | None = None,
    ) -> None:
        self._sessions = sessions
        self._channel = channel
        self._after_insert = after_insert
        self.outbox = Outbox(sessions, channel)
        self._policies = repo.KeptByTeamConfig(stored_policy, kept=POLICIES_KEPT)
        # Grouping (docs/rules.md §2.8) signals a workflow from this thread on the worker's loop.
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self._groups = GroupSignals(client) if client is not None else None

    @activity.defn(name="notify")
    def notify(self, req: NotificationRequest) -> int:
        """Write the notice for each recipient and see it delivered; returns how many recipients.

        With grouping off (``notifications: null``) each notice is tried once here (the dispatcher
        retries). Otherwise (the team's block, or the defaults without one) a bypass notice
        (safety) goes out at once as a delivery of its own; the others join the recipient's
        grouping workflow. An inhibited notice is recorded, not delivered."""
        rows, policy = self._write(req)
        if self._after_insert is not None:
            self._after_insert(req)
        groups: dict[str, list[int]] = {}
        for row in sorted(rows, key=lambda r: r.id):
            if row.inhibited_by is not None or row.delivered_at is not None:
                continue
            if row.group_id is not None:
                groups.setdefault(row.recipient_id, []).append(row.id)
            elif policy is not None:
                self.deliver_group(
                    DeliveryRequest(
                        delivery_id=f"dlv_n{row.id}",
                        team_id=row.team_id,
                        recipient_id=row.recipient_id,
                        notification_ids=[row.id],
                    )
                )
            else:
                self.outbox.deliver(row.id)
        if groups and policy is not None:
            first = min(r.created_at for r in rows)
            for recipient, group in groups.items():
                self._signal_group(req.team_id, recipient, group, first, policy)
        return len(rows)

    def wants_task_updated(self, session: Session, team_id: str) -> bool:
        """Whether the team's ``notifications`` policy asks for ``task_updated`` notices, read in
        ``session``: the projection activity asks in its own transaction, after writing the row
        (no session of its own for what is, for most teams, no)."""
        policy = self._stored_policy(session, team_id)
        return policy is not None and policy.task_updated

    def task_updated(self, team_id: str, interaction_id: str, version: int) -> None:
        """A ``task_updated`` notice (ids only) to the team's FHIR subscribers
        (``TASK_SUBSCRIBER``), for a team that ``wants_task_updated``: called by the projection
        activity after a case's row changed, through the outbox and grouping as any notice. Its
        key holds the version, so a retried projection writes it once."""
        self.notify(
            NotificationRequest(
                key=f"task_updated:{interaction_id}:v{version}",
                team_id=team_id,
                kind="task_updated",
                recipient_id=TASK_SUBSCRIBER,
                interaction_id=interaction_id,
                details={"resource": f"Task/{interaction_id}", "version": version},
            )
        )

    def _policy(self, session: Session, team_id: str) -> NotificationPolicy | None:
        """The team's notifications policy (the defaults without a block); None when the team
        turned grouping off (``notifications: null``) or without a client to group with.

        Kept by (team, version, updated_at), which every change of a team's config bumps: the
        config's JSON is read and decoded again only when it changed, not for every notice."""
        if self._groups is None or self._loop is None:
            return None
        return self._stored_policy(session, team_id)

    def _stored_policy(self, session: Session, team_id: str) -> NotificationPolicy | None:
        """The team's stored notifications policy (``domain.grouping.stored_policy``; None for no
        team), kept by the team's config stamp: every projection asks (``task_updated``)."""
        found = self._policies.get(session, team_id)
        return None if found is None else found[0]

    def _signal_group(
        self, team_id: str, recipient_id: str, ids: list[int], at: datetime, policy: NotificationPolicy
    ) -> None:
        assert self._groups is not None and self._loop is not None
        group = GroupInput(
            team_id=team_id,
            recipient_id=recipient_id,
            group_wait_seconds=policy.group_wait_seconds,
            group_interval_minutes=policy.group_interval_minutes,
            repeat_interval_minutes=policy.repeat_interval_minutes,
            max_items_per_delivery=policy.max_items_per_delivery,
        )
        # On the cases' queue, also when an escalation's notice starts it: a grouping workflow
        # lives long and hears from every case (domain.ids.case_task_queue).
        task_queue = case_task_queue(activity.info().task_queue)
        handed = self._groups.add(group_workflow_id(team_id, recipient_id), group, ids, at, task_queue)
        asyncio.run_coroutine_threadsafe(handed, self._loop).result(timeout=30)

    @activity.defn(name="deliver_group")
    def deliver_group(self, req: DeliveryRequest) -> int:
        """Make the delivery once (its id is the key) with the notices no delivery carried yet,
        then try it once; the dispatcher retries it. Returns how many notices it carries."""
        now = datetime.now(UTC)
        with unit_of_work(self._sessions) as session:
            found = session.get(Delivery, req.delivery_id)
            if found is None:
                free = list(
                    session.scalars(
                        select(Notification.id).where(
                            Notification.id.in_(req.notification_ids),
                            Notification.delivery_id.is_(None),
                            Notification.delivered_at.is_(None),
                        )
                    )
                )
                if not free:
                    return 0
                session.add(
                    Delivery(
                        id=req.delivery_id,
                        team_id=req.team_id,
                        recipient_id=req.recipient_id,
                        notification_ids=sorted(free),
                        created_at=now,
                        delivery_attempts=0,
                    )
                )
                session.execute(
                    update(Notification)
                    .where(Notification.id.in_(free))
                    .values(delivery_id=req.delivery_id)
                    .execution_options(synchronize_session=False)
                )
                count = len(free)
            else:
                count = len(found.notification_ids)
        self.outbox.deliver_delivery(req.delivery_id)
        return count

    def _inhibitor(self, session: Session, req: NotificationRequest) -> str | None:
        """The open safety escalation that holds the notice back (domain.notices), if any."""
        open_safety = None
        if req.interaction_id is not None and inhibitable(req.kind, req.trigger):
            open_safety = repo.open_safety_escalation(session, req.interaction_id)
        return inhibited_by(req.kind, req.trigger, open_safety)

    def _recipients(self, session: Session, req: NotificationRequest) -> list[str]:
        """Who the notice reaches (domain.notices); who is away is read only when it can matter."""
        roster = Roster()
        if roster_needed(req.kind, req.recipient_id):
            roster = repo.team_roster(session, req.team_id, datetime.now(UTC))
        return recipients(req.kind, req.recipient_id, req.recipient_role, roster)

    def _write(self, req: NotificationRequest) -> tuple[list[Written], NotificationPolicy | None]:
        """Write the notice's rows (once: a retry finds them) and answer them, with the team's
        notifications policy, from the same transaction (nothing read back afterwards)."""
        now = datetime.now(UTC)
        with unit_of_work(self._sessions) as session:
            recipients = self._recipients(session, req)
            if not recipients:
                log.warning("notification.no_recipient", key=req.key, team_id=req.team_id)
            keys = {f"{req.key}:{r}": r for r in recipients}
            inhibitor = self._inhibitor(session, req)
            policy = self._policy(session, req.team_id)
            # Whether the notice joins its recipients' grouping workflows (not a bypass trigger).
            grouping = (
                inhibitor is None and policy is not None and not is_bypass(policy, req.kind, req.trigger)
            )
            existing = {n.key: n for n in session.scalars(_NOTICES_BY_KEY, {"keys": list(keys)})}
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
                    inhibited_by=inhibitor,
                    group_id=group_workflow_id(req.team_id, recipient) if grouping else None,
                )
                session.add(row)
                rows.append(row)
                if inhibitor is not None and req.interaction_id is not None:
                    add_timeline(
                        session,
                        [
                            TimelineEntry(
                                key=f"{key}:inhibited",
                                kind="notice_inhibited",
                                at=now,
                                details={
                                    "recipient_id": recipient,
                                    "trigger": req.trigger,
                                    "inhibited_by": inhibitor,
                                },
                            )
                        ],
                        interaction_id=req.interaction_id,
                    )
            session.flush()
            written = [Written.of(r) for r in [*existing.values(), *rows]]
            return sorted(written, key=lambda w: w.id), policy


def _reason(err: Exception) -> str:
    """Why a delivery failed, without the URL or the answer's body."""
    if isinstance(err, httpx.HTTPStatusError):
        return f"HTTP {err.response.status_code}"
    return type(err).__name__


# How long a delivery try waits for the database to record its outcome (see ``Outbox._record``);
# well inside the notify activity's 30 s start-to-close timeout.
RECORD_PATIENCE_SECONDS = 10.0
# How often, at most, a delivery after failures releases the backlog (see ``Outbox._release_backlog``).
RELEASE_EVERY_SECONDS = 15.0
R = TypeVar("R")
_DB_AWAY = (OperationalError, InterfaceError, PoolTimeout)
# Tries that went out but could not be recorded, even after ``RECORD_PATIENCE_SECONDS`` (per
# process, shared by the notify activity and the dispatcher): written at the next database contact,
# so the row's lease never decides and the notice is not sent a second time.
_unrecorded: dict[str, Callable[[Session], object]] = {}
_unrecorded_lock = threading.Lock()


class Outbox:
    """Delivers outbox rows through a channel: one try per claim, backoff after a failure."""

    def __init__(self, sessions: sessionmaker[Session], channel: DeliveryChannel) -> None:
        self._sessions = sessions
        self._channel = channel
        # A try failed since the last release: the next success releases the backlog (see _send).
        self._failing = False
        self._released_at = 0.0

    def deliver(self, notification_id: int) -> bool:
        """Try one delivery of the notice; True if it is delivered (now or before)."""
        self._write_unrecorded()
        with self._sessions() as session:
            row = outbox.claim(session, notification_id)
            if row is None:
                return False
            body, token = single_body(row), str(row.claim_token)
            self._failing |= row.delivery_attempts > 1  # it failed before: so did the endpoint
        # The try's outcome is written under its claim's token: if the lease ran out meanwhile and
        # another deliverer claimed the notice, the write changes nothing (store/outbox.py).
        return self._send(
            body,
            failed=lambda session, reason: outbox.failed(session, notification_id, reason, token),
            done=lambda session: outbox.delivered(session, notification_id, token),
            event="notification.delivery_failed",
            notification_id=notification_id,
        )

    def deliver_due(self, *, limit: int = 100) -> tuple[int, int]:
        """Try every notice and grouped delivery whose next try is due (oldest first):
        ``(delivered, failed)``."""
        self._write_unrecorded()
        with self._sessions() as session:
            ids = outbox.due(session, limit=limit)
            groups = outbox.due_deliveries(session, limit=limit)
        ok = sum(1 for nid in ids if self.deliver(nid))
        ok += sum(1 for did in groups if self.deliver_delivery(did))
        return ok, len(ids) + len(groups) - ok

    def deliver_delivery(self, delivery_id: str) -> bool:
        """Try one grouped delivery once; True if it is delivered (now or before)."""
        self._write_unrecorded()
        with self._sessions() as session:
            claimed = outbox.claim_delivery(session, delivery_id)
            if claimed is None:
                return False
            row, carried = claimed
            token = str(row.claim_token)
            self._failing |= row.delivery_attempts > 1
            body = delivery_body(row, carried)
        return self._send(
            body,
            failed=lambda session, reason: outbox.delivery_failed(session, delivery_id, reason, token),
            done=lambda session: outbox.delivery_done(session, delivery_id, token),
            event="notification.group_delivery_failed",
            delivery_id=delivery_id,
        )

    def _send(
        self,
        body: dict[str, Any],
        *,
        failed: Callable[[Session, str], datetime | None],
        done: Callable[[Session], bool],
        event: str,
        **ids: object,
    ) -> bool:
        """One try through the channel, outside any transaction; then record success, or the
        failure's reason (status or error type, never the URL) and when the next try is due.
        True if the success was recorded (False: this try's claim had been taken over)."""
        try:
            self._channel.deliver(body)
        except Exception as err:
            reason = _reason(err)
            retry_at = self._record(lambda session: failed(session, reason), **ids)
            log.warning(event, reason=reason, retry_at=retry_at.isoformat() if retry_at else None, **ids)
            self._failing = True
            return False
        crash_point("after_channel_accepted")
        try:
            recorded = self._record(done, **ids)
        except _DB_AWAY:
            with _unrecorded_lock:
                _unrecorded[repr(sorted(ids.items()))] = done
            raise
        self._release_backlog()
        return recorded

    def _write_unrecorded(self) -> None:
        """Record the tries that went out while the database was away (see ``_unrecorded``)."""
        with _unrecorded_lock:
            pending = list(_unrecorded.items())
        for key, done in pending:
            try:
                with self._sessions() as session:
                    done(session)
            except _DB_AWAY:
                return  # still away: the next try, or the next call, writes them
            with _unrecorded_lock:
                _unrecorded.pop(key, None)

    def _release_backlog(self) -> None:
        """After failures, the first delivery that goes through makes every notice waiting out a
        backoff due at once: after a long outage the backlog goes out within seconds of the
        endpoint's return, not at the end of each notice's wait (up to 10 minutes). At most once
        per ``RELEASE_EVERY_SECONDS``, so one notice the endpoint always refuses is not retried
        after every other delivery."""
        if not self._failing or time.monotonic() - self._released_at < RELEASE_EVERY_SECONDS:
            return
        self._failing = False
        self._released_at = time.monotonic()
        released = self._record(outbox.release_backlog)
        if released:
            log.info("notification.backlog_released", notices=released)

    def _record(self, write: Callable[[Session], R], **ids: object) -> R:
        """Write what a try came to, waiting a few seconds for a database that is briefly away
        (a restart, a failover). A delivery that went out but could not be recorded would
        otherwise wait out its lease and then be sent a second time."""
        deadline = time.monotonic() + RECORD_PATIENCE_SECONDS
        pause = 0.25
        while True:
            try:
                with self._sessions() as session:
                    return write(session)
            except _DB_AWAY:
                if time.monotonic() + pause > deadline:
                    raise
                log.warning("notification.record_retry", retry_in=pause, **ids)
                time.sleep(pause)
                pause = min(pause * 2, 2.0)
