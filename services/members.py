"""A member's contact profile, their time zone and the contact rules in force (docs/rules.md §2.7).

The profile is member data: it lives in SQL only. What a workflow gets is a ``MemberContact``
(a zone name, the window's minutes, when the cap clears) — never the phone or postal code.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from functools import cache
from typing import Any, Literal, NamedTuple
from zoneinfo import available_timezones

import phonenumbers
import zipcodes
from phonenumbers import timezone as phone_timezone
from pydantic import AwareDatetime, BaseModel, Field, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.contact import (
    CAP_PERIOD,
    cap_clears_at,
    contact_window,
    in_window,
    local_hhmm,
    next_window_opening,
    over_daily_cap,
)
from domain.inbound import e164
from domain.messages import MemberContact
from domain.models import AttemptChannel, TeamConfig
from domain.windows import Window, parse_window
from services.schemas import InputModel
from store import phones
from store.models import Attempt, Interaction, Member

ZoneSource = Literal["profile", "postal_code", "phone", "team"]
ConsentStatus = Literal["granted", "refused"]

# BCP 47: a language subtag, then script/region/variant subtags (en, es-MX, zh-Hant-TW).
_BCP47 = re.compile(
    r"^[A-Za-z]{2,3}(-[A-Za-z]{4})?(-([A-Za-z]{2}|[0-9]{3}))?(-([A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))*$"
)
_ZIP = re.compile(r"^\d{5}(-\d{4})?$")

_US_STATES = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA",
    "Colorado": "CO", "Connecticut": "CT", "Delaware": "DE", "District of Columbia": "DC",
    "Washington D.C.": "DC", "Florida": "FL", "Georgia": "GA", "Hawaii": "HI", "Idaho": "ID",
    "Illinois": "IL", "Indiana": "IN", "Iowa": "IA", "Kansas": "KS", "Kentucky": "KY",
    "Louisiana": "LA", "Maine": "ME", "Maryland": "MD", "Massachusetts": "MA", "Michigan": "MI",
    "Minnesota": "MN", "Mississippi": "MS", "Missouri": "MO", "Montana": "MT", "Nebraska": "NE",
    "Nevada": "NV", "New Hampshire": "NH", "New Jersey": "NJ", "New Mexico": "NM", "New York": "NY",
    "North Carolina": "NC", "North Dakota": "ND", "Ohio": "OH", "Oklahoma": "OK", "Oregon": "OR",
    "Pennsylvania": "PA", "Rhode Island": "RI", "South Carolina": "SC", "South Dakota": "SD",
    "Tennessee": "TN", "Texas": "TX", "Utah": "UT", "Vermont": "VT", "Virginia": "VA",
    "Washington": "WA", "West Virginia": "WV", "Wisconsin": "WI", "Wyoming": "WY",
}  # fmt: skip


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


class Consent(InputModel):
    status: ConsentStatus
    # When it was given or refused: a date, or a time with an offset.
    at: AwareDatetime | date
    source: str = Field(min_length=1, max_length=200)


class ChannelConsent(InputModel):
    call: Consent | None = None
    text: Consent | None = None


class MemberProfile(InputModel):
    """The contact profile of ``PUT /v1/teams/{id}/members/{member_id}``; every field optional."""

    # What staff call the member (member data: SQL only, like the phone).
    display_name: str | None = Field(default=None, min_length=1, max_length=200)
    timezone: str | None = Field(default=None, max_length=64)
    postal_code: str | None = Field(default=None, max_length=10)
    phone: str | None = Field(default=None, max_length=20)
    preferred_language: str | None = Field(default=None, max_length=35)
    preferred_channel: Literal["call", "text"] | None = None
    consent: ChannelConsent | None = None
    contact_window: list[str] | None = None

    @field_validator("timezone")
    @classmethod
    def _iana(cls, v: str | None) -> str | None:
        if v is not None and v not in _zones():
            raise ValueError(f"'{v}' is not an IANA time zone (e.g. America/Denver)")
        return v

    @field_validator("postal_code")
    @classmethod
    def _zip(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if not _ZIP.match(v) or _zip_record(v) is None:
            raise ValueError(f"'{v}' is not a known U.S. ZIP code (12345 or 12345-6789)")
        return v

    @field_validator("phone")
    @classmethod
    def _e164(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if not re.fullmatch(r"\+[1-9]\d{1,14}", v):
            raise ValueError("must be an E.164 number: '+' then up to 15 digits, e.g. +13035550123")
        try:
            number = phonenumbers.parse(v)
        except phonenumbers.NumberParseException as err:
            raise ValueError(f"is not a phone number ({err})") from err
        if not phonenumbers.is_valid_number(number):
            raise ValueError(f"'{v}' is not a valid phone number")
        return v

    @field_validator("preferred_language")
    @classmethod
    def _bcp47(cls, v: str | None) -> str | None:
        if v is not None and not _BCP47.match(v):
            raise ValueError(f"'{v}' is not a BCP 47 language tag (e.g. en, es-MX)")
        return v

    @field_validator("contact_window")
    @classmethod
    def _window(cls, v: list[str] | None) -> list[str] | None:
        if v is not None:
            parse_window(v)
        return v


class ResolvedZone(BaseModel):
    zone: str
    source: ZoneSource
    state: str | None = None


def _zip_record(postal_code: str) -> dict[str, Any] | None:
    found: list[dict[str, Any]] = zipcodes.matching(postal_code[:5])  # type: ignore[no-untyped-call]
    return found[0] if found else None


def _phone_state(phone: str) -> str | None:
    # Lazy: the geocoder's place names are ~110 MB resident, loaded by the first number placed
    # (API), not by every process that imports this module (the worker, via reconcile).
    from phonenumbers import geocoder

    number = phonenumbers.parse(phone)
    if phonenumbers.region_code_for_number(number) != "US":
        return None
    return _US_STATES.get(geocoder.description_for_number(number, "en"))


def resolve_zone(profile: MemberProfile, team_zone: str) -> ResolvedZone:
    """The member's zone and where it came from: profile → postal code → phone (one zone) → team.
    The state (for the narrower FL/OK/MD window) comes from the postal code, else the area code."""
    rec = _zip_record(profile.postal_code) if profile.postal_code else None
    state = rec["state"] if rec else (_phone_state(profile.phone) if profile.phone else None)
    if profile.timezone:
        return ResolvedZone(zone=profile.timezone, source="profile", state=state)
    if rec and rec.get("timezone") in _zones():
        return ResolvedZone(zone=rec["timezone"], source="postal_code", state=state)
    if profile.phone:
        zones = [
            z
            for z in phone_timezone.time_zones_for_number(phonenumbers.parse(profile.phone))
            if z in _zones()
        ]
        if len(zones) == 1:
            return ResolvedZone(zone=zones[0], source="phone", state=state)
    return ResolvedZone(zone=team_zone, source="team", state=state)


def profile_of(member: Member | None) -> MemberProfile:
    if member is None or not member.profile:
        return MemberProfile()
    return MemberProfile.model_validate(member.profile)


def window_of(member: Member | None, cfg: TeamConfig) -> tuple[str, Window | None]:
    """The member's zone and contact window in force (None: the rules never meet)."""
    profile = profile_of(member)
    if member is not None and member.zone and member.zone_source != "team":
        zone, state = member.zone, member.state
    else:
        resolved = resolve_zone(profile, cfg.calendar.timezone)
        zone, state = resolved.zone, resolved.state
    own = parse_window(profile.contact_window) if profile.contact_window else None
    return zone, contact_window(state=state, team=parse_window(cfg.contact_window), member=own)


