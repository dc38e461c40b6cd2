"""What each console page shows: the services' answers (``services.public``) turned into what the
templates show (local times, a case's state, attempts out of the most allowed).

The queues and the case page read through ``services.queues.Queues``, the escalations and
absences pages through ``services.escalations.Escalations`` and ``services.absences.Absences``
(their own drawing is in ``api.console.escalations`` and ``api.console.absences``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from domain.models import TeamConfig
from services.public import (
    CasePublic,
    InteractionPublic,
    QueuePublic,
    StaffPublic,
)

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
