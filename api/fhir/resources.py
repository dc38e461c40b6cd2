"""Cases, attempts and escalations as FHIR R4 resources (``fhir.resources.R4B`` models, whose
Task, Communication and Flag are R4's): the one place that shapes what ``/fhir/r4`` answers.

docs/fhir.md describes every mapping; the value sets are checked here (``codes.bound``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle, BundleEntry, BundleEntrySearch, BundleLink
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.communication import Communication, CommunicationPayload
from fhir.resources.R4B.flag import Flag
from fhir.resources.R4B.identifier import Identifier
from fhir.resources.R4B.meta import Meta
from fhir.resources.R4B.period import Period
from fhir.resources.R4B.reference import Reference
from fhir.resources.R4B.resource import Resource
from fhir.resources.R4B.task import Task, TaskInput, TaskOutput, TaskRestriction

from api.fhir import codes
from domain.messages import UNRESOLVED_ESCALATION_STATUSES
from services.fhir import (
    CONTACT_OUTCOMES,
    AttemptView,
    CaseStage,
    CaseView,
    CommunicationView,
    EscalationView,
    InboundView,
)

# A FHIR id: what a literal reference ("Patient/{id}") may carry.
FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")

UNLINKED = "a caller not yet linked to a member"
UNLINKED_REFERRAL = "referred: not yet linked to a member of the team"
TASK_STATUS: dict[CaseStage, str] = {
    "new": "requested",
    "working": "in-progress",
    "contacted": "completed",
    "unreachable": "failed",
    "closed": "cancelled",
}
# Every Task status, with the stages it covers (a status we never give covers none).
STAGES_OF_STATUS: dict[str, list[CaseStage]] = {
    status: [stage for stage, s in TASK_STATUS.items() if s == status] for status in codes.TASK_STATUSES
}


@functools.lru_cache(maxsize=4096)
def reference(kind: str, rid: str, *, display: str | None = None) -> Reference:
    """``{kind}/{rid}``; an id FHIR cannot carry in a literal reference (our ids are free
    text up to 64 characters) is given as a logical reference by identifier instead.

    Cached, as are the other constant parts (``concept``): a page of 50 Tasks repeats its owner
    and codes, and each model built is validated (P9). Nothing changes a model once built."""
    if FHIR_ID.match(rid):
        return Reference(reference=f"{kind}/{rid}", display=display)
    return Reference(
        type=kind,
        identifier=Identifier(system=f"urn:followthrough:{kind.lower()}-id", value=rid),
        display=display,
    )


def patient(member_id: str | None, referral: dict[str, Any] | None = None) -> Reference:
    """``Patient/{member_id}``; for a caller the team has not linked to a member yet, a reference
    that says so (their number is member data and stays out); for a referral of a member the
    team did not know, the referrer's own reference, until a lead links the case."""
    if member_id is None:
        given = (referral or {}).get("patient")
        if given:
            return Reference(reference=given, display=UNLINKED_REFERRAL)
        return Reference(type="Patient", display=UNLINKED)
    return reference("Patient", member_id)


@functools.lru_cache(maxsize=1024)
def concept(system: str, code: str, display: str, *, text: str | None = None) -> CodeableConcept:
    return CodeableConcept(coding=[Coding(system=system, code=code, display=display)], text=text or display)


def _meta(at: datetime) -> Meta:
    return Meta(lastUpdated=at)


# ---------------------------------------------------------------- Task = a case
def business_status(view: CaseView) -> str:
    """What the team would say of the case: "escalated: safety", "attempt 2 of 3, left a
    message", "awaiting first contact", "closed: member reached" …"""
    case = view.case
    if view.stage == "contacted":
        return "closed: member reached"
    if view.stage == "unreachable":
        return "closed: member unreachable"
    if view.stage == "closed":
        return "closed without contact"
    open_triggers = [e.trigger for e in view.escalations if e.status in UNRESOLVED_ESCALATION_STATUSES]
    if open_triggers:
        return "escalated: " + ", ".join(dict.fromkeys(open_triggers))
    if view.attempts:
        last = view.attempts[-1]
        said = codes.OUTCOME_DISPLAY.get(last.outcome, last.outcome).lower()
        return f"attempt {len(view.attempts)} of {view.max_attempts}, {said}"
    return "overdue: awaiting first contact" if case.overdue else "awaiting first contact"


