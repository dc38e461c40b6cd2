"""Prometheus scrape endpoint: HTTP figures, queue figures per team, process figures."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.observability import Metrics

router = APIRouter(tags=["health"])


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Unauthenticated like the probes: counts and team ids only, never member data.

    A plain ``def``: the queue figures query SQL, so the scrape runs in the thread pool.
    """
    app_metrics: Metrics = request.app.state.metrics
    return Response(generate_latest(app_metrics.registry), media_type=CONTENT_TYPE_LATEST)
