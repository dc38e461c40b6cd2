"""Prometheus scrape endpoint: HTTP figures for anyone; queue figures per team for ops.

Without a token ``/metrics`` serves the HTTP and process figures only (no team ids). With an
``ops`` or ``system`` token it also serves the per-team queue figures (Prometheus sends one with
``authorization: {credentials_file: ...}``). ``FOLLOWTHROUGH_API_METRICS_ADDRESS`` serves all of
them without a token on an internal port instead (``api.app``).
"""

from __future__ import annotations

import anyio
from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.observability import Metrics
from config.settings import Settings
from domain.errors import DomainError
from services.auth import authenticate
from services.db import Database

router = APIRouter(tags=["health"])


async def _is_ops(request: Request) -> bool:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return False
    settings: Settings = request.app.state.settings
    db: Database = request.app.state.db
    try:
        principal = await authenticate(db, settings, token)
    except DomainError:
        return False
    return principal.role in ("ops", "system")


@router.get("/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """Counts and team ids only, never member data; team figures need an ops or system token."""
    app_metrics: Metrics = request.app.state.metrics
    registry = app_metrics.registry if await _is_ops(request) else app_metrics.public
    # The queue figures query SQL: the scrape runs in a thread.
    body = await anyio.to_thread.run_sync(generate_latest, registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
