"""Absences: plan coverage when staff are out of office.

Overlap and backup checks run here against SQL (a workflow cannot see other absences); the
state changes themselves are ``AbsenceWorkflow`` updates, so a rejected change writes no history.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import structlog
from pydantic import BaseModel
from sqlalchemy.orm import Session
from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)

from config.settings import Settings
from domain.absences import window_error
from domain.errors import Conflict, Invalid, NotFound
from domain.ids import absence_workflow_id
from domain.messages import (
    ABSENCE_STATUSES,
    PENDING_ABSENCE_STATUSES,
    AbsenceCancelInput,
    AbsenceChangeInput,
    AbsenceInput,
    AbsenceState,
)
from services import access, presenters
from services.access import Principal
from services.common import now_utc, operation_id, parse_statuses, run_update, with_deadline
from services.db import Database
from services.public import AbsencePublic, Page
from services.schemas import AbsenceCreate
from services.teams import require_staff
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


async def page(
    db: Database,
    principal: Principal,
    *,
    team_id: str | None = None,
    staff_id: str | None = None,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[AbsencePublic]:
    """Absences by ``starts_at`` of the teams ``principal`` may read; ``status`` is
    comma-separated (default: scheduled,active)."""
    where = repo.AbsenceFilter(
        team_id=team_id,
        team_ids=principal.team_scope(team_id),
        staff_id=staff_id,
        statuses=parse_statuses(status, ABSENCE_STATUSES, PENDING_ABSENCE_STATUSES),
    )

    def read(session: Session) -> Page[AbsencePublic]:
        try:
            rows, next_cursor = repo.list_absences(session, where, cursor=cursor, limit=limit)
        except repo.BadCursor as err:
            raise Invalid(str(err)) from err
        return Page(items=presenters.absences(session, rows), next_cursor=next_cursor)

    return await db.read(read)


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


async def create_absence(
    db: Database,
    client: Client,
    settings: Settings,
    body: AbsenceCreate,
    *,
    actor_id: str | None,
    key: str | None = None,
) -> Absence:
    """Insert the absence and start its workflow; nothing stays behind if the start fails.

    With a ``key`` the absence's id derives from it: a repeat finds the absence already planned.
    """
    absence_id = operation_id("absence", key) if key else uuid.uuid4().hex
    existing = await db.run(repo.get_absence, absence_id) if key else None
    if existing is not None:
        return existing
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


async def _run_update(
    client: Client, settings: Settings, row: Absence, update: str, arg: BaseModel, *, key: str
) -> AbsenceState:
    return await run_update(
        client,
        row.workflow_id,
        update,
        arg,
        result_type=AbsenceState,
        closed=f"absence {row.id} is over",
        update_id=f"{update}-{key}",
        seconds=settings.temporal_update_timeout_seconds,
    )


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


async def change_absence_end(
    db: Database,
    client: Client,
    settings: Settings,
    row: Absence,
    ends_at: datetime,
    *,
    actor_id: str | None,
    key: str,
) -> Absence:
    """Extend or shorten; the same ``ends_at`` again is answered without a change."""
    _require_not_over(row)
    if ends_at == row.ends_at:
        return row
    await db.run(_check_change, row, ends_at)
    await _run_update(
        client, settings, row, "change_end", AbsenceChangeInput(ends_at=ends_at, actor_id=actor_id), key=key
    )
    return await db.run(fresh, row.id)


async def cancel_absence(
    db: Database, client: Client, settings: Settings, row: Absence, *, actor_id: str | None, key: str
) -> Absence:
    """Call the absence off; an active one has handed its cases back when this returns."""
    _require_not_over(row)
    await _run_update(client, settings, row, "cancel", AbsenceCancelInput(actor_id=actor_id), key=key)
    return await db.run(fresh, row.id)


def fresh(session: Session, absence_id: str) -> Absence:
    session.expire_all()
    return require_absence(session, absence_id)
