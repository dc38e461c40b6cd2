"""One error vocabulary: services raise it, validators carry it through Temporal, the API maps it."""

from __future__ import annotations

import pytest

from api.errors import STATUS, respond
from domain.errors import ERRORS, Conflict, DomainError, Forbidden, Invalid, NotFound, from_type
from workflows.common import conflict, denied, invalid, rejection


@pytest.mark.parametrize("error", list(ERRORS.values()))
def test_a_validator_rejection_comes_back_as_the_same_error(error: type[DomainError]) -> None:
    failure = rejection(error, "escalation is still open")
    assert failure.non_retryable
    back = from_type(failure.type, failure.message)
    assert type(back) is error
    assert back.message == "escalation is still open"


@pytest.mark.parametrize(
    ("shortcut", "error"), [(conflict, Conflict), (denied, Forbidden), (invalid, Invalid)]
)
def test_validator_shortcuts_name_their_domain_error(shortcut: object, error: type[DomainError]) -> None:
    assert callable(shortcut)
    assert shortcut("no").type == error.__name__


def test_an_unknown_failure_type_is_a_conflict() -> None:
    assert type(from_type("SomethingElse", "x")) is Conflict
    assert type(from_type(None, "x")) is Conflict


@pytest.mark.parametrize("error", list(ERRORS.values()))
def test_every_error_has_one_http_status_and_the_error_body(error: type[DomainError]) -> None:
    assert error in STATUS
    response = respond(error("nope"))
    assert response.status_code == STATUS[error]
    assert response.body == f'{{"error":{{"code":"{error.code}","message":"nope"}}}}'.encode()


def test_statuses_are_the_documented_ones() -> None:
    assert {cls.__name__: code for cls, code in STATUS.items()} == {
        "NotFound": 404,
        "Conflict": 409,
        "Invalid": 422,
        "Forbidden": 403,
        "Unauthorized": 401,
        "Unavailable": 503,
    }
    assert NotFound("x").code == "not_found"
