"""Request and response models of the HTTP API (``XxxCreate`` in, ``XxxPublic`` out)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from domain.models import Channel, Flag, Outcome, StaffRole

T = TypeVar("T")

# Every time the API answers with is UTC with an explicit offset: 2026-11-16T23:00:00+00:00.
Timestamp = Annotated[
    datetime, PlainSerializer(lambda d: d.astimezone(UTC).isoformat(), return_type=str, when_used="json")
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _no_nul(cls, v: Any) -> Any:
        # PostgreSQL text cannot hold NUL: refuse it here rather than fail in the database.
        if isinstance(v, str) and "\x00" in v:
            raise ValueError("must not contain NUL characters")
        return v


def _not_blank(v: str) -> str:
    if not v.strip():
        raise ValueError("must not be empty")
    return v


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class StaffPut(_In):
    name: str = Field(min_length=1, max_length=200)
    role: StaffRole


class StaffPublic(BaseModel):
    id: str
    team_id: str
    name: str
    role: StaffRole


class MemberPut(_In):
    owner_id: str | None


class MemberPublic(BaseModel):
    id: str
    team_id: str
    owner_id: str | None


class InteractionCreate(_In):
    team_id: str = Field(min_length=1, max_length=64)
    external_id: str = Field(min_length=1, max_length=200)
    member_id: str = Field(min_length=1, max_length=64)
    channel: Channel
    received_at: AwareDatetime
    urgent: bool = False
    flags: list[Flag] = Field(default_factory=list)
    summary: str | None = Field(default=None, max_length=10_000)

    @field_validator("received_at")
    @classmethod
    def _received_at_in_range(cls, v: datetime) -> datetime:
        # Year 1 or 9999 with an offset cannot even be converted to UTC.
        try:
            utc = v.astimezone(UTC)
        except OverflowError as err:
            raise ValueError("is out of range") from err
        if utc.year < 1971 or utc.year > 9000:
            raise ValueError("is out of range")
        return v


class AttemptCreate(_In):
    outcome: Outcome
    note: str | None = Field(default=None, max_length=10_000)


class FlagCreate(_In):
    flag: Flag
    note: str | None = Field(default=None, max_length=10_000)


class AssignCreate(_In):
    assignee_id: str | None
    reason: str = Field(default="", max_length=2_000)


class ResolveCreate(_In):
    resolution: str = Field(min_length=1, max_length=10_000)

    @field_validator("resolution")
    @classmethod
    def _resolution_not_blank(cls, v: str) -> str:
        return _not_blank(v)


class AcknowledgeCreate(_In):
    note: str | None = Field(default=None, max_length=10_000)


class EscalationResolveCreate(_In):
    """``action_taken`` and ``outcome`` are required when the escalation's rule says so."""

    action_taken: str | None = Field(default=None, max_length=10_000)
    outcome: str | None = Field(default=None, max_length=10_000)


class EscalationAssignCreate(_In):
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
    status: Literal["open", "acknowledged", "resolved"]
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
    member_id: str
    channel: Channel
    status: Literal["open", "attempting", "escalated", "resolved"]
    assignee_id: str | None
    assignment_source: str
    received_at: Timestamp
    due_at: Timestamp
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
    resolved_at: Timestamp | None
    resolved_by: str | None
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


class ChannelReport(BaseModel):
    received: int
    answered_on_time: int
    answered_late: int
    open_overdue: int
    median_first_response_business_minutes: float | None
    first_contact_resolution_rate: float | None


class SlaReport(BaseModel):
    team_id: str
    from_: Timestamp = Field(serialization_alias="from")
    to: Timestamp
    channels: dict[str, ChannelReport]
    escalations_by_trigger: dict[str, int]
    unreachable_rate: float | None


# ---------------------------------------------------------------- absences (SPEC 2.5)
def _in_range(v: datetime) -> datetime:
    try:
        utc = v.astimezone(UTC)
    except OverflowError as err:
        raise ValueError("is out of range") from err
    if utc.year < 1971 or utc.year > 9000:
        raise ValueError("is out of range")
    return v


class AbsenceCreate(_In):
    staff_id: str = Field(min_length=1, max_length=64)
    backup_id: str | None = Field(default=None, min_length=1, max_length=64)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    reason: str | None = Field(default=None, max_length=2_000)

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _times_in_range(cls, v: datetime) -> datetime:
        return _in_range(v)

    @model_validator(mode="after")
    def _ends_after_start(self) -> AbsenceCreate:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class AbsenceUpdate(_In):
    ends_at: AwareDatetime

    @field_validator("ends_at")
    @classmethod
    def _time_in_range(cls, v: datetime) -> datetime:
        return _in_range(v)


class AbsencePublic(BaseModel):
    id: str
    workflow_id: str
    team_id: str
    staff_id: str
    backup_id: str | None
    starts_at: Timestamp
    ends_at: Timestamp
    status: Literal["scheduled", "active", "ended", "cancelled"]
    started_at: Timestamp | None
    ended_at: Timestamp | None
    reason: str | None
    created_by: str | None
    timeline: list[TimelinePublic] | None = None
    created_at: Timestamp
    updated_at: Timestamp
