"""The one mapping from a validator's error to plain words beside a field (``api.console.form_errors``):
no raw pydantic text ("Input should be a valid string", "Value error, …") and no field names
(``ends_at``) reach a person."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from api.console.common import build
from api.console.form_errors import problems_of
from domain.errors import Conflict, Invalid
from services.public import AssignCreate, AttemptCreate, ResolveCreate
from services.schemas import AbsenceCreate

CASES: list[tuple[type[BaseModel], dict[str, Any], dict[str, str]]] = [
    (ResolveCreate, {"resolution": None}, {"resolution": "Resolution is required."}),
    (AttemptCreate, {"outcome": None}, {"outcome": "Choose an outcome."}),
    (AttemptCreate, {"outcome": "bogus"}, {"outcome": "Choose an outcome from the list."}),
    (
        AttemptCreate,
        {"outcome": "reached", "note": "x" * 10_001},
        {"note": "Note is too long: at most 10000 characters."},
    ),
    (
        AttemptCreate,
        {"outcome": "reached", "channel": "pigeon"},
        {"channel": "Choose how you contacted the member from the list."},
    ),
    (
        AssignCreate,
        {"assignee_id": "chw-ben", "reason": "x" * 2_001},
        {"reason": "Reason is too long: at most 2000 characters."},
    ),
    (
        AbsenceCreate,
        {"staff_id": "chw-ana", "starts_at": "2026-12-02T17:00:00Z", "ends_at": "2026-12-02T09:00:00Z"},
        {"ends_at": "Ends must be after Starts."},
    ),
    (
        AbsenceCreate,
        {"staff_id": "chw-ana", "starts_at": "2026-12-02T17:00:00", "ends_at": "2026-12-03T09:00:00Z"},
        {"starts_at": "Starts: enter a date and time, such as 2026-12-01 09:00."},
    ),
]


@pytest.mark.parametrize(("model", "data", "words"), CASES)
def test_each_validator_error_is_plain_words_for_its_field(
    model: type[BaseModel], data: dict[str, Any], words: dict[str, str]
) -> None:
    with pytest.raises(Invalid) as refused:
        build(model, data)
    assert problems_of(refused.value) == words
    # The same input straight through pydantic says what a person should never read.
    with pytest.raises(ValidationError) as raw:
        model.model_validate(data)
    assert all(w not in str(raw.value) for w in words.values())


def test_a_service_refusal_naming_a_field_goes_beside_it_and_others_stay_whole() -> None:
    assert problems_of(Invalid("ends_at must be after starts_at")) == {
        "ends_at": "Ends must be after Starts."
    }
    assert problems_of(Invalid("the case is already resolved")) == {}
    assert problems_of(Conflict("absence a-1 is already cancelled")) == {}
