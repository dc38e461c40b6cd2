"""The escalations: a compact, sortable list of the team's unresolved escalations (one row
each: member, reason, trigger, level, who is on it, a live countdown to the acknowledge or the
resolve deadline), and each escalation's own page with its ladder and the forms to act on it.

The list reads ``services.queues.Queues.escalations``; each action reads the form and calls one
method of ``services.escalations.Escalations``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from api.console import views
from api.console.common import act, build, context_of, render, require_lead, signed_in, text
from api.console.form_errors import FormProblems
from api.console.labels import People, label
from domain.calendar import BusinessCalendar
from domain.escalations import ladder_deadline, level_of
from domain.models import EscalationRule, TeamConfig
from services.access import Principal
from services.escalations import Escalations
from services.operations import Answer, Operation
from services.public import (
    AcknowledgeCreate,
    EscalationPublic,
    EscalationResolveCreate,
    InteractionPublic,
    MemberPublic,
)
from services.queues import Queues

router = APIRouter(prefix="/console", include_in_schema=False)


@dataclass
class Rung:
    level: int
    who: str
    ack_within: str
    told: str  # who was told when
    state: str  # done, current, next, later


@dataclass
class EscalationView:
    """One escalation as a row of the list and as its own page: whom it is about, who is on it,
    and what it counts down to (acknowledge while open, resolve once acknowledged)."""

    item: EscalationPublic
    ladder: list[Rung]
    next_due: str
    started_local: str = ""
    member: str = "Unknown caller"
    reason: str = ""
    on_it: str = ""  # who has it, or who was told and has not answered
    clock_label: str = ""  # "Acknowledge by" or "Resolve by"
    clock_at: datetime | None = None
    clock_local: str = ""
    case: InteractionPublic | None = None


def _ladder(e: EscalationPublic, tz: str, people: People) -> tuple[list[Rung], str]:
    levels: list[dict[str, Any]] = e.rule.get("levels", [])
    told = {n.level: n for n in e.notified}
    rungs = []
    for i, lvl in enumerate(levels, start=1):
        notice = told.get(i)
        who = people.role_or_person(str(lvl.get("staff_id") or lvl.get("role") or "?"))
        told_text = ""
        if notice is not None:
            named = [people(r) for r in notice.recipients]
            one = people(notice.recipient_id) or label(notice.recipient_role or "", "role")
            reached = ", ".join(named) or one or who
            told_text = f"{reached} at {views.local(notice.at, tz)}"
        state = "done" if i < e.level else "current" if i == e.level else "later"
        rungs.append(Rung(i, who, f"{lvl.get('ack_within_minutes', '?')} min", told_text, state))
    next_due = ""
    if e.status == "open" and e.level < len(levels) and e.level in told:
        minutes = int(levels[e.level - 1].get("ack_within_minutes", 0))
        if e.clock == "wall":
            due = told[e.level].at + timedelta(minutes=minutes)
            next_due = f"level {e.level + 1} if not acknowledged by {views.local(due, tz)}"
        else:
            next_due = f"level {e.level + 1} after {minutes} minutes of open hours unacknowledged"
    return rungs, next_due


def deadline_of(e: EscalationPublic, cfg: TeamConfig | None) -> tuple[str, datetime | None]:
    """What the escalation counts down to: the acknowledge deadline of its level while open
    (the ladder's next step), the resolve deadline once acknowledged, on the rule's clock."""
    try:
        rule = EscalationRule.model_validate(e.rule)
    except ValueError:
        return "", None
    if cfg is None and rule.clock != "wall":
        return "", None
    around = (e.acknowledged_at or e.started_at).date()
    cal = BusinessCalendar.from_config(cfg.calendar, around=around) if cfg else None

    def after(start: datetime, minutes: int) -> datetime:
        if cal is None:
            return start + timedelta(minutes=minutes)
        return ladder_deadline(start, minutes, clock=rule.clock, calendar=cal)

    if e.status == "open":
        told = [n.at for n in e.notified if n.level == e.level]
        start = max(told) if told else e.started_at
        return "Acknowledge by", after(start, level_of(rule, e.level).ack_within_minutes)
    if e.status == "acknowledged" and e.acknowledged_at is not None:
        return "Resolve by", after(e.acknowledged_at, rule.resolve_within_minutes)
    return "", None


def _on_it(e: EscalationPublic, ladder: list[Rung], people: People) -> str:
    """Who is on it: whoever acknowledged it (or owns it), else who was told at this level."""
    if e.acknowledged_by:
        return people(e.acknowledged_by)
    if e.owner_id:
        return people(e.owner_id)
    current = next((r for r in ladder if r.state == "current"), None)
    if current is None:
        return ""
    told = current.told.split(" at ", 1)[0] if current.told else current.who
    return f"{told} (told)"


def view_of(
    e: EscalationPublic,
    tz: str,
    people: People | None = None,
    *,
    case: InteractionPublic | None = None,
    cfg: TeamConfig | None = None,
    member: MemberPublic | None = None,
) -> EscalationView:
    who = people or People()
    # The member by name where the team knows one (as the queues show them), else their id.
    card = views.card_of(case, member, tz, datetime.now(UTC)) if case else None
    ladder, next_due = _ladder(e, tz, who)
    clock_label, clock_at = deadline_of(e, cfg)
    return EscalationView(
        e,
        ladder,
        next_due,
        views.local(e.started_at, tz),
        member=card.name if card else "Unknown caller",
        reason=(case.summary if case else None) or "",
        on_it=_on_it(e, ladder, who),
        clock_label=clock_label,
        clock_at=clock_at,
        clock_local=views.short(clock_at, tz),
        case=case,
    )


FAR = datetime.max.replace(tzinfo=UTC)
# The list's sortable columns: each sorts with the most pressing first.
SORTS: dict[str, Callable[[EscalationView], Any]] = {
    "urgency": lambda v: (v.item.severity, v.item.status != "open", v.clock_at or FAR),
    "time": lambda v: (v.clock_at or FAR, v.item.severity),
    "member": lambda v: (v.member.lower(), v.clock_at or FAR),
    "trigger": lambda v: (label(v.item.trigger, "trigger"), v.clock_at or FAR),
    "level": lambda v: (-v.item.level, v.clock_at or FAR),
    "who": lambda v: (v.on_it.lower(), v.clock_at or FAR),
}


async def _escalations_page(request: Request, principal: Principal) -> Response:
    require_lead(principal)
    # The team's unresolved escalations with their cases (services.queues.Queues.escalations).
    board = await Queues(context_of(request)).escalations(principal, limit=views.QUEUE_LIMIT)
    tz = views.zone_of(board.team)
    people = getattr(request.state, "people", None) or People(board.staff)
    items = [
        view_of(
            e,
            tz,
            people,
            case=case,
            cfg=board.team,
            member=board.members.get(case.member_id or "") if case else None,
        )
        for e in board.items
        for case in [board.cases.get(e.interaction_id)]
    ]
    sort = request.query_params.get("sort") or "urgency"
    if sort not in SORTS:
        sort = "urgency"
    items.sort(key=SORTS[sort])
    part = request.query_params.get("part") == "list"
    return render(
        request,
        "_escalations.html" if part else "escalations.html",
        {
            "items": items,
            "timezone": tz,
            "sort": sort,
            "title": "Escalations",
            "self_url": "/console/escalations" + ("" if sort == "urgency" else f"?sort={sort}"),
        },
        principal=principal,
    )


@router.get("/escalations")
async def escalations_page(request: Request) -> Response:
    principal = await signed_in(request)
    return await _escalations_page(request, principal)


async def _escalation_page(
    request: Request,
    principal: Principal,
    escalation_id: str,
    *,
    error: str | None = None,
    status: int = 200,
    form: FormData | None = None,
) -> Response:
    """One escalation: whom it is about, its countdown, its ladder, and the forms to act on it."""
    require_lead(principal)
    ctx = context_of(request)
    e = await Escalations(ctx).get(principal, escalation_id)
    case = await Queues(ctx).case(principal, e.interaction_id)
    tz = views.zone_of(case.team)
    people = getattr(request.state, "people", None) or People(case.staff)
    v = view_of(e, tz, people, case=case.item, cfg=case.team, member=case.member)
    part = request.query_params.get("part") == "live" and error is None
    return render(
        request,
        "_escalation.html" if part else "escalation.html",
        {
            "v": v,
            "timezone": tz,
            "error": error,
            "form": form or {},
            "failed": request.url.path.rsplit("/", 1)[-1] if request.method == "POST" else "",
            "page_url": f"/console/escalations/{escalation_id}",
            "title": f"Escalation: {label(e.trigger, 'trigger')} · {v.member}",
            "self_url": f"/console/escalations/{escalation_id}",
        },
        principal=principal,
        status=status,
    )


@router.get("/escalations/{escalation_id}")
async def escalation_page(escalation_id: str, request: Request) -> Response:
    principal = await signed_in(request)
    return await _escalation_page(request, principal, escalation_id)


Command = Answer[EscalationPublic]
_Run = Callable[[Escalations, Principal, FormData, Operation], Awaitable[Command]]


async def _act(request: Request, escalation_id: str, done: str, run: _Run) -> Response:
    """One action on the escalation; back to the case it came from, or to this page, with ``done``."""
    escalations = Escalations(context_of(request))

    async def command(principal: Principal, form: FormData, op: Operation) -> Command:
        # Another team's escalation is answered as not theirs before the form is read.
        await escalations.readable(principal, escalation_id)
        return await run(escalations, principal, form, op)

    async def again(principal: Principal, error: str, status: int, form: FormData) -> Response:
        # Shown again on the escalation's own page, the problems beside the fields.
        return await _escalation_page(
            request, principal, escalation_id, error=error, status=status, form=form
        )

    def then(form: FormData, result: Command) -> str:
        back = text(form, "back")
        if back == "interaction":
            return f"/console/interactions/{result.value.interaction_id}?done={done}"
        if back == "escalation":
            return f"/console/escalations/{escalation_id}?done={done}"
        return f"/console/escalations?done={done}"

    return await act(request, command, again=again, then=then)


@router.post("/escalations/{escalation_id}/acknowledge")
async def acknowledge(escalation_id: str, request: Request) -> Response:
    async def run(escalations: Escalations, principal: Principal, form: FormData, op: Operation) -> Command:
        body = build(AcknowledgeCreate, {"note": text(form, "note")})
        return await escalations.acknowledge(principal, escalation_id, body, op)

    return await _act(request, escalation_id, "acknowledged", run)


@router.post("/escalations/{escalation_id}/resolve")
async def resolve_escalation(escalation_id: str, request: Request) -> Response:
    async def run(escalations: Escalations, principal: Principal, form: FormData, op: Operation) -> Command:
        action_taken, outcome = text(form, "action_taken"), text(form, "outcome")
        missing = {
            n: f"{w} is required to resolve an escalation: say what was done and how it ended."
            for n, w, v in (("action_taken", "Action taken", action_taken), ("outcome", "Outcome", outcome))
            if v is None
        }
        if missing:
            raise FormProblems(missing)
        body = build(EscalationResolveCreate, {"action_taken": action_taken, "outcome": outcome})
        return await escalations.resolve(principal, escalation_id, body, op)

    return await _act(request, escalation_id, "escalation-resolved", run)
