"""Annotated dependencies: settings, the database, the Temporal client, the caller (``Principal``).

Routes never hold a session: they hand functions to ``Database.run`` (``DbDep``), which runs
them in a worker thread with a short session of their own.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import structlog
from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from temporalio.client import Client

from api.idempotency import remember_credential
from config.settings import Settings
from domain.errors import Unauthorized, Unavailable
from services.access import Principal
from services.auth import INVALID, authenticate
from services.db import Database

log = structlog.get_logger(__name__)


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def get_temporal(request: Request) -> Client:
    client: Client | None = request.app.state.temporal
    if client is None:
        settings: Settings = request.app.state.settings
        async with request.app.state.temporal_lock:
            client = request.app.state.temporal
            if client is None:
                try:
                    async with asyncio.timeout(settings.temporal_rpc_timeout_seconds):
                        client = await request.app.state.temporal_connect()
                except Exception as err:
                    log.warning("temporal.connect_failed", error_type=type(err).__name__)
                    raise Unavailable("Temporal is not reachable; try again shortly") from err
                request.app.state.temporal = client
    assert client is not None
    return client


# Declared for OpenAPI, so Swagger UI (/docs) has an "Authorize" button; the check is ours.
bearer = HTTPBearer(
    auto_error=False,
    description="A token from FOLLOWTHROUGH_TOKENS, a service token (`followthrough token create`) "
    "or, with OIDC configured, the sign-in provider's access token.",
)


async def get_principal(
    request: Request,
    db: Annotated[Database, Depends(get_db)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized(INVALID)
    settings: Settings = request.app.state.settings
    principal = await authenticate(db, settings, token)
    remember_credential(request, settings, token)
    return principal


SettingsDep = Annotated[Settings, Depends(get_settings)]
DbDep = Annotated[Database, Depends(get_db)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
# A client-chosen key (any string up to 200 characters, e.g. a UUID) that makes an action safe to
# repeat: the same key answers the same result and changes nothing.
IdempotencyKeyDep = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Repeat-safe actions: the same key answers the same result and changes nothing.",
    ),
]
