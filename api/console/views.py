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

from api.console.labels import People, duration, label
from domain.models import TeamConfig
from services.public import (
    CasePublic,
    EscalationPublic,
    InteractionPublic,
    QueuePublic,
    StaffPublic,
)

QUEUE_LIMIT = 200


SAFETY_OPEN = "open"  # an unacknowledged safety escalation (or a safety flag whose escalation is starting)
SAFETY_TAKEN = "acknowledged"  # acknowledged, not yet resolved


@dataclass
class Situation:
    """A case's one state, in words: what happened and what is next.

    ``state`` is the short word (due, due soon, breached, waiting to retry, retry due,
    unreachable, met, resolved); ``summary`` says it in a sentence; ``clock_at`` is what the
    countdown counts to (the deadline, or the next try after a no-answer), None when nothing
    is counting down (answered, unreachable, resolved)."""

    state: str
    summary: str
    clock_label: str
    clock_at: datetime | None


@dataclass
class Row:
    """One line of a queue."""

    item: InteractionPublic
    state: str  # Situation.state
    due_local: str
    attempts: str
    safety: str = ""  # SAFETY_OPEN, SAFETY_TAKEN or ""
    situation: Situation | None = None
    clock_local: str = ""


@dataclass
class Queue:
    rows: list[Row]
    timezone: str
    staff: list[StaffPublic] = field(default_factory=list)


def local(at: datetime | None, tz: str) -> str:
    if at is None:
        return ""
    return at.astimezone(ZoneInfo(tz)).strftime("%a %d %b %H:%M %Z")


def clock(at: datetime, tz: str) -> str:
    """A time of day in the zone ("12:02"), for sentences about today's next step."""
    return at.astimezone(ZoneInfo(tz)).strftime("%H:%M")


def safety_of(item: InteractionPublic) -> str:
    """Whether the case has an unresolved safety escalation, and whether someone has taken it."""
    safety = [e for e in item.escalations if e.trigger == "safety"]
    unresolved = [e for e in safety if e.status != "resolved"]
    if any(e.status == "open" for e in unresolved):
        return SAFETY_OPEN
    if unresolved:
        return SAFETY_TAKEN
    if "safety" in item.flags and not safety and item.status != "resolved":
        return SAFETY_OPEN  # flagged; its escalation is being started
    return ""


def situation_of(
    item: InteractionPublic, cfg: TeamConfig | None, now: datetime, tz: str, people: People | None = None
) -> Situation:
    who = people or People()
    if item.status == "resolved":
        by = f" by {who(item.resolved_by)}" if item.resolved_by else ""
        return Situation("resolved", f"Resolved {local(item.resolved_at, tz)}{by}".strip(), "Deadline", None)
    last = item.attempts[-1] if item.attempts else None
    if item.first_response_at is None:
        if item.due_at <= now:
            late = f"No response yet · {duration(now - item.due_at)} past the deadline"
            return Situation("breached", late, "Deadline", item.due_at)
        soon = timedelta(minutes=cfg.policy.due_soon_minutes if cfg else 60)
        state = "due soon" if item.due_at - now <= soon else "due"
        return Situation(state, f"No response yet · due {local(item.due_at, tz)}", "Deadline", item.due_at)
    happened = "Answered"
    if last is not None:
        happened = f"{label(last.outcome, 'outcome').capitalize()} at {clock(last.at, tz)}"
    if item.next_retry_at is not None:
        state = "retry due" if item.next_retry_at <= now else "waiting to retry"
        summary = f"{happened} · next try after {local(item.next_retry_at, tz)}"
        return Situation(state, summary, "Next try", item.next_retry_at)
    if item.unreachable:
        gave_up = f"{happened} · unreachable after {len(item.attempts)} attempts"
        return Situation("unreachable", gave_up, "", None)
    state = "met" if item.sla_met else "breached"
    timing = "first response in time" if item.sla_met else "first response late"
    return Situation(state, f"{happened} · {timing}", "", None)


def state_of(item: InteractionPublic, cfg: TeamConfig | None, now: datetime) -> str:
    return situation_of(item, cfg, now, zone_of(cfg)).state


def _rank(row: Row) -> tuple[int, datetime]:
    """The order a lead works in: an unacknowledged safety escalation, then an acknowledged but
    unresolved one, then cases breached without a response, then whatever needs someone soonest
    (its deadline, or its next try after a no-answer)."""
    safety = {SAFETY_OPEN: 0, SAFETY_TAKEN: 1}.get(row.safety, 3)
    if safety == 3 and row.state == "breached" and row.item.first_response_at is None:
        safety = 2
    at = row.situation.clock_at if row.situation and row.situation.clock_at else row.item.due_at
    return safety, at


def _rows(
    items: Sequence[InteractionPublic], cfg: TeamConfig | None, tz: str, people: People | None = None
) -> list[Row]:
    now = datetime.now(UTC)
    most = cfg.policy.max_attempts if cfg else 3
    rows = []
    for i in items:
        s = situation_of(i, cfg, now, tz, people)
        rows.append(
            Row(
                item=i,
                state=s.state,
                due_local=local(i.due_at, tz),
                attempts=f"{len(i.attempts)}/{most}",
                safety=safety_of(i),
                situation=s,
                clock_local=local(s.clock_at, tz),
            )
        )
    rows.sort(key=_rank)
    return rows


def zone_of(cfg: TeamConfig | None) -> str:
    """The zone a team's times are shown in (UTC without a team)."""
    return cfg.calendar.timezone if cfg else "UTC"


def queue(data: QueuePublic) -> Queue:
    tz = zone_of(data.team)
    return Queue(rows=_rows(data.items, data.team, tz, People(data.staff)), timezone=tz, staff=data.staff)


@dataclass
class Detail:
    item: InteractionPublic
    state: str
    timezone: str
    due_local: str
    attempts: str
    staff: list[StaffPublic]
    situation: Situation
    safety: list[EscalationPublic]  # the unresolved safety escalations, stated at the top
    clock_local: str = ""


def detail(data: CasePublic) -> Detail:
    cfg, item = data.team, data.item
    tz = zone_of(cfg)
    most = cfg.policy.max_attempts if cfg else 3
    now = datetime.now(UTC)
    situation = situation_of(item, cfg, now, tz, People(data.staff))
    return Detail(
        item=item,
        state=situation.state,
        timezone=tz,
        due_local=local(item.due_at, tz),
        attempts=f"{len(item.attempts)}/{most}",
        staff=data.staff,
        situation=situation,
        safety=[e for e in item.escalations if e.trigger == "safety" and e.status != "resolved"],
        clock_local=local(situation.clock_at, tz),
    )
