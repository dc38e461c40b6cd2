"""Reads for the FHIR R4 facade (``api/fhir/``): cases, their contact attempts and escalations,
with what mapping them needs, scoped like every read (staff read their own team; ops and the
system read all).

Unlike the JSON API, a record of another team answers ``NotFound`` with the same words as an id
that does not exist, so a FHIR client never learns that it exists. Searches are keyset-paged by
last change (``store.repositories.search_interactions`` …). Only the database is read: these
queries work while Temporal is unreachable.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.errors import Invalid, NotFound
from services.access import Principal
from services.context import Service
from services.teams import team_config
from store import repositories as repo
from store.models import Attempt, Escalation, Interaction, InteractionContact, TimelineEvent
from store.repositories import (
    CONTACT_OUTCOMES as CONTACT_OUTCOMES,
    AttemptSearch as AttemptSearch,
    CaseSearch as CaseSearch,
    CaseStage as CaseStage,
    EscalationSearch as EscalationSearch,
    UpdatedBound as UpdatedBound,
)

T = TypeVar("T")
F = TypeVar("F")
R = TypeVar("R")
# How many matches a search page holds (_count): by default, and at most.
DEFAULT_COUNT = 50
MAX_COUNT = 500


@dataclass(frozen=True)
class CaseView:
    """A case with what its Task shows: where it stands, its attempts and escalations, and the
    team's attempt limit (for "attempt 2 of 3")."""

    case: Interaction
    stage: repo.CaseStage
    attempts: list[Attempt]
    escalations: list[Escalation]
    max_attempts: int


@dataclass(frozen=True)
class AttemptView:
    """An attempt, its case (member, team), and whether the reader may read its note."""

    attempt: Attempt
    case: Interaction
    with_note: bool


@dataclass(frozen=True)
class InboundView:
    """An inbound contact from the member: the case's first contact (``contact`` None) or a
    repeat contact merged into it, with the member's words for readers who may read notes."""

    fhir_id: str
    case: Interaction
    channel: str
    at: datetime
    text: str | None  # member data: only when the reader may read notes
    contact: InteractionContact | None = None


CommunicationView = AttemptView | InboundView


@dataclass(frozen=True)
class EscalationView:
    escalation: Escalation
    member_id: str | None  # None: a caller the team has not linked to a member yet


@dataclass(frozen=True)
class Paging:
    """Which page: after ``cursor``, ``count`` matches (0: the total only), with the total or not."""

    cursor: str | None = None
    count: int = DEFAULT_COUNT
    total: bool = True


@dataclass(frozen=True)
class Found(Generic[T]):
    """One page of a search: its items, the number of matches (None when not asked for) and the
    cursor of the next page (None on the last)."""

    items: list[T]
    total: int | None
    next_cursor: str | None


def may_read_notes(principal: Principal, team_id: str) -> bool:
    """The JSON API shows attempt notes to every reader of the case's team (its staff, ops, the
    system): the FHIR facade shows them to the same readers, and to nobody else."""
    return principal.can_read_team(team_id)


def _not_found(kind: str, rid: str) -> NotFound:
    return NotFound(f"{kind}/{rid} is not known")


def case_views(session: Session, rows: Sequence[Interaction]) -> list[CaseView]:
    ids = [r.id for r in rows]
    attempts = repo.attempts_of(session, ids)
    escalations = repo.escalations_of_interactions(session, ids)
    contacted = repo.contacted_cases(session, ids)
    limits: dict[str, int] = {}
    for team_id in {r.team_id for r in rows}:
        team = repo.get_team(session, team_id)
        if team is not None:  # always (a foreign key); the default otherwise
            limits[team_id] = team_config(team).policy.max_attempts
    return [
        CaseView(
            case=r,
            stage=repo.case_stage(r, contacted=r.id in contacted),
            attempts=attempts[r.id],
            escalations=escalations[r.id],
            max_attempts=limits.get(r.team_id, 3),
        )
        for r in rows
    ]


