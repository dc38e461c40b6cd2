"""The one place that maps errors to HTTP answers ``{"error": {"code", "message"}}``.

Services raise the ``domain.errors`` vocabulary; ``STATUS`` says which HTTP status each class
is. Temporal and database failures that reach a route are mapped here too.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, InterfaceError, OperationalError, TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from domain.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, Unauthorized, Unavailable
from services.common import from_update_failure
from services.db import database_unavailable

log = structlog.get_logger(__name__)

STATUS: dict[type[DomainError], int] = {
    NotFound: 404,
    Conflict: 409,
    Invalid: 422,
    Forbidden: 403,
    Unauthorized: 401,
    Unavailable: 503,
}


def status_of(err: DomainError) -> int:
    return next((code for cls, code in STATUS.items() if isinstance(err, cls)), 409)


def body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def respond(err: DomainError) -> JSONResponse:
    status = status_of(err)
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(err, Unavailable):
        headers["Retry-After"] = str(err.retry_after)
    return JSONResponse(body(err.code, err.message), status_code=status, headers=headers or None)


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


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with a 413 in the error shape, before any route
    runs: before parsing and before authentication (issue 23).

    A ``Content-Length`` over the limit is refused up front, without reading a byte; any other
    body (chunked, or a length that lies) is read here up to the limit and cut off there. A body
    within it is handed on as one message, so memory per request stays within the limit whatever
    the client sends. Paths under ``exempt`` (the codec endpoint) keep their own limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, *, exempt: tuple[str, ...] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path", "").startswith(self.exempt):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"").strip()
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        first: Message = {"type": "http.request", "body": b"", "more_body": False}
        while True:
            message = await receive()
            if message["type"] != "http.request":
                first = message  # the client went away: the app hears it at once
                break
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                first = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
                break
        chunks = []
        handed = False

        async def replay() -> Message:
            nonlocal handed
            if not handed:
                handed = True
                return first
            return await receive()  # e.g. http.disconnect, for a stream that listens for it

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        log.info("request.too_large", max_bytes=self.max_bytes)
        response = JSONResponse(
            body("too_large", f"a request body may be at most {self.max_bytes} bytes"),
            status_code=413,
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


class _Tracked:
    """A ``send`` that remembers whether the answer has started (then no error answer can follow)."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


class CatchAll:
    """Answer any unexpected error with a 500 in the error shape, and log only its type.

    The exception's text may carry member data or driver details, so it stays out of the answer
    and the log (no traceback either); the request id ties the log line to the answer.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tracked = _Tracked(send)

        try:
            await self.app(scope, receive, tracked.send)
        except Exception as exc:
            log.error("request.failed", error_type=type(exc).__name__)
            if not tracked.started:
                response = JSONResponse(
                    body("internal", "an unexpected error occurred; it has been logged"), status_code=500
                )
                await response(scope, receive, send)


# Probes and scrapes are answered whatever the load; reads are never shed (they wait on no
# workflow, only on the bounded database threads): admission is for actions.
UNLIMITED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
READS = frozenset({"GET", "HEAD", "OPTIONS"})
# Long-lived streams (the console's server-sent events) end on their own schedule, not the
# request deadline; they are reads, so never shed either.
STREAM_PATHS = frozenset({"/console/events"})


class Deadline:
    """Admission and deadline. At most ``max_concurrent`` actions (writes) are worked on at once;
    one that cannot start within ``admission_wait`` answers 503 at once (reads are not limited).
    A request that runs past ``seconds`` answers 503 with Retry-After. So no client waits long
    whatever the load: an overloaded API sheds work instead of queueing it. Work already handed
    to the database finishes; an action whose update was sent may still be applied, and its
    repeat with the same Idempotency-Key answers it."""

    def __init__(
        self, app: ASGIApp, seconds: float, *, max_concurrent: int = 10_000, admission_wait: float = 1.0
    ) -> None:
        self.app = app
        self.seconds = seconds
        self.admission_wait = admission_wait
        self.slots = asyncio.Semaphore(max_concurrent)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tracked = _Tracked(send)

        if scope.get("path", "") in UNLIMITED_PATHS or scope.get("path", "") in STREAM_PATHS:
            await self.app(scope, receive, send)
            return
        admitted = scope.get("method") not in READS
        if admitted:
            try:
                async with asyncio.timeout(self.admission_wait):
                    await self.slots.acquire()
            except TimeoutError:
                log.info("request.shed")
                busy = Unavailable("the service is busy; repeat the request shortly", retry_after=1)
                await respond(busy)(scope, receive, send)
                return
        try:
            async with asyncio.timeout(self.seconds):
                await self.app(scope, receive, tracked.send)
        except TimeoutError:
            log.warning("request.deadline", seconds=self.seconds)
            if not tracked.started:
                err = Unavailable(
                    f"the request did not complete within {self.seconds:g} s (the service is busy); "
                    "repeat it (with the same Idempotency-Key for an action)",
                    retry_after=2,
                )
                await respond(err)(scope, receive, send)
        finally:
            if admitted:
                self.slots.release()


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain_error(_: Request, exc: DomainError) -> JSONResponse:
        return respond(exc)

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
        return respond(from_update_failure(exc))

    @app.exception_handler(DataError)
    async def _data(_: Request, exc: DataError) -> JSONResponse:
        # A value the database cannot store (too long, out of range, NUL): the caller's input.
        # The transaction was rolled back, so nothing changed.
        reason = str(exc.orig).splitlines()[0] if exc.orig is not None else "value not storable"
        log.info("request.data_error", reason=reason)
        return JSONResponse(body("invalid", f"invalid input: {reason}"), status_code=422)

    @app.exception_handler(RPCError)
    async def _rpc(_: Request, exc: RPCError) -> JSONResponse:
        log.warning("temporal.unavailable", status=exc.status.name if exc.status else None)
        return respond(Unavailable("Temporal is not reachable; try again shortly"))

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(PoolTimeout)
    async def _database_down(_: Request, exc: Exception) -> JSONResponse:
        return respond(database_unavailable(exc))
