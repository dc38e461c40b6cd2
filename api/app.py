"""FastAPI application factory (docs/api.md §4.4: ``api.app.create_app(settings=None)``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from prometheus_client import start_http_server
from temporalio.client import Client

from api import errors
from api.console.app import install as install_console
from api.console.security import ConsoleSecurityHeaders
from api.fhir import routes as fhir
from api.observability import Metrics, RequestContextMiddleware
from api.routes import (
    absences,
    codec,
    escalations,
    health,
    inbound,
    interactions,
    metrics,
    notifications,
    reports,
    teams,
)
from config.settings import Settings, get_settings
from services.context import Context, TemporalLink
from services.db import Database
from store.db import make_engine, make_sessionmaker
from workers.client import connect, try_ensure_search_attributes
from workers.codec import EncryptionCodec


def create_app(settings: Settings | None = None, *, temporal_client: Client | None = None) -> FastAPI:
    """Build the API; the Temporal client is connected lazily so the API starts without it.

    A bad ``codec_key`` fails here, at startup, with ``workers.codec.CodecKeyError``.
    """
    settings = settings or get_settings()
    payload_codec = EncryptionCodec.from_key(settings.codec_key) if settings.codec_key else None
    engine = make_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
        connect_timeout=settings.db_connect_timeout_seconds,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        internal = None
        if settings.api_metrics_address:
            # Every figure, without a token, on an internal port only Prometheus reaches.
            host, _, port = settings.api_metrics_address.rpartition(":")
            internal, _thread = start_http_server(
                int(port), host or "0.0.0.0", registry=app.state.metrics.registry
            )
        yield
        if internal is not None:
            internal.shutdown()
        engine.dispose()

    app = FastAPI(
        title="Followthrough",
        version="0.1.0",
        description="Durable follow-up and escalation for community health worker call centers.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = make_sessionmaker(engine)
    # Database work runs in at most as many threads as the pool has connections.
    app.state.db = Database(app.state.sessions, threads=settings.db_pool_size + settings.db_max_overflow)
    app.state.codec = payload_codec
    app.state.metrics = Metrics(app.state.sessions)

    async def _connect() -> Client:
        client = await connect(settings)
        # The API may start a case before any worker ran against a fresh namespace.
        await try_ensure_search_attributes(client)
        return client

    # The one context every service of this process is built on (services/context.py).
    app.state.temporal = TemporalLink(
        _connect, timeout_seconds=settings.temporal_rpc_timeout_seconds, client=temporal_client
    )
    app.state.context = Context(db=app.state.db, settings=settings, temporal=app.state.temporal)
    errors.install(app)
    for module in (
        health,
        metrics,
        codec,
        teams,
        interactions,
        inbound,
        escalations,
        absences,
        notifications,
        reports,
        fhir,
    ):
        app.include_router(module.router)
    install_console(app)
    # Added last = outermost: every answer, a CORS preflight included, carries the request id.
    app.add_middleware(errors.CatchAll)
    # Request bodies over MAX_BODY_BYTES are refused here, before parsing and authentication
    # (inside the deadline, so a slow upload cannot outlast it); the codec keeps its own limit.
    app.add_middleware(errors.BodyLimit, max_bytes=settings.max_body_bytes, exempt=(codec.PREFIX,))
    app.add_middleware(
        errors.Deadline,
        seconds=settings.request_deadline_seconds,
        max_concurrent=settings.max_concurrent_requests,
        admission_wait=settings.admission_wait_seconds,
    )
    app.add_middleware(
        codec.CodecCORSMiddleware, origins=settings.ui_origins, max_body=settings.codec_max_body_bytes
    )
    app.add_middleware(errors.NulGuard)
    app.add_middleware(RequestContextMiddleware, metrics=app.state.metrics)
    # Outermost: every answer under /console, a 413 or a 500 included.
    app.add_middleware(ConsoleSecurityHeaders)
    return app
