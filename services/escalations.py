"""Escalations: acknowledge, documented resolve and reassign, as ``EscalationWorkflow`` updates."""

from __future__ import annotations

from typing import Any

import structlog
from pydantic import BaseModel
from sqlalchemy.orm import Session
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from config.settings import Settings
from domain.errors import Conflict, DomainError, Invalid, NotFound, Unavailable
from domain.messages import (
    AcknowledgeInput,
    EscalationAssignInput,
    EscalationRef,
    EscalationResolveInput,
    EscalationState,
)
from services.access import Principal
from services.common import now_utc, operation_id, place_note, run_update, with_deadline, with_text
from services.db import Database
from services.teams import require_staff
from store import idempotency as idem, repositories as repo
from store.models import Escalation, Interaction
from store.projection import close_ended_escalation

log = structlog.get_logger(__name__)


def require_escalation(session: Session, escalation_id: str) -> Escalation:
    row = repo.get_escalation(session, escalation_id)
    if row is None:
        raise NotFound(f"escalation '{escalation_id}' not found")
    return row


def fresh(session: Session, escalation_id: str) -> Escalation:
    session.expire_all()
    return require_escalation(session, escalation_id)


async def run_escalation_update(
    client: Client, settings: Settings, row: Escalation, update: str, arg: BaseModel, *, key: str
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
        update_id=f"{update}-{key}",
        seconds=settings.temporal_update_timeout_seconds,
    )


async def _noted_update(
    db: Database,
    client: Client,
    settings: Settings,
    row: Escalation,
    update: str,
    arg: BaseModel,
    *,
    key: str,
    note: str | None,
    kind: str,
    actor_id: str | None,
) -> None:
    """An update whose optional note is stored before it runs and placed on the timeline after."""
    text_key = f"{kind}:{operation_id(kind, key)}"
    note = note if note and note.strip() else None
    await with_text(
        db, text_key, note, lambda: run_escalation_update(client, settings, row, update, arg, key=key)
    )
    if note:
        await db.run(
            place_note,
            text_key,
            interaction_id=row.interaction_id,
            escalation_id=row.id,
            kind=kind,
            actor_id=actor_id,
            details={"escalation_id": row.id, "trigger": row.trigger},
        )


async def acknowledge(
    db: Database,
    client: Client,
    settings: Settings,
    row: Escalation,
    principal: Principal,
    *,
    note: str | None,
    key: str,
) -> Escalation:
    """Take the escalation: the ladder stops, the resolve timer starts."""
    arg = AcknowledgeInput(escalation_id=row.id, actor_id=principal.actor_id, actor_role=principal.role)
    await _noted_update(
        db,
        client,
        settings,
        row,
        "acknowledge",
        arg,
        key=key,
        note=note,
        kind="acknowledge_note",
        actor_id=principal.actor_id,
    )
    return await db.run(fresh, row.id)


def missing_documentation(row: Escalation, *, action_taken: str, outcome: str) -> list[str]:
    """The documentation fields still blank for an escalation whose rule requires them."""
    if not row.documentation_required or row.status == "resolved":
        return []
    return [name for name, value in (("action_taken", action_taken), ("outcome", outcome)) if not value]


def _place_documentation(session: Session, escalation_id: str) -> None:
    row = require_escalation(session, escalation_id)
    action = idem.take_text(session, f"escalation_action:{escalation_id}")
    outcome = idem.take_text(session, f"escalation_outcome:{escalation_id}")
    if row.action_taken is None and action:
        row.action_taken = action
    if row.outcome is None and outcome:
        row.outcome = outcome
    session.commit()


def _stash_documentation(session: Session, escalation_id: str, texts: dict[str, Any]) -> None:
    for name, text in texts.items():
        if text:
            idem.stash_text(session, f"escalation_{name}:{escalation_id}", text)


def _drop_documentation(session: Session, escalation_id: str) -> None:
    for name in ("action", "outcome"):
        idem.drop_text(session, f"escalation_{name}:{escalation_id}")


