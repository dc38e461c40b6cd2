"""The queues: My queue, Unassigned and Team queue (``services.queues.Queues.queue``)."""

from __future__ import annotations

from typing import cast
from urllib.parse import quote

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from api.console import views
from api.console.common import QUEUE_PATHS, QUEUES, context_of, render, require_lead, signed_in
from domain.models import OUTCOMES
from services.queues import Queues, Which

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/console", include_in_schema=False)


async def _queue(request: Request, which: Which) -> Response:
    principal = await signed_in(request)
    if which != "mine":
        require_lead(principal)
    data = views.queue(await Queues(context_of(request)).queue(principal, which))
    part = request.query_params.get("part") == "list"
    return render(
        request,
        "_queue.html" if part else "queue.html",
        {
            "queue": data,
            "which": which,
            "title": QUEUES[which],
            "self_url": QUEUE_PATHS[which],
            "outcomes": OUTCOMES,
        },
        principal=principal,
    )


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
