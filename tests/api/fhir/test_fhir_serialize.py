"""``api.fhir.serialize`` writes the same bytes as the library's ``model_dump_json()`` for every
resource the facade answers, and for the FHIR features our resources do not use yet (primitive
extensions, comments, decimals, binary data)."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.communication import Communication
from fhir.resources.R4B.flag import Flag
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.resource import Resource
from fhir.resources.R4B.task import Task

from api.fhir.serialize import dumps
from tests.api.fhir import seed as s
from tests.api.support import LEAD, OPS


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_every_answer_is_the_librarys_json(fhir: httpx.AsyncClient) -> None:
    paths: list[tuple[str, type[Resource]]] = [
        *((f"Task/{cid}", Task) for cid in [*s.EASTSIDE_CASES]),
        *((f"Communication/{cid}", Communication) for cid in [s.WORKING_NO_ANSWER, s.COMPLETED_REACHED]),
        (f"Communication/{s.inbound(s.WORKING)}", Communication),
        (f"Flag/{s.SAFETY}", Flag),
        (f"Flag/{s.UNREACHABLE}", Flag),
        ("Task?_count=3", Bundle),
        ("Communication?_sort=-_lastUpdated", Bundle),
        ("Flag", Bundle),
    ]
    for path, model in paths:
        r = await fhir.get(f"/fhir/r4/{path}", headers=LEAD)
        assert r.status_code == 200, r.text
        parsed = model.model_validate_json(r.content)
        assert r.content == parsed.model_dump_json().encode(), path
    for path in ("metadata", "Task?subject=x", "Task/nope", "Patient/1"):
        r = await fhir.get(f"/fhir/r4/{path}", headers=OPS)
        model_class = get_fhir_model_class(r.json()["resourceType"])
        assert r.content == model_class.model_validate_json(r.content).model_dump_json().encode(), path


def test_what_our_resources_do_not_use_is_written_as_the_library_writes_it() -> None:
    task = Task.model_validate(
        {
            "resourceType": "Task",
            "status": "requested",
            "_status": {"extension": [{"url": "http://example.org/why", "valueString": "asked"}]},
            "intent": "order",
            "fhir_comments": ["a comment"],
            "input": [
                {"type": {"text": "dose"}, "valueDecimal": "1.50"},
                {"type": {"text": "count"}, "valueDecimal": 3},
                {"type": {"text": "file"}, "valueAttachment": {"data": "aGVsbG8="}},
            ],
        }
    )
    assert dumps(task) == task.model_dump_json().encode()
    obs = Observation.model_validate(
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "weight"},
            "valueQuantity": {"value": Decimal("72.0"), "unit": "kg"},
            "component": [{"code": {"text": "x"}, "valueInteger": 5}],
        }
    )
    assert dumps(obs) == obs.model_dump_json().encode()