def attempt_views(session: Session, principal: Principal, rows: Sequence[Attempt]) -> list[AttemptView]:
    cases = repo.interactions_by_id(session, {a.interaction_id for a in rows})
    return [
        AttemptView(
            attempt=a,
            case=cases[a.interaction_id],
            with_note=may_read_notes(principal, cases[a.interaction_id].team_id),
        )
        for a in rows
    ]


def _contact_note_key(contact: InteractionContact) -> str:
    """The timeline key under which a merged contact's words were kept
    (``services.interactions._merge_into``)."""
    return f"contact_note:{contact.interaction_id}:{contact.external_id}"


def inbound_views(
    session: Session,
    principal: Principal,
    firsts: Sequence[Interaction],
    contacts: Sequence[InteractionContact],
) -> dict[str, InboundView]:
    """The inbound Communications of these cases' first contacts and of these merged contacts,
    by FHIR id."""
    cases = repo.interactions_by_id(session, {c.interaction_id for c in contacts})
    keys = [_contact_note_key(c) for c in contacts]
    notes: dict[str, str | None] = {}
    if keys:
        for key, note in session.execute(
            select(TimelineEvent.key, TimelineEvent.note).where(TimelineEvent.key.in_(keys))
        ):
            notes[key] = note
    out: dict[str, InboundView] = {}
    for case in firsts:
        fid = repo.INBOUND_PREFIX + case.id
        text = case.summary if may_read_notes(principal, case.team_id) else None
        out[fid] = InboundView(fhir_id=fid, case=case, channel=case.channel, at=case.received_at, text=text)
    for c in contacts:
        fid = repo.INBOUND_PREFIX + c.id
        case = cases[c.interaction_id]
        text = notes.get(_contact_note_key(c)) if may_read_notes(principal, case.team_id) else None
        out[fid] = InboundView(fhir_id=fid, case=case, channel=c.channel, at=c.at, text=text, contact=c)
    return out


def communication_views(
    session: Session, principal: Principal, refs: Sequence[repo.CommunicationRef]
) -> list[CommunicationView]:
    """The Communications a search found, in its order."""
    attempts = {
        a.id: a
        for a in session.scalars(
            select(Attempt).where(Attempt.id.in_([r.ref for r in refs if r.kind == "attempt"]))
        )
    }
    by_attempt = {v.attempt.id: v for v in attempt_views(session, principal, list(attempts.values()))}
    firsts = repo.interactions_by_id(session, {r.ref for r in refs if r.kind == "received"})
    contacts = repo.contacts_by_id(session, {r.ref for r in refs if r.kind == "contact"})
    inbound = inbound_views(session, principal, list(firsts.values()), list(contacts.values()))
    return [by_attempt[r.ref] if r.kind == "attempt" else inbound[r.fhir_id] for r in refs]


def escalation_views(session: Session, rows: Sequence[Escalation]) -> list[EscalationView]:
    cases = repo.interactions_by_id(session, {e.interaction_id for e in rows})
    return [EscalationView(escalation=e, member_id=cases[e.interaction_id].member_id) for e in rows]


def _search(
    session: Session,
    where: F,
    paging: Paging,
    *,
    search: Callable[..., tuple[list[R], str | None]],
    count: Callable[[Session, F], int],
    views: Callable[[list[R]], list[T]],
) -> Found[T]:
    total = count(session, where) if paging.total else None
    if paging.count <= 0:
        return Found(items=[], total=total, next_cursor=None)
    try:
        rows, next_cursor = search(session, where, cursor=paging.cursor, limit=min(paging.count, MAX_COUNT))
    except repo.BadCursor as err:
        raise Invalid(f"_cursor: {err}") from err
    return Found(items=views(rows), total=total, next_cursor=next_cursor)


