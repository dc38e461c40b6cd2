"""Escalations: the list leads work from, acknowledge, documented resolve and reassign.

``Escalations`` is the one path every front end takes: each command checks who may act, runs
once per operation (``services.operations``), keeps member text (notes, documentation) in SQL
only and answers the escalation as the API shows it; each query scopes to the caller's teams.
The changes themselves are ``EscalationWorkflow`` updates, so a refused one writes no history.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from pydantic import BaseModel
from sqlalchemy.orm import Session
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from config.settings import Settings
from domain.errors import Conflict, DomainError, Invalid, NotFound, Unavailable
from domain.messages import (
    ESCALATION_STATUSES,
    UNRESOLVED_ESCALATION_STATUSES,
    AcknowledgeInput,
    EscalationAssignInput,
    EscalationRef,
    EscalationResolveInput,
    EscalationState,
)
from domain.models import TRIGGERS
from services import access, presenters
from services.access import Principal
from services.common import (
    describe_run,
    now_utc,
    operation_id,
    parse_statuses,
    place_note,
    run_update,
    with_deadline,
)
from services.context import Service
from services.db import Database
from services.operations import Answer, Operation, once
from services.public import (
    AcknowledgeCreate,
    EscalationAssignCreate,
    EscalationPublic,
    EscalationResolveCreate,
    Page,
)
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
    """Run an escalation update; validator rejections become their domain errors.

    Always sent, even for a row that reads resolved: the row may say more than Temporal applied
    (docs/adr/one-truth.md); an ended workflow answers 409 by itself."""
    return await run_update(
        client,
        row.workflow_id,
        update,
        arg,
        result_type=EscalationState,
        closed=f"escalation {row.id} is already resolved (its workflow has ended)",
        update_id=update_id(update, key),
        seconds=settings.temporal_update_timeout_seconds,
    )


def update_id(update: str, key: str) -> str:
    """The workflow update id of the action with operation key ``key``."""
    return f"{update}-{key}"


async def update_won(client: Client, settings: Settings, row: Escalation, the_id: str) -> bool:
    """Whether Temporal completed the update ``the_id`` on this escalation's workflow successfully.

    Temporal's history is the record of which of two racing actions won: it answers a repeat
    whose first answer was lost even after the workflow ended (a repeated update on an ended run
    is refused by some servers) and tells a loser's repeat apart from the winner's. A workflow
    no longer kept (past retention) proves nothing: False.
    """

    async def scan() -> bool:
        async for event in client.get_workflow_handle(row.workflow_id).fetch_history_events():
            if event.HasField("workflow_execution_update_completed_event_attributes"):
                done = event.workflow_execution_update_completed_event_attributes
                if done.meta.update_id == the_id:
                    return done.outcome.HasField("success")
        return False

    try:
        return await with_deadline(
            scan(), seconds=settings.temporal_rpc_timeout_seconds, what="reading an escalation's history"
        )
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        return False


async def with_action_text(
    db: Database,
    texts: dict[str, str],
    author_id: str | None,
    action: Callable[[], Awaitable[object]],
) -> None:
    """Run ``action()`` (an update) with member ``texts`` ({pending-text key: text}) stored first.

    Each key names this one action (it derives from the action's operation key), so a refusal
    drops only this action's texts, never another person's; an update that may have been
    applied (a timeout, a crash) keeps them for a repeat with the same key.
    """
    texts = {k: t for k, t in texts.items() if t}
    for text_key, text in texts.items():
        await db.run(idem.stash_text, text_key, text, author_id=author_id)
    try:
        await action()
    except DomainError as err:
        if not isinstance(err, Unavailable):
            await _drop_texts(db, texts)
        raise


async def _drop_texts(db: Database, texts: dict[str, str]) -> None:
    for text_key in texts:
        await db.run(idem.drop_text, text_key)


def missing_documentation(row: Escalation, *, action_taken: str, outcome: str) -> list[str]:
    """The documentation fields still blank for an escalation whose rule requires them."""
    if not row.documentation_required or row.status == "resolved":
        return []
    return [name for name, value in (("action_taken", action_taken), ("outcome", outcome)) if not value]


def documentation_keys(key: str) -> dict[str, str]:
    """The pending-text keys of one resolve action's ``action_taken`` and ``outcome``.

    They derive from the action's operation key, not the escalation: two people resolving one
    escalation at once keep their words apart, and only the winner's are placed.
    """
    op = operation_id("escalation_resolve", key)
    return {"action_taken": f"escalation_action_taken:{op}", "outcome": f"escalation_outcome:{op}"}


def _place_documentation(session: Session, escalation_id: str, keys: dict[str, str]) -> None:
    """Move the winning resolve's documentation (stored under ``keys``) onto the row (committed).

    Documentation already placed is never overwritten: it is the record of what was done.
    """
    row = require_escalation(session, escalation_id)
    action = idem.take_text(session, keys["action_taken"])
    outcome = idem.take_text(session, keys["outcome"])
    if row.action_taken is None and action:
        row.action_taken = action
    if row.outcome is None and outcome:
        row.outcome = outcome
    session.commit()


async def _won_earlier(
    client: Client, settings: Settings, current: Escalation, principal: Principal, the_id: str
) -> bool:
    """Whether the resolve with update id ``the_id`` is what resolved the escalation (its answer
    was lost). A row resolved by someone else says no at once (the loser of a race); otherwise
    Temporal's history decides (the row may lag behind, or have been restored from a backup)."""
    if current.status == "resolved" and current.resolved_by != principal.actor_id:
        return False
    return await update_won(client, settings, current, the_id)


async def _nothing() -> None:
    """No update to run: Temporal already applied this action."""


def _unresolved_of(session: Session, interaction_id: str) -> list[Escalation]:
    return [
        e
        for e in repo.escalations_of_interactions(session, [interaction_id])[interaction_id]
        if e.status != "resolved"
    ]


def _close_row(session: Session, escalation_id: str, reason: str) -> None:
    close_ended_escalation(session, escalation_id, reason, now_utc())
    session.commit()


def _page(
    session: Session, where: repo.EscalationFilter, cursor: str | None, limit: int
) -> Page[EscalationPublic]:
    try:
        rows, next_cursor = repo.list_escalations(session, where, cursor=cursor, limit=limit)
    except repo.BadCursor as err:
        raise Invalid(str(err)) from err
    return Page(items=presenters.escalations(session, rows), next_cursor=next_cursor)


def _present(session: Session, escalation_id: str) -> EscalationPublic:
    """The escalation as its workflow's projection left it, with its level history and timeline."""
    return presenters.escalation_detail(session, fresh(session, escalation_id))


# ---------------------------------------------------------------- the service
class Escalations(Service):
    """Escalations for every front end: each command checks who may act, runs once per
    operation, keeps member text in SQL only and answers the escalation as the API shows it;
    each query scopes to the caller's teams."""

    # ------------------------------------------------------------ queries
    async def require(self, escalation_id: str) -> Escalation:
        return await self.db.run(require_escalation, escalation_id)

    async def readable(self, principal: Principal, escalation_id: str) -> Escalation:
        """The escalation's row, when ``principal`` may read its team (404, then 403)."""
        row = await self.require(escalation_id)
        principal.require(principal.can_read_team(row.team_id), "not a member of this escalation's team")
        return row

    async def get(self, principal: Principal, escalation_id: str) -> EscalationPublic:
        """One escalation with its level history (``notified``) and timeline."""
        row = await self.readable(principal, escalation_id)
        return await self.db.read(presenters.escalation_detail, row)

    async def page(
        self,
        principal: Principal,
        *,
        team_id: str | None = None,
        status: str | None = None,
        trigger: str | None = None,
        interaction_id: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page[EscalationPublic]:
        """Escalations ordered by severity (safety first), then age (oldest first); ``status`` is
        comma-separated (default: open,acknowledged)."""
        statuses = parse_statuses(status, ESCALATION_STATUSES, UNRESOLVED_ESCALATION_STATUSES)
        if trigger is not None and trigger not in TRIGGERS:
            raise Invalid(f"unknown trigger {trigger!r}; expected one of {', '.join(TRIGGERS)}")
        where = repo.EscalationFilter(
            team_id=team_id,
            team_ids=principal.team_scope(team_id),
            statuses=statuses,
            trigger=trigger,
            interaction_id=interaction_id,
        )
        return await self.db.read(_page, where, cursor, limit)

    # ------------------------------------------------------------ commands
    async def acknowledge(
        self, principal: Principal, escalation_id: str, body: AcknowledgeCreate | None, op: Operation
    ) -> Answer[EscalationPublic]:
        """Take the escalation: the ladder stops, the resolve timer starts (a lead or manager of
        the team, or the staff member named at the current level). The note stays in SQL."""
        row = await self.require(escalation_id)
        access.require_escalation_actor(principal, row, owner_may=False)

        async def act(key: str) -> EscalationPublic:
            arg = AcknowledgeInput(
                escalation_id=row.id, actor_id=principal.actor_id, actor_role=principal.role
            )
            note = body.note if body else None
            await self._noted_update(
                row,
                "acknowledge",
                arg,
                key=key,
                note=note,
                kind="acknowledge_note",
                actor_id=principal.actor_id,
            )
            return await self.db.read(_present, row.id)

        return await once(self.db, op, body, act, EscalationPublic)

    async def resolve(
        self, principal: Principal, escalation_id: str, body: EscalationResolveCreate, op: Operation
    ) -> Answer[EscalationPublic]:
        """Close the escalation with what was done (``action_taken``) and how it ended
        (``outcome``), required when its rule says so; the owner may resolve too."""
        row = await self.require(escalation_id)
        access.require_escalation_actor(principal, row, owner_may=True)

        async def act(key: str) -> EscalationPublic:
            await self._resolve(row, principal, action_taken=body.action_taken, outcome=body.outcome, key=key)
            return await self.db.read(_present, row.id)

        return await once(self.db, op, body, act, EscalationPublic)

    async def assign(
        self, principal: Principal, escalation_id: str, body: EscalationAssignCreate, op: Operation
    ) -> Answer[EscalationPublic]:
        """Hand the escalation to another staff member of the team (a lead or manager of it);
        the reason goes to the timeline in SQL only."""
        row = await self.require(escalation_id)
        access.require_escalation_assigner(principal, row.team_id)

        async def act(key: str) -> EscalationPublic:
            await self.db.run(require_staff, body.owner_id, team_id=row.team_id)
            arg = EscalationAssignInput(
                escalation_id=row.id,
                owner_id=body.owner_id,
                actor_id=principal.actor_id,
                actor_role=principal.role,
            )
            await self._noted_update(
                row,
                "assign",
                arg,
                key=key,
                note=body.reason,
                kind="escalation_assign_reason",
                actor_id=principal.actor_id,
            )
            return await self.db.read(_present, row.id)

        return await once(self.db, op, body, act, EscalationPublic)

    # ------------------------------------------------------------ the workflow's updates
    async def _noted_update(
        self,
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
        client = await self.ctx.client()
        text_key = f"{kind}:{operation_id(kind, key)}"
        note = note if note and note.strip() else None
        await with_action_text(
            self.db,
            {text_key: note or ""},
            actor_id,
            lambda: run_escalation_update(client, self.settings, row, update, arg, key=key),
        )
        if note:
            await self.db.run(
                place_note,
                text_key,
                interaction_id=row.interaction_id,
                escalation_id=row.id,
                kind=kind,
                actor_id=actor_id,
                details={"escalation_id": row.id, "trigger": row.trigger},
            )

    async def _resolve(
        self,
        row: Escalation,
        principal: Principal,
        *,
        action_taken: str | None,
        outcome: str | None,
        key: str,
    ) -> None:
        """The documentation is stored under this action's own keys before the update runs, with
        its author, and placed on the row only if this action's update won; a refused one (the
        loser of a race answers 409) drops only its own. A repeat (same key) of a resolve that won
        but whose answer was lost completes it; any other resolve of a resolved escalation
        answers 409."""
        db, settings = self.db, self.settings
        action = (action_taken or "").strip()
        result = (outcome or "").strip()
        missing = missing_documentation(row, action_taken=action, outcome=result)
        if missing:
            raise Invalid(
                f"this {row.trigger} escalation requires documentation: "
                f"{' and '.join(missing)} must not be empty"
            )
        client = await self.ctx.client()
        keys = documentation_keys(key)
        texts = {keys["action_taken"]: action, keys["outcome"]: result}
        the_id = update_id("resolve", key)
        if row.status == "resolved" and await _won_earlier(client, settings, row, principal, the_id):
            await with_action_text(db, texts, principal.actor_id, _nothing)
        else:
            # Sent even when the row reads resolved: a resolve Temporal lost (the row ran ahead of
            # it) is applied now, and a resolve Temporal refuses answers 409 from the workflow.
            arg = EscalationResolveInput(
                escalation_id=row.id,
                actor_id=principal.actor_id,
                actor_role=principal.role,
                action_taken_given=bool(action),
                outcome_given=bool(result),
            )

            async def run() -> None:
                try:
                    await run_escalation_update(client, settings, row, "resolve", arg, key=key)
                except Conflict:
                    # A repeat of this very action on a workflow that has ended since it won? (A
                    # running workflow answers a repeated update id itself.) Someone else's
                    # resolve won otherwise: the 409 stands.
                    current = await db.run(fresh, row.id)
                    if not await _won_earlier(client, settings, current, principal, the_id):
                        raise
                    log.info("escalation.resolve_repeated", escalation_id=row.id)

            await with_action_text(db, texts, principal.actor_id, run)
        await db.run(_place_documentation, row.id, keys)

    # ------------------------------------------------------------ for the other services
    async def reconcile(self, interaction: Interaction) -> int:
        """Close escalations of ``interaction`` whose workflow has ended without resolving them
        (the case's own watcher does this, but not across a continue-as-new): tell the case and
        close the row. Returns how many were closed; called when an action finds the case
        blocked, and by the reconcile sweep."""
        closed = 0
        pending = await self.db.run(_unresolved_of, interaction.id)
        if not pending:
            return 0
        client = await self.ctx.client()
        seconds = self.settings.temporal_rpc_timeout_seconds
        for row in pending:
            desc = await describe_run(
                client, row.workflow_id, seconds=seconds, what="reading an escalation's workflow"
            )
            if desc is None:
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
                seconds=seconds,
                what="telling the case its escalation ended",
            )
            await self.db.run(_close_row, row.id, status_name.lower())
            log.warning("escalation.reconciled", escalation_id=row.id, workflow_status=status_name)
            closed += 1
        return closed
