"""Liveness and readiness: the database and Temporal are reported separately."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.orm import Session

from config.settings import Settings
from services.db import Database

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """Whether the database and Temporal answer, within seconds; which one is down, nothing more
    (no addresses or driver messages: this answer needs no token)."""
    settings: Settings = request.app.state.settings
    db: Database = request.app.state.db
    checks: dict[str, Any] = {}

    def _ping(session: Session) -> None:
        session.execute(text("SELECT 1"))

    try:
        async with asyncio.timeout(settings.db_pool_timeout_seconds + settings.db_connect_timeout_seconds):
            await db.run(_ping)
        checks["database"] = {"ok": True}
    except Exception:
        checks["database"] = {"ok": False}
    try:
        async with asyncio.timeout(5):
            client = await request.app.state.context.client()
            await client.service_client.check_health()
        checks["temporal"] = {"ok": True}
    except Exception:
        checks["temporal"] = {"ok": False}
    ok = all(c["ok"] for c in checks.values())
    return JSONResponse(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503
    )
