"""Referrals in: a health plan or clinic asks a team to make contact with a member
(``POST /fhir/r4/Task``, docs/fhir.md "Referrals in").

``Referrals.receive`` is what a front end calls with a referral it has parsed: it checks that the
team and the member are known, computes the response deadline (``domain.deadlines.referral_due``:
the referrer's own, else the team policy ``referral_response_business_days``) and opens the case
through ``Interactions.start``, the one command path, with channel ``referral``. The referrer's
identifier makes the case's ``external_id`` (as a digest: the identifier may carry anything, and
``external_id`` names the workflow), so a repeat answers the same case (200).

The referral's text (reason, description) is member data: the case's ``summary``, SQL only,
never a workflow, a search attribute, a notice or a log line.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import structlog
from sqlalchemy.orm import Session

from domain.deadlines import referral_due
from domain.errors import Conflict, Invalid
from services import access
from services.access import Principal
from services.context import Service
from services.fhir import CaseView, case_views
from services.interactions import Interactions, require_interaction
from services.schemas import CaseStart
from services.teams import calendar_for, team_config
from store import repositories as repo

log = structlog.get_logger(__name__)

# What a referral's field is called, for errors that name it (the front end says it its way).
Field = Literal["team_id", "member_id", "requested_due", "text"]
# The longest member text kept (as for a case's summary in the JSON API).
TEXT_MAX = 10_000


class InvalidReferral(Invalid):
    """A referral the team cannot take (422), naming the field at fault."""

    def __init__(self, message: str, field: Field) -> None:
        super().__init__(message)
        self.field: Field = field


class AmbiguousCondition(Conflict):
    """A conditional create whose identifier matches more than one referral (412)."""


@dataclass(frozen=True)
class Identifier:
    """An identifier to look a referral up by (``If-None-Exist``): ``system`` None with
    ``any_system`` matches the value under any system; without it, only identifiers without one."""

    system: str | None
    value: str
    any_system: bool = False


@dataclass(frozen=True)
class Party:
    """Who referred: a reference (``Organization/plan-1``) and/or a name, as given."""

    reference: str | None
    display: str | None


@dataclass(frozen=True)
class Referral:
    """A referral as a front end parsed it."""

    team_id: str
    member_id: str
    identifier_system: str | None
    identifier_value: str
    requester: Party | None = None
    requested_due: datetime | None = None
    urgent: bool = False
    text: str | None = None  # member data: SQL only

    @property
    def external_id(self) -> str:
        """The case's ``external_id``: a digest of the referrer's identifier (never its text)."""
        raw = f"{self.identifier_system or ''}|{self.identifier_value}".encode()
        return f"referral:{hashlib.sha256(raw).hexdigest()[:40]}"

    def stored(self, *, known_member: bool = True) -> dict[str, Any]:
        """What the case keeps of the referral (``interactions.referral``) for its Task; for a
        member the team does not know, the referrer's ``Patient`` reference too (until linked)."""
        requester = None
        if self.requester is not None:
            requester = {"reference": self.requester.reference, "display": self.requester.display}
        kept: dict[str, Any] = {
            "identifier": {"system": self.identifier_system, "value": self.identifier_value},
            "requester": requester,
        }
        if not known_member:
            kept["patient"] = f"Patient/{self.member_id}"
        return kept


@dataclass(frozen=True)
class Received:
    """The referral's case as its Task shows it; ``status`` 201 when it opened it, 200 for a repeat."""

    view: CaseView
    status: int


def _matching(session: Session, principal: Principal, ident: Identifier) -> list[str]:
    """The referral cases the caller reads whose referrer's identifier is ``ident``."""
    found: list[str] = []
    for row in repo.referrals_by_identifier_value(session, ident.value):
        kept = (row.referral or {}).get("identifier") or {}
        if not principal.can_read_team(row.team_id) or kept.get("value") != ident.value:
            continue
        if ident.any_system or kept.get("system") == ident.system:
            found.append(row.id)
    return found


def _case_start(
    session: Session, principal: Principal, referral: Referral, now: datetime, condition: Identifier | None
) -> CaseStart | str:
    """The case to start; or the id of the case a repeat of this referral opened (or the one
    the condition of a conditional create matches)."""
    if condition is not None:
        matches = _matching(session, principal, condition)
        if len(matches) > 1:
            raise AmbiguousCondition(
                f"If-None-Exist matches {len(matches)} referrals: name the identifier's system"
            )
        if matches:
            return matches[0]
    existing = repo.get_interaction_by_external(session, referral.team_id, referral.external_id)
    if existing is not None:
        return existing.id
    team = repo.get_team(session, referral.team_id)
    if team is None:
        raise InvalidReferral(f"unknown team '{referral.team_id}'", "team_id")
    # A member the team does not know yet opens the case unlinked, as an unknown caller's does:
    # the team's unassigned queue, where a lead links it to a member (POST .../link).
    known_member = repo.get_member(session, referral.team_id, referral.member_id) is not None
    if referral.text is not None and len(referral.text) > TEXT_MAX:
        raise InvalidReferral(f"the referral's text is longer than {TEXT_MAX} characters", "text")
    cfg = team_config(team)
    try:
        due = referral_due(
            now,
            requested=referral.requested_due,
            urgent=referral.urgent,
            calendar=calendar_for(cfg, now),
            policy=cfg.policy,
        )
    except ValueError as err:
        raise InvalidReferral(f"no response deadline can be set: {err}", "requested_due") from err
    return CaseStart(
        team_id=referral.team_id,
        external_id=referral.external_id,
        member_id=referral.member_id if known_member else None,
        channel="referral",
        received_at=now,
        urgent=referral.urgent,
        summary=referral.text or None,
        due_at=due,
        referral=referral.stored(known_member=known_member),
    )


def _view(session: Session, interaction_id: str) -> CaseView:
    return case_views(session, [require_interaction(session, interaction_id)])[0]


class Referrals(Service):
    """Referrals in, for every front end (the FHIR facade's ``POST /fhir/r4/Task``)."""

    async def receive(
        self, principal: Principal, referral: Referral, *, if_none_exist: Identifier | None = None
    ) -> Received:
        """Open the referral's case: 201; a repeat of its identifier answers the same case (200),
        as does a referral the ``if_none_exist`` identifier finds (``AmbiguousCondition`` when it
        finds more than one). System tokens only."""
        access.require_interaction_starter(principal)
        start = await self.db.run(_case_start, principal, referral, self.ctx.clock(), if_none_exist)
        if isinstance(start, str):
            # A repeat: through the one command path too, which starts (or finds) its workflow.
            row = await self.db.run(require_interaction, start)
            start = CaseStart(
                team_id=row.team_id,
                external_id=row.external_id,
                member_id=row.member_id,
                channel="referral",
                received_at=row.received_at,
                due_at=row.due_at,
            )
        started = await Interactions(self.ctx).start(principal, start)
        log.info(
            "referral.received",
            team_id=referral.team_id,
            interaction_id=started.value.id,
            opened=started.status == 201,
        )
        view = await self.db.read(_view, started.value.id)
        return Received(view, started.status)
