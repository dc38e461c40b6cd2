"""The examples in docs/fhir.md are what the running code answers for the seeded cases: this test
asks each request again and compares, so an example cannot drift from the code.

To regenerate them after a change: ``FOLLOWTHROUGH_WRITE_DOCS=1 pytest tests/api/fhir/test_fhir_docs.py``
(then read the diff: every change in it is a change FHIR clients see).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.fhir import codes
from tests.api.fhir import seed as s
from tests.api.support import LEAD, SYSTEM, setup_team

DOC = Path(__file__).resolve().parents[3] / "docs" / "fhir.md"
# name → the request (as the lead of eastside, lead-1)
EXAMPLES = {
    "task": f"/fhir/r4/Task/{s.WORKING}",
    "communication": f"/fhir/r4/Communication/{s.WORKING_NO_ANSWER}",
    "inbound": f"/fhir/r4/Communication/{s.inbound(s.WORKING)}",
    "flag": f"/fhir/r4/Flag/{s.SAFETY}",
    "search": "/fhir/r4/Task?owner=Practitioner/chw-ben&status=in-progress,failed&_count=1",
    "error": "/fhir/r4/Task?subject=Patient/mem-2",
}
# Examples of requests that write: run by the workflow, asked in their own test.
WRITES = {"referral"}
BLOCK = re.compile(r"(<!-- example: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /example -->)", re.S)


async def rendered(api: httpx.AsyncClient, path: str) -> str:
    r = await api.get(path, headers=LEAD)
    answer = json.dumps(json.loads(r.content), indent=2, ensure_ascii=False)
    return (
        f"```http\nGET {path}\nAuthorization: Bearer …\n```\n\n"
        f"`{r.status_code}` `{r.headers['content-type']}`\n\n```json\n{answer}\n```\n"
    )


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_the_examples_in_the_docs_are_what_the_code_answers(fhir: httpx.AsyncClient) -> None:
    text = DOC.read_text()
    found = {m["name"]: m["body"] for m in BLOCK.finditer(text)}
    assert sorted(found) == sorted([*EXAMPLES, *WRITES]), "docs/fhir.md must hold exactly these examples"
    now = {name: await rendered(fhir, path) for name, path in EXAMPLES.items()}
    compare_or_write(text, found, now)


def compare_or_write(text: str, found: dict[str, str], now: dict[str, str]) -> None:
    if os.environ.get("FOLLOWTHROUGH_WRITE_DOCS") == "1":
        DOC.write_text(BLOCK.sub(lambda m: m[1] + now.get(m["name"], m["body"]) + m[4], text))
        return
    for name, body in now.items():
        assert found[name] == body, (
            f"docs/fhir.md example '{name}' differs from what the code answers; "
            "regenerate: FOLLOWTHROUGH_WRITE_DOCS=1 pytest tests/api/fhir/test_fhir_docs.py"
        )


# The referral of the example; what changes from run to run (the case's id, the time of receipt)
# is shown as the example's, all the rest is what the code answered.
REFERRAL = {
    "resourceType": "Task",
    "identifier": [{"system": "https://plan.example.org/referrals", "value": "R-2026-00417"}],
    "status": "requested",
    "intent": "order",
    "priority": "routine",
    "code": {"coding": [{"system": codes.SDOHCC_CODES, "code": "make-contact"}]},
    "for": {"reference": "Patient/mem-orphan"},
    "owner": {"reference": "Organization/eastside"},
    "requester": {"reference": "Organization/lakeside-plan", "display": "Lakeside Health Plan"},
    "restriction": {"period": {"end": "2099-03-04T23:00:00Z"}},
    "reasonCode": {"text": "discharged after a fall; lives alone"},
}
EXAMPLE_ID = "7c0e5d1a2b3f4e6d8a9b0c1d2e3f4a5b"
EXAMPLE_AT = "2026-03-02T15:00:00Z"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_the_referral_example_is_what_the_code_answers(
    api: httpx.AsyncClient, env: WorkflowEnvironment
) -> None:
    await setup_team(api)
    request = json.dumps(REFERRAL, indent=2)
    r = await api.post(
        "/fhir/r4/Task", content=request, headers={**SYSTEM, "Content-Type": "application/fhir+json"}
    )
    assert r.status_code == 201, r.text
    task = json.loads(r.content)
    real_id = task["id"]
    task["id"] = EXAMPLE_ID
    task["meta"]["lastUpdated"] = task["authoredOn"] = task["lastModified"] = EXAMPLE_AT
    for ident in task["identifier"]:
        if ident["value"] == real_id:
            ident["value"] = EXAMPLE_ID
    location = r.headers["location"].replace(real_id, EXAMPLE_ID).replace("http://test", s.BASE)
    answer = json.dumps(task, indent=2, ensure_ascii=False)
    body = (
        f"```http\nPOST /fhir/r4/Task\nAuthorization: Bearer …\nContent-Type: application/fhir+json\n```\n\n"
        f"```json\n{request}\n```\n\n"
        f"`{r.status_code}` `{r.headers['content-type']}` `Location: {location}`\n\n```json\n{answer}\n```\n"
    )
    text = DOC.read_text()
    found = {m["name"]: m["body"] for m in BLOCK.finditer(text)}
    compare_or_write(text, found, {"referral": body})
