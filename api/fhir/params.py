"""Search parameters: what each resource type accepts, parsed into the services' searches.

Every parameter is accounted for: one this server does not support (or a modifier on one) is
400, never ignored. Comma-separated values are OR; only ``_lastUpdated`` may repeat (AND).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from starlette.datastructures import QueryParams

from api.fhir import codes
from api.fhir.http import BadParameter, UnknownParameter
from api.fhir.resources import STAGES_OF_STATUS
from services.fhir import (
    DEFAULT_COUNT,
    MAX_COUNT,
    AttemptSearch,
    CaseSearch,
    CaseStage,
    EscalationSearch,
    Paging,
    UpdatedBound,
)

# Result parameters every search takes (``_cursor`` is the opaque page token of ``link.next``).
RESULT_PARAMETERS = ("_count", "_sort", "_total", "_cursor", "_format")
# The search parameters of each resource type, with their FHIR type (the CapabilityStatement's).
SEARCH_PARAMETERS: dict[str, dict[str, str]] = {
    "Task": {
        "patient": "reference",
        "owner": "reference",
        "status": "token",
        "code": "token",
        "_lastUpdated": "date",
    },
    "Communication": {"part-of": "reference", "patient": "reference", "_lastUpdated": "date"},
    "Flag": {"patient": "reference", "status": "token", "_lastUpdated": "date"},
}

_DATE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.(?P<f>\d{1,9}))?)?(?P<tz>Z|[+-]\d{2}:\d{2}))?)?)?$"
)
PREFIXES = ("gt", "ge", "lt", "le")


@dataclass(frozen=True)
class Search:
    """A parsed search: the parameters (each once, but ``_lastUpdated`` as often as given),
    the updated bounds, the order and the page."""

    values: dict[str, str] = field(default_factory=dict)
    updated: list[UpdatedBound] = field(default_factory=list)
    newest_first: bool = False
    paging: Paging = field(default_factory=Paging)


def parse(resource_type: str, query: QueryParams) -> Search:
    allowed = SEARCH_PARAMETERS[resource_type]
    values: dict[str, str] = {}
    updated: list[UpdatedBound] = []
    for name, value in query.multi_items():
        base = name.split(":", 1)[0]
        if base not in allowed and base not in RESULT_PARAMETERS:
            supported = ", ".join([*allowed, *RESULT_PARAMETERS])
            raise UnknownParameter(
                f"{resource_type} search: parameter '{name}' is not supported ({supported})"
            )
        if ":" in name:
            raise UnknownParameter(f"{resource_type} search: the modifier in '{name}' is not supported")
        if not value.strip():
            raise BadParameter(f"{name}: a value is needed")
        if name == "_lastUpdated":
            updated.extend(last_updated(value))
        elif name in values and name != "_format":
            raise BadParameter(f"{name}: give it once (several values comma-separated mean any of them)")
        else:
            values[name] = value
    return Search(
        values=values,
        updated=updated,
        newest_first=sort(values.get("_sort")),
        paging=Paging(
            cursor=values.get("_cursor"),
            count=count(values.get("_count")),
            total=total(values.get("_total")),
        ),
    )


def count(value: str | None) -> int:
    if value is None:
        return DEFAULT_COUNT
    if not value.isdigit():
        raise BadParameter(f"_count: '{value}' is not a whole number")
    return min(int(value), MAX_COUNT)


def sort(value: str | None) -> bool:
    """True: newest change first. By default, and with ``_sort=_lastUpdated``, oldest first
    (what a client polling with ``_lastUpdated=gt…`` reads to the end)."""
    if value is None or value == "_lastUpdated":
        return False
    if value == "-_lastUpdated":
        return True
    raise BadParameter(f"_sort: '{value}' is not supported (_lastUpdated or -_lastUpdated)")


def total(value: str | None) -> bool:
    """Whether to count the matches (``Bundle.total``): yes, unless ``_total=none``."""
    if value not in (None, "none", "estimate", "accurate"):
        raise BadParameter(f"_total: '{value}' is not one of none, estimate, accurate")
    return value != "none"


def instant_range(value: str) -> tuple[datetime, datetime]:
    """The span a FHIR date or dateTime covers, at its precision: ``2026-03`` is all of March
    (UTC), ``…T10:00:00Z`` one second, ``…T10:00:00.123Z`` one millisecond."""
    m = _DATE.match(value.replace(" ", "+"))  # an unescaped '+' arrives as a space
    if m is None or (m["H"] is not None and m["tz"] is None):
        raise ValueError("not a FHIR date or dateTime (a time needs its zone: Z or ±hh:mm)")
    year, month, day = int(m["y"]), int(m["m"] or 1), int(m["d"] or 1)
    zone = UTC if m["tz"] in (None, "Z") else datetime.strptime(m["tz"].replace(":", ""), "%z").tzinfo
    fraction = (m["f"] or "")[:6]
    start = datetime(
        year,
        month,
        day,
        int(m["H"] or 0),
        int(m["M"] or 0),
        int(m["S"] or 0),
        int(fraction.ljust(6, "0")) if fraction else 0,
        tzinfo=zone,
    )
    if m["m"] is None:
        end = start.replace(year=year + 1)
    elif m["d"] is None:
        end = start + timedelta(days=calendar.monthrange(year, month)[1])
    elif m["H"] is None:
        end = start + timedelta(days=1)
    elif m["S"] is None:
        end = start + timedelta(minutes=1)
    elif not fraction:
        end = start + timedelta(seconds=1)
    else:
        end = start + timedelta(microseconds=10 ** (6 - len(fraction)))
    return start.astimezone(UTC), end.astimezone(UTC)


def last_updated(value: str) -> list[UpdatedBound]:
    """``gt``/``ge``/``lt``/``le`` and a date or dateTime, as bounds on the last change:
    ``gt`` is after the whole span the value covers, ``le`` up to its end."""
    prefix, rest = value[:2], value[2:]
    if not prefix.isalpha():
        raise BadParameter(f"_lastUpdated: '{value}' needs a prefix: {', '.join(PREFIXES)}")
    if prefix not in PREFIXES:
        raise BadParameter(f"_lastUpdated: the prefix '{prefix}' is not supported ({', '.join(PREFIXES)})")
    try:
        start, end = instant_range(rest)
    except (ValueError, OverflowError) as err:
        raise BadParameter(f"_lastUpdated: '{rest}' is {err}") from err
    bound: dict[str, UpdatedBound] = {
        "gt": ("ge", end),
        "ge": ("ge", start),
        "lt": ("lt", start),
        "le": ("lt", end),
    }
    return [bound[prefix]]


# ---------------------------------------------------------------- tokens and references
def tokens(name: str, value: str, system: str) -> list[str]:
    """The codes of a token parameter (``code``, ``system|code``, ``|code``); a code of another
    system matches nothing and is left out."""
    out = []
    for part in value.split(","):
        given, bar, code = part.rpartition("|")
        if not code:
            raise BadParameter(f"{name}: '{part}' names no code")
        if not bar or given in ("", system):
            out.append(code)
    return out


def references(name: str, value: str, kinds: tuple[str, ...]) -> list[tuple[str | None, str]]:
    """``(type, id)`` of each reference (``Type/id``, a full URL ending so, or a bare id, whose
    type is None); a reference to a type outside ``kinds`` matches nothing and is left out."""
    out: list[tuple[str | None, str]] = []
    for part in value.split(","):
        pieces = part.split("/")
        rid = pieces[-1]
        if not rid:
            raise BadParameter(f"{name}: '{part}' names no id")
        kind = pieces[-2] if len(pieces) >= 2 else None
        if len(pieces) >= 4 and pieces[-2] == "_history":  # Type/id/_history/n
            raise BadParameter(f"{name}: a versioned reference '{part}' is not supported")
        if kind is None or kind in kinds:
            out.append((kind, rid))
    return out


def ids(name: str, value: str, kind: str) -> list[str]:
    return [rid for _, rid in references(name, value, (kind,))]


# ---------------------------------------------------------------- per resource type
def task_search(s: Search) -> CaseSearch:
    v = s.values
    stages: list[CaseStage] | None = None
    if "status" in v:
        statuses = tokens("status", v["status"], codes.TASK_STATUS_SYSTEM)
        unknown = [x for x in statuses if x not in codes.TASK_STATUSES]
        if unknown:
            raise BadParameter(f"status: '{unknown[0]}' is not a Task status")
        stages = [stage for x in statuses for stage in STAGES_OF_STATUS[x]]
    if "code" in v and codes.MAKE_CONTACT not in tokens("code", v["code"], codes.SDOHCC_CODES):
        stages = []  # every Task is make-contact: another code matches none
    owners: list[tuple[Literal["staff", "team", "any"], str]] | None = None
    if "owner" in v:
        kinds: dict[str | None, Literal["staff", "team", "any"]] = {
            "Practitioner": "staff",
            "Organization": "team",
            None: "any",
        }
        owners = [
            (kinds[k], rid) for k, rid in references("owner", v["owner"], ("Practitioner", "Organization"))
        ]
    return CaseSearch(
        member_ids=ids("patient", v["patient"], "Patient") if "patient" in v else None,
        owners=owners,
        stages=stages,
        updated=s.updated,
        newest_first=s.newest_first,
    )


def communication_search(s: Search) -> AttemptSearch:
    v = s.values
    return AttemptSearch(
        interaction_ids=ids("part-of", v["part-of"], "Task") if "part-of" in v else None,
        member_ids=ids("patient", v["patient"], "Patient") if "patient" in v else None,
        updated=s.updated,
        newest_first=s.newest_first,
    )


ESCALATION_STATUSES_OF: dict[str, list[str]] = {"active": ["open", "acknowledged"], "inactive": ["resolved"]}


def flag_search(s: Search) -> EscalationSearch:
    v = s.values
    statuses: list[str] | None = None
    if "status" in v:
        given = tokens("status", v["status"], codes.FLAG_STATUS_SYSTEM)
        unknown = [x for x in given if x not in codes.FLAG_STATUSES]
        if unknown:
            raise BadParameter(f"status: '{unknown[0]}' is not a Flag status")
        statuses = [x for g in given for x in ESCALATION_STATUSES_OF.get(g, [])]
    return EscalationSearch(
        member_ids=ids("patient", v["patient"], "Patient") if "patient" in v else None,
        statuses=statuses,
        updated=s.updated,
        newest_first=s.newest_first,
    )
