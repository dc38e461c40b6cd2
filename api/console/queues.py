"""The queues: My queue, Unassigned and Team queue (``services.queues.Queues.queue``)."""

from __future__ import annotations

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.console import views
from api.console.common import QUEUE_PATHS, QUEUES, context_of, render, require_lead, signed_in
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
        {"queue": data, "which": which, "title": QUEUES[which], "self_url": QUEUE_PATHS[which]},
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
