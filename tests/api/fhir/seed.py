"""A read model with one case at every stage, written straight to SQL at fixed times, for the
FHIR facade's tests and the examples in docs/fhir.md (which must come out the same every run).

The FHIR facade only reads SQL, so these tests need no Temporal; one test in test_fhir_api.py
runs a real case through its workflow and reads it back (test_fhir_workflow.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
from fhir.resources.R4B.bundle import Bundle, BundleEntry
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.resource import Resource
from sqlalchemy.orm import Session

from domain.models import TeamConfig
from store.models import Attempt, Escalation, Interaction, InteractionContact, Staff, TimelineEvent
from store.repositories import upsert_team
from tests.conftest import CHICAGO_TEAM

BASE = "https://followthrough.example.org"
FHIR = f"{BASE}/fhir/r4"
T = TypeVar("T")
# Monday 2 March 2026, 09:00 in Chicago.
T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@dataclass(frozen=True)
class Case:
    """What a seeded case is, by name."""

    id: str
    stage: str


# id → the Task status it must show
NEW = "0a4c5e1f9d2b4c7e8f10a1b2c3d4e5f6"
WORKING = "1b5d6f2a0e3c4d8f9a21b2c3d4e5f607"
ESCALATED = "2c6e7a3b1f4d4e9a0b32c3d4e5f60718"
COMPLETED = "3d7f8b4c2a5e4f0b1c43d4e5f6071829"
FAILED = "4e8a9c5d3b6f4a1c2d54e5f60718293a"
CANCELLED = "5f9bad6e4c7a4b2d3e65f60718293a4b"
OTHER_TEAM = "6a0cbe7f5d8b4c3e4f760718293a4b5c"
EASTSIDE_CASES = [NEW, WORKING, ESCALATED, COMPLETED, FAILED, CANCELLED]
STATUS = {
    NEW: "requested",
    WORKING: "in-progress",
    ESCALATED: "in-progress",
    COMPLETED: "completed",
    FAILED: "failed",
    CANCELLED: "cancelled",
    OTHER_TEAM: "requested",
}
# Attempts and escalations, by id.
WORKING_NO_ANSWER = "a1" * 16
WORKING_VOICEMAIL = "a2" * 16
COMPLETED_NO_ANSWER = "a3" * 16
COMPLETED_REACHED = "a4" * 16
FAILED_ATTEMPTS = ["b1" * 16, "b2" * 16, "b3" * 16]
OTHER_TEAM_ATTEMPT = "c1" * 16
SAFETY = "e1" * 16
UNREACHABLE = "e2" * 16
OTHER_TEAM_ESCALATION = "e3" * 16
NOTE = "CANARY-NOTE member asked to be called after 5pm"
CALLER_PHONE = "+13125550142"


def _case(
    cid: str,
    *,
    external_id: str,
    member_id: str | None,
    status: str,
    updated: float,
    team_id: str = "eastside",
    assignee_id: str | None = "chw-ana",
    channel: str = "call",
    received: float = 0,
    due: float = 120,
    **over: Any,
) -> Interaction:
    return Interaction(
        id=cid,
        workflow_id=f"interaction:{team_id}:{external_id}",
        team_id=team_id,
        external_id=external_id,
        member_id=member_id,
        channel=channel,
        status=status,
        assignee_id=assignee_id,
        assignment_source="owner",
        received_at=at(received),
        due_at=at(due),
        urgent=over.pop("urgent", False),
        flags=over.pop("flags", []),
        overdue=over.pop("overdue", False),
        unreachable=over.pop("unreachable", False),
        triggers=over.pop("triggers", []),
        attempt_count=over.pop("attempt_count", 0),
        summary="CANARY-SUMMARY member asked about food bank",
        version=3,
        created_at=at(received),
        updated_at=at(updated),
        **over,
    )


def _attempt(
    aid: str, cid: str, seq: int, outcome: str, minutes: float, *, staff: str = "chw-ana", note: str = ""
) -> Attempt:
    return Attempt(
        id=aid,
        interaction_id=cid,
        seq=seq,
        outcome=outcome,
        staff_id=staff,
        at=at(minutes),
        note=note or None,
    )


def _escalation(
    eid: str, cid: str, trigger: str, *, team_id: str = "eastside", started: float, **over: Any
) -> Escalation:
    return Escalation(
        id=eid,
        workflow_id=f"escalation:{team_id}:{cid}:{trigger}",
        interaction_id=cid,
        team_id=team_id,
        trigger=trigger,
        severity=1,
        status=over.pop("status", "open"),
        level=1,
        clock="wall",
        documentation_required=True,
        rule={},
        matrix_version=1,
        notified=[],
        started_at=at(started),
        updated_at=at(over.pop("updated", started)),
        **over,
    )


@dataclass(frozen=True)
class Unlinked:
    case: str
    attempt: str
    escalation: str


def add_unlinked_case(session: Session) -> Unlinked:
    """A text from a number the team does not know (no member yet), with an attempt and a
    complaint: kept out of ``seed`` so the other tests' counts stay as they are."""
    ids = Unlinked(case="7b1dcf806e9c4d4f5087182930a4b5c6", attempt="d1" * 16, escalation="e4" * 16)
    session.add(
        _case(
            ids.case,
            external_id="text-8008",
            member_id=None,
            caller_phone=CALLER_PHONE,
            channel="text",
            status="attempting",
            assignee_id=None,
            attempt_count=1,
            updated=700,
        )
    )
    session.flush()
    session.add(_attempt(ids.attempt, ids.case, 1, "no_answer", 690, staff="lead-1"))
    session.add(_escalation(ids.escalation, ids.case, "complaint", started=695, started_by="lead-1"))
    return ids


