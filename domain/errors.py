"""The one error vocabulary of Followthrough.

Services raise these classes; workflow validators raise Temporal ``ApplicationError`` whose
``type`` is the class name (``rejection``), so a rejected update comes back to the API as the
same class (``from_application_error``); ``api/errors.py`` maps each class to an HTTP status in
one table. Each error carries a stable ``code`` for the ``{"error": {"code", "message"}}`` body.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType


class DomainError(Exception):
    """Base class: a request broke a business rule (never a bug or an outage)."""

    code: str = "domain_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    """The referenced team, staff member, interaction, escalation or absence does not exist."""

    code = "not_found"


class Conflict(DomainError):
    """The action does not fit the current state (e.g. resolving with an open escalation)."""

    code = "conflict"


class Invalid(DomainError):
    """The input is well-formed but breaks a rule (e.g. empty resolution text)."""

    code = "invalid"


class Forbidden(DomainError):
    """The caller's role may not perform the action."""

    code = "forbidden"


class Unauthorized(DomainError):
    """The caller did not say who they are (no or an unknown token)."""

    code = "unauthorized"


class Unavailable(DomainError):
    """A dependency (Temporal, the database) does not answer: try again after ``retry_after`` s."""

    code = "unavailable"

    def __init__(self, message: str, *, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


ERRORS: Mapping[str, type[DomainError]] = MappingProxyType(
    {cls.__name__: cls for cls in (NotFound, Conflict, Invalid, Forbidden, Unauthorized, Unavailable)}
)


def from_type(type_name: str | None, message: str) -> DomainError:
    """The domain error an ``ApplicationError`` of ``type_name`` stands for (unknown: Conflict)."""
    return ERRORS.get(type_name or "", Conflict)(message)
