"""What services take and give that is not a database row: validated commands and the report.

The HTTP API uses these models as request and response bodies too (``api/schemas.py``
re-exports them), so the API, the CLI and the console validate input the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from domain.absences import window_error
from domain.models import Channel, Flag, PhoneChannel

# Every time the API answers with is UTC with an explicit offset: 2026-11-16T23:00:00+00:00.
Timestamp = Annotated[
    datetime, PlainSerializer(lambda d: d.astimezone(UTC).isoformat(), return_type=str, when_used="json")
]


class InputModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _no_nul(cls, v: Any) -> Any:
        # PostgreSQL text cannot hold NUL: refuse it here rather than fail in the database.
        if isinstance(v, str) and "\x00" in v:
            raise ValueError("must not contain NUL characters")
        return v


def not_blank(v: str) -> str:
    if not v.strip():
        raise ValueError("must not be empty")
    return v


def in_range(v: datetime) -> datetime:
    try:
        utc = v.astimezone(UTC)
    except OverflowError as err:
        raise ValueError("is out of range") from err
    if utc.year < 1971 or utc.year > 9000:
        raise ValueError("is out of range")
    return v


class InteractionCreate(InputModel):
    team_id: str = Field(min_length=1, max_length=64)
    external_id: str = Field(min_length=1, max_length=200)
    member_id: str = Field(min_length=1, max_length=64)
    channel: PhoneChannel
    received_at: AwareDatetime
    urgent: bool = False
    flags: list[Flag] = Field(default_factory=list)
    summary: str | None = Field(default=None, max_length=10_000)

    @field_validator("received_at")
    @classmethod
    def _received_at_in_range(cls, v: datetime) -> datetime:
        return in_range(v)


class CaseStart(BaseModel):
    """What starts a case, from any front end: an ``InteractionCreate`` from a backend, or an
    inbound call or text (``services.inbound``), which may come from a number the team does not
    know yet (``member_id`` None, ``caller_phone`` set). Validated before it gets here."""

    team_id: str
    external_id: str
    member_id: str | None
    channel: Channel
    received_at: AwareDatetime
    urgent: bool = False
    flags: list[Flag] = Field(default_factory=list)
    # Member data, SQL only (never in the workflow).
    summary: str | None = None
    caller_phone: str | None = None
    # The response deadline when the front end brings one (a referral's, domain.deadlines.
    # referral_due); None: the channel's rule (domain.deadlines.due_at).
    due_at: AwareDatetime | None = None
    # A referral's identifier and requester as the referrer gave them (SQL only).
    referral: dict[str, Any] | None = None

    @classmethod
    def of(cls, body: InteractionCreate) -> CaseStart:
        return cls.model_validate(body.model_dump())


class AbsenceCreate(InputModel):
    staff_id: str = Field(min_length=1, max_length=64)
    backup_id: str | None = Field(default=None, min_length=1, max_length=64)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    reason: str | None = Field(default=None, max_length=2_000)

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _times_in_range(cls, v: datetime) -> datetime:
        return in_range(v)

    @model_validator(mode="after")
    def _ends_after_start(self) -> AbsenceCreate:
        error = window_error(self.starts_at, self.ends_at)
        if error is not None:
            raise ValueError(error)
        return self


class ChannelReport(BaseModel):
    received: int
    answered_on_time: int
    answered_late: int
    open_overdue: int
    median_first_response_business_minutes: float | None
    first_contact_resolution_rate: float | None
    # Contacts merged into these cases beyond their first (docs/rules.md §2.10).
    repeat_contacts: int


class SlaReport(BaseModel):
    team_id: str
    from_: Timestamp = Field(serialization_alias="from")
    to: Timestamp
    channels: dict[str, ChannelReport]
    escalations_by_trigger: dict[str, int]
    unreachable_rate: float | None
    # docs/rules.md §2.7: attempts made outside the member's window or over the daily cap, and
    # cases that missed the deadline while the member's window allowed no contact before it.
    attempts_outside_contact_window: int = 0
    attempts_over_daily_cap: int = 0
    blocked_by_contact_window: int = 0
