"""Business-rule violations shared by the API and workflows.

Each error carries a stable ``code`` so the API can map it to an HTTP status and the
``{"error": {"code", "message"}}`` body without inspecting messages.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base class: a request broke a business rule (never a bug or an outage)."""

    code: str = "domain_error"


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
