"""Interactions: start one per missed call, voicemail or text, and act on it.

Every action runs as a workflow update (a rejected one writes no history); member text (notes,
resolutions) is written to SQL only, never into the workflow.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import structlog
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from config.settings import Settings
from domain.deadlines import due_at
from domain.errors import Conflict, Invalid, NotFound
from domain.ids import interaction_workflow_id
from domain.messages import (
    AssignInput,
    AttemptInput,
    FlagInput,
    InteractionInput,
    InteractionState,
    ResolveInput,
)
from domain.models import TRIGGERS, Flag, Outcome, TeamConfig
from services.common import now_utc, run_update
from services.routing import route_new
from services.schemas import InteractionCreate
from services.teams import calendar_for, require_staff, require_team, team_config
from store import repositories as repo
from store.db import committing
from store.models import Attempt, Interaction, Team
from workflows.interaction import InteractionWorkflow
from workflows.search_attributes import FT_ASSIGNEE, FT_CHANNEL, FT_DUE_AT, FT_STATUS, FT_TEAM

log = structlog.get_logger(__name__)

FUTURE_TOLERANCE = timedelta(minutes=5)
# How long a create waits for the escalations its flags raise to be recorded.
ESCALATION_WAIT_SECONDS = 10.0
# A backfill after an outage is days old; older than this is a broken clock, not a missed call.
MAX_BACKFILL = timedelta(days=5 * 366)


def require_interaction(session: Session, interaction_id: str) -> Interaction:
    row = repo.get_interaction(session, interaction_id)
    if row is None:
        raise NotFound(f"interaction '{interaction_id}' not found")
    return row


def fresh(session: Session, interaction_id: str) -> Interaction:
    """The row as the workflow's projection left it (nothing cached from before the update)."""
    session.expire_all()
    return require_interaction(session, interaction_id)


# ---------------------------------------------------------------- start
def workflow_input(row: Interaction, cfg: TeamConfig, team: Team) -> InteractionInput:
    return InteractionInput(
        interaction_id=row.id,
        team_id=row.team_id,
        external_id=row.external_id,
        member_id=row.member_id,
        channel=row.channel,
        received_at=row.received_at,
        urgent=row.urgent,
        flags=list(row.flags),
        assignee_id=row.assignee_id,
        assignment_source=row.assignment_source,
        # Holidays from the year before receipt until two years after today: a backfilled
        # interaction's retries and reminders happen now, not when it was received.
        calendar=cfg.calendar.snapshot(
            row.received_at.year - 1, max(row.received_at.year, now_utc().year) + 2
        ),
        policy=cfg.policy,
        escalation_matrix=cfg.escalation_matrix,
        matrix_version=team.version,
    )


def _local(at: datetime, inp: InteractionInput) -> str:
    """A time as the team reads it: ``Mon 24 Nov 2026 17:00``."""
    return f"{at.astimezone(ZoneInfo(inp.calendar.timezone)):%a %d %b %Y %H:%M}"


async def start_workflow(client: Client, settings: Settings, inp: InteractionInput, row: Interaction) -> None:
    """Start (or find) the interaction's workflow; a closed one is left closed."""
    # A closed run for this id (resolved) makes the start fail: a duplicate start changes nothing.
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await client.start_workflow(
            InteractionWorkflow.run,
            inp,
            id=row.workflow_id,
            task_queue=settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(FT_TEAM, row.team_id),
                    SearchAttributePair(FT_CHANNEL, row.channel),
                    SearchAttributePair(FT_STATUS, row.status),
                    SearchAttributePair(FT_ASSIGNEE, row.assignee_id or "unassigned"),
                    SearchAttributePair(FT_DUE_AT, row.due_at),
                ]
            ),
            static_summary=f"{row.channel} {row.external_id} for team {row.team_id}",
            static_details=(
                f"Interaction {row.id}: {row.channel} received {_local(row.received_at, inp)}, "
                f"due {_local(row.due_at, inp)} ({inp.calendar.timezone}), "
                f"assignee {row.assignee_id or 'unassigned'}."
            ),
        )


