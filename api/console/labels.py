"""Plain words for every value the console shows: the one place that maps the services'
vocabularies (outcomes, triggers, flags, statuses, roles, channels, timeline kinds) to labels,
staff ids to names, zones to their short form, and durations to days and hours.

Templates never show a raw enum value or a staff id: they go through ``label``, ``who`` and
``zone`` (registered on the templates in ``api.console.common``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

from markupsafe import Markup, escape

from services.public import StaffPublic

WORDS: dict[str, dict[str, str]] = {
    "outcome": {
        "reached": "reached",
        # `replied` is the API's word for "we texted the member back" (SPEC §2.3), not their reply.
        "replied": "texted (no call)",
        "no_answer": "no answer",
        "left_voicemail": "left voicemail",
        "busy": "busy",
        "wrong_number": "wrong number",
    },
    "trigger": {
        "safety": "safety",
        "outside_role": "outside role",
        "complaint": "complaint",
        "sensitive": "sensitive",
        "unreachable": "unreachable",
        "deadline_missed": "deadline missed",
    },
    "flag": {
        "urgent": "urgent",
        "safety": "safety",
        "outside_role": "outside role",
        "complaint": "complaint",
        "sensitive": "sensitive",
    },
    "role": {"chw": "CHW", "lead": "lead", "manager": "manager", "system": "system", "ops": "ops"},
    "channel": {"call": "call", "voicemail": "voicemail", "text": "text message"},
    "timeline": {
        # An inbound text that reads like a request to stop texts (domain.inbound.possible_opt_out):
        # nothing changed; the CHW reads it and asks, or records the refusal in the profile.
        "possible_opt_out": "may be asking us to stop texting: read the text before texting again",
        "consent_changed": "consent changed",
    },
    "escalation": {"open": "not acknowledged", "acknowledged": "acknowledged", "resolved": "resolved"},
    # How the member reached the team (a case's channel, as its tab title says it).
    "received": {"call": "missed call", "voicemail": "voicemail", "text": "text message"},
    "consent": {"granted": "given", "refused": "refused"},
    # A member's preferred language, by its BCP 47 primary subtag (the languages U.S. community
    # health teams hear most; any other shows as its tag).
    "language": {
        "en": "English",
        "es": "Spanish",
        "zh": "Chinese",
        "vi": "Vietnamese",
        "ar": "Arabic",
        "ko": "Korean",
        "ru": "Russian",
        "ht": "Haitian Creole",
        "tl": "Tagalog",
        "fr": "French",
        "pt": "Portuguese",
        "so": "Somali",
        "hmn": "Hmong",
        "am": "Amharic",
        "ne": "Nepali",
        "fa": "Persian",
        "hi": "Hindi",
        "sw": "Swahili",
        "pl": "Polish",
        "my": "Burmese",
    },
    # How an attempt was made.
    "attempt_channel": {"call": "call", "text": "text message", "in_person": "in person", "other": "other"},
}


def label(value: object, kind: str = "") -> str:
    """The words for ``value`` of vocabulary ``kind``; an unknown value with ``_`` as spaces."""
    text = str(value)
    return WORDS.get(kind, {}).get(text) or text.replace("_", " ")


class People:
    """Staff ids to names (a name stays an id only when nobody of that id is known)."""

    def __init__(self, staff: Iterable[StaffPublic] = ()) -> None:
        self.staff = {s.id: s for s in staff}

    def __call__(self, staff_id: str | None) -> str:
        if not staff_id:
            return ""
        found = self.staff.get(staff_id)
        return found.name if found else staff_id

    def with_role(self, s: StaffPublic) -> str:
        """A staff list's entry: "Ana (CHW)"."""
        return _with_role(s.name, s.role)

    def named(self, staff_id: str | None, role: str) -> str:
        """The signed-in person and their role, as the header shows them."""
        return _with_role(self(staff_id) or label(role, "role"), role)

    def role_or_person(self, who: str) -> str:
        """A ladder rung or a notice names a staff id or a role: a name, or the role's words."""
        return self(who) if who in self.staff else label(who, "role")


def _with_role(name: str, role: str) -> str:
    """ "Ana (CHW)"; a name that already says its role is not told twice ("Lee (lead)", never
    "Lee (lead) (lead)")."""
    words = label(role, "role")
    said = name.lower().endswith(f"({words.lower()})") or name == words
    return name if said else f"{name} ({words})"


def zone_short(tz: str, at: datetime | None = None) -> str:
    """The zone's abbreviation now ("CST", "CDT"; "+03" where the zone has no letters)."""
    return (at or datetime.now(UTC)).astimezone(ZoneInfo(tz)).strftime("%Z")


def zone(tz: str) -> Markup:
    """The zone in short form, with its full name as a tooltip (and for screen readers)."""
    return Markup('<abbr title="{full}">{short}</abbr>').format(full=escape(tz), short=zone_short(tz))


_ZONE_NAME = re.compile(r"\b[A-Z][A-Za-z_-]+(?:/[A-Za-z0-9_+-]+)+")
_known_zones = functools.cache(available_timezones)  # 1.4 ms a call: read once per process


def zones_in(text: str) -> Markup:
    """A sentence the services wrote (contact advice says "opens 08:00 America/Chicago") with
    each IANA zone name in it shown as ``zone`` shows it; the rest is escaped as any text."""
    known = _known_zones()
    out, last = Markup(""), 0
    for m in _ZONE_NAME.finditer(text):
        if m.group(0) in known:
            out += escape(text[last : m.start()]) + zone(m.group(0))
            last = m.end()
    return out + escape(text[last:])


def duration(span: timedelta) -> str:
    """A span as a person reads it: "25 min", "3 h 05 min", "2 days 12 h" past a day."""
    minutes = int(abs(span).total_seconds()) // 60
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} day{'' if days == 1 else 's'}" + (f" {hours} h" if hours else "")
    if hours:
        return f"{hours} h {mins:02d} min"
    return f"{mins} min"
