"""A referral in (``POST /fhir/r4/Task``): the body parsed with the R4B ``Task`` model, then
checked by our own code (value sets, and what a referral must say), into a
``services.referrals.Referral``. Every problem is reported at once, each with its FHIRPath.

What is read (docs/fhir.md "Referrals in"): ``status`` (requested), ``intent`` (order),
``priority``, ``code`` (make-contact), ``owner`` (``Organization/{team_id}``), ``for``
(``Patient/{member_id}``), ``identifier`` (the first), ``requester``,
``restriction.period.end``, ``reasonCode`` and ``description`` (member text). Other elements
are accepted and not kept, as a FHIR server may do on create.
"""

from __future__ import annotations

import json
from datetime import datetime
from urllib.parse import unquote

from fhir.resources.R4B.reference import Reference
from fhir.resources.R4B.task import Task
from pydantic import ValidationError

from api.fhir import codes
from api.fhir.http import JSON_FORMATS, BadParameter, Unprocessable, UnsupportedMediaType, _media
from services.referrals import Field, Identifier, Party, Referral

# Our Task's elements each field of a referral comes from (for a refusal the service makes).
PATH_OF: dict[Field, str] = {
    "team_id": "Task.owner",
    "member_id": "Task.for",
    "requested_due": "Task.restriction.period.end",
    "text": "Task.description",
}
URGENT = frozenset({"urgent", "asap", "stat"})
IDENTIFIER_MAX = 200


def _path(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as FHIRPath: ``("identifier", 0, "value")`` →
    ``Task.identifier[0].value``."""
    out = "Task"
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += "." + ("resourceType" if part == "resource_type" else part)
    return out


def _id_of(ref: Reference | None, kind: str) -> str | None:
    """``{kind}/{id}``, or the logical reference the read side gives for ids FHIR cannot carry
    (``identifier`` with ``urn:followthrough:{kind}-id``)."""
    if ref is None:
        return None
    if ref.reference:
        head, _, rid = ref.reference.rpartition("/")
        if head.rsplit("/", 1)[-1] == kind and rid:
            return rid
        return None
    ident = ref.identifier
    if ident is not None and ident.system == f"urn:followthrough:{kind.lower()}-id" and ident.value:
        return ident.value
    return None


def _text(task: Task) -> str | None:
    parts: list[str] = []
    if task.description:
        parts.append(task.description)
    for reason in [task.reasonCode] if task.reasonCode else []:
        if reason.text:
            parts.append(reason.text)
        parts += [c.display for c in reason.coding or [] if c.display]
    return "\n".join(parts) or None


def if_none_exist(header: str | None) -> Identifier | None:
    """The condition of ``If-None-Exist`` (a conditional create): ``identifier=[system]|value``,
    or ``identifier=value`` (any system). The only search parameter taken here.

    Raises:
        BadParameter: anything else (400).
    """
    if header is None:
        return None
    query = header.strip().removeprefix("?")
    name, sep, token = query.partition("=")
    if name != "identifier" or not sep or not token or "&" in token or "," in token:
        raise BadParameter(
            f"If-None-Exist '{header}': only 'identifier=[system]|value' is supported (one identifier)"
        )
    token = unquote(token)
    system, bar, value = token.rpartition("|")
    if not value or len(value) > IDENTIFIER_MAX or len(system) > IDENTIFIER_MAX:
        raise BadParameter(
            f"If-None-Exist '{header}': the identifier needs a value (at most {IDENTIFIER_MAX} characters)"
        )
    # "|value": no system; "value": any system.
    return Identifier(system=(system or None) if bar else None, value=value, any_system=not bar)


def parse(body: bytes, content_type: str | None) -> Referral:
    """The referral a ``POST /fhir/r4/Task`` body asks for.

    Raises:
        UnsupportedMediaType: the body is not declared JSON (415).
        Unprocessable: not JSON, not a Task, or not a referral we take (422, with each problem).
    """
    media, _ = _media(content_type or "")
    if media not in JSON_FORMATS:
        raise UnsupportedMediaType(
            f"Content-Type '{content_type or ''}': this server takes {codes.MEDIA_TYPE} only"
        )
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise Unprocessable([("Task", f"the body is not JSON: {err}")]) from err
    if not isinstance(data, dict):
        raise Unprocessable([("Task", "the body is not a JSON object")])
    try:
        task = Task.model_validate(data)
    except ValidationError as err:
        raise Unprocessable([(_path(e["loc"]), e["msg"]) for e in err.errors()]) from err

    problems: list[tuple[str, str]] = []
    if task.status != "requested":
        said = "is not a Task status" if task.status not in codes.TASK_STATUSES else "must be 'requested'"
        problems.append(("Task.status", f"'{task.status}' {said}"))
    if task.intent != "order":
        said = "is not a Task intent" if task.intent not in codes.TASK_INTENTS else "must be 'order'"
        problems.append(("Task.intent", f"'{task.intent}' {said}"))
    if task.priority is not None and task.priority not in codes.REQUEST_PRIORITIES:
        problems.append(("Task.priority", f"'{task.priority}' is not a request priority"))
    codings = task.code.coding or [] if task.code else []
    if not any(c.system == codes.SDOHCC_CODES and c.code == codes.MAKE_CONTACT for c in codings):
        problems.append(("Task.code", f"must be {codes.SDOHCC_CODES}#{codes.MAKE_CONTACT}"))
    team_id = _id_of(task.owner, "Organization")
    if team_id is None:
        problems.append(("Task.owner", "must be Organization/{team_id}: the team to make contact"))
    member_id = _id_of(task.for_fhir, "Patient")
    if member_id is None:
        problems.append(("Task.for", "must be Patient/{member_id}: a member the team knows"))
    identifier = next((i for i in task.identifier or [] if i.value), None)
    if identifier is None:
        problems.append(("Task.identifier", "a referral needs an identifier with a value (yours)"))
    elif len(identifier.value or "") > IDENTIFIER_MAX or len(identifier.system or "") > IDENTIFIER_MAX:
        problems.append(("Task.identifier", f"system and value must be at most {IDENTIFIER_MAX} characters"))
    end = task.restriction.period.end if task.restriction and task.restriction.period else None
    if end is not None and not isinstance(end, datetime):
        problems.append(("Task.restriction.period.end", "must be a dateTime with a time and a zone"))
    requester = None
    if task.requester is not None:
        ref, display = task.requester.reference, task.requester.display
        if (ref and len(ref) > IDENTIFIER_MAX) or (display and len(display) > IDENTIFIER_MAX):
            problems.append(
                ("Task.requester", f"reference and display must be at most {IDENTIFIER_MAX} characters")
            )
        requester = Party(reference=ref, display=display)
    if problems:
        raise Unprocessable(problems)
    assert team_id is not None and member_id is not None and identifier is not None
    return Referral(
        team_id=team_id,
        member_id=member_id,
        identifier_system=identifier.system,
        identifier_value=identifier.value or "",
        requester=requester,
        requested_due=end if isinstance(end, datetime) else None,
        urgent=task.priority in URGENT,
        text=_text(task),
    )
