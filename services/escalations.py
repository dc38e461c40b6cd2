"""Escalations: acknowledge, documented resolve and reassign, as ``EscalationWorkflow`` updates."""

from __future__ import annotations

import uuid

from pydantic import BaseModel
from sqlalchemy.orm import Session
from temporalio.client import Client

from domain.errors import Conflict, Invalid, NotFound
from domain.messages import (
    AcknowledgeInput,
    EscalationAssignInput,
    EscalationResolveInput,
    EscalationState,
)
from services.access import Principal
from services.common import run_update
from services.teams import require_staff
from store import repositories as repo
from store.db import committing
from store.models import Escalation


def require_escalation(session: Session, escalation_id: str) -> Escalation:
    row = repo.get_escalation(session, escalation_id)
    if row is None:
        raise NotFound(f"escalation '{escalation_id}' not found")
    return row


def fresh(session: Session, escalation_id: str) -> Escalation:
    session.expire_all()
    return require_escalation(session, escalation_id)


async def run_escalation_update(
    client: Client, row: Escalation, update: str, arg: BaseModel
) -> EscalationState:
    """Run an escalation update; validator rejections become their domain errors."""
    if row.status == "resolved":
        raise Conflict(f"escalation {row.id} is already resolved")
    return await run_update(
        client,
        row.workflow_id,
        update,
        arg,
        result_type=EscalationState,
        closed=f"escalation {row.id} has ended",
    )


def _note(session: Session, row: Escalation, kind: str, actor_id: str | None, note: str) -> None:
    with committing(session):
        repo.add_note(
            session,
            key=f"note:{kind}:{uuid.uuid4().hex}",
            interaction_id=row.interaction_id,
            escalation_id=row.id,
            kind=kind,
            actor_id=actor_id,
            note=note,
            details={"escalation_id": row.id, "trigger": row.trigger},
        )


async def acknowledge(
    session: Session, client: Client, row: Escalation, principal: Principal, *, note: str | None
) -> Escalation:
    """Take the escalation: the ladder stops, the resolve timer starts."""
    await run_escalation_update(
        client,
        row,
        "acknowledge",
        AcknowledgeInput(escalation_id=row.id, actor_id=principal.actor_id, actor_role=principal.role),
    )
    if note:
        _note(session, row, "acknowledge_note", principal.actor_id, note)
    return fresh(session, row.id)


def missing_documentation(row: Escalation, *, action_taken: str, outcome: str) -> list[str]:
    """The documentation fields still blank for an escalation whose rule requires them."""
    if not row.documentation_required or row.status == "resolved":
        return []
    return [name for name, value in (("action_taken", action_taken), ("outcome", outcome)) if not value]


async def resolve(
    session: Session,
    client: Client,
    row: Escalation,
    principal: Principal,
    *,
    action_taken: str | None,
    outcome: str | None,
) -> Escalation:
    """Close the escalation with what was done and how it ended (required when the rule says so)."""
    action = (action_taken or "").strip()
    result = (outcome or "").strip()
    missing = missing_documentation(row, action_taken=action, outcome=result)
    if missing:
        raise Invalid(
            f"this {row.trigger} escalation requires documentation: {' and '.join(missing)} must not be empty"
        )
    await run_escalation_update(
        client,
        row,
        "resolve",
        EscalationResolveInput(
            escalation_id=row.id,
            actor_id=principal.actor_id,
            actor_role=principal.role,
            action_taken_given=bool(action),
            outcome_given=bool(result),
        ),
    )
    with committing(session):
        stored = require_escalation(session, row.id)
        stored.action_taken = action or None
        stored.outcome = result or None
    return fresh(session, row.id)


async def assign(
    session: Session, client: Client, row: Escalation, principal: Principal, *, owner_id: str, reason: str
) -> Escalation:
    """Hand the escalation to another staff member of the team."""
    require_staff(session, owner_id, team_id=row.team_id)
    await run_escalation_update(
        client,
        row,
        "assign",
        EscalationAssignInput(
            escalation_id=row.id, owner_id=owner_id, actor_id=principal.actor_id, actor_role=principal.role
        ),
    )
    if reason.strip():
        _note(session, row, "escalation_assign_reason", principal.actor_id, reason)
    return fresh(session, row.id)
