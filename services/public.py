"""What the services take and answer: ``XxxCreate`` in, ``XxxPublic`` out, for every front end."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
)

from domain.messages import AbsenceStatus, EscalationStatus, InteractionStatus
from domain.models import AttemptChannel, Channel, Flag, Outcome, PhoneChannel, StaffRole, TeamConfig
from services.members import MemberProfile
from services.schemas import (
    AbsenceCreate as AbsenceCreate,
    ChannelReport as ChannelReport,
    InputModel,
    InteractionCreate as InteractionCreate,
    SlaReport as SlaReport,
    Timestamp,
    in_range,
    not_blank,
)

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class StaffPut(InputModel):
    name: str = Field(min_length=1, max_length=200)
    role: StaffRole


class StaffPublic(BaseModel):
    id: str
    team_id: str
    name: str
    role: StaffRole


class MemberPut(MemberProfile):
    """The owning CHW and the contact profile (docs/rules.md §2.7), all but ``owner_id`` optional."""

    owner_id: str | None


class MemberPublic(BaseModel):
    id: str
    team_id: str
    owner_id: str | None
    profile: dict[str, Any] = Field(default_factory=dict)
    # The member's zone, and where it came from: profile | postal_code | phone | team.
    timezone: str | None = None
    timezone_source: str | None = None
    contact_window: list[str] | None = None


class AttemptCreate(InputModel):
    outcome: Outcome
    # How the attempt was made; a text to a member who refused texts is marked consent_refused.
    channel: AttemptChannel | None = None
    note: str | None = Field(default=None, max_length=10_000)
    # Why the CHW calls outside the member's window or over the daily cap (docs/rules.md §2.7).
    override_reason: str | None = Field(default=None, min_length=1, max_length=2_000)


class FlagCreate(InputModel):
    flag: Flag
    note: str | None = Field(default=None, max_length=10_000)


class AssignCreate(InputModel):
    assignee_id: str | None
    reason: str = Field(default="", max_length=2_000)


class ResolveCreate(InputModel):
    resolution: str = Field(min_length=1, max_length=10_000)

    @field_validator("resolution")
    @classmethod
    def _resolution_not_blank(cls, v: str) -> str:
        return not_blank(v)


class LinkCreate(InputModel):
    """Link the case of a caller the team did not know to a member (docs/channels.md)."""

    member_id: str = Field(min_length=1, max_length=64)


# ---------------------------------------------------------------- inbound (docs/channels.md)
class InboundCreate(InputModel):
    """``POST /v1/inbound``: one call, voicemail or text from any phone system. ``to`` is the
    team's number (E.164); ``from`` the caller's (a withheld one is kept as unknown);
    ``provider_id`` the phone system's id of the contact (a repeat with it changes nothing);
    ``body`` the text (member text: SQL only)."""

    to: str = Field(min_length=2, max_length=16, pattern=r"^\+[1-9]\d{1,14}$")
    from_: str = Field(alias="from", min_length=1, max_length=40)
    channel: PhoneChannel
    at: AwareDatetime
    provider_id: str = Field(min_length=1, max_length=150)
    body: str | None = Field(default=None, max_length=10_000)

    @field_validator("at")
    @classmethod
    def _at_in_range(cls, v: datetime) -> datetime:
        return in_range(v)


InboundOutcome = Literal["opened", "joined", "merged", "opted_out", "opted_in", "ignored"]


class InboundPublic(BaseModel):
    """What an inbound contact did: ``opened`` a case; ``joined`` the case its provider id had
    already opened (a voicemail after the missed call, a repeat); ``merged`` into the member's
    open case (a repeat contact, docs/rules.md §2.10); ``opted_out``/``opted_in`` (a
    keyword: the text consent of ``members``, no case); ``ignored`` (an answered call, HELP)."""

    team_id: str
    outcome: InboundOutcome
    interaction_id: str | None = None
    # The member the caller is (None: unknown, or several share the number); for a keyword,
    # every member with that number whose consent it set.
    member_id: str | None = None
    members: list[str] = Field(default_factory=list)
    # The case is saved but Temporal was not reachable: its workflow is started by reconcile.
    pending: bool = False


class AcknowledgeCreate(InputModel):
    note: str | None = Field(default=None, max_length=10_000)


class EscalationResolveCreate(InputModel):
    """``action_taken`` and ``outcome`` are required when the escalation's rule says so."""

    action_taken: str | None = Field(default=None, max_length=10_000)
    outcome: str | None = Field(default=None, max_length=10_000)


