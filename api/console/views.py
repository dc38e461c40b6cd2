"""What each console page shows: the services' answers (``services.public``) turned into what the
templates show (local times, a case's state, attempts out of the most allowed).

The queues and the case page read through ``services.queues.Queues``, the escalations page through
``services.escalations.Escalations`` (its ladders are drawn in ``api.console.escalations``); the
absence page's builders below still read in one database session (``Database.read``), through the
API's presenters, so the console shows what the API answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from domain.messages import ACTIVE_INTERACTION_STATUSES, PENDING_ABSENCE_STATUSES
from domain.models import TeamConfig
from services import presenters
from services.access import Principal
from services.public import (
    AbsencePublic,
    CasePublic,
    InteractionPublic,
    QueuePublic,
    StaffPublic,
)
from services.teams import team_config
from store import repositories as repo

QUEUE_LIMIT = 200


@dataclass
class Row:
    """One line of a queue."""

    item: InteractionPublic
    state: str  # due, due soon, breached, met
    due_local: str
    attempts: str


@dataclass
class Queue:
    rows: list[Row]
    timezone: str
    staff: list[StaffPublic] = field(default_factory=list)


def _team(session: Session, team_id: str | None) -> tuple[TeamConfig | None, str]:
    team = repo.get_team(session, team_id) if team_id else None
    if team is None:
        return None, "UTC"
    cfg = team_config(team)
    return cfg, cfg.calendar.timezone


def local(at: datetime | None, tz: str) -> str:
    if at is None:
        return ""
    return at.astimezone(ZoneInfo(tz)).strftime("%a %d %b %H:%M %Z")


def state_of(item: InteractionPublic, cfg: TeamConfig | None, now: datetime) -> str:
    if item.sla_met is not None:
        return "met" if item.sla_met else "breached"
    if item.due_at <= now:
        return "breached"
    soon = timedelta(minutes=cfg.policy.due_soon_minutes if cfg else 60)
    return "due soon" if item.due_at - now <= soon else "due"


def _rows(items: Sequence[InteractionPublic], cfg: TeamConfig | None, tz: str) -> list[Row]:
    now = datetime.now(UTC)
    most = cfg.policy.max_attempts if cfg else 3
    rows = [
        Row(
            item=i,
            state=state_of(i, cfg, now),
            due_local=local(i.due_at, tz),
            attempts=f"{len(i.attempts)}/{most}",
        )
        for i in items
    ]
    # Breached first, then by deadline.
    rows.sort(key=lambda r: (r.state != "breached", r.item.due_at))
    return rows


def zone_of(cfg: TeamConfig | None) -> str:
    """The zone a team's times are shown in (UTC without a team)."""
    return cfg.calendar.timezone if cfg else "UTC"


def queue(data: QueuePublic) -> Queue:
    tz = zone_of(data.team)
    return Queue(rows=_rows(data.items, data.team, tz), timezone=tz, staff=data.staff)


@dataclass
class Detail:
    item: InteractionPublic
    state: str
    timezone: str
    due_local: str
    attempts: str
    staff: list[StaffPublic]


def detail(data: CasePublic) -> Detail:
    cfg, item = data.team, data.item
    tz = zone_of(cfg)
    most = cfg.policy.max_attempts if cfg else 3
    return Detail(
        item=item,
        state=state_of(item, cfg, datetime.now(UTC)),
        timezone=tz,
        due_local=local(item.due_at, tz),
        attempts=f"{len(item.attempts)}/{most}",
        staff=data.staff,
    )


@dataclass
class AbsencesView:
    items: list[AbsencePublic]
    staff: list[StaffPublic]
    timezone: str


def absences(session: Session, principal: Principal) -> AbsencesView:
    _, tz = _team(session, principal.team_id)
    where = repo.AbsenceFilter(team_ids=[principal.team_id or ""], statuses=list(PENDING_ABSENCE_STATUSES))
    rows, _ = repo.list_absences(session, where, cursor=None, limit=QUEUE_LIMIT)
    staff = [presenters.staff(s) for s in repo.team_staff(session, principal.team_id or "")]
    return AbsencesView(items=presenters.absences(session, rows), staff=staff, timezone=tz)


def absence_preview(session: Session, staff_id: str) -> list[Row]:
    """The open cases assigned to ``staff_id`` now: what moves to the backup when the absence starts."""
    staff = repo.get_staff(session, staff_id)
    if staff is None:
        return []
    cfg, tz = _team(session, staff.team_id)
    where = repo.InteractionFilter(
        team_ids=[staff.team_id], assignee_id=staff_id, statuses=list(ACTIVE_INTERACTION_STATUSES)
    )
    rows, _ = repo.list_interactions(session, where, cursor=None, limit=QUEUE_LIMIT)
    return _rows(presenters.interactions(session, rows), cfg, tz)


def team_timezone(session: Session, team_id: str | None) -> str:
    return _team(session, team_id)[1]
