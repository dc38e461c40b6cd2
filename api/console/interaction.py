"""The interaction page: the case, its attempts and timeline, and the forms to act on it.

The page reads ``services.queues.Queues.case``; each form calls one command of
``services.interactions.Interactions``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import cast
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from api.console import views
from api.console.common import LEADS, QUEUE_PATHS, act, build, context_of, render, signed_in, text
from api.console.queues import next_case
from domain.models import ATTEMPT_CHANNELS, FLAGS, OUTCOMES
from services.access import Principal
from services.interactions import Interactions
from services.operations import Answer, Operation
from services.public import (
    AssignCreate,
    AttemptCreate,
    FlagCreate,
    InteractionPublic,
    LinkCreate,
    ResolveCreate,
)
from services.queues import Queues, Which

router = APIRouter(prefix="/console", include_in_schema=False)


async def _page(
    request: Request,
    principal: Principal,
    interaction_id: str,
    *,
    error: str | None = None,
    status: int = 200,
    form: FormData | None = None,
) -> Response:
    part = request.query_params.get("part") == "live" and error is None
    queues = Queues(context_of(request))
    case = await queues.case(principal, interaction_id, advice=not part)
    d = views.detail(case)
    came_from = _came_from(request, principal, form)
    next_id = None
    if came_from is not None and not part and case.can_act:
        rows = views.queue(await queues.queue(principal, came_from)).rows
        next_id = next_case([r.item.id for r in rows], interaction_id, None)
    return render(
        request,
        "_interaction.html" if part else "interaction.html",
        {
            "d": d,
            "can_act": case.can_act,
            "can_assign": case.can_assign,
            "contact_advice": case.contact_advice,
            "outcomes": OUTCOMES,
            "attempt_channels": ATTEMPT_CHANNELS,
            "flags": FLAGS,
            "error": error,
            "form": form or {},
            "failed": request.url.path.rsplit("/", 1)[-1] if request.method == "POST" else "",
            "page_url": f"/console/interactions/{interaction_id}",
            "title": d.title,
            "came_from": came_from,
            "next_id": next_id if next_id != interaction_id else None,
        },
        principal=principal,
        status=status,
    )


def _came_from(request: Request, principal: Principal, form: FormData | None) -> Which | None:
    """The queue a person opened the case from (``?from=``, kept in the forms), for Save and
    next; None when they did not come from a queue they may list."""
    which = (text(form, "from") if form is not None else None) or request.query_params.get("from")
    if which not in QUEUE_PATHS or (which != "mine" and principal.role not in LEADS):
        return None
    return cast(Which, which)


@router.get("/interactions/{interaction_id}")
async def interaction_page(interaction_id: str, request: Request) -> Response:
    principal = await signed_in(request)
    return await _page(request, principal, interaction_id)


@router.get("/interactions/{interaction_id}/advice")
async def row_advice(interaction_id: str, request: Request) -> Response:
    """The contact advice for a queue row's attempt form (nothing when there is none to give)."""
    principal = await signed_in(request)
    case = await Queues(context_of(request)).case(principal, interaction_id, advice=True)
    return render(
        request,
        "_quick_advice.html",
        {"iid": interaction_id, "contact_advice": case.contact_advice if case.can_act else []},
        principal=principal,
    )


Command = Answer[InteractionPublic]
_Run = Callable[[Interactions, Principal, FormData, Operation], Awaitable[Command]]


async def _act(request: Request, interaction_id: str, done: str, run: _Run) -> Response:
    """One action on the case; back to the queue it came from, or to the case, with ``done``."""
    cases = Interactions(context_of(request))

    async def again(principal: Principal, error: str, status: int, form: FormData) -> Response:
        return await _page(request, principal, interaction_id, error=error, status=status, form=form)

    def then(form: FormData, _: Command) -> str:
        back = text(form, "back")
        if back in QUEUE_PATHS:
            return f"{QUEUE_PATHS[back]}?done={done}"
        came_from = text(form, "from")
        if came_from in QUEUE_PATHS:
            if text(form, "then") == "next":
                hint = text(form, "next_id") or ""
                return f"/console/next?from={came_from}&after={interaction_id}&hint={quote(hint)}&done={done}"
            return f"/console/interactions/{interaction_id}?from={came_from}&done={done}"
        return f"/console/interactions/{interaction_id}?done={done}"

    return await act(
        request, lambda principal, form, op: run(cases, principal, form, op), again=again, then=then
    )


@router.post("/interactions/{interaction_id}/attempt")
async def record_attempt(interaction_id: str, request: Request) -> Response:
    async def run(cases: Interactions, principal: Principal, form: FormData, op: Operation) -> Command:
        fields = {n: text(form, n) for n in ("outcome", "channel", "note", "override_reason")}
        return await cases.record_attempt(principal, interaction_id, build(AttemptCreate, fields), op)

    return await _act(request, interaction_id, "attempt", run)


@router.post("/interactions/{interaction_id}/flag")
async def flag(interaction_id: str, request: Request) -> Response:
    async def run(cases: Interactions, principal: Principal, form: FormData, op: Operation) -> Command:
        body = build(FlagCreate, {"flag": text(form, "flag"), "note": text(form, "note")})
        return await cases.flag(principal, interaction_id, body, op)

    return await _act(request, interaction_id, "flag", run)


@router.post("/interactions/{interaction_id}/resolve")
async def resolve(interaction_id: str, request: Request) -> Response:
    async def run(cases: Interactions, principal: Principal, form: FormData, op: Operation) -> Command:
        body = build(ResolveCreate, {"resolution": text(form, "resolution")})
        return await cases.resolve(principal, interaction_id, body, op)

    return await _act(request, interaction_id, "resolved", run)


@router.post("/interactions/{interaction_id}/assign")
async def assign(interaction_id: str, request: Request) -> Response:
    async def run(cases: Interactions, principal: Principal, form: FormData, op: Operation) -> Command:
        fields = {"assignee_id": text(form, "assignee_id"), "reason": text(form, "reason") or ""}
        return await cases.assign(principal, interaction_id, build(AssignCreate, fields), op)

    return await _act(request, interaction_id, "assigned", run)


@router.post("/interactions/{interaction_id}/link")
async def link(interaction_id: str, request: Request) -> Response:
    """An unknown caller's case linked to a member (leads and managers), as
    ``POST /v1/interactions/{id}/link`` does it."""

    async def run(cases: Interactions, principal: Principal, form: FormData, op: Operation) -> Command:
        member_id = (text(form, "member_id") or "").strip()
        return await cases.link(principal, interaction_id, build(LinkCreate, {"member_id": member_id}), op)

    return await _act(request, interaction_id, "linked", run)
