"""Reading Tasks, Communications and Flags: every mapping docs/fhir.md promises, each answer
parsed with the R4B models (which refuse a resource that is not well-formed)."""

from __future__ import annotations

from typing import TypeVar

import httpx
import pytest
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.communication import Communication
from fhir.resources.R4B.flag import Flag
from fhir.resources.R4B.resource import Resource
from fhir.resources.R4B.task import Task

from api.fhir import codes, resources
from store.db import make_engine, make_sessionmaker, unit_of_work
from tests.api.fhir import seed as s
from tests.api.support import LEAD, OPS, SYSTEM
from tests.conftest import auth

R = TypeVar("R", bound=Resource)


async def read(api: httpx.AsyncClient, model: type[R], path: str, headers: dict[str, str] = LEAD) -> R:
    r = await api.get(f"/fhir/r4/{path}", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/fhir+json; charset=utf-8"
    return model.model_validate_json(r.content)


async def task(api: httpx.AsyncClient, task_id: str) -> Task:
    return await read(api, Task, f"Task/{task_id}")


def coding(concept: object) -> tuple[str, str]:
    first = concept.coding[0]  # type: ignore[attr-defined]
    return first.system, first.code


async def test_a_task_shows_the_case(fhir: httpx.AsyncClient) -> None:
    t = await task(fhir, s.WORKING)
    assert t.id == s.WORKING
    assert [(i.system, i.value) for i in t.identifier or []] == [
        (codes.CASE_ID_SYSTEM, s.WORKING),
        ("urn:followthrough:team:eastside:external-id", "vm-2002"),
    ]
    assert t.intent == "order"
    assert coding(t.code) == (codes.SDOHCC_CODES, "make-contact")
    assert t.for_fhir is not None and t.for_fhir.reference == "Patient/mem-2"
    assert t.owner is not None and t.owner.reference == "Practitioner/chw-ben"
    assert t.authoredOn == s.at(0)
    assert t.lastModified == s.at(180) and t.meta is not None and t.meta.lastUpdated == s.at(180)
    assert t.restriction is not None and t.restriction.period is not None
    assert t.restriction.period.end == s.at(120)  # due_at
    # first attempt → close (still open: no end)
    assert t.executionPeriod is not None and t.executionPeriod.start == s.at(30)
    assert t.executionPeriod.end is None
    inputs = {s.first_code(i.type): i for i in t.input or []}
    assert s.present(inputs["channel"].valueCoding).code == "voicemail"
    assert inputs["contacts"].valueUnsignedInt == 2
    assert t.output is None  # nobody reached yet


@pytest.mark.parametrize(
    ("case", "status", "business"),
    [
        (s.NEW, "requested", "overdue: awaiting first contact"),
        (s.WORKING, "in-progress", "attempt 2 of 3, left a message"),
        (s.ESCALATED, "in-progress", "escalated: safety"),
        (s.COMPLETED, "completed", "closed: member reached"),
        (s.FAILED, "failed", "closed: member unreachable"),
        (s.CANCELLED, "cancelled", "closed without contact"),
    ],
)
async def test_the_task_status_follows_the_case(
    fhir: httpx.AsyncClient, case: str, status: str, business: str
) -> None:
    t = await task(fhir, case)
    assert t.status == status
    assert t.businessStatus is not None and t.businessStatus.text == business
    if status == "failed":
        assert t.statusReason is not None and "unreachable" in (t.statusReason.text or "")
        assert "3 attempt" in (t.statusReason.text or "")
    elif status == "cancelled":
        assert t.statusReason is not None and t.statusReason.text == "closed without contact"
    else:
        assert t.statusReason is None


@pytest.mark.parametrize(
    ("case", "priority"),
    [(s.NEW, "routine"), (s.WORKING, "urgent"), (s.ESCALATED, "stat"), (s.FAILED, "routine")],
)
async def test_the_priority_is_stat_with_an_open_safety_escalation_and_urgent_when_flagged(
    fhir: httpx.AsyncClient, case: str, priority: str
) -> None:
    assert (await task(fhir, case)).priority == priority


async def test_an_unassigned_case_is_owned_by_its_team(fhir: httpx.AsyncClient) -> None:
    t = await task(fhir, s.ESCALATED)
    assert t.owner is not None and t.owner.reference == "Organization/eastside"
    assert t.executionPeriod is None  # no attempt, not closed


async def test_a_case_closed_without_an_attempt_has_only_an_end(fhir: httpx.AsyncClient) -> None:
    t = await task(fhir, s.CANCELLED)
    assert t.executionPeriod is not None
    assert (t.executionPeriod.start, t.executionPeriod.end) == (None, s.at(50))
    assert {s.first_code(i.type): i.valueUnsignedInt for i in t.input or []}["contacts"] == 0


def test_an_id_fhir_cannot_carry_is_a_logical_reference() -> None:
    assert resources.reference("Patient", "mem-1.a").reference == "Patient/mem-1.a"
    odd = resources.reference("Patient", "mem 1/a")
    assert odd.reference is None and odd.type == "Patient"
    assert odd.identifier is not None
    assert (odd.identifier.system, odd.identifier.value) == ("urn:followthrough:patient-id", "mem 1/a")
    assert resources.reference("Practitioner", "x" * 65).reference is None


async def test_a_completed_task_names_the_communication_that_reached_the_member(
    fhir: httpx.AsyncClient,
) -> None:
    t = await task(fhir, s.COMPLETED)
    assert t.executionPeriod is not None
    assert (t.executionPeriod.start, t.executionPeriod.end) == (s.at(20), s.at(100))
    assert [s.present(o.valueReference).reference for o in t.output or []] == [
        f"Communication/{s.COMPLETED_REACHED}"
    ]
    reached = await read(fhir, Communication, f"Communication/{s.COMPLETED_REACHED}")
    assert reached.status == "completed"


async def test_a_communication_is_a_contact_attempt(fhir: httpx.AsyncClient) -> None:
    c = await read(fhir, Communication, f"Communication/{s.WORKING_NO_ANSWER}")
    assert c.status == "not-done"
    assert c.statusReason is not None
    assert [(x.system, x.code) for x in c.statusReason.coding or []] == [
        (codes.NOT_DONE_REASON, "recipient-unavailable"),
        (codes.OUTCOME_SYSTEM, "no_answer"),
    ]
    assert [p.reference for p in c.partOf or []] == [f"Task/{s.WORKING}"]
    assert c.sent == s.at(30)
    assert c.sender is not None and c.sender.reference == "Practitioner/chw-ben"
    assert [r.reference for r in c.recipient or []] == ["Patient/mem-2"]
    assert c.subject is not None and c.subject.reference == "Patient/mem-2"

    reached = await read(fhir, Communication, f"Communication/{s.COMPLETED_REACHED}")
    assert (reached.status, reached.statusReason) == ("completed", None)


@pytest.mark.parametrize("token", ["t-chw-ben", "t-lead", "t-manager", "t-ops", "t-system"])
async def test_the_note_is_the_payload_for_every_reader_of_the_case(
    fhir: httpx.AsyncClient, token: str
) -> None:
    """The JSON API shows attempt notes to every reader of the case's team: so does FHIR."""
    c = await read(fhir, Communication, f"Communication/{s.WORKING_NO_ANSWER}", auth(token))
    assert [p.contentString for p in c.payload or []] == [s.NOTE]
    # An attempt without a note has no payload.
    bare = await read(fhir, Communication, f"Communication/{s.WORKING_VOICEMAIL}", auth(token))
    assert bare.payload is None


async def test_a_flag_is_an_escalation(fhir: httpx.AsyncClient) -> None:
    f = await read(fhir, Flag, f"Flag/{s.SAFETY}")
    assert f.status == "active"
    assert [coding(c) for c in f.category or []] == [(codes.FLAG_CATEGORY, "safety")]
    assert coding(f.code) == (codes.TRIGGER_SYSTEM, "safety")
    assert f.period is not None and (f.period.start, f.period.end) == (s.at(5), None)
    assert f.subject.reference == "Patient/mem-orphan"
    assert f.author is not None and f.author.reference == "Practitioner/chw-ana"

    closed = await read(fhir, Flag, f"Flag/{s.UNREACHABLE}")
    assert closed.status == "inactive"
    assert [coding(c) for c in closed.category or []] == [(codes.FLAG_CATEGORY, "admin")]
    assert coding(closed.code) == (codes.TRIGGER_SYSTEM, "unreachable")
    assert closed.period is not None and (closed.period.start, closed.period.end) == (s.at(250), s.at(590))


@pytest.mark.parametrize("headers", [OPS, SYSTEM])
async def test_ops_and_the_system_read_every_team(fhir: httpx.AsyncClient, headers: dict[str, str]) -> None:
    t = await read(fhir, Task, f"Task/{s.OTHER_TEAM}", headers)
    assert t.owner is not None and t.owner.reference == "Practitioner/lead-other"
    await read(fhir, Communication, f"Communication/{s.OTHER_TEAM_ATTEMPT}", headers)
    f = await read(fhir, Flag, f"Flag/{s.OTHER_TEAM_ESCALATION}", headers)
    assert f.author is None  # raised by the engine, not a person


async def test_json_is_answered_for_every_way_of_asking_for_it(fhir: httpx.AsyncClient) -> None:
    path = f"/fhir/r4/Task/{s.NEW}"
    for fmt in ("json", "application/fhir+json", "application/json"):
        r = await fhir.get(path, params={"_format": fmt}, headers={**LEAD, "Accept": "application/fhir+xml"})
        assert r.status_code == 200, (fmt, r.text)  # _format wins over Accept
    for accept in (
        "application/fhir+json",
        "application/fhir+json; fhirVersion=4.0",
        "*/*",
        "text/html, */*;q=0.8",
    ):
        r = await fhir.get(path, headers={**LEAD, "Accept": accept})
        assert r.status_code == 200, (accept, r.text)
        Task.model_validate_json(r.content)


async def test_the_capability_statement_lists_what_is_served(fhir: httpx.AsyncClient) -> None:
    r = await fhir.get("/fhir/r4/metadata")  # no token needed
    assert r.status_code == 200, r.text
    cs = CapabilityStatement.model_validate_json(r.content)
    assert cs.fhirVersion == "4.0.1" and cs.kind == "instance"
    assert cs.format == ["application/fhir+json", "json"]
    assert cs.implementation is not None and cs.implementation.url == s.FHIR
    rest = (cs.rest or [])[0]
    served = {
        res.type: (
            sorted(s.present(i.code) for i in res.interaction or []),
            [p.name for p in res.searchParam or []],
        )
        for res in rest.resource or []
    }
    assert served == {
        "Task": (["create", "read", "search-type"], ["patient", "owner", "status", "code", "_lastUpdated"]),
        "Communication": (["read", "search-type"], ["part-of", "patient", "_lastUpdated"]),
        "Flag": (["read", "search-type"], ["patient", "status", "_lastUpdated"]),
    }
    # If-None-Exist on a referral's create
    assert {res.type: res.conditionalCreate for res in rest.resource or []} == {
        "Task": True,
        "Communication": False,
        "Flag": False,
    }


def test_value_sets_are_checked_by_our_code() -> None:
    """The library takes any string as a code; ``bound`` does not."""
    Task.model_validate({"resourceType": "Task", "status": "nonsense", "intent": "order"})
    assert codes.bound("stat", codes.REQUEST_PRIORITIES, "Task.priority") == "stat"
    for code, value_set in (
        ("nonsense", codes.TASK_STATUSES),
        ("asked", codes.TASK_INTENTS),
        ("whenever", codes.REQUEST_PRIORITIES),
        ("done", codes.COMMUNICATION_STATUSES),
        ("on", codes.FLAG_STATUSES),
    ):
        with pytest.raises(codes.UnboundCode):
            codes.bound(code, value_set, "x")


async def test_a_caller_not_linked_to_a_member_is_no_patient_id_and_their_number_stays_out(
    fhir: httpx.AsyncClient, seeded: str
) -> None:
    engine = make_engine(seeded)
    with unit_of_work(make_sessionmaker(engine)) as session:
        unlinked = s.add_unlinked_case(session)
    engine.dispose()
    for path in (f"Task/{unlinked.case}", f"Communication/{unlinked.attempt}", f"Flag/{unlinked.escalation}"):
        r = await fhir.get(f"/fhir/r4/{path}", headers=LEAD)
        assert r.status_code == 200, r.text
        assert s.CALLER_PHONE not in r.text and "5550142" not in r.text
    t = await task(fhir, unlinked.case)
    assert t.for_fhir is not None and t.for_fhir.reference is None
    assert (t.for_fhir.type, t.for_fhir.display) == ("Patient", resources.UNLINKED)
    c = await read(fhir, Communication, f"Communication/{unlinked.attempt}")
    assert [r.display for r in c.recipient or []] == [resources.UNLINKED]
    f = await read(fhir, Flag, f"Flag/{unlinked.escalation}")
    assert f.subject.reference is None and f.subject.display == resources.UNLINKED
