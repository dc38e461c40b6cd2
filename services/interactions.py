"""Interactions: start one per missed call, voicemail or text, and act on it.

Every action runs as a workflow update (a rejected one writes no history); member text (notes,
resolutions) is written to SQL only, never into the workflow.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import structlog
from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from config.settings import Settings
from domain.deadlines import due_at, is_urgent
from domain.errors import Conflict, Invalid, NotFound
from domain.ids import interaction_workflow_id
from domain.messages import (
    ACTIVE_INTERACTION_STATUSES,
    INTERACTION_STATUSES,
    AssignInput,
    AttemptInput,
    ContactAgainInput,
    FlagInput,
    InteractionInput,
    InteractionState,
    ResolveInput,
    TimelineEntry,
)
from domain.models import TRIGGERS, AttemptChannel, Flag, Outcome, TeamConfig
from services import access, members, presenters
from services.access import Principal
from services.common import (
    StartRefused,
    describe_run,
    now_utc,
    operation_id,
    parse_statuses,
    place_note,
    run_update,
    with_deadline,
    with_text,
    with_texts,
)
from services.context import Service, TemporalLink
from services.db import Database, begin_snapshot
from services.escalations import Escalations
from services.faults import crash_point
from services.operations import Answer, Claim, Operation, claim, once, once_then
from services.public import (
    AssignCreate,
    AttemptCreate,
    FlagCreate,
    InteractionPublic,
    LinkCreate,
    Page,
    ResolveCreate,
)
from services.routing import route_new
from services.schemas import CaseStart, InteractionCreate
from services.teams import calendar_for, require_staff, require_team, team_config
from store import idempotency as idem, repositories as repo
from store.models import Attempt, Interaction, InteractionContact, Team, TimelineEvent
from store.projection import add_timeline
from workflows.interaction import InteractionWorkflow
from workflows.search_attributes import FT_ASSIGNEE, FT_CHANNEL, FT_DUE_AT, FT_STATUS, FT_TEAM

log = structlog.get_logger(__name__)

FUTURE_TOLERANCE = timedelta(minutes=5)
# How long a create waits for the escalations its flags raise to be recorded.
ESCALATION_WAIT_SECONDS = 5.0
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


def present_case(session: Session, interaction_id: str) -> InteractionPublic:
    """What an action answers: the case as its projection left it, read once and as one snapshot
    (the action's own writes committed before)."""
    begin_snapshot(session)
    return presenters.interaction(session, require_interaction(session, interaction_id))


def placed_then_presented(
    place: Callable[[Session], None] | None, interaction_id: str
) -> Callable[[Session], InteractionPublic]:
    """An action's answer: place its text on the timeline (``place``, None: no text), then
    ``present_case``, in the one call that stores the answer under its key."""

    def answer(session: Session) -> InteractionPublic:
        if place is not None:
            place(session)
        return present_case(session, interaction_id)

    return answer


# ---------------------------------------------------------------- start
def workflow_input(row: Interaction, cfg: TeamConfig, team: Team) -> InteractionInput:
    return InteractionInput(
        interaction_id=row.id,
        team_id=row.team_id,
        external_id=row.external_id,
        # "" for a caller the team did not know at the start (the row's member_id is NULL): the
        # message keeps its type (docs/adr/message-evolution.md); no workflow decision reads it.
        member_id=row.member_id or "",
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
        # A referral's deadline may be the referrer's own: the workflow takes it as given.
        due_at=row.due_at.astimezone(ZoneInfo(cfg.calendar.timezone)) if row.channel == "referral" else None,
    )


def _local(at: datetime, inp: InteractionInput) -> str:
    """A time as the team reads it: ``Mon 24 Nov 2026 17:00``."""
    return f"{at.astimezone(ZoneInfo(inp.calendar.timezone)):%a %d %b %Y %H:%M}"


async def start_workflow(client: Client, settings: Settings, inp: InteractionInput, row: Interaction) -> None:
    """Start (or find) the interaction's workflow; a closed one is left closed."""
    # A closed run for this id (resolved) makes the start fail: a duplicate start changes nothing.
    seconds = settings.temporal_rpc_timeout_seconds
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await with_deadline(
            client.start_workflow(
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
                rpc_timeout=timedelta(seconds=seconds),
            ),
            seconds=seconds,
            what="starting the interaction's workflow",
        )


@dataclass(frozen=True)
class _Found:
    """What ``_insert_or_find`` found or made: the case's row, whether it was inserted now, its
    workflow input, and (a repeat contact merged into the member's open case) the update that
    tells the case (docs/rules.md §2.10)."""

    row: Interaction
    created: bool
    inp: InteractionInput
    again: ContactAgainInput | None = None
    # The merge was remembered by this request (not by an earlier one).
    merged_now: bool = False


def _open_case_of(session: Session, team_id: str, member_id: str) -> Interaction | None:
    """The member's open case in the team a repeat contact joins: the oldest, if several."""
    return session.scalar(
        select(Interaction)
        .where(
            Interaction.team_id == team_id,
            Interaction.member_id == member_id,
            Interaction.status.in_(ACTIVE_INTERACTION_STATUSES),
        )
        .order_by(Interaction.received_at, Interaction.id)
        .limit(1)
    )


def _merged_contact(session: Session, team_id: str, external_id: str) -> InteractionContact | None:
    return session.scalar(
        select(InteractionContact).where(
            InteractionContact.team_id == team_id, InteractionContact.external_id == external_id
        )
    )


def _again(contact: InteractionContact) -> ContactAgainInput:
    return ContactAgainInput(contact_id=contact.external_id, channel=contact.channel, at=contact.at)


def _merge_into(
    session: Session, body: CaseStart, cfg: TeamConfig, team: Team, *, merge: bool
) -> _Found | None:
    """A contact remembered as merged answers its case; a new one from a member with an open
    case joins it (remembered now, committed). None: it opens a case of its own."""
    known = _merged_contact(session, body.team_id, body.external_id)
    if known is not None:
        row = require_interaction(session, known.interaction_id)
        return _Found(row, False, workflow_input(row, cfg, team), _again(known))
    if not merge or not cfg.policy.merge_repeat_contacts or body.member_id is None:
        return None
    if body.channel == "referral":
        # A referral is a plan's or clinic's request with its own Task and deadline, not a
        # contact from the member: it never joins another case (a later contact may join it).
        return None
    target = _open_case_of(session, body.team_id, body.member_id)
    if target is None:
        return None
    contact = InteractionContact(
        id=uuid.uuid4().hex,
        team_id=body.team_id,
        external_id=body.external_id,
        interaction_id=target.id,
        channel=body.channel,
        at=body.received_at,
        created_at=now_utc(),
    )
    session.add(contact)
    if body.summary:
        # The member's words (a text's body, a transcript) stay with the case: SQL only.
        repo.add_note(
            session,
            key=f"contact_note:{target.id}:{body.external_id}",
            interaction_id=target.id,
            kind="contact_note",
            actor_id=None,
            note=body.summary,
            details={"channel": body.channel},
        )
    try:
        session.commit()
    except IntegrityError:
        session.rollback()  # the same contact, at once: answer what the other remembered
        known = _merged_contact(session, body.team_id, body.external_id)
        if known is None:
            raise
        target = require_interaction(session, known.interaction_id)
        return _Found(target, False, workflow_input(target, cfg, team), _again(known))
    return _Found(target, False, workflow_input(target, cfg, team), _again(contact), merged_now=True)


def _forget_merge(session: Session, team_id: str, external_id: str) -> None:
    """Undo a merge the case refused (it was resolved meanwhile): the contact opens its own."""
    known = _merged_contact(session, team_id, external_id)
    if known is not None:
        note = session.scalar(
            select(TimelineEvent).where(
                TimelineEvent.key == f"contact_note:{known.interaction_id}:{external_id}"
            )
        )
        if note is not None:
            session.delete(note)
        session.delete(known)
        session.commit()


def _insert_or_find(session: Session, body: CaseStart, merge: bool = True) -> _Found:
    """The stored row for ``(team, external_id)``, the member's open case a repeat contact joins,
    or a new row committed now; and the workflow input."""
    team = require_team(session, body.team_id, as_input=True)
    cfg = team_config(team)
    if body.member_id is not None:
        # One request at a time per member from here to the commit: two first contacts of one
        # member at once make one case, the second joining the first (docs/rules.md §2.10).
        repo.lock_member(session, body.team_id, body.member_id)
    existing = repo.get_interaction_by_external(session, body.team_id, body.external_id)
    if existing is not None:
        if existing.summary is None and body.summary:
            # A repeat after a half-created start (the row re-made by the workflow) brings the text back.
            existing.summary = body.summary
            session.commit()
        return _Found(existing, False, workflow_input(existing, cfg, team))
    merged = _merge_into(session, body, cfg, team, merge=merge)
    if merged is not None:
        return merged
    if body.member_id is not None:
        assignee_id, source = route_new(session, body.team_id, body.member_id)
    else:  # a caller the team does not know yet: the leads' unassigned queue (docs/channels.md)
        assignee_id, source = None, "unassigned"
    urgent = is_urgent(body.flags, urgent=body.urgent)
    flags = sorted(set(body.flags) | ({"urgent"} if urgent else set()))
    cal = calendar_for(cfg, body.received_at)
    try:
        due = body.due_at or due_at(
            body.received_at, body.channel, urgent=urgent, calendar=cal, policy=cfg.policy
        )
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
        caller_phone=body.caller_phone,
        referral=body.referral,
        version=0,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()  # a concurrent identical start won the insert: answer its row
        existing = repo.get_interaction_by_external(session, body.team_id, body.external_id)
        if existing is None:
            raise
        return _Found(existing, False, workflow_input(existing, cfg, team))
    return _Found(row, True, workflow_input(row, cfg, team))


def _delete_unstarted(session: Session, interaction_id: str) -> None:
    """Undo an insert whose workflow could not be started (nothing else refers to it yet)."""
    row = session.get(Interaction, interaction_id)
    if row is not None and row.version == 0:
        session.delete(row)
        session.commit()


async def _create(
    db: Database,
    temporal: TemporalLink,
    settings: Settings,
    body: CaseStart,
    *,
    keep_unstarted: bool = False,
    merge: bool = True,
) -> tuple[Interaction, bool, bool]:
    """Insert the row and start the workflow; a duplicate answers the stored row (created=False).
    A contact from a member with an open case joins it instead (merged=True, docs/rules.md
    §2.10): remembered in SQL by its external id, then told to the case (``contact_again``,
    once per external id); a repeat of it answers that case and tells it again (applied once).

    If Temporal refuses the start outright, the new row is removed again (no queue row without a
    deadline) and the caller gets a 503 to retry. If the start's outcome is unknown (a timeout),
    the row stays: a repeat of the same ``external_id`` finds it and starts (or finds) the
    workflow, which heals a half-created case. With ``keep_unstarted`` (a contact nobody will
    send again: the phone system's) the row stays in both cases and reconcile starts its workflow
    (docs/architecture.md §3.15).
    """
    if body.received_at > now_utc() + FUTURE_TOLERANCE:
        raise Invalid("received_at is more than 5 minutes in the future")
    if body.received_at < now_utc() - MAX_BACKFILL:
        raise Invalid("received_at is more than 5 years in the past")
    found = await db.run(_insert_or_find, body, merge)
    row, created, inp = found.row, found.created, found.inp
    if row.status == "resolved":
        # Closed stays closed: a repeat for a resolved case answers it and starts nothing, whether
        # or not Temporal still remembers the run (retention may have removed it).
        return row, False, found.again is not None
    if found.again is not None:
        return await _contact_again(
            db,
            temporal,
            settings,
            body,
            row,
            found.again,
            inp,
            merged_now=found.merged_now,
            keep_unstarted=keep_unstarted,
        )
    crash_point("between_insert_and_start")
    try:
        await start_workflow(await temporal.client(), settings, inp, row)
    except StartRefused:
        if created and not keep_unstarted:
            await db.run(_delete_unstarted, row.id)
        raise
    if created:
        log.info("interaction.created", interaction_id=row.id, team_id=row.team_id, channel=row.channel)
        triggers = {f for f in row.flags if f in TRIGGERS}
        if triggers:
            await _escalations_recorded(db, row.id, triggers)
    # The caller presents the case, read afresh there (``presenters.interaction_summary``).
    return row, created, False


async def _contact_again(
    db: Database,
    temporal: TemporalLink,
    settings: Settings,
    body: CaseStart,
    row: Interaction,
    again: ContactAgainInput,
    inp: InteractionInput,
    *,
    merged_now: bool,
    keep_unstarted: bool,
) -> tuple[Interaction, bool, bool]:
    """Tell the member's open case of a contact merged into it. A case resolved since this
    request found it refuses it: the contact is forgotten there and opens a case of its own.

    A case its workflow has not projected yet (``version`` 0) may not be started yet: the
    request that opened it a moment ago is still starting it (two first contacts at once), or
    Temporal was away. Its workflow is started here first (a start of a running one changes
    nothing), so the contact joins it instead of being refused as if the case were closed. If
    Temporal refuses that start, a contact nobody will send again (``keep_unstarted``) is kept
    as a case of its own, which reconcile starts; any other answers 503 to be sent again."""
    if row.version == 0:
        try:
            await start_workflow(await temporal.client(), settings, inp, row)
        except StartRefused:
            if not (keep_unstarted and merged_now):
                raise
            await db.run(_forget_merge, body.team_id, body.external_id)
            return await _create(db, temporal, settings, body, keep_unstarted=True, merge=False)
    try:
        await run_interaction_update(
            await temporal.client(), settings, row, "contact_again", again, key=again.contact_id
        )
    except Conflict:
        if not merged_now:
            return await db.run(fresh, row.id), False, True  # joined earlier; the case closed since
        await db.run(_forget_merge, body.team_id, body.external_id)
        return await _create(db, temporal, settings, body, keep_unstarted=keep_unstarted, merge=False)
    log.info("interaction.contact_merged", interaction_id=row.id, team_id=row.team_id, channel=body.channel)
    # The merged contact's flags (a safety concern, urgency) are raised on the case, once each.
    flags = sorted(set(body.flags) | ({"urgent"} if body.urgent else set()))
    for flag in flags:
        key = f"{again.contact_id}:{flag}"
        arg = FlagInput(flag=flag, flag_id=operation_id("flag", key), staff_id=None)
        with contextlib.suppress(Conflict):  # resolved meanwhile: nothing left to flag
            await run_interaction_update(await temporal.client(), settings, row, "flag", arg, key=key)
    if {f for f in flags if f in TRIGGERS}:
        await _escalations_recorded(db, row.id, {f for f in flags if f in TRIGGERS})
    return row, False, True


def _escalations_shown(session: Session, interaction_id: str, triggers: set[str]) -> bool:
    """The case reads escalated with an escalation row per trigger. The escalation workflow may
    write its row before the case's own projection lands: both are waited for."""
    row = session.get(Interaction, interaction_id)
    if row is None or row.status != "escalated":
        return False
    recorded = repo.escalations_of_interactions(session, [interaction_id])[interaction_id]
    return triggers <= {e.trigger for e in recorded}


async def _escalations_recorded(
    db: Database, interaction_id: str, triggers: set[str], *, within: float = ESCALATION_WAIT_SECONDS
) -> None:
    """Wait (briefly) until the workflow has recorded the escalations the create flags raised.

    A case flagged ``safety`` at creation answers with its escalation already visible, as a
    flag added later does. The workflow starts them within a fraction of a second; if it is
    slower (a worker restarting), the answer goes out without them rather than failing.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        if await db.run(_escalations_shown, interaction_id, triggers):
            return
        await asyncio.sleep(0.05)
    log.warning("interaction.escalations_pending", interaction_id=interaction_id, triggers=sorted(triggers))


# ---------------------------------------------------------------- actions
async def run_interaction_update(
    client: Client, settings: Settings, row: Interaction, update: str, arg: BaseModel, *, key: str
) -> InteractionState:
    """Run an interaction update; a validator's rejection becomes its domain error (409/422/403).

    Always sent, even for a row that reads resolved: the row may say more than Temporal applied
    (docs/architecture.md §3.9), and a closed run answers 409 by itself."""
    return await run_update(
        client,
        row.workflow_id,
        update,
        arg,
        result_type=InteractionState,
        closed=f"interaction {row.id} is already resolved (its workflow has ended)",
        update_id=f"{update}-{key}",
        seconds=settings.temporal_update_timeout_seconds,
    )


def _place_attempt_note(session: Session, attempt_id: str, *, note: bool, reason: bool) -> None:
    """Put the attempt's texts the request stored (``note``, ``reason``: which) on its row."""
    attempt = session.get(Attempt, attempt_id)
    if attempt is not None:
        text = idem.take_text(session, f"attempt:{attempt_id}") if note else None
        if text is not None and attempt.note is None:
            attempt.note = text
        text = idem.take_text(session, f"attempt_override:{attempt_id}") if reason else None
        if text is not None and attempt.override_reason is None:
            attempt.override_reason = text
        session.commit()


def _attempt_input(
    session: Session,
    row: Interaction,
    attempt_id: str,
    outcome: Outcome,
    actor_id: str | None,
    channel: AttemptChannel | None = None,
) -> AttemptInput:
    """The attempt with its marks against the member's window, daily cap and text consent
    (docs/rules.md §2.7)."""
    team = require_team(session, row.team_id)
    marks = members.attempt_marks(session, team_config(team), row.team_id, row.member_id, now_utc(), channel)
    return AttemptInput(
        attempt_id=attempt_id,
        outcome=outcome,
        staff_id=actor_id,
        outside_contact_window=marks.outside_contact_window,
        over_daily_cap=marks.over_daily_cap,
        contact=marks.contact,
        channel=channel,
        consent_refused=marks.consent_refused,
    )


def _place_resolution(session: Session, interaction_id: str, text_key: str) -> None:
    """Put the winning resolve's text on the row (the text of a losing resolve was dropped)."""
    row = require_interaction(session, interaction_id)
    text = idem.take_text(session, text_key)
    if text is None:  # stored under the per-case key by a version before per-action keys
        text = idem.take_text(session, f"resolution:{interaction_id}")
    if text is not None and row.resolution is None:
        row.resolution = text
    session.commit()


def _link_member(
    session: Session, interaction_id: str, member_id: str, actor_id: str | None
) -> tuple[str | None, str]:
    """Link a case of a caller the team did not know to ``member_id`` (docs/channels.md): the
    row names the member, the member gets the number when they have none, the timeline says so
    (committed). Answers who routing gives the member's cases to now."""
    row = require_interaction(session, interaction_id)
    member = repo.get_member(session, row.team_id, member_id)
    if member is None:
        raise Invalid(f"unknown member '{member_id}' in team '{row.team_id}'")
    if row.member_id is not None and row.member_id != member_id:
        raise Conflict(f"interaction {row.id} is already linked to member '{row.member_id}'")
    if row.member_id is None:
        # Only while nobody else has linked it (two leads at once: one wins, the other sees it).
        claimed = session.execute(
            update(Interaction)
            .where(Interaction.id == row.id, Interaction.member_id.is_(None))
            .values(member_id=member_id)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            session.rollback()
            return _link_member(session, interaction_id, member_id, actor_id)
        remembered = False
        if row.caller_phone and member.phone is None:
            profile = members.profile_of(member).model_copy(update={"phone": row.caller_phone})
            team = require_team(session, row.team_id)
            members.put_profile(session, member, profile, team_config(team).calendar.timezone)
            remembered = True
        entry = TimelineEntry(
            key=f"link:{row.id}",
            kind="linked",
            at=now_utc(),
            actor_id=actor_id,
            details={"member_id": member_id, "phone_remembered": remembered},
        )
        add_timeline(session, [entry], interaction_id=row.id)
        session.commit()
    return route_new(session, row.team_id, member_id)


async def run_completed(client: Client, settings: Settings, workflow_id: str) -> bool:
    """Temporal closed the case's run as completed (resolved), or no longer has it (retention)."""
    seconds = settings.temporal_rpc_timeout_seconds
    desc = await describe_run(client, workflow_id, seconds=seconds, what="reading the case's workflow")
    return desc is None or desc.status == WorkflowExecutionStatus.COMPLETED


# ---------------------------------------------------------------- the service
# How many cases an export reads at once (``Interactions.export``).
EXPORT_PAGE = 500


@dataclass(frozen=True)
class Export:
    """Cases to export: their time zone (IANA) and their pages, read as they are consumed."""

    zone: str
    pages: AsyncIterator[list[InteractionPublic]]


def _queue_filter(
    principal: Principal,
    team_id: str | None,
    assignee_id: str | None,
    status: str | None,
    overdue: bool | None,
) -> repo.InteractionFilter:
    """The queue's filter as ``Interactions.page`` and ``Interactions.export`` take it: the
    caller's team scope; ``status`` comma-separated (default: every status but resolved)."""
    return repo.InteractionFilter(
        team_id=team_id,
        team_ids=principal.team_scope(team_id),
        assignee_id=assignee_id,
        statuses=parse_statuses(status, INTERACTION_STATUSES, ACTIVE_INTERACTION_STATUSES),
        overdue=overdue,
    )


def _listed(
    session: Session, where: repo.InteractionFilter, cursor: str | None, limit: int
) -> tuple[list[InteractionPublic], str | None]:
    """One page of the queue, presented, and the cursor of the next; a bad cursor is Invalid."""
    try:
        rows, next_cursor = repo.list_interactions(session, where, cursor=cursor, limit=limit)
    except repo.BadCursor as err:
        raise Invalid(str(err)) from err
    return presenters.interactions(session, rows), next_cursor


class Interactions(Service):
    """Interactions for every front end: each command checks who may act, runs once per
    operation (``services.operations``), keeps member text in SQL only and answers the case as
    the API shows it; each query scopes to the caller's teams."""

    # ------------------------------------------------------------ queries
    async def require(self, interaction_id: str) -> Interaction:
        return await self.db.run(require_interaction, interaction_id)

    async def readable(self, principal: Principal, interaction_id: str) -> Interaction:
        """The case's row, when ``principal`` may read its team (404, then 403)."""
        row = await self.require(interaction_id)
        principal.require(principal.can_read_team(row.team_id), "not a member of this interaction's team")
        return row

    async def get(self, principal: Principal, interaction_id: str) -> InteractionPublic:
        row = await self.readable(principal, interaction_id)
        return await self.db.read(presenters.interaction, row)

    async def page(
        self,
        principal: Principal,
        *,
        team_id: str | None = None,
        assignee_id: str | None = None,
        status: str | None = None,
        overdue: bool | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page[InteractionPublic]:
        """The queue, by ``due_at`` then most contacts; ``assignee_id=unassigned`` is the unassigned queue;
        ``status`` is comma-separated (default: every status but resolved)."""
        where = _queue_filter(principal, team_id, assignee_id, status, overdue)

        def page(session: Session) -> Page[InteractionPublic]:
            items, next_cursor = _listed(session, where, cursor, limit)
            return Page(items=items, next_cursor=next_cursor)

        return await self.db.read(page)

    async def export(
        self,
        principal: Principal,
        *,
        team_id: str | None = None,
        assignee_id: str | None = None,
        status: str | None = None,
        overdue: bool | None = None,
        cursor: str | None = None,
    ) -> Export:
        """Every case ``page`` would list with these filters (from ``cursor`` on), a page of
        ``EXPORT_PAGE`` at a time as the caller reads them, and the time zone to show them in
        (the team's; UTC for a list across teams). Rights and filters are checked now."""
        where = _queue_filter(principal, team_id, assignee_id, status, overdue)
        teams = [team_id] if team_id is not None else where.team_ids

        def zone(session: Session) -> str:
            if teams is None or len(teams) != 1:
                return "UTC"
            team = repo.get_team(session, teams[0])
            return team_config(team).calendar.timezone if team is not None else "UTC"

        def page(session: Session, after: str | None) -> tuple[list[InteractionPublic], str | None]:
            return _listed(session, where, after, EXPORT_PAGE)

        first = await self.db.read(page, cursor)  # a bad cursor is refused before the answer starts

        async def pages() -> AsyncIterator[list[InteractionPublic]]:
            items, after = first
            yield items
            while after is not None:
                items, after = await self.db.read(page, after)
                yield items

        return Export(zone=await self.db.read(zone), pages=pages())

    # ------------------------------------------------------------ commands
    async def create(self, principal: Principal, body: InteractionCreate) -> Answer[InteractionPublic]:
        """Start one interaction per missed call, voicemail or text; idempotent on
        ``(team, external_id)``: 201 when created, 200 with the stored case for a repeat."""
        return await self.start(principal, CaseStart.of(body))

    async def start(
        self, principal: Principal, body: CaseStart, *, keep_unstarted: bool = False
    ) -> Answer[InteractionPublic]:
        """``create`` for every front end: 201 when created, 200 with the stored case for a
        repeat of ``(team, external_id)``. ``keep_unstarted``: see ``_create``."""
        access.require_interaction_starter(principal)
        row, created, merged = await _create(
            self.db, self.ctx.temporal, self.settings, body, keep_unstarted=keep_unstarted
        )
        if created and set(row.flags).isdisjoint(TRIGGERS):
            # A new case that raised no escalation is answered from the row this request inserted,
            # not read back: its workflow's first projection, which lands before or after such a
            # read, changes only the row's version and ``updated_at``.
            answer = presenters.new_interaction(row)
        else:
            answer = await self.db.read(presenters.interaction_summary, row)
        if merged:
            answer = answer.model_copy(update={"merged": True})
        return Answer(answer, 201 if created else 200)

    async def _acting(self, principal: Principal, interaction_id: str) -> Interaction:
        row = await self.require(interaction_id)
        access.require_interaction_actor(principal, row)
        return row

    async def _acting_once(
        self, principal: Principal, interaction_id: str, op: Operation, body: BaseModel
    ) -> tuple[Interaction, Claim[InteractionPublic]]:
        """``_acting`` and the operation's key claimed (``claim``), in one database call."""

        def read(session: Session) -> tuple[Interaction, Claim[InteractionPublic]]:
            row = require_interaction(session, interaction_id)
            access.require_interaction_actor(principal, row)
            return row, claim(session, op, body, InteractionPublic)

        return await self.db.run(read)

    async def record_attempt(
        self, principal: Principal, interaction_id: str, body: AttemptCreate, op: Operation
    ) -> Answer[InteractionPublic]:
        """Record one contact attempt; its note and override reason go to SQL only.

        An attempt is a fact: one outside the member's contact window or over the daily cap is
        recorded all the same, marked (docs/rules.md §2.7)."""
        row, claimed = await self._acting_once(principal, interaction_id, op, body)

        async def act(key: str) -> Callable[[Session], InteractionPublic]:
            attempt_id = await self._record_attempt(row, body, actor_id=principal.actor_id, key=key)
            note, reason = bool(body.note), bool(body.override_reason)

            def answer(session: Session) -> InteractionPublic:
                if note or reason:
                    _place_attempt_note(session, attempt_id, note=note, reason=reason)
                return present_case(session, row.id)

            return answer

        return await once_then(self.db, op, body, act, InteractionPublic, claimed=claimed)

    async def flag(
        self, principal: Principal, interaction_id: str, body: FlagCreate, op: Operation
    ) -> Answer[InteractionPublic]:
        """Raise a flag (a trigger flag escalates); its note goes to the timeline in SQL only."""
        row = await self._acting(principal, interaction_id)

        async def act(key: str) -> Callable[[Session], InteractionPublic]:
            actor = principal.actor_id
            place = await self._flag(row, flag=body.flag, note=body.note, actor_id=actor, key=key)
            return placed_then_presented(place, row.id)

        return await once_then(self.db, op, body, act, InteractionPublic)

    async def assign(
        self, principal: Principal, interaction_id: str, body: AssignCreate, op: Operation
    ) -> Answer[InteractionPublic]:
        """Reassign (a lead or manager of the team); ``assignee_id=None`` sends the case to the
        unassigned queue."""
        row = await self.require(interaction_id)
        access.require_assigner(principal, row.team_id)

        async def act(key: str) -> Callable[[Session], InteractionPublic]:
            place = await self._reassign(
                row, assignee_id=body.assignee_id, reason=body.reason, actor_id=principal.actor_id, key=key
            )
            return placed_then_presented(place, row.id)

        return await once_then(self.db, op, body, act, InteractionPublic)

    async def resolve(
        self, principal: Principal, interaction_id: str, body: ResolveCreate, op: Operation
    ) -> Answer[InteractionPublic]:
        """Close the case (the workflow refuses while an escalation is open); the resolution
        stays in SQL."""
        row, claimed = await self._acting_once(principal, interaction_id, op, body)

        async def act(key: str) -> Callable[[Session], InteractionPublic]:
            actor = principal.actor_id
            text_key = await self._resolve(row, resolution=body.resolution, actor_id=actor, key=key)

            def answer(session: Session) -> InteractionPublic:
                _place_resolution(session, row.id, text_key)
                return present_case(session, row.id)

            return answer

        return await once_then(self.db, op, body, act, InteractionPublic, claimed=claimed)

    async def link(
        self, principal: Principal, interaction_id: str, body: LinkCreate, op: Operation
    ) -> Answer[InteractionPublic]:
        """Link the case of a caller the team did not know to a member (a lead or manager of
        the team): the member gets the number if they have none, and an open case goes to the
        member's owner (or the owner's backup; it stays where it is when the member has no
        owner). The workflow keeps the start's empty member id (docs/channels.md)."""
        row = await self.require(interaction_id)
        access.require_assigner(principal, row.team_id)

        async def act(key: str) -> InteractionPublic:
            assignee_id, _source = await self.db.run(_link_member, row.id, body.member_id, principal.actor_id)
            now = await self.db.run(fresh, row.id)
            if now.status != "resolved" and assignee_id is not None and assignee_id != now.assignee_id:
                await self.reassign(
                    now,
                    assignee_id=assignee_id,
                    reason="",
                    actor_id=principal.actor_id,
                    key=f"{key}:route",
                )
            return await self.db.run(present_case, row.id)

        return await once(self.db, op, body, act, InteractionPublic)

    # ------------------------------------------------------------ the workflow's updates
    async def _update(self, row: Interaction, update: str, arg: BaseModel, *, key: str) -> InteractionState:
        return await run_interaction_update(await self.ctx.client(), self.settings, row, update, arg, key=key)

    async def _run_completed(self, workflow_id: str) -> bool:
        return await run_completed(await self.ctx.client(), self.settings, workflow_id)

    async def _record_attempt(
        self, row: Interaction, body: AttemptCreate, *, actor_id: str | None, key: str
    ) -> str:
        """Record the attempt (its texts stored for it, not yet placed: ``_place_attempt_note``);
        its id."""
        db = self.db
        attempt_id = operation_id("attempt", key)

        def update(arg: AttemptInput) -> Awaitable[InteractionState]:
            # A repeat is sent too: the workflow answers an attempt it holds without recording it
            # again, and records one it lost (a row alone never answers for Temporal).
            return self._update(row, "record_attempt", arg, key=key)

        def prepare(session: Session) -> AttemptInput:
            return _attempt_input(session, row, attempt_id, body.outcome, actor_id, body.channel)

        texts = {f"attempt_override:{attempt_id}": body.override_reason, f"attempt:{attempt_id}": body.note}
        try:
            await with_texts(db, texts, prepare, update)
        except Conflict:
            # The case ended after this attempt was recorded (a repeat whose answer was lost).
            if await db.run(Session.get, Attempt, attempt_id) is None or not await self._run_completed(
                row.workflow_id
            ):
                raise
        return attempt_id

    async def _flag(
        self, row: Interaction, *, flag: Flag, note: str | None, actor_id: str | None, key: str
    ) -> Callable[[Session], None] | None:
        """Raise the flag; what places its note on the timeline (None: no note)."""
        flag_id = operation_id("flag", key)

        def update() -> Awaitable[InteractionState]:
            arg = FlagInput(flag=flag, flag_id=flag_id, staff_id=actor_id)
            return self._update(row, "flag", arg, key=key)

        await with_text(self.db, f"flag:{flag_id}", note, update)
        if not note:
            return None
        return functools.partial(
            place_note,
            text_key=f"flag:{flag_id}",
            interaction_id=row.id,
            kind="flag_note",
            actor_id=actor_id,
            details={"flag": flag},
        )

    async def reassign(
        self, row: Interaction, *, assignee_id: str | None, reason: str, actor_id: str | None, key: str
    ) -> Interaction:
        """Reassign ``row`` (access already checked: a lead's command, or the system handing a
        case back); ``assignee_id=None`` sends it to the unassigned queue. Once per ``key``.
        Answers the row as the projection left it."""
        place = await self._reassign(row, assignee_id=assignee_id, reason=reason, actor_id=actor_id, key=key)

        def placed(session: Session) -> Interaction:
            if place is not None:
                place(session)
            return fresh(session, row.id)

        return await self.db.run(placed)

    async def _reassign(
        self, row: Interaction, *, assignee_id: str | None, reason: str, actor_id: str | None, key: str
    ) -> Callable[[Session], None] | None:
        """``reassign`` up to its update; what places the reason on the timeline (None: none)."""
        db = self.db
        if assignee_id is not None:
            await db.run(require_staff, assignee_id, team_id=row.team_id)
        reason = reason if reason.strip() else ""

        def update() -> Awaitable[InteractionState]:
            arg = AssignInput(assignee_id=assignee_id, actor_id=actor_id)
            return self._update(row, "assign", arg, key=key)

        text_key = f"assign:{operation_id('assign', key)}"
        await with_text(db, text_key, reason, update)
        if not reason:
            return None
        return functools.partial(
            place_note,
            text_key=text_key,
            interaction_id=row.id,
            kind="assign_reason",
            actor_id=actor_id,
            details={"to": assignee_id},
        )

    async def _resolve(self, row: Interaction, *, resolution: str, actor_id: str | None, key: str) -> str:
        """Resolve; the key of the resolution's text, for ``_place_resolution`` to place.

        The resolution text is stored under this action's key and placed only by the resolve
        that won. A repeat is sent to Temporal again (its update id answers what was applied, or
        applies a resolve Temporal lost); only when the run has ended as resolved by the same
        person does a repeat answer from the row."""
        db = self.db
        # Keyed by the case and this action: the sweep can place it on the case if the request
        # dies after Temporal applied the resolve (services/reconcile.py).
        text_key = f"resolution:{row.id}:{operation_id('resolve', key)}"

        def update(update_key: str) -> Callable[[], Awaitable[InteractionState]]:
            arg = ResolveInput(actor_id=actor_id)
            return lambda: self._update(row, "resolve", arg, key=update_key)

        try:
            try:
                await with_text(db, text_key, resolution, update(key), author_id=actor_id)
            except Conflict:
                # Blocked by an escalation whose workflow ended without telling the case? Close
                # those and try once more; otherwise the conflict stands.
                if not await Escalations(self.ctx).reconcile(row):
                    raise
                await with_text(db, text_key, resolution, update(f"{key}:again"), author_id=actor_id)
        except Conflict:
            # A repeat of a resolve whose answer was lost, after the run ended: answered only when
            # Temporal closed the run and the row says this person resolved it with this text.
            now = await db.run(fresh, row.id)
            mine = (
                now.status == "resolved"
                and now.resolved_by == actor_id
                and now.resolution in (None, resolution)
            )
            if not mine or not await self._run_completed(row.workflow_id):
                raise
            await db.run(functools.partial(idem.stash_text, author_id=actor_id), text_key, resolution)
        return text_key
