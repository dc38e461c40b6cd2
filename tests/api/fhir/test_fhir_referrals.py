"""Referrals in (``POST /fhir/r4/Task``, docs/fhir.md): a Task opens a case with channel
``referral`` through the one command path, run by its workflow; every answer is parsed with the
R4B models."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.operationoutcome import OperationOutcome, OperationOutcomeIssue
from fhir.resources.R4B.task import Task
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.fhir import codes, resources
from tests.api.fhir.seed import first_code, present
from tests.api.support import LEAD, SYSTEM, create, detail, require_real_clock, setup_team
from tests.conftest import CHICAGO_TEAM
from tests.workflows.support import eventually, history_text

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

FHIR_JSON = {**SYSTEM, "Content-Type": "application/fhir+json"}
PLAN = "https://plan.example.org/referrals"
CANARY_REASON = "CANARY-REASON-3c1d discharged after a fall, lives alone"
CANARY_DESCRIPTION = "CANARY-DESCRIPTION-8e2a call her daughter Rosa first"


def referral_body(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Task",
        "identifier": [{"system": PLAN, "value": f"ref-{uuid.uuid4().hex[:8]}"}],
        "status": "requested",
        "intent": "order",
        "priority": "routine",
        "code": {"coding": [{"system": codes.SDOHCC_CODES, "code": "make-contact"}]},
        "for": {"reference": "Patient/mem-orphan"},
        "owner": {"reference": "Organization/eastside"},
        "requester": {"reference": "Organization/plan-1", "display": "Lakeside Health Plan"},
    }
    body.update(over)
    return body


async def post(api: httpx.AsyncClient, body: Any, headers: dict[str, str] = FHIR_JSON) -> httpx.Response:
    return await api.post("/fhir/r4/Task", content=json.dumps(body), headers=headers)


def task_of(r: httpx.Response) -> Task:
    assert r.headers["content-type"] == "application/fhir+json; charset=utf-8"
    return Task.model_validate_json(r.content)


def outcome_of(r: httpx.Response) -> OperationOutcome:
    assert r.headers["content-type"] == "application/fhir+json; charset=utf-8"
    return OperationOutcome.model_validate_json(r.content)


def expressions(issue: OperationOutcomeIssue) -> list[str]:
    """The issue's FHIRPath expressions, which every issue here carries."""
    return [present(e) for e in present(issue.expression)]


def channel_of(t: Task) -> str:
    assert t.input is not None
    value = next(i.valueCoding for i in t.input if first_code(i.type) == "channel")
    assert value is not None and value.code is not None
    return value.code


def deadline_of(t: Task) -> datetime | None:
    """The Task's ``restriction.period.end`` (the case's deadline), which every case's Task has."""
    assert t.restriction is not None and t.restriction.period is not None
    return t.restriction.period.end


async def test_a_referral_opens_a_case_due_when_the_referrer_asks(
    api: httpx.AsyncClient, env: WorkflowEnvironment
) -> None:
    await require_real_clock(env)
    await setup_team(api)
    end = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    body = referral_body(restriction={"period": {"end": end.isoformat()}})
    r = await post(api, body)
    assert r.status_code == 201, r.text
    t = task_of(r)
    assert r.headers["location"] == f"http://test/fhir/r4/Task/{t.id}"
    assert channel_of(t) == "referral"
    assert (t.status, t.intent, t.priority) == ("requested", "order", "routine")
    # mem-orphan has no owner: the team's queue
    assert t.owner is not None and t.owner.reference == "Organization/eastside"
    assert t.for_fhir is not None and t.for_fhir.reference == "Patient/mem-orphan"
    assert deadline_of(t) == end
    assert t.requester is not None
    assert (t.requester.reference, t.requester.display) == ("Organization/plan-1", "Lakeside Health Plan")
    assert t.identifier is not None
    usual = [(i.system, i.value) for i in t.identifier if i.use == "usual"]
    assert usual == [(PLAN, body["identifier"][0]["value"])]

    # The workflow keeps the referrer's deadline: the row it projects says the same.
    async def projected() -> dict[str, Any] | None:
        assert t.id is not None
        d = await detail(api, t.id)
        return d if any(e["kind"] == "created" for e in d["timeline"]) else None

    d = await eventually(projected)
    assert d["channel"] == "referral"
    assert datetime.fromisoformat(d["due_at"]) == end
    created = next(e for e in d["timeline"] if e["kind"] == "created")
    assert datetime.fromisoformat(created["details"]["due_at"]) == end
    r = await api.get(f"/fhir/r4/Task/{t.id}", headers=LEAD)
    assert deadline_of(task_of(r)) == end