def text_refused(member: Member | None) -> bool:
    return refuses(profile_of(member), "text")


def refuses(profile: MemberProfile, channel: Literal["call", "text"]) -> bool:
    """Whether the member's consent for ``channel`` is refused (e.g. texts after STOP)."""
    found = getattr(profile.consent, channel, None) if profile.consent is not None else None
    return isinstance(found, Consent) and found.status == "refused"


def member_attempt_times(session: Session, team_id: str, member_id: str, since: datetime) -> list[datetime]:
    """Every attempt on any of the member's cases since ``since`` (the daily cap counts them all)."""
    rows = session.scalars(
        select(Attempt.at)
        .join(Interaction, Interaction.id == Attempt.interaction_id)
        .where(Interaction.team_id == team_id, Interaction.member_id == member_id, Attempt.at > since)
    )
    return list(rows)


class AttemptMarks(BaseModel):
    outside_contact_window: bool
    over_daily_cap: bool
    # A text (the attempt's channel) to a member whose text consent is refused (e.g. after STOP).
    consent_refused: bool = False
    contact: MemberContact


class _ContactNow(NamedTuple):
    """What the contact rules read about a member at one instant."""

    member: Member | None
    zone: str
    window: Window | None  # None: the rules never meet
    prior: list[datetime]  # attempts on any of the member's cases in the last 24 hours


