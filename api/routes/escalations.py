"""Escalations (SPEC 2.4): the list leads work from, acknowledge, documented resolve, reassign."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from api import errors, service
from api.deps import Principal, PrincipalDep, SessionDep, TemporalDep
from api.schemas import (
    AcknowledgeCreate,
    EscalationAssignCreate,
    EscalationPublic,
    EscalationResolveCreate,
    Page,
)
from domain.messages import AcknowledgeInput, EscalationAssignInput, EscalationResolveInput
from domain.models import TRIGGERS
from store import repositories as repo
from store.db import committing
from store.models import Escalation

router = APIRouter(prefix="/v1/escalations", tags=["escalations"])

STATUSES = ("open", "acknowledged", "resolved")
UNRESOLVED = ("open", "acknowledged")


@router.get("")
def list_escalations(
    principal: PrincipalDep,
    session: SessionDep,
    team_id: str | None = None,
    status: Annotated[str | None, Query(description="comma-separated; default: open,acknowledged")] = None,
    trigger: str | None = None,
    interaction_id: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page[EscalationPublic]:
    """Escalations ordered by severity (safety first), then age (oldest first)."""
    statuses = errors.parse_statuses(status, STATUSES, UNRESOLVED)
    if trigger is not None and trigger not in TRIGGERS:
        raise errors.invalid(f"unknown trigger {trigger!r}; expected one of {', '.join(TRIGGERS)}")
    team_ids = principal.team_scope(team_id)
    try:
        rows, next_cursor = repo.list_escalations(
            session,
            repo.EscalationFilter(
                team_id=team_id,
                team_ids=team_ids,
                statuses=statuses,
                trigger=trigger,
                interaction_id=interaction_id,
            ),
            cursor=cursor,
            limit=limit,
        )
    except repo.BadCursor as err:
        raise errors.invalid(str(err)) from err
    reached = repo.escalation_recipients(session, [e.id for e in rows])
    items = [service.escalation_to_public(e, recipients=reached.get(e.id)) for e in rows]
    return Page(items=items, next_cursor=next_cursor)


@router.get("/{escalation_id}")
def get_escalation(escalation_id: str, principal: PrincipalDep, session: SessionDep) -> EscalationPublic:
    """One escalation with its level history (``notified``) and timeline."""
    row = service.require_escalation(session, escalation_id)
    principal.require(principal.can_read_team(row.team_id), "not a member of this escalation's team")
    return _detail(session, row)


def _current_level(row: Escalation) -> dict[str, Any]:
    levels: list[dict[str, Any]] = row.rule.get("levels", [])
    return levels[min(row.level, len(levels)) - 1] if levels else {}


def _require_escalation_actor(principal: Principal, row: Escalation, *, owner_may: bool) -> None:
    """Leads and managers of the team; staff named at the current level; for resolve, the owner."""
    if principal.is_team_lead(row.team_id):
        return
    if principal.is_team_staff(row.team_id) and principal.staff_id is not None:
        if _current_level(row).get("staff_id") == principal.staff_id:
            return
        if owner_may and row.owner_id == principal.staff_id:
            return
        raise errors.forbidden(
            "only a lead, a manager or the staff member named at the escalation's current level may act on it"
        )
    raise errors.forbidden(f"role '{principal.role}' may not act on this escalation")


@router.post("/{escalation_id}/acknowledge")
async def acknowledge(
    escalation_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    client: TemporalDep,
    body: AcknowledgeCreate | None = None,
) -> EscalationPublic:
    """Take the escalation: the ladder stops, the resolve timer starts."""
    row = service.require_escalation(session, escalation_id)
    _require_escalation_actor(principal, row, owner_may=False)
    await service.run_escalation_update(
        client,
        row,
        "acknowledge",
        AcknowledgeInput(escalation_id=row.id, actor_id=principal.actor_id, actor_role=principal.role),
    )
    if body is not None and body.note:
        _note(session, row, "acknowledge_note", principal, body.note)
    return _fresh(session, escalation_id)


@router.post("/{escalation_id}/resolve")
async def resolve(
    escalation_id: str,
    body: EscalationResolveCreate,
    principal: PrincipalDep,
    session: SessionDep,
    client: TemporalDep,
) -> EscalationPublic:
    """Close the escalation with what was done (``action_taken``) and how it ended (``outcome``)."""
    row = service.require_escalation(session, escalation_id)
    _require_escalation_actor(principal, row, owner_may=True)
    action_taken = (body.action_taken or "").strip()
    outcome = (body.outcome or "").strip()
    if row.documentation_required and row.status != "resolved":
        missing = [n for n, v in (("action_taken", action_taken), ("outcome", outcome)) if not v]
        if missing:
            raise errors.invalid(
                f"this {row.trigger} escalation requires documentation: "
                f"{' and '.join(missing)} must not be empty"
            )
    await service.run_escalation_update(
        client,
        row,
        "resolve",
        EscalationResolveInput(
            escalation_id=row.id,
            actor_id=principal.actor_id,
            actor_role=principal.role,
            action_taken_given=bool(action_taken),
            outcome_given=bool(outcome),
        ),
    )
    with committing(session):
        fresh = service.require_escalation(session, escalation_id)
        fresh.action_taken = action_taken or None
        fresh.outcome = outcome or None
    return _fresh(session, escalation_id)


@router.post("/{escalation_id}/assign")
async def assign(
    escalation_id: str,
    body: EscalationAssignCreate,
    principal: PrincipalDep,
    session: SessionDep,
    client: TemporalDep,
) -> EscalationPublic:
    """Hand the escalation to another staff member of the team (lead/manager)."""
    row = service.require_escalation(session, escalation_id)
    principal.require(principal.is_team_lead(row.team_id), "only a lead or manager of the team may reassign")
    staff = repo.get_staff(session, body.owner_id)
    if staff is None or staff.team_id != row.team_id:
        raise errors.invalid(f"unknown staff '{body.owner_id}' in team '{row.team_id}'")
    await service.run_escalation_update(
        client,
        row,
        "assign",
        EscalationAssignInput(
            escalation_id=row.id,
            owner_id=body.owner_id,
            actor_id=principal.actor_id,
            actor_role=principal.role,
        ),
    )
    if body.reason.strip():
        _note(session, row, "escalation_assign_reason", principal, body.reason)
    return _fresh(session, escalation_id)


def _note(session: Session, row: Escalation, kind: str, principal: Principal, note: str) -> None:
    with committing(session):
        repo.add_note(
            session,
            key=f"note:{kind}:{uuid.uuid4().hex}",
            interaction_id=row.interaction_id,
            escalation_id=row.id,
            kind=kind,
            actor_id=principal.actor_id,
            note=note,
            details={"escalation_id": row.id, "trigger": row.trigger},
        )


def _detail(session: Session, row: Escalation) -> EscalationPublic:
    return service.escalation_to_public(
        row,
        timeline=repo.escalation_timeline(session, row.id),
        recipients=repo.escalation_recipients(session, [row.id]).get(row.id),
    )


def _fresh(session: Session, escalation_id: str) -> EscalationPublic:
    session.expire_all()
    return _detail(session, service.require_escalation(session, escalation_id))
