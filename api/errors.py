"""The one place that maps domain and Temporal errors to HTTP answers ``{"error": {code, message}}``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from domain.errors import DomainError

log = structlog.get_logger(__name__)

_STATUS = {"not_found": 404, "conflict": 409, "invalid": 422, "forbidden": 403, "unauthorized": 401}
# ApplicationError types raised by workflow validators.
_APP_TYPES = {
    "Conflict": ("conflict", 409),
    "Invalid": ("invalid", 422),
    "NotFound": ("not_found", 404),
    "Forbidden": ("forbidden", 403),
}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def unauthorized(message: str = "missing or invalid bearer token") -> ApiError:
    return ApiError(401, "unauthorized", message)


def forbidden(message: str) -> ApiError:
    return ApiError(403, "forbidden", message)


def not_found(message: str) -> ApiError:
    return ApiError(404, "not_found", message)


def conflict(message: str) -> ApiError:
    return ApiError(409, "conflict", message)


def invalid(message: str) -> ApiError:
    return ApiError(422, "invalid", message)


def unavailable(message: str) -> ApiError:
    return ApiError(503, "unavailable", message)


def parse_statuses(status: str | None, allowed: Sequence[str], default: Sequence[str]) -> list[str]:
    """A comma-separated ``status`` filter (``default`` when absent); an unknown one is 422."""
    statuses = [s.strip() for s in status.split(",") if s.strip()] if status else list(default)
    unknown = [s for s in statuses if s not in allowed]
    if unknown:
        raise invalid(f"unknown status {unknown[0]!r}; expected one of {', '.join(allowed)}")
    return statuses


def body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def from_update_failure(err: WorkflowUpdateFailedError) -> ApiError:
    """A validator's rejection comes back as an ApplicationError cause."""
    cause = err.cause
    if isinstance(cause, ApplicationError):
        code, status = _APP_TYPES.get(cause.type or "", ("conflict", 409))
        return ApiError(status, code, cause.message)
    return conflict(str(cause or err))


def _validation_message(err: RequestValidationError) -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e.get("loc", ()) if p not in ("body",))
        msg = str(e.get("msg", "invalid"))
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts) or "invalid input"


class NulGuard:
    """Refuse NUL characters in the path or query string with a 422 before any route runs
    (PostgreSQL text cannot hold them; SQLite would store them)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            query: bytes = scope.get("query_string", b"")
            if "\x00" in scope.get("path", "") or b"%00" in query or b"\x00" in query:
                response = JSONResponse(
                    body("invalid", "the path and query string must not contain NUL characters"),
                    status_code=422,
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse(body(exc.code, exc.message), status_code=exc.status, headers=headers)

    @app.exception_handler(DomainError)
    async def _domain_error(_: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse(body(exc.code, str(exc)), status_code=_STATUS.get(exc.code, 409))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(body("invalid", _validation_message(exc)), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}.get(
            exc.status_code, "error"
        )
        return JSONResponse(body(code, str(exc.detail)), status_code=exc.status_code)

    @app.exception_handler(WorkflowUpdateFailedError)
    async def _update_failed(_: Request, exc: WorkflowUpdateFailedError) -> JSONResponse:
        api = from_update_failure(exc)
        return JSONResponse(body(api.code, api.message), status_code=api.status)

    @app.exception_handler(DataError)
    async def _data(_: Request, exc: DataError) -> JSONResponse:
        # A value the database cannot store (too long, out of range, NUL): the caller's input.
        # The transaction was rolled back, so nothing changed.
        reason = str(exc.orig).splitlines()[0] if exc.orig is not None else "value not storable"
        log.info("request.data_error", reason=reason)
        return JSONResponse(body("invalid", f"invalid input: {reason}"), status_code=422)

    @app.exception_handler(RPCError)
    async def _rpc(_: Request, exc: RPCError) -> JSONResponse:
        log.warning("temporal.unavailable", error=str(exc))
        return JSONResponse(body("unavailable", f"Temporal is not reachable: {exc.message}"), status_code=503)
