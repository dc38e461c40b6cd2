"""Every refusal is an OperationOutcome with the right status: 401, 403, 404 (an unknown id and
another team's record alike), 400 for a parameter not supported or a value not understood, 405,
406; a database outage is 503."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fhir.resources.R4B.operationoutcome import OperationOutcome

from domain.errors import Unavailable
from services.fhir import FhirReads
from tests.api.fhir import seed as s
from tests.api.support import LEAD, OTHER_LEAD
from tests.conftest import auth

# What the request says is refused before the database is asked: one backend is enough. Access
# (403, another team's 404) is checked on both.
SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


async def refused(
    api: httpx.AsyncClient, path: str, status: int, code: str, *, headers: dict[str, str] = LEAD, **kw: Any
) -> str:
    """The diagnostics of the one issue of the OperationOutcome ``path`` answers."""
    url = f"/fhir/r4/{path}" if path else "/fhir/r4"
    r = await api.request(kw.pop("method", "GET"), url, headers=headers, **kw)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/fhir+json; charset=utf-8"
    oo = OperationOutcome.model_validate_json(r.content)
    [issue] = oo.issue
    assert (issue.severity, issue.code) == ("error", code), r.text
    return issue.diagnostics or ""


@SQLITE_ONLY
@pytest.mark.parametrize("path", [f"Task/{s.NEW}", "Task", "Communication", f"Flag/{s.SAFETY}"])
async def test_no_token_or_a_wrong_one_is_401(fhir: httpx.AsyncClient, path: str) -> None:
    for headers in ({}, auth("not-a-token")):
        await refused(fhir, path, 401, "login", headers=headers)
    r = await fhir.get(f"/fhir/r4/{path}")
    assert r.headers["www-authenticate"] == "Bearer"


async def test_another_teams_unassigned_queue_is_403_as_in_the_api(fhir: httpx.AsyncClient) -> None:
    said = await refused(fhir, "Task", 403, "forbidden", params={"owner": "Organization/westside"})
    assert "team" in said
    r = await fhir.get("/v1/interactions", params={"team_id": "westside"}, headers=LEAD)
    assert r.status_code == 403


@pytest.mark.parametrize(
    ("kind", "theirs"),
    [("Task", s.OTHER_TEAM), ("Communication", s.OTHER_TEAM_ATTEMPT), ("Flag", s.OTHER_TEAM_ESCALATION)],
)
async def test_another_teams_record_is_404_in_the_same_words_as_one_that_does_not_exist(
    fhir: httpx.AsyncClient, kind: str, theirs: str
) -> None:
    unknown = "f" * 32
    said_theirs = await refused(fhir, f"{kind}/{theirs}", 404, "not-found")
    said_unknown = await refused(fhir, f"{kind}/{unknown}", 404, "not-found")
    assert said_theirs.replace(theirs, "ID") == said_unknown.replace(unknown, "ID")
    # Their own team reads it.
    r = await fhir.get(f"/fhir/r4/{kind}/{theirs}", headers=OTHER_LEAD)
    assert r.status_code == 200, r.text


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("Task", {"subject": "Patient/mem-1"}),
        ("Task", {"_include": "Task:focus"}),
        ("Task", {"_summary": "true"}),
        ("Task", {"part-of": "Task/x"}),
        ("Task", {"status:not": "completed"}),
        ("Task", {"owner:Practitioner": "chw-ana"}),
        ("Communication", {"status": "completed"}),
        ("Flag", {"owner": "Practitioner/chw-ana"}),
        (f"Task/{s.NEW}", {"patient": "mem-1"}),
        ("metadata", {"mode": "full"}),
    ],
)
async def test_an_unsupported_parameter_is_400_never_ignored(
    fhir: httpx.AsyncClient, path: str, params: dict[str, str]
) -> None:
    said = await refused(fhir, path, 400, "not-supported", params=params)
    assert next(iter(params)) in said


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("path", "params", "named"),
    [
        ("Task", {"status": "done"}, "status"),
        ("Task", {"status": ""}, "status"),
        ("Task", {"patient": "Patient/"}, "patient"),
        ("Flag", {"status": "on"}, "status"),
        ("Task", {"_lastUpdated": "2026-03-02"}, "prefix"),
        ("Task", {"_lastUpdated": "eq2026-03-02"}, "eq"),
        ("Task", {"_lastUpdated": "gt2026-03-02T10:00:00"}, "zone"),
        ("Task", {"_lastUpdated": "gtyesterday"}, "_lastUpdated"),
        ("Communication", {"_lastUpdated": "ge2026-02-30"}, "_lastUpdated"),
        ("Task", {"_count": "ten"}, "_count"),
        ("Task", {"_count": "-1"}, "_count"),
        ("Task", {"_sort": "status"}, "_sort"),
        ("Task", {"_total": "maybe"}, "_total"),
        ("Task", {"_cursor": "not-a-cursor"}, "_cursor"),
        ("Flag", {"_cursor": "bm90IGEgY3Vyc29y"}, "_cursor"),
    ],
)
async def test_a_value_not_understood_is_400(
    fhir: httpx.AsyncClient, path: str, params: dict[str, str], named: str
) -> None:
    said = await refused(fhir, path, 400, "invalid", params=params)
    assert named in said


@SQLITE_ONLY
async def test_a_parameter_other_than_lastupdated_is_given_once(fhir: httpx.AsyncClient) -> None:
    said = await refused(fhir, "Task", 400, "invalid", params=[("patient", "mem-1"), ("patient", "mem-2")])
    assert "once" in said


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("params", "headers"),
    [
        ({"_format": "xml"}, {}),
        ({"_format": "application/fhir+xml"}, {"Accept": "application/fhir+json"}),
        ({}, {"Accept": "application/fhir+xml"}),
        ({}, {"Accept": "application/xml, text/html"}),
        ({}, {"Accept": "application/fhir+json; fhirVersion=3.0"}),
        ({}, {"Accept": "application/fhir+json;q=0"}),
    ],
)
async def test_anything_but_json_is_406(
    fhir: httpx.AsyncClient, params: dict[str, str], headers: dict[str, str]
) -> None:
    for path in (f"Task/{s.NEW}", "Task", "metadata"):
        said = await refused(fhir, path, 406, "not-supported", params=params, headers={**LEAD, **headers})
        assert "application/fhir+json" in said


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("method", "path"),
    [("DELETE", "Task"), ("PUT", f"Task/{s.NEW}"), ("DELETE", f"Flag/{s.SAFETY}"), ("POST", "metadata")],
)
async def test_another_interaction_is_405(fhir: httpx.AsyncClient, method: str, path: str) -> None:
    said = await refused(fhir, path, 405, "not-supported", method=method, content=b"{}")
    assert method in said


@SQLITE_ONLY
@pytest.mark.parametrize(
    "path", ["Patient/mem-1", "Observation", f"Task/{s.NEW}/_history/1", f"Task/{s.NEW}/$everything", ""]
)
async def test_what_is_not_served_is_404(fhir: httpx.AsyncClient, path: str) -> None:
    await refused(fhir, path, 404, "not-supported")


@SQLITE_ONLY
async def test_an_outage_is_503_with_retry_after(
    fhir: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def down(self: FhirReads, *args: object) -> None:
        raise Unavailable("the database is not reachable; try again shortly", retry_after=5)

    monkeypatch.setattr(FhirReads, "case", down)
    said = await refused(fhir, f"Task/{s.NEW}", 503, "transient")
    assert "database" in said
    r = await fhir.get(f"/fhir/r4/Task/{s.NEW}", headers=LEAD)
    assert r.headers["retry-after"] == "5"


@SQLITE_ONLY
async def test_a_bug_is_500_without_its_text(
    fhir: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(self: FhirReads, *args: object) -> None:
        raise RuntimeError("CANARY-SECRET driver text")

    monkeypatch.setattr(FhirReads, "cases", broken)
    said = await refused(fhir, "Task", 500, "exception")
    assert "CANARY" not in said
