"""SQLAlchemy 2.0 typed models: the read model, audit timeline and notification outbox.

Temporal owns the state of every promise; these tables are its projection, written by
activities, plus the member text (summaries, notes, resolutions) that must never enter a
workflow history.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    config: Mapped[dict[str, Any]]
    # Bumped on every PUT: escalations record which matrix version they run.
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime]


class Staff(Base):
    __tablename__ = "staff"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))


class Member(Base):
    __tablename__ = "members"
    __table_args__ = (
        # An inbound call or text finds its member by the number (docs/channels.md).
        Index("ix_members_phone", "team_id", "phone"),
    )

    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner_id: Mapped[str | None] = mapped_column(ForeignKey("staff.id"), nullable=True)
    # The contact profile (services.members.MemberProfile), member data: SQL only.
    profile: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The resolved time zone, where it came from (profile | postal_code | phone | team), and the
    # U.S. state when known (FL, OK and MD narrow the contact window).
    zone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    zone_source: Mapped[str | None] = mapped_column(String(16), nullable=True)
    state: Mapped[str | None] = mapped_column(String(2), nullable=True)
    # The profile's phone in E.164 (``domain.inbound.e164``), member data: SQL only.
    phone: Mapped[str | None] = mapped_column(String(20), nullable=True)


class TeamPhoneNumber(Base):
    """A number a team answers (team config ``phone_numbers``): an inbound call or text to it is
    that team's. The primary key makes a number one team's at most (docs/channels.md)."""

    __tablename__ = "team_phone_numbers"

    number: Mapped[str] = mapped_column(String(20), primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"), index=True)


class PhoneConsent(Base):
    """The last text keyword (STOP, START, …) a team received from a number (docs/channels.md):
    a STOP from a number no member has yet is honoured for the member who gets it later. Member
    data (a phone number): SQL only. ``status`` ``refused`` (an opt-out) or ``granted`` (an
    opt-in, which clears the refusal); ``source`` says the keyword and the provider's message id."""

    __tablename__ = "phone_consents"

    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"), primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime]


class Absence(Base):
    """An absence: the API inserts it, the AbsenceWorkflow's activities keep it current."""

    __tablename__ = "absences"
    __table_args__ = (
        Index("ix_absences_staff", "staff_id", "status", "starts_at"),
        Index("ix_absences_team", "team_id", "status", "starts_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(300), unique=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"))
    staff_id: Mapped[str] = mapped_column(ForeignKey("staff.id"))
    backup_id: Mapped[str | None] = mapped_column(ForeignKey("staff.id"), nullable=True)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    # scheduled | active | ended | cancelled
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(nullable=True)
    signalled_at_start: Mapped[int] = mapped_column(Integer, default=0)
    signalled_at_end: Mapped[int] = mapped_column(Integer, default=0)
    # Free text from staff: stored here only, never in Temporal.
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


def _first_due_at(context: DefaultExecutionContext) -> Any:
    """A new interaction row's ``first_due_at``: its ``due_at`` (no repeat contact yet)."""
    return context.get_current_parameters()["due_at"]  # type: ignore[no-untyped-call]