def _contact_now(
    session: Session, cfg: TeamConfig, team_id: str, member_id: str | None, at: datetime
) -> _ContactNow:
    """``member_id`` None: a caller the team does not know yet (docs/channels.md): the team's
    zone and window, and no cap until a lead links the case to a member."""
    member = session.get(Member, (team_id, member_id)) if member_id is not None else None
    zone, window = window_of(member, cfg)
    # An attempt stamped after ``at`` (workflow and API clocks differ a little) counts as now.
    since = at - CAP_PERIOD
    times = member_attempt_times(session, team_id, member_id, since) if member_id is not None else []
    prior = [min(t, at) for t in times]
    return _ContactNow(member, zone, window, prior)


def attempt_marks(
    session: Session,
    cfg: TeamConfig,
    team_id: str,
    member_id: str | None,
    at: datetime,
    channel: AttemptChannel | None = None,
) -> AttemptMarks:
    """How an attempt at ``at`` (made by ``channel``, when said) stands against the member's
    window, the daily cap and their text consent, and the member's rules for the workflow to
    schedule the next retry by."""
    now = _contact_now(session, cfg, team_id, member_id, at)
    marks = _marks(cfg, at, now)
    marks.consent_refused = channel == "text" and text_refused(now.member)
    return marks


def _marks(cfg: TeamConfig, at: datetime, now: _ContactNow) -> AttemptMarks:
    zone, window, prior = now.zone, now.window, now.prior
    cap = cfg.max_attempts_per_day
    start, end = window if window is not None else (0, 0)
    return AttemptMarks(
        outside_contact_window=window is None or not in_window(at, zone, window),
        over_daily_cap=over_daily_cap(prior, at, cap),
        contact=MemberContact(
            zone=zone,
            window_start=start,
            window_end=end if window is not None else 0,
            cap_clears_at=cap_clears_at([*prior, at], at, cap),
            text_refused=text_refused(now.member),
        ),
    )


def contact_advice(
    session: Session, cfg: TeamConfig, team_id: str, member_id: str | None, at: datetime
) -> list[str]:
    """What a CHW should know before recording an attempt at ``at``: whether it would be marked
    outside the member's window or over the daily cap, and when that changes (docs/rules.md
    §2.7). Empty when an attempt now carries neither mark."""
    now = _contact_now(session, cfg, team_id, member_id, at)
    marks = _marks(cfg, at, now)
    zone, cap = now.zone, cfg.max_attempts_per_day
    advice = []
    if marks.outside_contact_window:
        if now.window is None:
            advice.append(
                "The member's contact window never opens (their rules do not overlap): an attempt "
                "is recorded as outside the contact window."
            )
        else:
            opens = next_window_opening(at, zone, now.window)
            advice.append(
                f"Outside the member's contact window: it opens {local_hhmm(opens, zone)} "
                f"{zone}. An attempt now is recorded as outside the contact window."
            )
    if marks.over_daily_cap:
        clears = cap_clears_at(now.prior, at, cap)
        when = f"; the cap clears {local_hhmm(clears, zone)} {zone}" if clears else ""
        advice.append(
            f"The member has had {len(now.prior)} attempts in the last 24 hours (daily cap "
            f"{cap}{when}). An attempt now is recorded as over the daily cap."
        )
    return advice


def consent_at(consent: Consent | None) -> datetime | None:
    """When a consent was given or refused; a date counts from its start (UTC), so a keyword
    sent that day is newer."""
    if consent is None:
        return None
    at = consent.at
    if isinstance(at, datetime):
        return at
    return datetime.combine(at, time.min, tzinfo=UTC)


def put_profile(session: Session, member: Member, profile: MemberProfile, team_zone: str) -> None:
    """Store the profile and its resolved zone (with the source) on the member row.

    A STOP the member's number sent the team (``store.phones.refused_by_number``: before the
    member had the number, or since) that is newer than the profile's text consent is the text
    consent in force: the member is never texted because their number was given after their STOP
    (docs/channels.md)."""
    phone = e164(profile.phone) if profile.phone else None
    if phone is not None:
        profile = _with_number_refusal(session, member.team_id, phone, profile)
    resolved = resolve_zone(profile, team_zone)
    member.profile = profile.model_dump(mode="json", exclude_none=True)
    member.zone = resolved.zone
    member.zone_source = resolved.source
    member.state = resolved.state
    # Inbound calls and texts find the member by this (docs/channels.md).
    member.phone = phone


def _with_number_refusal(session: Session, team_id: str, phone: str, profile: MemberProfile) -> MemberProfile:
    refusal = phones.refused_by_number(session, team_id, phone)
    consent = profile.consent or ChannelConsent()
    current = consent_at(consent.text)
    if refusal is None or (current is not None and current >= refusal.at):
        return profile
    text = Consent(status="refused", at=refusal.at, source=refusal.source)
    return profile.model_copy(update={"consent": consent.model_copy(update={"text": text})})
