"""Domain error hierarchy: stable codes for the API's error body."""

from __future__ import annotations

import pytest

from domain.errors import Conflict, DomainError, Forbidden, Invalid, NotFound


@pytest.mark.parametrize(
    ("error", "code"),
    [(NotFound, "not_found"), (Conflict, "conflict"), (Invalid, "invalid"), (Forbidden, "forbidden")],
)
def test_domain_errors_carry_stable_codes(error: type[DomainError], code: str) -> None:
    raised = error("escalation is still open")
    assert isinstance(raised, DomainError)
    assert raised.code == code
    assert str(raised) == "escalation is still open"