class Interaction(Base):
    __tablename__ = "interactions"
    __table_args__ = (
        UniqueConstraint("team_id", "external_id"),
        Index("ix_interactions_queue", "team_id", "status", "due_at"),
        Index("ix_interactions_assignee", "assignee_id", "status", "due_at"),
        # The hand-back at the end of an absence finds the cases it moved by their source.
        Index("ix_interactions_source", "assignment_source", "status"),
        # The FHIR Task search pages by last change (store.repositories.search_interactions):
        # one owner's cases, or a team's (polling with _lastUpdated).
        Index("ix_interactions_assignee_updated", "assignee_id", "updated_at", "id"),
        Index("ix_interactions_team_updated", "team_id", "updated_at", "id"),
        # A member's cases: the safety inhibitor of each escalation notice, the repeat-contact
        # merge, the daily cap's attempts (store.repositories.open_safety_escalation, …).
        Index("ix_interactions_member", "team_id", "member_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(300), unique=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"))
    external_id: Mapped[str] = mapped_column(String(200))
    # NULL: a caller whose number the team does not know yet (a lead links the case to a member).
    member_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="open")
    assignee_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    assignment_source: Mapped[str] = mapped_column(String(100), default="owner")
    received_at: Mapped[datetime]
    due_at: Mapped[datetime]
    # The deadline the first contact had (docs/rules.md §2.10): repeat contacts move ``due_at``,
    # never this; the SLA report judges the first response against it. A new row: its ``due_at``.
    first_due_at: Mapped[datetime] = mapped_column(default=_first_due_at)
    first_response_at: Mapped[datetime | None] = mapped_column(nullable=True)
    next_retry_at: Mapped[datetime | None] = mapped_column(nullable=True)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    flags: Mapped[list[Any]] = mapped_column(default=list)
    overdue: Mapped[bool] = mapped_column(Boolean, default=False)
    unreachable: Mapped[bool] = mapped_column(Boolean, default=False)
    triggers: Mapped[list[Any]] = mapped_column(default=list)
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    first_attempt_outcome: Mapped[str | None] = mapped_column(String(32), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Repeat contacts merged into the case (docs/rules.md §2.10): contacts in all, the latest's time.
    contacts: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    last_contact_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # Member data: stored here only, never in Temporal.
    summary: Mapped[str | None] = mapped_column(Text, nullable=True)
    resolution: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The number an inbound contact came from (E.164), member data: SQL only, never in Temporal.
    caller_phone: Mapped[str | None] = mapped_column(String(20), nullable=True)
    # A referral (channel "referral", POST /fhir/r4/Task): the referrer's identifier of it and who
    # referred ({"identifier": {"system", "value"}, "requester": {"reference", "display"}}); SQL only.
    referral: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # Highest workflow state version projected; stale projections are ignored.
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class InteractionContact(Base):
    """A repeat contact merged into an open case (docs/rules.md §2.10): its ``external_id`` (the
    provider's id, or a backend's) answers that case again, and the SLA report counts it."""

    __tablename__ = "interaction_contacts"
    __table_args__ = (UniqueConstraint("team_id", "external_id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"))
    external_id: Mapped[str] = mapped_column(String(200))
    interaction_id: Mapped[str] = mapped_column(ForeignKey("interactions.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime]
    created_at: Mapped[datetime]


class Attempt(Base):
    __tablename__ = "attempts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    interaction_id: Mapped[str] = mapped_column(ForeignKey("interactions.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(32))
    staff_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # docs/rules.md §2.7: made outside the member's contact window / over the daily cap.
    outside_contact_window: Mapped[bool] = mapped_column(Boolean, default=False)
    over_daily_cap: Mapped[bool] = mapped_column(Boolean, default=False)
    # Issue 21: how the attempt was made (call | text | in_person | other; NULL: not said), and
    # whether it was a text to a member whose text consent was refused.
    channel: Mapped[str | None] = mapped_column(String(16), nullable=True)
    consent_refused: Mapped[bool] = mapped_column(Boolean, default=False)
    # The CHW's reason for an attempt outside the window or over the cap (member data: SQL only).
    override_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    at: Mapped[datetime]
    note: Mapped[str | None] = mapped_column(Text, nullable=True)


class TimelineEvent(Base):
    __tablename__ = "timeline_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # workflow id + step: a retried activity never records an event twice.
    key: Mapped[str] = mapped_column(String(400), unique=True)
    interaction_id: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    escalation_id: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    absence_id: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    kind: Mapped[str] = mapped_column(String(64))
    actor_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    at: Mapped[datetime]
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_recipient", "recipient_id", "created_at"),
        Index("ix_notifications_undelivered", "delivered_at", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(400), unique=True)
    team_id: Mapped[str] = mapped_column(String(64), index=True)
    recipient_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    interaction_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    escalation_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    trigger: Mapped[str | None] = mapped_column(String(32), nullable=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None] = mapped_column(nullable=True)
    delivery_attempts: Mapped[int] = mapped_column(Integer, default=0)
    # When the outbox may try this notice next: a lease while one deliverer holds it, then the
    # backoff after a failed try. NULL: due now.
    next_attempt_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # Why the last try failed, without addresses ("HTTP 503", "ConnectError").
    last_error: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # The current claim's random token (store/outbox.py): a try's outcome is written only under it.
    claim_token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # docs/rules.md §2.8: the recipient's grouping workflow that holds this notice (the outbox
    # leaves it alone), the delivery that carried it, and the safety escalation that inhibited it.
    group_id: Mapped[str | None] = mapped_column(String(300), nullable=True)
    delivery_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    inhibited_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Delivery(Base):
    """One grouped webhook delivery (docs/rules.md §2.8): its notices, and its outbox bookkeeping."""

    __tablename__ = "deliveries"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    team_id: Mapped[str] = mapped_column(String(64), index=True)
    recipient_id: Mapped[str] = mapped_column(String(64))
    notification_ids: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None] = mapped_column(nullable=True)
    delivery_attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(200), nullable=True)
    claim_token: Mapped[str | None] = mapped_column(String(32), nullable=True)


