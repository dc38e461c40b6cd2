"""Team configuration models.

These pydantic models are the single validated shape of a team's calendar, policy and
escalation matrix. They are pure: the only outside knowledge they use is the ``holidays``
package, imported lazily so that workflow code (which carries a ``CalendarSnapshot``
instead of a ``CalendarConfig``) never imports it inside the Temporal sandbox.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from datetime import date
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from domain.grouping import NotificationPolicy
from domain.inbound import e164
from domain.windows import parse_window

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Channel = Literal["call", "voicemail", "text", "referral"]
# How a member reaches us by phone (POST /v1/interactions, /v1/inbound); a referral comes as a
# FHIR Task (POST /fhir/r4/Task) only.
PhoneChannel = Literal["call", "voicemail", "text"]
Flag = Literal["urgent", "safety", "outside_role", "complaint", "sensitive"]
Trigger = Literal["safety", "outside_role", "complaint", "sensitive", "unreachable", "deadline_missed"]
# How a CHW made an attempt (the attempt body's optional ``channel``, issue 21).
AttemptChannel = Literal["call", "text", "in_person", "other"]
Outcome = Literal["reached", "replied", "no_answer", "left_voicemail", "busy", "wrong_number"]
StaffRole = Literal["chw", "lead", "manager"]
Role = Literal["system", "chw", "lead", "manager", "ops"]
Clock = Literal["business", "wall"]

WEEKDAYS: tuple[Weekday, ...] = get_args(Weekday)
CHANNELS: tuple[Channel, ...] = get_args(Channel)
PHONE_CHANNELS: tuple[PhoneChannel, ...] = get_args(PhoneChannel)
FLAGS: tuple[Flag, ...] = get_args(Flag)
TRIGGERS: tuple[Trigger, ...] = get_args(Trigger)
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
ATTEMPT_CHANNELS: tuple[AttemptChannel, ...] = get_args(AttemptChannel)
STAFF_ROLES: tuple[StaffRole, ...] = get_args(StaffRole)
ROLES: tuple[Role, ...] = get_args(Role)
CLOCKS: tuple[Clock, ...] = get_args(Clock)
UNSUCCESSFUL_OUTCOMES: tuple[Outcome, ...] = ("no_answer", "left_voicemail", "busy")
# Order of the escalation list ("ordered by severity then age"): harm first, then
# matters the CHW cannot handle, then service failures.
TRIGGER_SEVERITY: Mapping[Trigger, int] = MappingProxyType(
    {
        "safety": 1,
        "sensitive": 2,
        "complaint": 3,
        "outside_role": 4,
        "unreachable": 5,
        "deadline_missed": 6,
    }
)

Interval = tuple[str, str]
WeeklyHours = dict[Weekday, list[Interval]]

_HHMM = re.compile(r"^(\d{2}):(\d{2})$")
_MINUTES_PER_DAY = 24 * 60


def hhmm_to_minutes(value: str, *, is_end: bool) -> int:
    """Parse ``"HH:MM"`` into minutes after midnight.

    ``"24:00"`` is accepted only as an interval end, because it names the midnight that
    closes a day, not a moment inside it.

    Raises:
        ValueError: on anything that is not a valid wall-clock time.
    """
    match = _HHMM.match(value)
    if match is None:
        raise ValueError(f"invalid time {value!r} (expected HH:MM)")
    hours, minutes = int(match.group(1)), int(match.group(2))
    if hours == 24 and minutes == 0:
        if not is_end:
            raise ValueError("'24:00' is only allowed as the end of an interval")
        return _MINUTES_PER_DAY
    if hours > 23 or minutes > 59:
        raise ValueError(f"invalid time {value!r} (expected HH:MM between 00:00 and 24:00)")
    return hours * 60 + minutes


def _check_time_zone(name: str) -> str:
    """Reject names zoneinfo cannot load, so bad zones fail at config time, not in a workflow."""
    if name == "localtime":  # depends on the machine, never a team's zone
        raise ValueError(f"unknown time zone {name!r}")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc
    return name


def _check_hours(hours: WeeklyHours) -> WeeklyHours:
    """Validate and sort weekly intervals; keep weekdays in calendar order for stable JSON."""
    result: WeeklyHours = {}
    any_open = False
    for weekday in WEEKDAYS:
        if weekday not in hours:
            continue
        parsed: list[tuple[int, int, Interval]] = []
        for start, end in hours[weekday]:
            try:
                s = hhmm_to_minutes(start, is_end=False)
                e = hhmm_to_minutes(end, is_end=True)
            except ValueError as exc:
                raise ValueError(f"{weekday}: interval [{start!r}, {end!r}]: {exc}") from exc
            if e <= s:
                raise ValueError(f"{weekday}: interval [{start!r}, {end!r}] must end after it starts")
            parsed.append((s, e, (start, end)))
        parsed.sort()
        for (_, prev_end, _), (next_start, _, _) in itertools.pairwise(parsed):
            if next_start < prev_end:
                raise ValueError(f"overlapping intervals on {weekday}")
        result[weekday] = [interval for _, _, interval in parsed]
        any_open = any_open or bool(parsed)
    if not any_open:
        raise ValueError("the week has no open hours: give at least one interval")
    return result


@lru_cache(maxsize=256)
def _public_holidays(
    country: str, subdivision: str | None, first_year: int, last_year: int
) -> tuple[date, ...]:
    """Resolve public holidays once per (country, subdivision, years); the result never changes."""
    import holidays  # lazy: keeps the package out of the Temporal workflow sandbox

    table = holidays.country_holidays(country, subdiv=subdivision, years=range(first_year, last_year + 1))
    return tuple(sorted(table.keys()))


class CalendarSnapshot(BaseModel):
    """A calendar with holidays already resolved to dates.

    Workflows carry this instead of ``CalendarConfig`` so deadline math is deterministic
    (a new ``holidays`` release cannot change a running workflow) and needs no I/O.
    Built by code, never from a request body, and kept in histories: it ignores unknown fields
    like the models of ``domain.messages`` (docs/adr/message-evolution.md).
    """

    model_config = ConfigDict(extra="ignore")

    timezone: str
    hours: WeeklyHours
    closed_dates: list[date] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _valid_time_zone(cls, value: str) -> str:
        return _check_time_zone(value)

    @field_validator("hours")
    @classmethod
    def _valid_hours(cls, value: WeeklyHours) -> WeeklyHours:
        return _check_hours(value)

    @field_validator("closed_dates")
    @classmethod
    def _sorted_dates(cls, value: list[date]) -> list[date]:
        return sorted(set(value))


class CalendarConfig(BaseModel):
    """A team's business calendar as configured."""

    model_config = ConfigDict(extra="forbid")

    timezone: str
    hours: WeeklyHours
    holiday_country: str | None = None
    holiday_subdivision: str | None = None
    closures: list[date] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _valid_time_zone(cls, value: str) -> str:
        return _check_time_zone(value)

    @field_validator("hours")
    @classmethod
    def _valid_hours(cls, value: WeeklyHours) -> WeeklyHours:
        return _check_hours(value)

    @field_validator("holiday_country")
    @classmethod
    def _valid_country(cls, value: str | None) -> str | None:
        if value is None:
            return None
        import holidays  # lazy: see module docstring

        code = value.strip().upper()
        if code not in holidays.list_supported_countries():
            raise ValueError(f"unknown holiday country {value!r}")
        return code

    @field_validator("closures")
    @classmethod
    def _sorted_closures(cls, value: list[date]) -> list[date]:
        return sorted(set(value))

    @model_validator(mode="after")
    def _valid_subdivision(self) -> CalendarConfig:
        if self.holiday_subdivision is None:
            return self
        if self.holiday_country is None:
            raise ValueError("holiday_subdivision needs a holiday_country")
        import holidays  # lazy: see module docstring

        try:
            holidays.country_holidays(self.holiday_country, subdiv=self.holiday_subdivision)
        except NotImplementedError as exc:
            subdivision, country = self.holiday_subdivision, self.holiday_country
            raise ValueError(f"unknown holiday subdivision {subdivision!r} for country {country!r}") from exc
        return self

    def snapshot(self, first_year: int, last_year: int) -> CalendarSnapshot:
        """Resolve public holidays for ``first_year..last_year`` plus closures into closed dates.

        Raises:
            ValueError: if ``last_year`` is before ``first_year``.
        """
        if last_year < first_year:
            raise ValueError(f"last_year {last_year} is before first_year {first_year}")
        closed = set(self.closures)
        if self.holiday_country is not None:
            country, subdivision = self.holiday_country, self.holiday_subdivision
            closed.update(_public_holidays(country, subdivision, first_year, last_year))
        return CalendarSnapshot(
            timezone=self.timezone,
            hours={day: list(intervals) for day, intervals in self.hours.items()},
            closed_dates=sorted(closed),
        )


