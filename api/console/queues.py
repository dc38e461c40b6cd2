"""The queues: My queue, Unassigned and Team queue (``services.queues.Queues.queue``); the Team
page, a lead's overview (per CHW: open, breached, due before close, unreachable); the bulk
reassign of Team queue (``services.interactions.Interactions.assign``, once per case); and the
navigation's live counts (``services.queues.Queues.counts``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast
from urllib.parse import quote, urlencode

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from api.console import views
from api.console.common import (
    QUEUE_PATHS,
    QUEUES,
    build,
    checked_form,
    context_of,
    form_key,
    render,
    require_lead,
    signed_in,
    text,
)
from api.console.form_errors import FormProblems
from api.exports import cases_csv
from domain.errors import DomainError, Forbidden
from domain.models import OUTCOMES
from services.access import Principal
from services.interactions import Interactions
from services.operations import Operation
from services.public import AssignCreate
from services.queues import Queues, Which
from store.repositories import UNASSIGNED

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/console", include_in_schema=False)

FILTERS = ("assignee", "state")


def _filters(params: Mapping[str, Any]) -> dict[str, str]:
    """Team queue's filters (by CHW, by state), as asked for; unknown values are ignored."""
    out = {}
    for name in FILTERS:
        value = params.get(name)
        if isinstance(value, str) and value and len(value) <= 64:
            out[name] = value
    if out.get("state") not in (*views.STATES, "safety"):
        out.pop("state", None)
    return out


async def _queue(
    request: Request,
    which: Which,
    *,
    principal: Principal | None = None,
    error: str = "",
    status: int = 200,
    form: FormData | None = None,
) -> Response:
    principal = principal or await signed_in(request)
    if which != "mine":
        require_lead(principal)
    data = views.queue(await Queues(context_of(request)).queue(principal, which))
    filters = _filters(request.query_params) if which == "team" else {}
    shown = views.filtered(data.rows, filters.get("assignee"), filters.get("state"))
    part = request.query_params.get("part") == "list"
    query = urlencode(filters)
    return render(
        request,
        "_queue.html" if part else "queue.html",
        {
            "queue": views.Queue(rows=shown, timezone=data.timezone, staff=data.staff),
            "which": which,
            "title": QUEUES[which],
            "self_url": QUEUE_PATHS[which] + (f"?{query}" if query else ""),
            # the whole queue as CSV (api.exports): the list's cases, not the page's filters
            "csv_url": QUEUE_PATHS[which] + ".csv",
            "filters": filters,
            "filtered_out": len(data.rows) - len(shown),
            "states": views.STATES,
            "error": error,
            "form": form or {},
            "outcomes": OUTCOMES,
            "page_url": QUEUE_PATHS[which] + (f"?{query}" if query else ""),
        },
        principal=principal,
        status=status,
    )


async def _queue_csv(request: Request, which: Which) -> Response:
    """The queue as CSV (the list's filters: the team's open cases, the caller's or the
    unassigned ones), every case of it, streamed (``api.exports``)."""
    principal = await signed_in(request)
    if which != "mine":
        require_lead(principal)
    assignee = {"mine": principal.staff_id or "-", "unassigned": UNASSIGNED, "team": None}[which]
    export = await Interactions(context_of(request)).export(
        principal, team_id=principal.team_id, assignee_id=assignee
    )
    return cases_csv(export, filename=f"{QUEUE_PATHS[which].rsplit('/', 1)[-1]}.csv")


@router.get("/queue.csv")
async def my_queue_csv(request: Request) -> Response:
    return await _queue_csv(request, "mine")


@router.get("/unassigned.csv")
async def unassigned_csv(request: Request) -> Response:
    return await _queue_csv(request, "unassigned")


@router.get("/team.csv")
async def team_queue_csv(request: Request) -> Response:
    return await _queue_csv(request, "team")


@router.get("/queue")
async def my_queue(request: Request) -> Response:
    return await _queue(request, "mine")


@router.get("/unassigned")
async def unassigned(request: Request) -> Response:
    return await _queue(request, "unassigned")