class Escalation(Base):
    """One escalation: the ladder's projection plus the resolution texts."""

    __tablename__ = "escalations"
    __table_args__ = (
        # GET /v1/escalations: a team's open ones by severity, then age.
        Index("ix_escalations_queue", "team_id", "status", "severity", "started_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(300), index=True)
    interaction_id: Mapped[str] = mapped_column(ForeignKey("interactions.id"), index=True)
    team_id: Mapped[str] = mapped_column(String(64))
    trigger: Mapped[str] = mapped_column(String(32))
    severity: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="open")
    level: Mapped[int] = mapped_column(Integer, default=1)
    clock: Mapped[str] = mapped_column(String(16))
    documentation_required: Mapped[bool] = mapped_column(Boolean, default=True)
    # The matrix rule this escalation runs (snapshot at start) and the team's matrix version.
    rule: Mapped[dict[str, Any]] = mapped_column(default=dict)
    matrix_version: Mapped[int] = mapped_column(Integer)
    notified: Mapped[list[Any]] = mapped_column(default=list)
    owner_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    started_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # Member data: stored here only, never in Temporal.
    action_taken: Mapped[str | None] = mapped_column(Text, nullable=True)
    outcome: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime]


class PendingText(Base):
    """Member text an action brings (a note, a resolution, documentation), stored before the
    workflow update runs, under a key derived from the action's Idempotency-Key (one action, not
    one case or escalation): a retry finds it, and only the action whose update won places it in
    its home, so two people acting at once never overwrite or delete each other's words.

    ``author_id`` is who wrote it (the action's actor), so whatever places it later can say so.
    """

    __tablename__ = "pending_texts"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    author_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(index=True)


class IdempotentAnswer(Base):
    """The answer an action with an ``Idempotency-Key`` gave, so a repeat answers the same.

    ``status`` is NULL while the first request is still running (or died before answering).
    """

    __tablename__ = "idempotent_answers"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    body: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(index=True)


class ConsoleSession(Base):
    """A console sign-in (``api.console.security``), so signing out ends it server-side: a
    copied cookie stops working. ``id`` is the SHA-256 of the random session id the sealed
    cookie carries (the database never holds what the cookie holds); the row is deleted at
    sign-out and purged once expired (``workers.retention``).
    """

    __tablename__ = "console_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime]
    # At most ``CONSOLE_SESSION_HOURS`` after ``created_at``, whatever the cookie says.
    expires_at: Mapped[datetime] = mapped_column(index=True)


class ServiceToken(Base):
    """A backend's bearer token, stored as its SHA-256 only (``followthrough token create``)."""

    __tablename__ = "service_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    staff_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Lease(Base):
    """A named lease that one process holds at a time (``store.leases``): e.g. ``reconcile``,
    run by one worker replica at a time. Times are the database's clock; ``token`` fences it."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    # The current holder's random token (NULL: free) and who it is (host:pid, for ops).
    token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    holder: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # The holder keeps the lease until then unless it renews it.
    expires_at: Mapped[datetime]
    # When the scheduled job is due again (a periodic job's replicas wait until then).
    next_run_at: Mapped[datetime | None] = mapped_column(nullable=True)


class ReconcileFigure(Base):
    """What ``followthrough reconcile`` found, summed over every run (``/metrics`` reads it):
    one row per difference kind, and the row ``run`` counting runs (its ``updated_at``: when the
    last whole run finished)."""

    __tablename__ = "reconcile_figures"

    kind: Mapped[str] = mapped_column(String(64), primary_key=True)
    total: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime]