class EscalationAssignCreate(InputModel):
    owner_id: str = Field(min_length=1, max_length=64)
    reason: str = Field(default="", max_length=2_000)


class EscalationNoticePublic(BaseModel):
    level: int
    recipient_id: str | None
    recipient_role: str | None
    at: Timestamp
    reason: str
    # The staff the notice reached (a role fans out to everyone with it), once written.
    recipients: list[str] = Field(default_factory=list)


class EscalationPublic(BaseModel):
    id: str
    workflow_id: str
    interaction_id: str
    team_id: str
    trigger: str
    severity: int
    status: EscalationStatus
    level: int
    levels: int
    clock: str
    documentation_required: bool
    matrix_version: int
    rule: dict[str, Any]
    notified: list[EscalationNoticePublic]
    owner_id: str | None
    started_at: Timestamp
    started_by: str | None
    acknowledged_by: str | None
    acknowledged_at: Timestamp | None
    resolved_by: str | None
    resolved_at: Timestamp | None
    action_taken: str | None
    outcome: str | None
    timeline: list[TimelinePublic] | None = None


class AttemptPublic(BaseModel):
    id: str
    seq: int
    outcome: Outcome
    staff_id: str | None
    at: Timestamp
    note: str | None = None
    outside_contact_window: bool = False
    over_daily_cap: bool = False
    channel: AttemptChannel | None = None
    consent_refused: bool = False
    override_reason: str | None = None


class TimelinePublic(BaseModel):
    """One audit line; built straight from a ``TimelineEvent`` row (``model_validate(row)``)."""

    model_config = ConfigDict(from_attributes=True)

    kind: str
    at: Timestamp
    actor_id: str | None
    details: dict[str, Any]
    note: str | None = None


class InteractionPublic(BaseModel):
    id: str
    workflow_id: str
    team_id: str
    external_id: str
    # None: a caller the team does not know yet (``caller_phone``); a lead links the case.
    member_id: str | None
    channel: Channel
    status: InteractionStatus
    assignee_id: str | None
    assignment_source: str
    received_at: Timestamp
    due_at: Timestamp
    # The deadline the first contact had; ``sla_met`` judges the first response against it
    # (repeat contacts move ``due_at``, never this: docs/rules.md §2.10).
    first_due_at: Timestamp
    first_response_at: Timestamp | None
    sla_met: bool | None
    next_retry_at: Timestamp | None
    urgent: bool
    flags: list[str]
    overdue: bool
    unreachable: bool
    triggers: list[str]
    summary: str | None
    resolution: str | None
    # The number an inbound call or text came from (docs/channels.md); member data.
    caller_phone: str | None = None
    # A referral's identifier, requester and, for a member the team did not know, the referrer's
    # Patient reference (what a lead links by), as the referrer gave them (POST /fhir/r4/Task).
    referral: dict[str, Any] | None = None
    resolved_at: Timestamp | None
    resolved_by: str | None
    # Repeat contacts (docs/rules.md §2.10): contacts in all (the first included), the latest's
    # time (None: only the first); ``merged``: this answer's contact joined the case.
    contacts: int = 1
    last_contact_at: Timestamp | None = None
    merged: bool = False
    attempts: list[AttemptPublic]
    escalations: list[EscalationPublic]
    timeline: list[TimelinePublic] | None = None
    created_at: Timestamp
    updated_at: Timestamp