@router.get("/team")
async def team_queue(request: Request) -> Response:
    return await _queue(request, "team")


def next_case(order: list[str], after: str, hint: str | None) -> str | None:
    """The case to open after ``after`` in a queue's ``order``: the one after it (from the top
    again past the end); when ``after`` has left the queue (resolved, moved), the one that was
    next when its page was drawn (``hint``), if still open there, else the top one."""
    others = [i for i in order if i != after]
    if after in order:
        at = order.index(after)
        later = order[at + 1 :] or others
        return later[0] if later else None
    if hint in others:
        return hint
    return others[0] if others else None


@router.get("/next")
async def next_in_queue(request: Request) -> Response:
    """Save and next: the next case of the queue the person came from (the queue itself when
    nothing else is open there), with what was done said on arrival."""
    principal = await signed_in(request)
    which = request.query_params.get("from", "mine")
    if which not in QUEUE_PATHS:
        which = "mine"
    if which != "mine":
        require_lead(principal)
    done = quote(request.query_params.get("done", ""), safe="")
    data = views.queue(await Queues(context_of(request)).queue(principal, cast(Which, which)))
    order = [r.item.id for r in data.rows]
    found = next_case(order, request.query_params.get("after", ""), request.query_params.get("hint"))
    if found is None:
        return RedirectResponse(f"{QUEUE_PATHS[which]}?done=queue-done-{done}", status_code=303)
    return RedirectResponse(f"/console/interactions/{found}?from={which}&done={done}-next", status_code=303)


@router.post("/team/assign")
async def reassign_selected(request: Request) -> Response:
    """Bulk reassign: the selected cases to one person (or Unassigned), each through the same
    command as a single Assign and each once per this form (its ``key`` and the case's id)."""
    form = await checked_form(request)  # cross-site and CSRF checks first
    principal = await signed_in(request)
    require_lead(principal)
    filters = _filters(form)
    ids = [i for i in form.getlist("ids") if isinstance(i, str) and i][: views.QUEUE_LIMIT]
    key = form_key(form)
    cases = Interactions(context_of(request))
    credential = str(getattr(request.state, "credential", ""))
    refused: list[str] = []
    try:
        if not ids:
            raise FormProblems({"ids": "Choose at least one case to reassign."})
        body = build(
            AssignCreate, {"assignee_id": text(form, "assignee_id"), "reason": text(form, "reason") or ""}
        )
        for case_id in ids:
            op = Operation.scoped(credential, f"POST|/console/interactions/{case_id}/assign", key)
            try:
                await cases.assign(principal, case_id, body, op)
            except DomainError as err:
                if isinstance(err, Forbidden):
                    raise
                refused.append(err.message)
    except FormProblems as err:
        request.state.problems = err.fields
        request.scope["query_string"] = urlencode(filters).encode()
        return await _queue(request, "team", principal=principal, status=422, form=form)
    if refused:
        request.scope["query_string"] = urlencode(filters).encode()
        error = f"{len(ids) - len(refused)} of {len(ids)} reassigned; not reassigned: " + "; ".join(refused)
        return await _queue(request, "team", principal=principal, error=error, status=409, form=form)
    log.info("console.bulk_reassigned", cases=len(ids))
    return RedirectResponse(f"/console/team?{urlencode({**filters, 'done': 'assigned'})}", status_code=303)


@router.get("/overview")
async def overview(request: Request) -> Response:
    """The Team page: a lead's overview of the team's open cases, per CHW."""
    principal = await signed_in(request)
    require_lead(principal)
    data = await Queues(context_of(request)).queue(principal, "team")
    part = request.query_params.get("part") == "list"
    return render(
        request,
        "_overview.html" if part else "overview.html",
        {"o": views.overview(data), "title": "Team", "self_url": "/console/overview"},
        principal=principal,
    )


@router.get("/nav")
async def nav(request: Request) -> Response:
    """The navigation with its counts, for the live refresh of every page."""
    principal = await signed_in(request)
    request.state.counts = await Queues(context_of(request)).counts(principal)
    here = request.query_params.get("here") or ""
    return render(request, "_nav.html", {"path": here}, principal=principal)
