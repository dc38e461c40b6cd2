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

from tests.api.fhir import seed as s
from tests.api.support import LEAD

DOC = Path(__file__).resolve().parents[3] / "docs" / "fhir.md"
# name → the request (as the lead of eastside, lead-1)
EXAMPLES = {
    "task": f"/fhir/r4/Task/{s.WORKING}",
    "communication": f"/fhir/r4/Communication/{s.WORKING_NO_ANSWER}",
    "flag": f"/fhir/r4/Flag/{s.SAFETY}",
    "search": "/fhir/r4/Task?owner=Practitioner/chw-ben&status=in-progress,failed&_count=1",
    "error": "/fhir/r4/Task?subject=Patient/mem-2",
}
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
    assert sorted(found) == sorted(EXAMPLES), "docs/fhir.md must hold exactly these examples"
    now = {name: await rendered(fhir, path) for name, path in EXAMPLES.items()}
    if os.environ.get("FOLLOWTHROUGH_WRITE_DOCS") == "1":
        DOC.write_text(BLOCK.sub(lambda m: m[1] + now[m["name"]] + m[4], text))
        return
    for name, body in now.items():
        assert found[name] == body, (
            f"docs/fhir.md example '{name}' differs from what the code answers; "
            "regenerate: FOLLOWTHROUGH_WRITE_DOCS=1 pytest tests/api/fhir/test_fhir_docs.py"
        )
