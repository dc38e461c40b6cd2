"""Edge observability: a request id on every log line and response, and Prometheus metrics.

Each app owns its registry (tests build many apps in one process). Request figures are
labelled by route *template* (``/v1/interactions/{interaction_id}``), never the raw path, so
ids do not explode the series count. Queue figures are read from SQL at scrape time (``services.metrics``).
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Iterable

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.messages import ACTIVE_INTERACTION_STATUSES
from services.metrics import queue_snapshot, reconcile_snapshot

log = structlog.get_logger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
# A caller's id is reused only if it is short and plain: it goes into every log line.
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:+=/-]{1,128}")
UNMATCHED_ROUTE = "<unmatched>"
# Probes and scrapes are frequent; their access lines go to debug.
_QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})


class QueueCollector(Collector):
    """Open, overdue and unassigned interactions and the outbox backlog, per team, from SQL."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def describe(self) -> Iterable[Metric]:
        # Nothing up front: registering must not query the database.
        return []

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(
            "followthrough_queue_metrics_up", "1 if the database answered the queue figures of this scrape"
        )
        try:
            snapshot = queue_snapshot(self._sessions)
        except Exception as err:
            log.warning("metrics.queue_figures_failed", error_type=type(err).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        now, figures, oldest = snapshot.now, snapshot.figures, snapshot.oldest_undelivered
        open_ = GaugeMetricFamily(
            "followthrough_interactions_open",
            "Interactions not resolved yet, by team and status",
            labels=["team_id", "status"],
        )
        overdue = GaugeMetricFamily(
            "followthrough_interactions_overdue",
            "Interactions not answered and past their due_at, by team",
            labels=["team_id"],
        )
        unassigned = GaugeMetricFamily(
            "followthrough_interactions_unassigned",
            "Open interactions in the team's unassigned queue",
            labels=["team_id"],
        )
        backlog = GaugeMetricFamily(
            "followthrough_notifications_undelivered",
            "Notifications in the outbox not delivered yet, by team",
            labels=["team_id"],
        )
        escalations = GaugeMetricFamily(
            "followthrough_escalations_open",
            "Escalations not resolved yet, by team, trigger and status (open = unacknowledged)",
            labels=["team_id", "trigger", "status"],
        )
        for (team, trigger, status), n in sorted(figures.escalations_open.items()):
            escalations.add_metric([team, trigger, status], n)
        teams = sorted(
            {*figures.team_ids, *(t for t, _ in figures.open_by_status), *figures.undelivered_notifications}
        )
        for team in teams:
            for status in ACTIVE_INTERACTION_STATUSES:
                open_.add_metric([team, status], figures.open_by_status.get((team, status), 0))
            overdue.add_metric([team], figures.overdue.get(team, 0))
            unassigned.add_metric([team], figures.unassigned.get(team, 0))
            backlog.add_metric([team], figures.undelivered_notifications.get(team, 0))
        waiting = GaugeMetricFamily(
            "followthrough_notifications_oldest_undelivered_seconds",
            "Age of the oldest notification still waiting in the outbox (0: none waits)",
        )
        waiting.add_metric([], 0.0 if oldest is None else max((now - oldest).total_seconds(), 0.0))
        yield from (open_, overdue, unassigned, backlog, escalations, waiting)


class ReconcileCollector(Collector):
    """What ``followthrough reconcile`` found, from SQL (the worker that runs it serves only the
    SDK's metrics): differences by kind summed over every run, whole runs, and the last one's time."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        differences = CounterMetricFamily(
            "followthrough_reconcile_differences",
            "Differences between Temporal and the read model (and leftovers) found by reconcile, by kind",
            labels=["kind"],
        )
        runs = CounterMetricFamily("followthrough_reconcile_runs", "Whole reconcile runs finished")
        last = GaugeMetricFamily(
            "followthrough_reconcile_last_run_timestamp_seconds",
            "When the last whole reconcile run finished (Unix time; absent before the first)",
        )
        try:
            found = reconcile_snapshot(self._sessions)
        except Exception as err:
            log.warning("metrics.reconcile_figures_failed", error_type=type(err).__name__)
            return
        for kind, n in sorted(found.by_kind.items()):
            differences.add_metric([kind], n)
        runs.add_metric([], found.runs)
        if found.last_at is not None:
            last.add_metric([], found.last_at.timestamp())
        yield from (differences, runs, last)


class Metrics:
    """The app's registries. ``public``: HTTP and process figures (no team ids), for anyone;
    ``registry``: those and the per-team queue figures, for ops (a token, or an internal port)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.registry = CollectorRegistry()
        self.public = CollectorRegistry()
        labels = ["method", "route", "status"]
        self.requests = Counter(
            "followthrough_http_requests", "HTTP requests answered", labels, registry=None
        )
        self.latency = Histogram(
            "followthrough_http_request_duration_seconds",
            "Time to answer an HTTP request",
            labels,
            registry=None,
        )
        for registry in (self.public, self.registry):
            registry.register(self.requests)
            registry.register(self.latency)
            ProcessCollector(registry=registry)
            PlatformCollector(registry=registry)
            GCCollector(registry=registry)
        self.registry.register(QueueCollector(sessions))
        self.registry.register(ReconcileCollector(sessions))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route, str(status)).observe(seconds)


def request_id_of(scope: Scope) -> str:
    """The caller's ``X-Request-ID`` if it is usable, else a fresh one."""
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            candidate = bytes(value).decode("latin-1").strip()
            if _VALID_REQUEST_ID.fullmatch(candidate):
                return candidate
            break
    return uuid.uuid4().hex


class RequestContextMiddleware:
    """Bind a request id for the request's log lines, echo it, count and time the request."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        status = 500  # if nothing was sent, the error middleware outside answers 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        started = time.perf_counter()
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            except asyncio.CancelledError:
                # The client went away (or the server is stopping) before an answer: not an error
                # of ours. 499 is the customary "client closed request".
                if status == 500:
                    status = 499
                raise
            finally:
                elapsed = time.perf_counter() - started
                # The router records the matched route in the scope; its path is the template.
                route = getattr(scope.get("route"), "path", None) or UNMATCHED_ROUTE
                method = scope["method"]
                self.metrics.observe(method, route, status, elapsed)
                (log.debug if route in _QUIET_ROUTES else log.info)(
                    "http.request",
                    method=method,
                    route=route,
                    status=status,
                    duration_ms=round(elapsed * 1000, 1),
                )