def priority(view: CaseView) -> str:
    """stat while a safety escalation is open; urgent when flagged urgent; routine otherwise."""
    if any(e.trigger == "safety" and e.status in UNRESOLVED_ESCALATION_STATUSES for e in view.escalations):
        return "stat"
    return "urgent" if view.case.urgent else "routine"


def _referral_identifier(referral: dict[str, Any] | None) -> list[Identifier]:
    """A referral's identifier as the referrer gave it (``use`` usual)."""
    ident = (referral or {}).get("identifier")
    if not ident:
        return []
    return [Identifier(use="usual", system=ident.get("system"), value=ident["value"])]


def _requester(referral: dict[str, Any] | None) -> Reference | None:
    """Who referred the case, as they said it."""
    who = (referral or {}).get("requester")
    if not who:
        return None
    return Reference(reference=who.get("reference"), display=who.get("display"))


def task(view: CaseView) -> Task:
    case = view.case
    status = codes.bound(TASK_STATUS[view.stage], codes.TASK_STATUSES, "Task.status")
    reason = None
    if view.stage == "unreachable":
        reason = CodeableConcept(
            text=f"member unreachable: closed without contact after {len(view.attempts)} attempt(s)"
        )
    elif view.stage == "closed":
        reason = CodeableConcept(text="closed without contact")
    first = view.attempts[0].at if view.attempts else None
    execution = Period(start=first, end=case.resolved_at) if first or case.resolved_at else None
    reached = next((a for a in view.attempts if a.outcome in CONTACT_OUTCOMES), None)
    owner = (
        reference("Practitioner", case.assignee_id)
        if case.assignee_id
        else reference("Organization", case.team_id)
    )
    return Task(
        id=case.id,
        meta=_meta(case.updated_at),
        identifier=[
            Identifier(use="official", system=codes.CASE_ID_SYSTEM, value=case.id),
            Identifier(
                use="secondary", system=codes.external_id_system(case.team_id), value=case.external_id
            ),
            *_referral_identifier(case.referral),
        ],
        status=status,
        statusReason=reason,
        businessStatus=CodeableConcept(text=business_status(view)),
        intent=codes.bound("order", codes.TASK_INTENTS, "Task.intent"),
        priority=codes.bound(priority(view), codes.REQUEST_PRIORITIES, "Task.priority"),
        code=concept(codes.SDOHCC_CODES, codes.MAKE_CONTACT, codes.MAKE_CONTACT_DISPLAY),
        for_fhir=patient(case.member_id, case.referral),
        description=case.summary if case.channel == "referral" else None,
        requester=_requester(case.referral),
        owner=owner,
        authoredOn=case.received_at,
        lastModified=case.updated_at,
        restriction=TaskRestriction(period=Period(end=case.due_at)),
        executionPeriod=execution,
        input=[
            _channel_input(case.channel),
            TaskInput(
                type=concept(codes.TASK_INPUT_SYSTEM, "contacts", "Contact attempts made"),
                valueUnsignedInt=len(view.attempts),
            ),
        ],
        output=(
            [
                TaskOutput(
                    type=concept(codes.TASK_OUTPUT_SYSTEM, "contact", "The contact that reached the member"),
                    valueReference=reference("Communication", reached.id),
                )
            ]
            if reached is not None
            else None
        ),
    )


@functools.lru_cache(maxsize=64)
def _channel_input(channel: str) -> TaskInput:
    return TaskInput(
        type=concept(codes.TASK_INPUT_SYSTEM, "channel", "How the member reached us"),
        valueCoding=Coding(
            system=codes.CHANNEL_SYSTEM, code=channel, display=codes.CHANNEL_DISPLAY.get(channel, channel)
        ),
    )


