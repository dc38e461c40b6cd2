"""Liveness and readiness: the database and Temporal are reported separately."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    checks: dict[str, Any] = {}
    try:

        def _ping() -> None:
            with request.app.state.sessions() as s:
                s.execute(text("SELECT 1"))

        await asyncio.to_thread(_ping)
        checks["database"] = {"ok": True}
    except Exception as err:
        checks["database"] = {"ok": False, "error": str(err)}
    try:
        client = request.app.state.temporal
        if client is None:
            client = await asyncio.wait_for(request.app.state.temporal_connect(), timeout=5)
            request.app.state.temporal = client
        await asyncio.wait_for(client.service_client.check_health(), timeout=5)
        checks["temporal"] = {"ok": True}
    except Exception as err:
        checks["temporal"] = {"ok": False, "error": str(err) or type(err).__name__}
    ok = all(c["ok"] for c in checks.values())
    return JSONResponse(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503
    )
