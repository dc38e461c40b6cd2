"""Operations that span the read model and Temporal: starting and acting on interactions."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import structlog
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api import errors
from api.coverage import cover_for
from api.schemas import (
    AttemptPublic,
    EscalationNoticePublic,
    EscalationPublic,
    InteractionCreate,
    InteractionPublic,
    TimelinePublic,
)
from config.settings import Settings
from domain.calendar import BusinessCalendar
from domain.deadlines import due_at
from domain.ids import interaction_workflow_id
from domain.messages import EscalationState, InteractionInput, InteractionState
from domain.models import TRIGGERS, TeamConfig
from store import repositories as repo
from store.models import Escalation, Interaction, Team, TimelineEvent
from workflows.interaction import InteractionWorkflow
from workflows.search_attributes import FT_ASSIGNEE, FT_CHANNEL, FT_DUE_AT, FT_STATUS, FT_TEAM

log = structlog.get_logger(__name__)

FUTURE_TOLERANCE = timedelta(minutes=5)
# How long POST /v1/interactions waits for the escalations its flags raise to be recorded.
ESCALATION_WAIT_SECONDS = 10.0
# A backfill after an outage is days old; older than this is a broken clock, not a missed call.
MAX_BACKFILL = timedelta(days=5 * 366)


def now_utc() -> datetime:
    return datetime.now(UTC)


def team_config(team: Team) -> TeamConfig:
    return TeamConfig.model_validate(team.config)


def require_team(session: Session, team_id: str, *, as_input: bool = False) -> Team:
    team = repo.get_team(session, team_id)
    if team is None:
        raise (errors.invalid if as_input else errors.not_found)(f"unknown team '{team_id}'")
    return team


def calendar_for(cfg: TeamConfig, around: datetime) -> BusinessCalendar:
    return BusinessCalendar.from_config(cfg.calendar, around=around.date())


def route_new(session: Session, team_id: str, member_id: str) -> tuple[str | None, str]:
    """Caseload routing (SPEC 2.5): the member's owner; if absent, the backup; else the unassigned queue."""
    member = repo.get_member(session, team_id, member_id)
    if member is None:
        raise errors.invalid(f"unknown member '{member_id}' in team '{team_id}'")
    if member.owner_id is None:
        return None, "unassigned"
    return cover_for(session, member.owner_id)