# ---------------------------------------------------------------- Communication = an attempt
def medium(channel: str | None) -> list[CodeableConcept] | None:
    """How a contact was made (``codes.MEDIUM``); None when not said."""
    mode = codes.MEDIUM.get(channel or "")
    if mode is None:
        return None
    return [concept(codes.PARTICIPATION_MODE, mode[0], mode[1], text=mode[2])]


def communication(view: CommunicationView) -> Communication:
    if isinstance(view, InboundView):
        return inbound(view)
    return attempt(view)


def inbound(view: InboundView) -> Communication:
    """A contact from the member (their call, voicemail or text; the case's first, or a repeat
    merged into it): sent by the Patient to the team, received when it arrived."""
    case = view.case
    return Communication(
        id=view.fhir_id,
        meta=_meta(view.at),
        status=codes.bound("completed", codes.COMMUNICATION_STATUSES, "Communication.status"),
        partOf=[reference("Task", case.id)],
        subject=patient(case.member_id),
        medium=medium(view.channel),
        sent=view.at,
        received=view.at,
        sender=patient(case.member_id),
        recipient=[reference("Organization", case.team_id)],
        payload=[CommunicationPayload(contentString=view.text)] if view.text else None,
    )


def attempt(view: AttemptView) -> Communication:
    a, case = view.attempt, view.case
    done = a.outcome in CONTACT_OUTCOMES
    status = codes.bound(
        "completed" if done else "not-done", codes.COMMUNICATION_STATUSES, "Communication.status"
    )
    reason = None
    if not done:
        said = codes.OUTCOME_DISPLAY.get(a.outcome, a.outcome)
        standard = codes.OUTCOME_NOT_DONE.get(a.outcome)
        reason = CodeableConcept(
            coding=[
                *(
                    [Coding(system=codes.NOT_DONE_REASON, code=standard[0], display=standard[1])]
                    if standard
                    else []
                ),
                Coding(system=codes.OUTCOME_SYSTEM, code=a.outcome, display=said),
            ],
            text=said,
        )
    payload = [CommunicationPayload(contentString=a.note)] if view.with_note and a.note else None
    return Communication(
        id=a.id,
        meta=_meta(a.at),
        status=status,
        statusReason=reason,
        partOf=[reference("Task", case.id)],
        subject=patient(case.member_id),
        medium=medium(a.channel),
        sent=a.at,
        sender=reference("Practitioner", a.staff_id) if a.staff_id else None,
        recipient=[patient(case.member_id)],
        payload=payload,
    )


# ---------------------------------------------------------------- Flag = an escalation
def flag(view: EscalationView) -> Flag:
    e = view.escalation
    active = e.status in UNRESOLVED_ESCALATION_STATUSES
    category = ("safety", "Safety") if e.trigger == "safety" else ("admin", "Administrative")
    said = codes.TRIGGER_DISPLAY.get(e.trigger, e.trigger)
    return Flag(
        id=e.id,
        meta=_meta(e.updated_at),
        status=codes.bound("active" if active else "inactive", codes.FLAG_STATUSES, "Flag.status"),
        category=[concept(codes.FLAG_CATEGORY, category[0], category[1])],
        code=concept(codes.TRIGGER_SYSTEM, e.trigger, said, text=f"escalated: {e.trigger}"),
        subject=patient(view.member_id),
        period=Period(start=e.started_at, end=e.resolved_at),
        author=reference("Practitioner", e.started_by) if e.started_by else None,
    )


# ---------------------------------------------------------------- search answers
def searchset(
    base: str,
    resources: Sequence[Resource],
    *,
    total: int | None,
    self_url: str,
    next_url: str | None,
) -> Bundle:
    links = [BundleLink(relation="self", url=self_url)]
    if next_url is not None:
        links.append(BundleLink(relation="next", url=next_url))
    return Bundle(
        type="searchset",
        total=total,
        link=links,
        entry=[
            BundleEntry(
                fullUrl=f"{base}/{r.get_resource_type()}/{r.id}",
                resource=r,
                search=BundleEntrySearch(mode="match"),
            )
            for r in resources
        ]
        or None,
    )