def _inbound(session: Session, principal: Principal, communication_id: str) -> InboundView:
    """``in-{case id}`` (the case's first contact, unless a referral) or ``in-{contact id}``."""
    rid = communication_id.removeprefix(repo.INBOUND_PREFIX)
    contact = session.get(InteractionContact, rid)
    firsts: list[Interaction] = []
    if contact is None:
        case = repo.get_interaction(session, rid)
        if case is not None and case.channel != "referral":
            firsts = [case]
        team_id = case.team_id if case is not None else None
    else:
        team_id = contact.team_id
    if team_id is None or not principal.can_read_team(team_id) or not (firsts or contact):
        raise _not_found("Communication", communication_id)
    views = inbound_views(session, principal, firsts, [contact] if contact else [])
    return views[communication_id]


class FhirReads(Service):
    """The FHIR facade's queries: one method per read or search, each scoped to the caller."""

    # ------------------------------------------------------------ Task = a case
    async def case(self, principal: Principal, interaction_id: str) -> CaseView:
        def read(session: Session) -> CaseView:
            row = repo.get_interaction(session, interaction_id)
            if row is None or not principal.can_read_team(row.team_id):
                raise _not_found("Task", interaction_id)
            return case_views(session, [row])[0]

        return await self.db.read(read)

    async def cases(self, principal: Principal, where: repo.CaseSearch, paging: Paging) -> Found[CaseView]:
        """Cases of the caller's teams matching ``where``. Staff asking for another team's
        unassigned cases (an owner of kind ``"team"``) get 403, as for a list of another team in
        the API."""
        for kind, owner in where.owners or ():
            if kind == "team":
                principal.team_scope(owner)
        where = dataclasses.replace(where, team_ids=principal.team_scope(None))

        def read(session: Session) -> Found[CaseView]:
            return _search(
                session,
                where,
                paging,
                search=repo.search_interactions,
                count=repo.count_interactions,
                views=lambda rows: case_views(session, rows),
            )

        return await self.db.read(read)

    # ------------------------------------------------------------ Communication = an attempt or
    # an inbound contact from the member
    async def communication(self, principal: Principal, communication_id: str) -> CommunicationView:
        def read(session: Session) -> CommunicationView:
            if communication_id.startswith(repo.INBOUND_PREFIX):
                return _inbound(session, principal, communication_id)
            row = session.get(Attempt, communication_id)
            case = repo.get_interaction(session, row.interaction_id) if row is not None else None
            if row is None or case is None or not principal.can_read_team(case.team_id):
                raise _not_found("Communication", communication_id)
            return attempt_views(session, principal, [row])[0]

        return await self.db.read(read)

    async def communications(
        self, principal: Principal, where: repo.AttemptSearch, paging: Paging
    ) -> Found[CommunicationView]:
        """Attempts and inbound contacts of the caller's teams, by when they happened."""
        where = dataclasses.replace(where, team_ids=principal.team_scope(None))

        def read(session: Session) -> Found[CommunicationView]:
            return _search(
                session,
                where,
                paging,
                search=repo.search_communications,
                count=repo.count_communications,
                views=lambda refs: communication_views(session, principal, refs),
            )

        return await self.db.read(read)

    # ------------------------------------------------------------ Flag = an escalation
    async def escalation(self, principal: Principal, escalation_id: str) -> EscalationView:
        def read(session: Session) -> EscalationView:
            row = repo.get_escalation(session, escalation_id)
            if row is None or not principal.can_read_team(row.team_id):
                raise _not_found("Flag", escalation_id)
            return escalation_views(session, [row])[0]

        return await self.db.read(read)

    async def escalations(
        self, principal: Principal, where: repo.EscalationSearch, paging: Paging
    ) -> Found[EscalationView]:
        where = dataclasses.replace(where, team_ids=principal.team_scope(None))

        def read(session: Session) -> Found[EscalationView]:
            return _search(
                session,
                where,
                paging,
                search=repo.search_escalations,
                count=repo.count_escalations,
                views=lambda rows: escalation_views(session, rows),
            )

        return await self.db.read(read)