async def create_interaction(
    session: Session, client: Client, settings: Settings, body: InteractionCreate
) -> tuple[Interaction, bool]:
    """Insert the row and start the workflow; a duplicate answers the stored row (created=False)."""
    if body.received_at > now_utc() + FUTURE_TOLERANCE:
        raise Invalid("received_at is more than 5 minutes in the future")
    if body.received_at < now_utc() - MAX_BACKFILL:
        raise Invalid("received_at is more than 5 years in the past")
    team = require_team(session, body.team_id, as_input=True)
    cfg = team_config(team)
    existing = repo.get_interaction_by_external(session, body.team_id, body.external_id)
    created = False
    if existing is None:
        assignee_id, source = route_new(session, body.team_id, body.member_id)
        flags = sorted(set(body.flags) | ({"urgent"} if body.urgent else set()))
        urgent = "urgent" in flags
        cal = calendar_for(cfg, body.received_at)
        try:
            due = due_at(body.received_at, body.channel, urgent=urgent, calendar=cal, policy=cfg.policy)
        except (ValueError, OverflowError) as err:
            # e.g. a calendar with no open time for months: no deadline can be promised.
            raise Invalid(f"no response deadline can be computed: {err}") from err
        now = now_utc()
        row = Interaction(
            id=uuid.uuid4().hex,
            workflow_id=interaction_workflow_id(body.team_id, body.external_id),
            team_id=body.team_id,
            external_id=body.external_id,
            member_id=body.member_id,
            channel=body.channel,
            status="open",
            assignee_id=assignee_id,
            assignment_source=source,
            received_at=body.received_at,
            due_at=due,
            urgent=urgent,
            flags=flags,
            summary=body.summary,
            version=0,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        try:
            session.commit()
            created = True
        except IntegrityError:
            session.rollback()
            existing = repo.get_interaction_by_external(session, body.team_id, body.external_id)
            if existing is None:
                raise
    if existing is not None:
        row = existing
    await start_workflow(client, settings, workflow_input(row, cfg, team), row)
    if created:
        log.info("interaction.created", interaction_id=row.id, team_id=row.team_id, channel=row.channel)
        triggers = {f for f in row.flags if f in TRIGGERS}
        if triggers:
            await _escalations_recorded(session, row, triggers)
    return row, created


async def _escalations_recorded(
    session: Session, row: Interaction, triggers: set[str], *, within: float = ESCALATION_WAIT_SECONDS
) -> None:
    """Wait (briefly) until the workflow has recorded the escalations the create flags raised.

    A case flagged ``safety`` at creation answers with its escalation already visible, as a
    flag added later does. The workflow starts them within a fraction of a second; if it is
    slower (a worker restarting), the answer goes out without them rather than failing.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    try:
        while loop.time() < deadline:
            session.rollback()  # nothing is pending: end the read so the next one sees new commits
            found = {e.trigger for e in repo.escalations_of_interactions(session, [row.id])[row.id]}
            if triggers <= found:
                return
            await asyncio.sleep(0.05)
        log.warning("interaction.escalations_pending", interaction_id=row.id, triggers=sorted(triggers))
    finally:
        session.refresh(row)  # the answer shows the status the workflow recorded


# ---------------------------------------------------------------- actions
async def run_interaction_update(
    client: Client, row: Interaction, update: str, arg: BaseModel, *, update_id: str | None = None
) -> InteractionState:
    """Run an interaction update; a validator's rejection becomes its domain error (409/422/403)."""
    if row.status == "resolved":
        raise Conflict(f"interaction {row.id} is already resolved")
    return await run_update(
        client,
        row.workflow_id,
        update,
        arg,
        result_type=InteractionState,
        closed=f"interaction {row.id} is closed",
        update_id=update_id,
    )


async def record_attempt(
    session: Session,
    client: Client,
    row: Interaction,
    *,
    outcome: Outcome,
    note: str | None,
    actor_id: str | None,
) -> Interaction:
    """Record one contact attempt; its note goes to SQL only."""
    attempt_id = uuid.uuid4().hex
    await run_interaction_update(
        client,
        row,
        "record_attempt",
        AttemptInput(attempt_id=attempt_id, outcome=outcome, staff_id=actor_id),
        update_id=f"attempt-{attempt_id}",
    )
    if note:
        with committing(session):
            attempt = session.get(Attempt, attempt_id)
            if attempt is not None:
                attempt.note = note
    return fresh(session, row.id)


async def flag(
    session: Session, client: Client, row: Interaction, *, flag: Flag, note: str | None, actor_id: str | None
) -> Interaction:
    """Raise a flag (a trigger flag escalates); its note goes to the timeline in SQL only."""
    flag_id = uuid.uuid4().hex
    await run_interaction_update(
        client, row, "flag", FlagInput(flag=flag, flag_id=flag_id, staff_id=actor_id)
    )
    if note:
        with committing(session):
            repo.add_note(
                session,
                key=f"note:flag:{flag_id}",
                interaction_id=row.id,
                kind="flag_note",
                actor_id=actor_id,
                note=note,
                details={"flag": flag},
            )
    return fresh(session, row.id)


async def assign(
    session: Session,
    client: Client,
    row: Interaction,
    *,
    assignee_id: str | None,
    reason: str,
    actor_id: str | None,
) -> Interaction:
    """Reassign; ``assignee_id=None`` sends the case to the unassigned queue."""
    if assignee_id is not None:
        require_staff(session, assignee_id, team_id=row.team_id)
    await run_interaction_update(
        client, row, "assign", AssignInput(assignee_id=assignee_id, actor_id=actor_id)
    )
    if reason.strip():
        with committing(session):
            repo.add_note(
                session,
                key=f"note:assign:{uuid.uuid4().hex}",
                interaction_id=row.id,
                kind="assign_reason",
                actor_id=actor_id,
                note=reason,
                details={"to": assignee_id},
            )
    return fresh(session, row.id)


async def resolve(
    session: Session, client: Client, row: Interaction, *, resolution: str, actor_id: str | None
) -> Interaction:
    """Close the case (the workflow refuses while an escalation is open); the resolution stays in SQL."""
    await run_interaction_update(client, row, "resolve", ResolveInput(actor_id=actor_id))
    with committing(session):
        require_interaction(session, row.id).resolution = resolution
    return fresh(session, row.id)