async def test_without_a_deadline_the_team_policy_counts_business_days_past_a_holiday(
    api: httpx.AsyncClient, env: WorkflowEnvironment
) -> None:
    await require_real_clock(env)
    await setup_team(api)
    now = datetime.now(UTC)
    if (now + timedelta(seconds=60)).date() != now.date():  # the day must not turn mid-test
        await asyncio.sleep(61)
    today = datetime.now(UTC).date()
    team = {
        **CHICAGO_TEAM,
        "calendar": {
            "timezone": "UTC",
            "hours": {d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
            "holiday_country": None,
            "holiday_subdivision": None,
            "closures": [(today + timedelta(days=1)).isoformat()],  # the team's holiday tomorrow
        },
        "policy": {"referral_response_business_days": 3},
    }
    r = await api.put("/v1/teams/eastside", json=team, headers=SYSTEM)
    assert r.status_code == 200, r.text
    r = await post(api, referral_body())
    assert r.status_code == 201, r.text
    t = task_of(r)
    assert t.authoredOn is not None
    received = t.authoredOn.date()
    assert received == today
    # Today is the day of receipt; tomorrow is closed; days +2, +3, +4: due at the close of +4.
    assert deadline_of(t) == datetime.combine(today + timedelta(days=5), datetime.min.time(), UTC)


async def test_a_repeat_of_the_identifier_answers_the_same_task(
    api: httpx.AsyncClient, env: WorkflowEnvironment
) -> None:
    await require_real_clock(env)
    await setup_team(api)
    body = referral_body()
    first = await post(api, body)
    assert first.status_code == 201, first.text
    again = await post(api, {**body, "description": "sent again"})
    assert again.status_code == 200, again.text
    assert task_of(again).id == task_of(first).id
    assert again.headers["location"] == first.headers["location"]
    other = await post(api, referral_body())
    assert other.status_code == 201 and task_of(other).id != task_of(first).id


async def test_only_system_tokens_refer(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    r = await post(api, referral_body(), headers={**LEAD, "Content-Type": "application/fhir+json"})
    assert r.status_code == 403
    assert outcome_of(r).issue[0].code == "forbidden"


async def test_a_bad_body_is_422_with_the_fhirpath_of_each_problem(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    bad = referral_body(
        status="draft",
        intent="plan",
        priority="whenever",
        code={"text": "call them"},
        owner={"reference": "Practitioner/chw-ana"},
        identifier=[{"system": PLAN}],
    )
    del bad["for"]
    r = await post(api, bad)
    assert r.status_code == 422, r.text
    issues = outcome_of(r).issue
    assert {i.code for i in issues} == {"invalid"}
    assert sorted(e for i in issues for e in expressions(i)) == [
        "Task.code",
        "Task.for",
        "Task.identifier",
        "Task.intent",
        "Task.owner",
        "Task.priority",
        "Task.status",
    ]

    r = await post(
        api, referral_body(**{"for": {"reference": 5}, "restriction": {"period": {"end": "soon"}}})
    )
    assert r.status_code == 422
    found = sorted(e for i in outcome_of(r).issue for e in expressions(i))
    assert found == ["Task.for.reference", "Task.restriction.period.end"]

    for body, path in [
        (referral_body(owner={"reference": "Organization/nowhere"}), "Task.owner"),
        (
            referral_body(restriction={"period": {"end": "2020-01-01T10:00:00Z"}}),
            "Task.restriction.period.end",
        ),
        (referral_body(restriction={"period": {"end": "2030-01-01"}}), "Task.restriction.period.end"),
        (referral_body(resourceType="Patient"), "Task.resourceType"),
    ]:
        r = await post(api, body)
        assert r.status_code == 422, (path, r.text)
        assert [e for i in outcome_of(r).issue for e in expressions(i)] == [path]


async def test_a_body_that_is_not_json_is_415(api: httpx.AsyncClient) -> None:
    r = await api.post(
        "/fhir/r4/Task", content=b"<Task/>", headers={**SYSTEM, "Content-Type": "application/fhir+xml"}
    )
    assert r.status_code == 415
    assert outcome_of(r).issue[0].code == "not-supported"
    r = await api.post("/fhir/r4/Task", content=b"{not json", headers=FHIR_JSON)
    assert r.status_code == 422
    assert outcome_of(r).issue[0].expression == ["Task"]


async def test_the_referrals_text_stays_out_of_the_workflow_history(
    api: httpx.AsyncClient, env: WorkflowEnvironment, client: Client
) -> None:
    await require_real_clock(env)
    await setup_team(api)
    body = referral_body(description=CANARY_DESCRIPTION, reasonCode={"text": CANARY_REASON})
    r = await post(api, body)
    assert r.status_code == 201, r.text
    t = task_of(r)
    assert t.id is not None
    d = await detail(api, t.id)
    assert CANARY_DESCRIPTION in d["summary"] and CANARY_REASON in d["summary"]  # kept, in SQL
    # and shown on its Task to the team's readers (the referrer's words, as the case keeps them)
    assert t.description == f"{CANARY_DESCRIPTION}\n{CANARY_REASON}"
    r = await api.get(f"/fhir/r4/Task/{t.id}", headers=LEAD)
    assert task_of(r).description == t.description

    async def projected() -> dict[str, Any] | None:
        assert t.id is not None
        d = await detail(api, t.id)
        return d if any(e["kind"] == "created" for e in d["timeline"]) else None

    await eventually(projected)
    exported = await history_text(client.get_workflow_handle(d["workflow_id"]))
    assert "referral" in exported  # the history was read
    for marker in (CANARY_DESCRIPTION, CANARY_REASON, "CANARY", body["identifier"][0]["value"]):
        assert marker not in exported, f"{marker!r} leaked into the referral's workflow history"


async def test_a_referral_never_joins_the_members_open_case(
    api: httpx.AsyncClient, env: WorkflowEnvironment
) -> None:
    """A plan's referral is its own Task with its own deadline, not a contact from the member:
    it opens a case even when the member has one open and the team merges repeat contacts."""
    await require_real_clock(env)
    await setup_team(api)
    r = await api.put(
        "/v1/teams/eastside", json={**CHICAGO_TEAM, "policy": {"merge_repeat_contacts": True}}, headers=SYSTEM
    )
    assert r.status_code == 200, r.text
    call = await create(api, member_id="mem-1")
    r = await post(api, referral_body(**{"for": {"reference": "Patient/mem-1"}}))
    assert r.status_code == 201, r.text
    assert task_of(r).id != call["id"]
    assert (await detail(api, call["id"])).get("contacts", 1) == 1


async def test_a_referral_for_a_member_the_team_does_not_know_opens_unlinked_until_a_lead_links_it(
    api: httpx.AsyncClient, env: WorkflowEnvironment
) -> None:
    """As an unknown caller's case does: the team's unassigned queue, the referrer's own Patient
    reference on the Task, and the member once a lead links the case."""
    await require_real_clock(env)
    await setup_team(api)
    r = await post(api, referral_body(**{"for": {"reference": "Patient/plan-77"}}))
    assert r.status_code == 201, r.text
    t = task_of(r)
    assert t.id is not None and t.for_fhir is not None
    assert (t.for_fhir.reference, t.for_fhir.display) == ("Patient/plan-77", resources.UNLINKED_REFERRAL)
    assert t.owner is not None and t.owner.reference == "Organization/eastside"
    d = await detail(api, t.id)
    assert d["member_id"] is None and d["channel"] == "referral"
    assert d["referral"]["patient"] == "Patient/plan-77"  # what the lead links by

    async def projected() -> dict[str, Any] | None:
        assert t.id is not None
        d = await detail(api, t.id)
        return d if any(e["kind"] == "created" for e in d["timeline"]) else None

    await eventually(projected)
    r = await api.post(f"/v1/interactions/{t.id}/link", json={"member_id": "mem-2"}, headers=LEAD)
    assert r.status_code == 200, r.text
    r = await api.get(f"/fhir/r4/Task/{t.id}", headers=LEAD)
    linked = task_of(r)
    assert linked.for_fhir is not None
    assert (linked.for_fhir.reference, linked.for_fhir.display) == ("Patient/mem-2", None)


async def test_if_none_exist_answers_the_referral_its_identifier_finds(
    api: httpx.AsyncClient, env: WorkflowEnvironment
) -> None:
    await require_real_clock(env)
    await setup_team(api)
    first = referral_body()
    value = first["identifier"][0]["value"]
    r = await post(api, first)
    assert r.status_code == 201, r.text
    opened = task_of(r)
    # The plan resends under a new identifier of its own, on condition of the first: the same Task.
    again = referral_body()
    for header in (f"identifier={PLAN}|{value}", f"identifier={value}"):
        r = await post(api, again, headers={**FHIR_JSON, "If-None-Exist": header})
        assert r.status_code == 200, (header, r.text)
        assert task_of(r).id == opened.id
    # A condition that finds nothing creates.
    r = await post(api, again, headers={**FHIR_JSON, "If-None-Exist": f"identifier=|{value}"})
    assert r.status_code == 201, r.text
    assert task_of(r).id != opened.id
    # The same value under two systems: a condition without a system finds both (412).
    other = referral_body(identifier=[{"system": "https://clinic.example.org/ids", "value": value}])
    assert (await post(api, other)).status_code == 201
    r = await post(api, referral_body(), headers={**FHIR_JSON, "If-None-Exist": f"identifier={value}"})
    assert r.status_code == 412, r.text
    assert outcome_of(r).issue[0].code == "multiple-matches"
    r = await post(api, referral_body(), headers={**FHIR_JSON, "If-None-Exist": f"identifier={PLAN}|{value}"})
    assert (r.status_code, task_of(r).id) == (200, opened.id)
    # Only an identifier is a condition here.
    r = await post(api, referral_body(), headers={**FHIR_JSON, "If-None-Exist": "patient=Patient/mem-1"})
    assert r.status_code == 400
    assert outcome_of(r).issue[0].code == "invalid"
