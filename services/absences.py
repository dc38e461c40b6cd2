"""Absences: plan coverage when staff are out of office.

``Absences`` is the one path every front end takes: each command checks who may act (a lead or
manager for their own team, a CHW for their own absences, the system for any) and runs once per
operation (``services.operations``); each query scopes to the caller's teams. Overlap and backup
checks run here against SQL (a workflow cannot see other absences); the state changes themselves
are ``AbsenceWorkflow`` updates, so a rejected change writes no history.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from pydantic import BaseModel
from sqlalchemy.orm import Session
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)

from domain.absences import window_error
from domain.errors import Conflict, Invalid, NotFound
from domain.ids import absence_workflow_id
from domain.messages import (
    ABSENCE_STATUSES,
    ACTIVE_INTERACTION_STATUSES,
    PENDING_ABSENCE_STATUSES,
    AbsenceCancelInput,
    AbsenceChangeInput,
    AbsenceInput,
    AbsenceState,
)
from domain.models import TeamConfig
from services import access, presenters
from services.access import Principal
from services.common import now_utc, operation_id, parse_statuses, run_update, with_deadline
from services.context import Service
from services.operations import Answer, Operation, once
from services.public import (
    AbsenceCreate,
    AbsencePlanningPublic,
    AbsencePublic,
    AbsenceUpdate,
    Page,
    QueuePublic,
    StaffPublic,
)
from services.teams import members_answered, require_staff, team_config
from store import repositories as repo
from store.models import Absence, Staff
from workflows.absence import AbsenceWorkflow
from workflows.search_attributes import FT_TEAM

log = structlog.get_logger(__name__)


def planned_staff(session: Session, principal: Principal, staff_id: str) -> Staff:
    """The staff member a new absence is for, once the caller may plan it.

    The caller's right is checked before the id is looked up, so staff get one answer (403) for
    an id of another team and for an id that exists nowhere: the answer never tells which staff
    ids exist in other teams. Only the system, which sees every team, is told "unknown staff".
    """
    principal.require(principal.role != "ops", "ops read absences but do not plan them")
    refused = "a CHW plans only their own absences; leads and managers those of their own team"
    if principal.role in ("chw", "lead", "manager"):
        principal.require(principal.role != "chw" or staff_id == principal.staff_id, refused)
        staff = repo.get_staff(session, staff_id)
        principal.require(staff is not None and staff.team_id == principal.team_id, refused)
    staff = require_staff(session, staff_id)
    access.require_absence_planner(principal, team_id=staff.team_id, staff_id=staff.id)
    return staff


def _describe(a: Absence) -> str:
    return f"{a.starts_at.isoformat()} to {a.ends_at.isoformat()} (absence {a.id})"


def require_absence(session: Session, absence_id: str) -> Absence:
    row = repo.get_absence(session, absence_id)
    if row is None:
        raise NotFound(f"absence '{absence_id}' not found")
    return row


def _check_window(
    session: Session,
    *,
    staff_id: str,
    backup_id: str | None,
    starts_at: datetime,
    ends_at: datetime,
    exclude_id: str | None = None,
) -> None:
    """Conflict when the CHW is already away then, or the backup is away themselves."""
    error = window_error(starts_at, ends_at)
    if error is not None:
        raise Invalid(error)
    if ends_at <= now_utc():
        raise Invalid("ends_at has already passed")
    clash = repo.overlapping_absences(session, staff_id, starts_at, ends_at, exclude_id=exclude_id)
    if clash:
        raise Conflict(f"{staff_id} is already absent from {_describe(clash[0])}")
    if backup_id is not None:
        away = repo.overlapping_absences(session, backup_id, starts_at, ends_at)
        if away:
            raise Conflict(
                f"backup {backup_id} is absent themselves from {_describe(away[0])}: "
                "choose another backup, or none for the unassigned queue"
            )


def _insert(session: Session, body: AbsenceCreate, actor_id: str | None, absence_id: str) -> Absence:
    staff = require_staff(session, body.staff_id)
    if body.backup_id is not None:
        if body.backup_id == body.staff_id:
            raise Invalid("the backup must be someone other than the absent staff member")
        require_staff(session, body.backup_id, team_id=staff.team_id)
    # Serialise absences of one staff member (PostgreSQL row lock; SQLite has one writer anyway).
    session.get(Staff, staff.id, with_for_update=True)
    _check_window(
        session,
        staff_id=staff.id,
        backup_id=body.backup_id,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
    )
    now = now_utc()
    row = Absence(
        id=absence_id,
        workflow_id=absence_workflow_id(absence_id),
        team_id=staff.team_id,
        staff_id=staff.id,
        backup_id=body.backup_id,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        status="scheduled",
        reason=body.reason,
        created_by=actor_id,
        version=0,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.commit()
    return row


def _delete(session: Session, absence_id: str) -> None:
    row = session.get(Absence, absence_id)
    if row is not None:
        session.delete(row)
        session.commit()


def _require_not_over(row: Absence) -> None:
    if row.status in ("ended", "cancelled"):
        raise Conflict(f"absence {row.id} is already {row.status}")


def _check_change(session: Session, row: Absence, ends_at: datetime) -> None:
    _check_window(
        session,
        staff_id=row.staff_id,
        backup_id=row.backup_id,
        starts_at=row.starts_at,
        ends_at=ends_at,
        exclude_id=row.id,
    )


# The most rows a page's query answers (the earliest first); the API pages through the rest.
SHOWN = 200


def _team(session: Session, team_id: str) -> tuple[TeamConfig | None, list[StaffPublic]]:
    team = repo.get_team(session, team_id) if team_id else None
    staff = [presenters.staff(s) for s in repo.team_staff(session, team_id)]
    return (None if team is None else team_config(team)), staff


def _page(session: Session, where: repo.AbsenceFilter, cursor: str | None, limit: int) -> Page[AbsencePublic]:
    try:
        rows, next_cursor = repo.list_absences(session, where, cursor=cursor, limit=limit)
    except repo.BadCursor as err:
        raise Invalid(str(err)) from err
    return Page(items=presenters.absences(session, rows), next_cursor=next_cursor)


def _planning(session: Session, team_id: str, limit: int) -> AbsencePlanningPublic:
    where = repo.AbsenceFilter(team_ids=[team_id], statuses=list(PENDING_ABSENCE_STATUSES))
    rows, _ = repo.list_absences(session, where, cursor=None, limit=limit)
    cfg, staff = _team(session, team_id)
    return AbsencePlanningPublic(items=presenters.absences(session, rows), team=cfg, staff=staff)


def _moving(session: Session, staff_id: str, limit: int) -> QueuePublic:
    staff = repo.get_staff(session, staff_id)
    if staff is None:
        return QueuePublic(items=[], team=None, staff=[])
    where = repo.InteractionFilter(
        team_ids=[staff.team_id], assignee_id=staff_id, statuses=list(ACTIVE_INTERACTION_STATUSES)
    )
    rows, _ = repo.list_interactions(session, where, cursor=None, limit=limit)
    cfg, team_staff = _team(session, staff.team_id)
    ids = {r.member_id for r in rows if r.member_id is not None}
    return QueuePublic(
        items=presenters.interactions(session, rows),
        team=cfg,
        staff=team_staff,
        members=members_answered(session, staff.team_id, cfg, ids),
    )


# ---------------------------------------------------------------- the service
class Absences(Service):
    """Absences for every front end: each command checks who may plan or change the absence
    and runs once per operation; each query scopes to the caller's teams."""

    # ------------------------------------------------------------ queries
    async def require(self, absence_id: str) -> Absence:
        return await self.db.run(require_absence, absence_id)

    async def readable(self, principal: Principal, absence_id: str) -> Absence:
        """The absence's row, when ``principal`` may read its team (404, then 403)."""
        row = await self.require(absence_id)
        principal.require(principal.can_read_team(row.team_id), "not a member of this absence's team")
        return row

    async def get(self, principal: Principal, absence_id: str) -> AbsencePublic:
        """One absence with its timeline."""
        row = await self.readable(principal, absence_id)
        return await self.db.read(presenters.absence, row)

    async def page(
        self,
        principal: Principal,
        *,
        team_id: str | None = None,
        staff_id: str | None = None,
        status: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page[AbsencePublic]:
        """Absences ordered by ``starts_at``; staff see their own team's. ``status`` is
        comma-separated (default: scheduled,active)."""
        statuses = parse_statuses(status, ABSENCE_STATUSES, PENDING_ABSENCE_STATUSES)
        where = repo.AbsenceFilter(
            team_id=team_id, team_ids=principal.team_scope(team_id), staff_id=staff_id, statuses=statuses
        )
        return await self.db.read(_page, where, cursor, limit)

    async def planning(self, principal: Principal, *, limit: int = SHOWN) -> AbsencePlanningPublic:
        """The caller's own team's scheduled and active absences, with its configuration and
        staff, in one snapshot."""
        return await self.db.read(_planning, principal.team_id or "", limit)

    async def preview(self, principal: Principal, body: AbsenceCreate, *, limit: int = SHOWN) -> QueuePublic:
        """Before planning ``body``: the open cases assigned to the absent staff member now, by
        ``due_at``, which move when the absence starts (once the caller may plan it, as
        ``create`` checks)."""
        await self.db.run(planned_staff, principal, body.staff_id)
        return await self.db.read(_moving, body.staff_id, limit)

    # ------------------------------------------------------------ commands
    async def create(self, principal: Principal, body: AbsenceCreate, op: Operation) -> Answer[AbsencePublic]:
        """Plan an absence (201): at ``starts_at`` the staff member's open cases move to the
        backup (or the unassigned queue), and come back at its end."""
        # Who may plan it is checked before the id is looked up (one answer for another team's ids).
        await self.db.run(planned_staff, principal, body.staff_id)

        async def act(key: str) -> AbsencePublic:
            row = await self._create(body, actor_id=principal.actor_id, key=key)
            return (await self.db.read(presenters.absences, [row]))[0]

        return await once(self.db, op, body, act, AbsencePublic, status=201)

    async def change_end(
        self, principal: Principal, absence_id: str, body: AbsenceUpdate, op: Operation
    ) -> Answer[AbsencePublic]:
        """Extend or shorten (``ends_at``) while the absence is scheduled or active; the same
        ``ends_at`` again is answered without a change."""
        row = await self.require(absence_id)
        access.require_absence_manager(principal, row)

        async def act(key: str) -> AbsencePublic:
            _require_not_over(row)
            if body.ends_at != row.ends_at:
                await self.db.run(_check_change, row, body.ends_at)
                arg = AbsenceChangeInput(ends_at=body.ends_at, actor_id=principal.actor_id)
                await self._update(row, "change_end", arg, key=key)
            return await self.db.read(presenters.absence, row)

        return await once(self.db, op, body, act, AbsencePublic)

    async def cancel(self, principal: Principal, absence_id: str, op: Operation) -> Answer[AbsencePublic]:
        """Call the absence off; an active one has handed the cases it moved back when this answers."""
        row = await self.require(absence_id)
        access.require_absence_manager(principal, row)

        async def act(key: str) -> AbsencePublic:
            _require_not_over(row)
            await self._update(row, "cancel", AbsenceCancelInput(actor_id=principal.actor_id), key=key)
            return await self.db.read(presenters.absence, row)

        return await once(self.db, op, None, act, AbsencePublic)

    # ------------------------------------------------------------ the workflow
    async def _create(self, body: AbsenceCreate, *, actor_id: str | None, key: str) -> Absence:
        """Insert the absence and start its workflow; nothing stays behind if the start fails.

        The absence's id derives from ``key``: a repeat finds the absence already planned.
        """
        db, settings = self.db, self.settings
        absence_id = operation_id("absence", key)
        existing = await db.run(repo.get_absence, absence_id)
        if existing is not None:
            return existing
        client = await self.ctx.client()
        row = await db.run(_insert, body, actor_id, absence_id)
        seconds = settings.temporal_rpc_timeout_seconds
        try:
            await with_deadline(
                client.start_workflow(
                    AbsenceWorkflow.run,
                    AbsenceInput(
                        absence_id=row.id,
                        team_id=row.team_id,
                        staff_id=row.staff_id,
                        backup_id=row.backup_id,
                        starts_at=row.starts_at,
                        ends_at=row.ends_at,
                    ),
                    id=row.workflow_id,
                    task_queue=settings.task_queue,
                    id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    search_attributes=TypedSearchAttributes([SearchAttributePair(FT_TEAM, row.team_id)]),
                    static_summary=f"absence of {row.staff_id}, backup {row.backup_id or 'unassigned queue'}",
                    static_details=(
                        f"Absence {row.id} of {row.staff_id} in team {row.team_id}: "
                        f"{row.starts_at.isoformat()} to {row.ends_at.isoformat()}."
                    ),
                    rpc_timeout=timedelta(seconds=seconds),
                ),
                seconds=seconds,
                what="starting the absence's workflow",
            )
        except BaseException:
            # No workflow, no absence: a row without its workflow would route cases forever. (If a
            # timed-out start did happen, the workflow finds no row and changes nothing.)
            await db.run(_delete, row.id)
            raise
        log.info("absence.created", absence_id=row.id, staff_id=row.staff_id, backup_id=row.backup_id)
        return row

    async def _update(self, row: Absence, update: str, arg: BaseModel, *, key: str) -> AbsenceState:
        return await run_update(
            await self.ctx.client(),
            row.workflow_id,
            update,
            arg,
            result_type=AbsenceState,
            closed=f"absence {row.id} is over",
            update_id=f"{update}-{key}",
            seconds=self.settings.temporal_update_timeout_seconds,
        )
