"""The escalations page: open escalations of the team, to acknowledge and resolve.

Each action reads the form and calls one method of ``services.escalations.Escalations``; the
page shows each escalation's ladder (who was told when, what comes next) in the team's time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from api.console import views
from api.console.common import act, build, context_of, render, require_lead, signed_in, text
from api.console.labels import People, label
from domain.errors import Invalid
from services.access import Principal
from services.escalations import Escalations
from services.operations import Answer, Operation
from services.public import AcknowledgeCreate, EscalationPublic, EscalationResolveCreate
from services.staffing import Teams

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
    item: EscalationPublic
    ladder: list[Rung]
    next_due: str
    started_local: str = ""


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


def view_of(e: EscalationPublic, tz: str, people: People | None = None) -> EscalationView:
    ladder, next_due = _ladder(e, tz, people or People())
    return EscalationView(e, ladder, next_due, views.local(e.started_at, tz))


async def _escalations_page(
    request: Request,
    principal: Principal,
    *,
    error: str | None = None,
    status: int = 200,
    form: FormData | None = None,
) -> Response:
    require_lead(principal)
    ctx = context_of(request)
    # The team's unresolved escalations, as the API lists them for this caller.
    found = await Escalations(ctx).page(principal, limit=views.QUEUE_LIMIT)
    tz = await Teams(ctx).timezone(principal.team_id)
    part = request.query_params.get("part") == "list" and error is None
    return render(
        request,
        "_escalations.html" if part else "escalations.html",
        {
            "items": [view_of(e, tz, getattr(request.state, "people", None)) for e in found.items],
            "timezone": tz,
            "error": error,
            "form": form or {},
            "title": "Escalations",
            "self_url": "/console/escalations",
        },
        principal=principal,
        status=status,
    )


@router.get("/escalations")
async def escalations_page(request: Request) -> Response:
    principal = await signed_in(request)
    return await _escalations_page(request, principal)


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
        return await _escalations_page(request, principal, error=error, status=status, form=form)

    def then(form: FormData, result: Command) -> str:
        if text(form, "back") == "interaction":
            return f"/console/interactions/{result.value.interaction_id}?done={done}"
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
        missing = [n for n, v in (("Action taken", action_taken), ("Outcome", outcome)) if v is None]
        if missing:
            raise Invalid(f"{' and '.join(missing)}: required to resolve an escalation")
        body = build(EscalationResolveCreate, {"action_taken": action_taken, "outcome": outcome})
        return await escalations.resolve(principal, escalation_id, body, op)

    return await _act(request, escalation_id, "escalation-resolved", run)