def seed(session: Session) -> None:
    cfg = TeamConfig.model_validate(CHICAGO_TEAM)
    upsert_team(session, "eastside", cfg.name, cfg.model_dump(mode="json"))
    upsert_team(session, "westside", "Westside", cfg.model_dump(mode="json"))
    for staff_id, role in (("mgr-1", "manager"), ("lead-1", "lead"), ("chw-ana", "chw"), ("chw-ben", "chw")):
        session.add(Staff(id=staff_id, team_id="eastside", name=staff_id, role=role))
    session.add(Staff(id="lead-other", team_id="westside", name="Other lead", role="lead"))
    session.flush()
    session.add_all(
        [
            _case(NEW, external_id="call-1001", member_id="mem-1", status="open", overdue=True, updated=1),
            _case(
                WORKING,
                external_id="vm-2002",
                member_id="mem-2",
                channel="voicemail",
                status="attempting",
                assignee_id="chw-ben",
                urgent=True,
                flags=["urgent"],
                attempt_count=2,
                first_response_at=at(30),
                updated=180,
            ),
            _case(
                ESCALATED,
                external_id="text-3003",
                member_id="mem-orphan",
                channel="text",
                status="escalated",
                assignee_id=None,
                flags=["safety"],
                triggers=["safety"],
                updated=5,
                due=480,
            ),
            _case(
                COMPLETED,
                external_id="call-4004",
                member_id="mem-1",
                status="resolved",
                attempt_count=2,
                first_response_at=at(20),
                resolved_at=at(100),
                resolved_by="chw-ana",
                resolution="CANARY-RESOLUTION",
                updated=100,
            ),
            _case(
                FAILED,
                external_id="call-5005",
                member_id="mem-2",
                status="resolved",
                assignee_id="chw-ben",
                unreachable=True,
                attempt_count=3,
                triggers=["unreachable"],
                first_response_at=at(10),
                resolved_at=at(600),
                resolved_by="lead-1",
                updated=600,
            ),
            _case(
                CANCELLED,
                external_id="call-6006",
                member_id="mem-1",
                status="resolved",
                resolved_at=at(50),
                resolved_by="lead-1",
                updated=50,
            ),
            _case(
                OTHER_TEAM,
                external_id="call-7007",
                member_id="mem-1",
                team_id="westside",
                status="open",
                assignee_id="lead-other",
                updated=1,
            ),
        ]
    )
    session.flush()
    session.add_all(
        [
            _attempt(WORKING_NO_ANSWER, WORKING, 1, "no_answer", 30, staff="chw-ben", note=NOTE),
            _attempt(WORKING_VOICEMAIL, WORKING, 2, "left_voicemail", 180, staff="chw-ben"),
            _attempt(COMPLETED_NO_ANSWER, COMPLETED, 1, "no_answer", 20),
            _attempt(COMPLETED_REACHED, COMPLETED, 2, "reached", 90, note="CANARY-NOTE reached, all set"),
            *(
                _attempt(aid, FAILED, i + 1, "no_answer", 10 + 120 * i, staff="chw-ben")
                for i, aid in enumerate(FAILED_ATTEMPTS)
            ),
            _attempt(OTHER_TEAM_ATTEMPT, OTHER_TEAM, 1, "busy", 2, staff="lead-other"),
            _escalation(SAFETY, ESCALATED, "safety", started=5, started_by="chw-ana", owner_id="lead-1"),
            _escalation(
                UNREACHABLE,
                FAILED,
                "unreachable",
                started=250,
                started_by="chw-ben",
                status="resolved",
                resolved_at=at(590),
                resolved_by="lead-1",
                updated=590,
            ),
            _escalation(OTHER_TEAM_ESCALATION, OTHER_TEAM, "complaint", team_id="westside", started=3),
        ]
    )


