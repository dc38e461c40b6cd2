"""Coverage when staff are out of office (SPEC 2.5): absences, routing around them, check-ins.

Operations that span the read model and Temporal, shared by the API routes and the CLI.
Overlap and backup checks run here against SQL (a workflow cannot see other absences); the
state changes themselves are AbsenceWorkflow updates, so a rejected change writes no history.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import structlog
from sqlalchemy.orm import Session
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.service import RPCError, RPCStatusCode

from api import errors
from api.schemas import AbsenceCreate, AbsencePublic, TimelinePublic
from config.settings import Settings
from domain.absences import absence_source, resolve_cover
from domain.ids import absence_workflow_id, checkin_workflow_id
from domain.messages import (
    AbsenceCancelInput,
    AbsenceChangeInput,
    AbsenceInput,
    AbsenceState,
    CheckinInput,
)
from domain.models import TeamConfig
from store import repositories as repo
from store.models import Absence, Staff
from workflows.absence import AbsenceWorkflow
from workflows.checkin import CheckinWorkflow
from workflows.search_attributes import FT_TEAM

log = structlog.get_logger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------- routing (SPEC 2.5)
def cover_for(session: Session, owner_id: str) -> tuple[str | None, str]:
    """Who gets a new case of ``owner_id``'s member: ``(assignee or None, assignment_source)``.

    The owner; if absent, the absence's backup (a backup away in turn hands on to their own
    backup); if nobody, the unassigned queue. A case routed around an absence carries its
    source ``absence:{id}``, so the hand-back at its end returns it to the owner.
    """
    now = _now()

    def absence_of(staff_id: str) -> tuple[str, str | None] | None:
        absence = repo.current_absence(session, staff_id, now)
        return None if absence is None else (absence.id, absence.backup_id)

    assignee, absence_id = resolve_cover(owner_id, absence_of)
    if absence_id is None:
        return assignee, "owner"
    return assignee, absence_source(absence_id)


# ---------------------------------------------------------------- absences
def _describe(a: Absence) -> str:
    return f"{a.starts_at.isoformat()} to {a.ends_at.isoformat()} (absence {a.id})"


def require_absence(session: Session, absence_id: str) -> Absence:
    row = repo.get_absence(session, absence_id)
    if row is None:
        raise errors.not_found(f"absence '{absence_id}' not found")
    return row


def require_staff(session: Session, staff_id: str, *, team_id: str | None = None) -> Staff:
    staff = repo.get_staff(session, staff_id)
    if staff is None or (team_id is not None and staff.team_id != team_id):
        where = f" in team '{team_id}'" if team_id is not None else ""
        raise errors.invalid(f"unknown staff '{staff_id}'{where}")
    return staff


def _check_window(
    session: Session,
    *,
    staff_id: str,
    backup_id: str | None,
    starts_at: datetime,
    ends_at: datetime,
    exclude_id: str | None = None,
) -> None:
    """409 when the CHW is already away then, or the backup is away themselves."""
    if ends_at <= _now():
        raise errors.invalid("ends_at has already passed")
    clash = repo.overlapping_absences(session, staff_id, starts_at, ends_at, exclude_id=exclude_id)
    if clash:
        raise errors.conflict(f"{staff_id} is already absent from {_describe(clash[0])}")
    if backup_id is not None:
        away = repo.overlapping_absences(session, backup_id, starts_at, ends_at)
        if away:
            raise errors.conflict(
                f"backup {backup_id} is absent themselves from {_describe(away[0])}: "
                "choose another backup, or none for the unassigned queue"
            )


async def create_absence(
    session: Session, client: Client, settings: Settings, body: AbsenceCreate, *, actor_id: str | None
) -> Absence:
    """Insert the absence and start its workflow; nothing stays behind if the start fails."""
    staff = require_staff(session, body.staff_id)
    if body.backup_id is not None:
        if body.backup_id == body.staff_id:
            raise errors.invalid("the backup must be someone other than the absent staff member")
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
    now = _now()
    absence_id = uuid.uuid4().hex
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
    try:
        await client.start_workflow(
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
        )
    except BaseException:
        # No workflow, no absence: a row without its workflow would route cases forever.
        session.delete(row)
        session.commit()
        raise
    log.info("absence.created", absence_id=row.id, staff_id=row.staff_id, backup_id=row.backup_id)
    return row


async def _run_update(client: Client, row: Absence, update: str, arg: object) -> AbsenceState:
    handle = client.get_workflow_handle(row.workflow_id)
    try:
        result: AbsenceState = await handle.execute_update(
            update, arg, id=uuid.uuid4().hex, result_type=AbsenceState
        )
    except WorkflowUpdateFailedError as err:
        raise errors.from_update_failure(err) from err
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise errors.conflict(f"absence {row.id} is over: {err.message}") from err
        raise
    return result


def _require_not_over(row: Absence) -> None:
    if row.status in ("ended", "cancelled"):
        raise errors.conflict(f"absence {row.id} is already {row.status}")


async def change_absence_end(
    session: Session, client: Client, row: Absence, ends_at: datetime, *, actor_id: str | None
) -> Absence:
    """Extend or shorten; the same ``ends_at`` again is answered without a change."""
    _require_not_over(row)
    if ends_at == row.ends_at:
        return row
    if ends_at <= row.starts_at:
        raise errors.invalid("ends_at must be after starts_at")
    _check_window(
        session,
        staff_id=row.staff_id,
        backup_id=row.backup_id,
        starts_at=row.starts_at,
        ends_at=ends_at,
        exclude_id=row.id,
    )
    await _run_update(client, row, "change_end", AbsenceChangeInput(ends_at=ends_at, actor_id=actor_id))
    return _fresh(session, row.id)


async def cancel_absence(session: Session, client: Client, row: Absence, *, actor_id: str | None) -> Absence:
    """Call the absence off; an active one has handed its cases back when this returns."""
    _require_not_over(row)
    await _run_update(client, row, "cancel", AbsenceCancelInput(actor_id=actor_id))
    return _fresh(session, row.id)


def _fresh(session: Session, absence_id: str) -> Absence:
    session.expire_all()
    return require_absence(session, absence_id)


def to_public(
    session: Session, rows: Sequence[Absence], *, with_timeline: bool = False
) -> list[AbsencePublic]:
    out = []
    for r in rows:
        timeline = None
        if with_timeline:
            timeline = [TimelinePublic.model_validate(e) for e in repo.absence_timeline(session, r.id)]
        out.append(
            AbsencePublic(
                id=r.id,
                workflow_id=r.workflow_id,
                team_id=r.team_id,
                staff_id=r.staff_id,
                backup_id=r.backup_id,
                starts_at=r.starts_at,
                ends_at=r.ends_at,
                status=r.status,  # type: ignore[arg-type]
                started_at=r.started_at,
                ended_at=r.ended_at,
                reason=r.reason,
                created_by=r.created_by,
                timeline=timeline,
                created_at=r.created_at,
                updated_at=r.updated_at,
            )
        )
    return out


# ---------------------------------------------------------------- check-ins
def checkin_input(team_id: str, cfg: TeamConfig, *, around: datetime | None = None) -> CheckinInput:
    year = (around or _now()).year
    return CheckinInput(team_id=team_id, calendar=cfg.calendar.snapshot(year - 1, year + 2))


async def refresh_checkins(client: Client, settings: Settings, team_id: str, cfg: TeamConfig) -> None:
    """Start the team's CheckinWorkflow, or hand the running one the new calendar (signal-with-start)."""
    inp = checkin_input(team_id, cfg)
    await client.start_workflow(
        CheckinWorkflow.run,
        inp,
        id=checkin_workflow_id(team_id),
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=TypedSearchAttributes([SearchAttributePair(FT_TEAM, team_id)]),
        static_summary=f"check-in digests of team {team_id}",
        start_signal="calendar_changed",
        start_signal_args=[inp.calendar],
    )
