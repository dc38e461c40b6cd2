"""A refused console form in plain words, field by field: the one mapping from a validator's
error (pydantic's, or a service's ``Invalid`` naming a field) to what a person reads beside the
field it concerns ("Resolution is required.", never "Input should be a valid string").

``FormProblems`` carries the words by form field; ``api.console.common.act`` puts them on the
page shown again (as ``problems``), and the templates put each one next to its field with
``aria-invalid`` and ``aria-describedby``.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from domain.errors import DomainError, Invalid

# Each form field's label, as the console's forms name them (docs/console.md, SPEC's labels).
FIELDS: dict[str, str] = {
    "token": "Token",
    "outcome": "Outcome",
    "channel": "Contacted by",
    "member_id": "Member",
    "note": "Note",
    "override_reason": "Override reason",
    "flag": "Flag",
    "resolution": "Resolution",
    "assignee_id": "Assignee",
    "reason": "Reason",
    "action_taken": "Action taken",
    "staff_id": "Staff",
    "backup_id": "Backup",
    "starts_at": "Starts",
    "ends_at": "Ends",
    "key": "Form",
}
# The forms' names of the times (``Starts: required``) back to their fields.
_BY_LABEL = {words.lower(): name for name, words in FIELDS.items()} | {"new end": "ends_at"}
CHOOSE = {
    "outcome": "an outcome",
    "channel": "how you contacted the member",
    "flag": "a flag",
    "assignee_id": "someone",
    "staff_id": "a person",
}


class FormProblems(Invalid):
    """A form refused before anything was done: plain words for each field that is wrong."""

    def __init__(self, fields: dict[str, str]) -> None:
        self.fields = fields
        super().__init__(" ".join(fields.values()) or "Check the form.")


def _words(name: str, e: dict[str, Any]) -> str:
    """One validator error of field ``name`` in plain words."""
    label = FIELDS.get(name, name.replace("_", " ").capitalize())
    kind, ctx = e.get("type", ""), e.get("ctx") or {}
    given = e.get("input")
    if kind == "missing" or given is None or (kind == "string_too_short" and ctx.get("min_length") == 1):
        return f"Choose {CHOOSE[name]}." if name in CHOOSE else f"{label} is required."
    if kind in ("literal_error", "enum"):
        return f"Choose {CHOOSE.get(name, 'one of the options')} from the list."
    if kind == "string_too_long":
        return f"{label} is too long: at most {ctx.get('max_length')} characters."
    if kind == "string_too_short":
        return f"{label} is too short: at least {ctx.get('min_length')} characters."
    if kind.startswith(("datetime", "timezone")):
        return f"{label}: enter a date and time, such as 2026-12-01 09:00."
    if kind == "value_error":
        return sentence(str(e.get("msg", "")).removeprefix("Value error, "), name)
    return f"{label} is not valid."


def sentence(message: str, name: str = "") -> str:
    """A validator's message as a sentence with the fields' labels ("Ends must be after Starts.")."""
    text = message
    for field, words in FIELDS.items():
        text = re.sub(rf"\b{field}\b", words, text)
    if name and not any(w in text for w in FIELDS.values()):
        text = f"{FIELDS.get(name, name)} {text}"
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else f"{text}."


def _field_of(message: str) -> str | None:
    """The field a validator's message is about: its prefix ("Starts: required") or the first
    field it names ("ends_at must be after starts_at")."""
    head = message.split(":", 1)[0].strip().lower()
    if ":" in message and head in _BY_LABEL:
        return _BY_LABEL[head]
    if head in FIELDS:
        return head
    found = [(m.start(), f) for f in FIELDS if (m := re.search(rf"\b{f}\b", message))]
    return min(found)[1] if found else None


def plain(err: ValidationError) -> dict[str, str]:
    """A pydantic error, field by field, in plain words (the first problem of each field)."""
    out: dict[str, str] = {}
    for e in err.errors():
        loc = e.get("loc") or ()
        name = str(loc[0]) if loc else _field_of(str(e.get("msg", ""))) or ""
        out.setdefault(name, _words(name, dict(e)))
    return out


def problems_of(err: DomainError) -> dict[str, str]:
    """What a refusal says about the form's fields: a ``FormProblems``' own, or a service's
    ``Invalid`` that names a field ("ends_at must be after starts_at") put beside it."""
    if isinstance(err, FormProblems):
        return err.fields
    if not isinstance(err, Invalid):
        return {}
    name = _field_of(err.message)
    if name is None:
        return {}
    head, _, rest = err.message.partition(":")
    said = rest.strip() if head.strip().lower() in _BY_LABEL and rest.strip() else err.message
    return {name: sentence(said, name)}