class NotificationPublic(BaseModel):
    id: int
    recipient_id: str
    team_id: str
    kind: str
    interaction_id: str | None
    escalation_id: str | None
    trigger: str | None
    details: dict[str, Any]
    created_at: Timestamp
    delivered_at: Timestamp | None
    # docs/rules.md §2.8: the grouped delivery that carried it, or the safety escalation that
    # inhibited it (recorded, not delivered).
    delivery_id: str | None = None
    inhibited_by: str | None = None


# ---------------------------------------------------------------- absences (docs/rules.md §2.5)
class AbsenceUpdate(InputModel):
    ends_at: AwareDatetime

    @field_validator("ends_at")
    @classmethod
    def _time_in_range(cls, v: datetime) -> datetime:
        return in_range(v)


class AbsencePublic(BaseModel):
    id: str
    workflow_id: str
    team_id: str
    staff_id: str
    backup_id: str | None
    starts_at: Timestamp
    ends_at: Timestamp
    status: AbsenceStatus
    started_at: Timestamp | None
    ended_at: Timestamp | None
    reason: str | None
    created_by: str | None
    timeline: list[TimelinePublic] | None = None
    created_at: Timestamp
    updated_at: Timestamp


# ---------------------------------------------------------------- teams
class TeamPublic(BaseModel):
    """A team: its id, its version (it grows with every PUT) and its configuration as stored
    (the fields of ``domain.models.TeamConfig``, at the top level)."""

    model_config = ConfigDict(extra="allow")

    id: str
    version: int


# ---------------------------------------------------------------- what pages show
class QueuePublic(BaseModel):
    """One of a team's queues as a page shows it: the cases (``repo.QUEUE_ORDER``), the team's
    configuration (its zone, when a case is due soon, how many attempts it gets; None without a
    team) and its staff (whom a case can be assigned to)."""

    items: list[InteractionPublic]
    team: TeamConfig | None
    staff: list[StaffPublic]
    # The cases' members as ``GET /v1/teams/{id}/members/{member_id}`` answers them, by id (member
    # data: for the page, never logged); a case's member without a profile row is absent.
    members: dict[str, MemberPublic] = Field(default_factory=dict)


class EscalationBoardPublic(BaseModel):
    """A team's unresolved escalations as its Escalations page lists them: the escalations, the
    cases they are about (by id: member, reason, assignee), the team's configuration (its zone
    and calendar, for the acknowledge and resolve deadlines), its staff and the cases' members
    (their names)."""

    items: list[EscalationPublic]
    cases: dict[str, InteractionPublic]
    team: TeamConfig | None
    staff: list[StaffPublic]
    # The cases' members as ``GET /v1/teams/{id}/members/{member_id}`` answers them, by id.
    members: dict[str, MemberPublic] = Field(default_factory=dict)


class CasePublic(BaseModel):
    """A case as its page shows it: the case, its team's configuration and staff, what the
    caller may do on it, and the contact advice before an attempt (empty when not asked for,
    when the caller may not act, or when an attempt now carries no mark)."""

    item: InteractionPublic
    team: TeamConfig | None
    staff: list[StaffPublic]
    can_act: bool
    can_assign: bool
    contact_advice: list[str] = Field(default_factory=list)
    # The case's member as ``GET /v1/teams/{id}/members/{member_id}`` answers them (None: an
    # unknown caller, or no profile row), and the member's other open cases (earliest due first).
    member: MemberPublic | None = None
    other_cases: list[InteractionPublic] = Field(default_factory=list)


class AbsencePlanningPublic(BaseModel):
    """A team's absences as the page that plans them shows them: the scheduled and active ones
    (by ``starts_at``), the team's configuration (its zone; None without a team) and its staff
    (who may be away, and who may cover)."""

    items: list[AbsencePublic]
    team: TeamConfig | None
    staff: list[StaffPublic]


class ReportDaysPublic(BaseModel):
    """The report over whole days as the team reads them (``first`` to ``last``, both included):
    the SLA figures and how long first responses took (open minutes)."""

    first: date
    last: date
    sla: SlaReport
    first_responses: dict[str, int]