def workflow_input(row: Interaction, cfg: TeamConfig, team: Team) -> InteractionInput:
    return InteractionInput(
        interaction_id=row.id,
        team_id=row.team_id,
        external_id=row.external_id,
        member_id=row.member_id,
        channel=row.channel,  # type: ignore[arg-type]
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
        raise errors.invalid("received_at is more than 5 minutes in the future")
    if body.received_at < now_utc() - MAX_BACKFILL:
        raise errors.invalid("received_at is more than 5 years in the past")
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
            raise errors.invalid(f"no response deadline can be computed: {err}") from err
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


def require_interaction(session: Session, interaction_id: str) -> Interaction:
    row = repo.get_interaction(session, interaction_id)
    if row is None:
        raise errors.not_found(f"interaction '{interaction_id}' not found")
    return row


async def run_update(
    client: Client, row: Interaction, update: str, arg: BaseModel, *, update_id: str | None = None
) -> InteractionState:
    """Run a workflow update; a validator's rejection or a closed workflow becomes a 409."""
    if row.status == "resolved":
        raise errors.conflict(f"interaction {row.id} is already resolved")
    handle = client.get_workflow_handle(row.workflow_id)
    try:
        result: InteractionState = await handle.execute_update(
            update, arg, id=update_id or uuid.uuid4().hex, result_type=InteractionState
        )
    except WorkflowUpdateFailedError as err:
        raise errors.from_update_failure(err) from err
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise errors.conflict(f"interaction {row.id} is closed: {err.message}") from err
        raise
    return result


def to_public(
    session: Session, rows: Sequence[Interaction], *, with_timeline: bool = False
) -> list[InteractionPublic]:
    attempts = repo.attempts_of(session, [r.id for r in rows])
    escalations = repo.escalations_of_interactions(session, [r.id for r in rows])
    reached = repo.escalation_recipients(session, [e.id for found in escalations.values() for e in found])
    out = []
    for r in rows:
        timeline = None
        if with_timeline:
            timeline = [TimelinePublic.model_validate(e) for e in repo.timeline_of(session, r.id)]
        out.append(
            InteractionPublic(
                id=r.id,
                workflow_id=r.workflow_id,
                team_id=r.team_id,
                external_id=r.external_id,
                member_id=r.member_id,
                channel=r.channel,  # type: ignore[arg-type]
                status=r.status,  # type: ignore[arg-type]
                assignee_id=r.assignee_id,
                assignment_source=r.assignment_source,
                received_at=r.received_at,
                due_at=r.due_at,
                first_response_at=r.first_response_at,
                sla_met=None if r.first_response_at is None else r.first_response_at <= r.due_at,
                next_retry_at=r.next_retry_at,
                urgent=r.urgent,
                flags=list(r.flags),
                overdue=r.overdue,
                unreachable=r.unreachable,
                triggers=list(r.triggers),
                summary=r.summary,
                resolution=r.resolution,
                resolved_at=r.resolved_at,
                resolved_by=r.resolved_by,
                attempts=[
                    AttemptPublic(
                        id=a.id, seq=a.seq, outcome=a.outcome, staff_id=a.staff_id, at=a.at, note=a.note
                    )  # type: ignore[arg-type]
                    for a in attempts[r.id]
                ],
                escalations=[
                    escalation_to_public(e, recipients=reached.get(e.id)) for e in escalations[r.id]
                ],
                timeline=timeline,
                created_at=r.created_at,
                updated_at=r.updated_at,
            )
        )
    return out


def escalation_to_public(
    e: Escalation,
    *,
    timeline: Sequence[TimelineEvent] | None = None,
    recipients: dict[int, list[str]] | None = None,
) -> EscalationPublic:
    return EscalationPublic(
        id=e.id,
        workflow_id=e.workflow_id,
        interaction_id=e.interaction_id,
        team_id=e.team_id,
        trigger=e.trigger,
        severity=e.severity,
        status=e.status,  # type: ignore[arg-type]
        level=e.level,
        levels=len(e.rule.get("levels", [])),
        clock=e.clock,
        documentation_required=e.documentation_required,
        matrix_version=e.matrix_version,
        rule=e.rule,
        notified=[
            EscalationNoticePublic.model_validate({**n, "recipients": (recipients or {}).get(i, [])})
            for i, n in enumerate(e.notified, start=1)
        ],
        owner_id=e.owner_id,
        started_at=e.started_at,
        started_by=e.started_by,
        acknowledged_by=e.acknowledged_by,
        acknowledged_at=e.acknowledged_at,
        resolved_by=e.resolved_by,
        resolved_at=e.resolved_at,
        action_taken=e.action_taken,
        outcome=e.outcome,
        timeline=None if timeline is None else [TimelinePublic.model_validate(t) for t in timeline],
    )


def require_escalation(session: Session, escalation_id: str) -> Escalation:
    row = repo.get_escalation(session, escalation_id)
    if row is None:
        raise errors.not_found(f"escalation '{escalation_id}' not found")
    return row


async def run_escalation_update(
    client: Client, row: Escalation, update: str, arg: BaseModel
) -> EscalationState:
    """Run an escalation update; validator rejections map to 403/409/422."""
    if row.status == "resolved":
        raise errors.conflict(f"escalation {row.id} is already resolved")
    handle = client.get_workflow_handle(row.workflow_id)
    try:
        result: EscalationState = await handle.execute_update(
            update, arg, id=f"{update}-{uuid.uuid4().hex}", result_type=EscalationState
        )
    except WorkflowUpdateFailedError as err:
        raise errors.from_update_failure(err) from err
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise errors.conflict(f"escalation {row.id} has ended: {err.message}") from err
        raise
    return result