class Policy(BaseModel):
    """Deadline and retry knobs of a team."""

    model_config = ConfigDict(extra="forbid")

    same_day_cutoff_minutes: int = Field(default=60, ge=0)
    text_response_business_minutes: int = Field(default=480, gt=0)
    urgent_response_business_minutes: int = Field(default=120, gt=0)
    due_soon_minutes: int = Field(default=60, ge=0)
    retry_spacing_business_minutes: int = Field(default=120, gt=0)
    max_attempts: int = Field(default=3, ge=1)
    # A referral (POST /fhir/r4/Task) without a deadline of its own: due at the close of this
    # many business days after its day of receipt (docs/rules.md §2.2).
    referral_response_business_days: int = Field(default=2, ge=1, le=60)
    # docs/rules.md §2.10: a contact from a member with an open case joins that case instead of
    # opening another. Decided by the service; the workflow only carries it.
    merge_repeat_contacts: bool = True


class EscalationLevel(BaseModel):
    """Who is notified at one escalation level: a role on the team or one named staff member."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["lead", "manager"] | None = None
    staff_id: str | None = Field(default=None, min_length=1, max_length=64)
    ack_within_minutes: int = Field(gt=0)

    @model_validator(mode="after")
    def _exactly_one_target(self) -> EscalationLevel:
        if (self.role is None) == (self.staff_id is None):
            raise ValueError("an escalation level needs exactly one of 'role' or 'staff_id'")
        return self


class EscalationRule(BaseModel):
    """How one trigger escalates."""

    model_config = ConfigDict(extra="forbid")

    levels: list[EscalationLevel] = Field(min_length=1)
    resolve_within_minutes: int = Field(gt=0)
    clock: Clock = "business"
    documentation_required: bool = True


def default_clock(trigger: str) -> Clock:
    """Safety concerns run nights, weekends and holidays; everything else waits for open hours."""
    return "wall" if trigger == "safety" else "business"


def default_escalation_rule(trigger: Trigger) -> EscalationRule:
    """The default rule for a trigger: lead, then manager."""
    ack, resolve = (15, 240) if trigger == "safety" else (60, 480)
    return EscalationRule(
        levels=[
            EscalationLevel(role="lead", ack_within_minutes=ack),
            EscalationLevel(role="manager", ack_within_minutes=ack),
        ],
        resolve_within_minutes=resolve,
        clock=default_clock(trigger),
        documentation_required=True,
    )


class TeamConfig(BaseModel):
    """The body of ``PUT /v1/teams/{team_id}``.

    After validation ``escalation_matrix`` always holds all six triggers, so callers never
    need to fall back to defaults themselves.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    calendar: CalendarConfig
    policy: Policy = Field(default_factory=Policy)
    escalation_matrix: dict[Trigger, EscalationRule] = Field(default_factory=dict)
    # docs/rules.md §2.7: the team's own contact window (member-local), intersected with the
    # legal one and the member's; and the attempts allowed per member in a rolling 24 hours.
    contact_window: list[str] = Field(default_factory=lambda: ["08:00", "21:00"])
    max_attempts_per_day: int = Field(default=3, ge=1, le=50)
    # docs/rules.md §2.8: how notices are grouped into deliveries per recipient. A team without
    # the block gets the defaults; an explicit ``notifications: null`` turns grouping off (every
    # notice its own delivery). Stored as given, so ``null`` round-trips as off.
    notifications: NotificationPolicy | None = Field(default_factory=NotificationPolicy)
    # docs/channels.md: the numbers the team answers (E.164; a number is one team's at most). A
    # call or text to one of them, from the phone system, is this team's.
    phone_numbers: list[str] = Field(default_factory=list, max_length=100)
    # docs/channels.md: phrases that, in an inbound text (any case), raise the case's ``safety``
    # flag (``domain.inbound.screened``).
    screening: list[str] = Field(default_factory=list, max_length=200)

    @field_validator("phone_numbers")
    @classmethod
    def _phone_numbers(cls, v: list[str]) -> list[str]:

        for number in v:
            if not re.fullmatch(r"\+[1-9]\d{1,14}", number) or e164(number) != number:
                raise ValueError(f"'{number}' is not a valid phone number in E.164 (e.g. +13035550123)")
        if len(set(v)) != len(v):
            raise ValueError("a number is listed twice")
        return v

    @field_validator("screening")
    @classmethod
    def _screening(cls, v: list[str]) -> list[str]:
        for phrase in v:
            if not phrase.strip() or len(phrase) > 200:
                raise ValueError("a screening phrase is 1 to 200 characters, not only white space")
        return v

    @field_validator("contact_window")
    @classmethod
    def _contact_window(cls, v: list[str]) -> list[str]:
        parse_window(v)
        return v

    @model_validator(mode="before")
    @classmethod
    def _trigger_clock_defaults(cls, data: Any) -> Any:
        """Give a rule without ``clock`` its trigger's default (wall for safety)."""
        if not isinstance(data, dict) or not isinstance(data.get("escalation_matrix"), dict):
            return data
        matrix: dict[Any, Any] = {}
        for trigger, rule in data["escalation_matrix"].items():
            if isinstance(rule, dict) and "clock" not in rule:
                rule = {**rule, "clock": default_clock(trigger)}
            elif isinstance(rule, EscalationRule) and "clock" not in rule.model_fields_set:
                rule = rule.model_copy(update={"clock": default_clock(trigger)})
            matrix[trigger] = rule
        return {**data, "escalation_matrix": matrix}

    @model_validator(mode="after")
    def _fill_matrix(self) -> TeamConfig:
        given = self.escalation_matrix
        self.escalation_matrix = {t: given[t] if t in given else default_escalation_rule(t) for t in TRIGGERS}
        return self