def bundle_of(r: httpx.Response) -> Bundle:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/fhir+json; charset=utf-8"
    return Bundle.model_validate_json(r.content)


def inbound(case_id: str) -> str:
    """The id of the Communication of the member's contact that opened a case."""
    return f"in-{case_id}"


def present(value: T | None) -> T:
    """``value``, which the test expects the facade to have written (the R4B models make every
    element optional)."""
    assert value is not None
    return value


def entries(b: Bundle) -> list[BundleEntry]:
    """The bundle's entries, for a test that expects some (the R4B models make every element
    optional)."""
    assert b.entry is not None
    return b.entry


def first_code(concept: CodeableConcept) -> str | None:
    """The code of the concept's first coding, which every concept the facade writes has."""
    assert concept.coding is not None
    return concept.coding[0].code


def resources(b: Bundle) -> list[Resource]:
    """The resources of the bundle's entries (every entry of a search answer has one)."""
    return [present(e.resource) for e in b.entry or []]


def last_updated(r: Resource | None) -> datetime:
    """``meta.lastUpdated`` of a resource the facade wrote (it always sets it)."""
    assert r is not None and r.meta is not None and r.meta.lastUpdated is not None
    return r.meta.lastUpdated


def ids_of(b: Bundle) -> list[str]:
    return [present(r.id) for r in resources(b)]


@dataclass(frozen=True)
class Repeat:
    contact: str
    communication: str
    text: str


def add_repeat_contact(session: Session) -> Repeat:
    """The member of WORKING texts again at +200 min (merged into the case, docs/rules.md §2.10),
    and the CHW's second attempt is marked as a call: kept out of ``seed`` so the other tests'
    counts stay as they are."""
    ids = Repeat(contact="f1" * 16, communication="in-" + "f1" * 16, text="CANARY-REPEAT please call me back")
    session.add(
        InteractionContact(
            id=ids.contact,
            team_id="eastside",
            external_id="text-2002b",
            interaction_id=WORKING,
            channel="text",
            at=at(200),
            created_at=at(200),
        )
    )
    session.add(
        TimelineEvent(
            key=f"contact_note:{WORKING}:text-2002b",
            interaction_id=WORKING,
            kind="contact_note",
            actor_id=None,
            at=at(200),
            details={"channel": "text"},
            note=ids.text,
        )
    )
    attempt = session.get(Attempt, WORKING_VOICEMAIL)
    assert attempt is not None
    attempt.channel = "call"
    return ids