async def resolve(
    db: Database,
    client: Client,
    settings: Settings,
    row: Escalation,
    principal: Principal,
    *,
    action_taken: str | None,
    outcome: str | None,
    key: str,
) -> Escalation:
    """Close the escalation with what was done and how it ended (required when the rule says so).

    The documentation is stored before the update runs; a repeat by the same person of a resolve
    whose answer was lost completes it instead of answering 409.
    """
    action = (action_taken or "").strip()
    result = (outcome or "").strip()
    missing = missing_documentation(row, action_taken=action, outcome=result)
    if missing:
        raise Invalid(
            f"this {row.trigger} escalation requires documentation: {' and '.join(missing)} must not be empty"
        )
    await db.run(_stash_documentation, row.id, {"action": action, "outcome": result})
    # A repeat of a resolve whose answer was lost: same person, no text placed yet or this text.
    lost_answer = (
        row.status == "resolved"
        and row.resolved_by == principal.actor_id
        and row.action_taken in (None, action or None)
        and row.outcome in (None, result or None)
    )
    if not lost_answer:
        arg = EscalationResolveInput(
            escalation_id=row.id,
            actor_id=principal.actor_id,
            actor_role=principal.role,
            action_taken_given=bool(action),
            outcome_given=bool(result),
        )
        try:
            await run_escalation_update(client, settings, row, "resolve", arg, key=key)
        except DomainError as err:
            if not isinstance(err, Unavailable):
                await db.run(_drop_documentation, row.id)
            raise
    await db.run(_place_documentation, row.id)
    return await db.run(fresh, row.id)


async def assign(
    db: Database,
    client: Client,
    settings: Settings,
    row: Escalation,
    principal: Principal,
    *,
    owner_id: str,
    reason: str,
    key: str,
) -> Escalation:
    """Hand the escalation to another staff member of the team."""
    await db.run(require_staff, owner_id, team_id=row.team_id)
    arg = EscalationAssignInput(
        escalation_id=row.id, owner_id=owner_id, actor_id=principal.actor_id, actor_role=principal.role
    )
    await _noted_update(
        db,
        client,
        settings,
        row,
        "assign",
        arg,
        key=key,
        note=reason,
        kind="escalation_assign_reason",
        actor_id=principal.actor_id,
    )
    return await db.run(fresh, row.id)


def _unresolved_of(session: Session, interaction_id: str) -> list[Escalation]:
    return [
        e
        for e in repo.escalations_of_interactions(session, [interaction_id])[interaction_id]
        if e.status != "resolved"
    ]


def _close_row(session: Session, escalation_id: str, reason: str) -> None:
    close_ended_escalation(session, escalation_id, reason, now_utc())
    session.commit()


async def reconcile(db: Database, client: Client, settings: Settings, interaction: Interaction) -> int:
    """Close escalations of ``interaction`` whose workflow has ended without resolving them (the
    case's own watcher does this, but not across a continue-as-new): tell the case and close the
    row. Returns how many were closed; called when an action finds the case blocked."""
    closed = 0
    pending = await db.run(_unresolved_of, interaction.id)
    for row in pending:
        try:
            desc = await with_deadline(
                client.get_workflow_handle(row.workflow_id).describe(),
                seconds=settings.temporal_rpc_timeout_seconds,
                what="reading an escalation's workflow",
            )
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            status_name = "NOT_FOUND"
        else:
            if desc.status in (None, WorkflowExecutionStatus.RUNNING):
                continue
            status_name = desc.status.name
        ref = EscalationRef(
            escalation_id=row.id,
            workflow_id=row.workflow_id,
            trigger=row.trigger,
            status="resolved",
        )
        await with_deadline(
            client.get_workflow_handle(interaction.workflow_id).signal("escalation_changed", ref),
            seconds=settings.temporal_rpc_timeout_seconds,
            what="telling the case its escalation ended",
        )
        await db.run(_close_row, row.id, status_name.lower())
        log.warning("escalation.reconciled", escalation_id=row.id, workflow_status=status_name)
        closed += 1
    return closed
