"""FHIR over HTTP: JSON only, errors as OperationOutcome.

Every ``/fhir/r4`` route runs under ``FhirRoute``, which turns any error (a domain error, a bad
parameter, an outage, a bug) into an OperationOutcome with its status, so a FHIR client never
sees the JSON API's ``{"error": …}`` shape. ``negotiate`` runs before anything else: a client
that asks for XML (``_format`` or ``Accept``) gets 406.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import structlog
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fhir.resources.R4B.operationoutcome import OperationOutcome, OperationOutcomeIssue
from fhir.resources.R4B.resource import Resource
from sqlalchemy.exc import InterfaceError, OperationalError, TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.fhir.codes import FHIR_VERSION, MEDIA_TYPE
from api.fhir.serialize import dumps
from domain.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, Unauthorized, Unavailable
from services.db import database_unavailable

log = structlog.get_logger(__name__)

CONTENT_TYPE = f"{MEDIA_TYPE}; charset=utf-8"
# What ``_format`` may say: JSON in any of its FHIR spellings.
JSON_FORMATS = frozenset({"json", "application/json", "application/fhir+json", "application/json+fhir"})
# What ``Accept`` may offer that JSON answers.
JSON_ACCEPTS = JSON_FORMATS | {"application/*", "*/*"}


class FhirError(Exception):
    """An answer other than success, with its HTTP status and OperationOutcome issue code."""

    status = 400
    code = "invalid"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadParameter(FhirError):
    """A search parameter's value this server cannot read (400)."""


class UnknownParameter(FhirError):
    """A search parameter, modifier or result parameter this server does not support (400):
    never silently ignored, so a client never mistakes a wider answer for the one it asked."""

    code = "not-supported"


class NotAcceptable(FhirError):
    status = 406
    code = "not-supported"


class NotSupported(FhirError):
    """An interaction or resource type this server does not offer."""

    status = 404
    code = "not-supported"


class MethodNotAllowed(NotSupported):
    status = 405


class UnsupportedMediaType(FhirError):
    """A body that is not JSON (415)."""

    status = 415
    code = "not-supported"


class PreconditionFailed(FhirError):
    """A conditional create whose condition matches more than one resource (412)."""

    status = 412
    code = "multiple-matches"


class Unprocessable(FhirError):
    """A body that is not a resource this server takes (422): one issue per problem, each with
    the FHIRPath of the element at fault (``expression``)."""

    status = 422

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{path}: {message}" for path, message in problems))
        self.problems = problems


def fhir_response(
    resource: Resource, *, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """The resource's FHIR JSON (``api.fhir.serialize``: the library's bytes, written faster)."""
    return Response(dumps(resource), status_code=status, media_type=CONTENT_TYPE, headers=headers)


def outcome(status: int, code: str, message: str, *, headers: dict[str, str] | None = None) -> Response:
    issue = OperationOutcomeIssue(severity="error", code=code, diagnostics=message)
    return fhir_response(OperationOutcome(issue=[issue]), status=status, headers=headers)


# A domain error's status and issue code; ``Invalid`` is a bad request here (a read or search
# parameter), not the JSON API's 422.
DOMAIN: list[tuple[type[DomainError], int, str]] = [
    (NotFound, 404, "not-found"),
    (Unauthorized, 401, "login"),
    (Forbidden, 403, "forbidden"),
    (Invalid, 400, "invalid"),
    (Conflict, 409, "conflict"),
    (Unavailable, 503, "transient"),
]
HTTP_CODES = {401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported", 406: "not-supported"}


def error_response(exc: Exception) -> Response:
    """Any error as an OperationOutcome (the driver's or a bug's text never reaches the client)."""
    if isinstance(exc, Unprocessable):
        issues = [
            OperationOutcomeIssue(severity="error", code=exc.code, diagnostics=message, expression=[path])
            for path, message in exc.problems
        ]
        return fhir_response(OperationOutcome(issue=issues), status=exc.status)
    if isinstance(exc, FhirError):
        return outcome(exc.status, exc.code, exc.message)
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeout):
        exc = database_unavailable(exc)
    if isinstance(exc, DomainError):
        status, code = next(((s, c) for cls, s, c in DOMAIN if isinstance(exc, cls)), (409, "processing"))
        headers: dict[str, str] = {}
        if status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        if isinstance(exc, Unavailable):
            headers["Retry-After"] = str(exc.retry_after)
        return outcome(status, code, exc.message, headers=headers or None)
    if isinstance(exc, RequestValidationError):
        return outcome(400, "invalid", "; ".join(str(e.get("msg", "invalid")) for e in exc.errors()))
    if isinstance(exc, StarletteHTTPException):
        return outcome(exc.status_code, HTTP_CODES.get(exc.status_code, "processing"), str(exc.detail))
    log.error("fhir.request_failed", error_type=type(exc).__name__)
    return outcome(500, "exception", "an unexpected error occurred; it has been logged")


class FhirRoute(APIRoute):
    """A route whose every error is answered as an OperationOutcome."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                return error_response(exc)

        return run


def _media(part: str) -> tuple[str, dict[str, str]]:
    media, *params = (p.strip() for p in part.split(";"))
    pairs = (p.partition("=") for p in params)
    return media.lower(), {k.strip().lower(): v.strip().strip('"') for k, _, v in pairs}


async def negotiate(request: Request) -> None:
    """JSON or 406. ``_format`` wins over ``Accept`` (as FHIR says); no ``Accept`` is JSON; an
    ``Accept`` that asks for another FHIR version than 4.0 is refused too."""
    formats = request.query_params.getlist("_format")
    if formats:
        media, _ = _media(formats[-1])
        if media not in JSON_FORMATS:
            raise NotAcceptable(f"_format '{formats[-1]}': this server answers JSON only ({MEDIA_TYPE})")
        return
    accept = request.headers.get("accept", "").strip()
    if not accept:
        return
    for part in accept.split(","):
        media, params = _media(part)
        try:
            weight = float(params.get("q", "1"))
        except ValueError:
            weight = 1.0
        version = params.get("fhirversion")
        if weight > 0 and media in JSON_ACCEPTS and (version is None or FHIR_VERSION.startswith(version)):
            return
    raise NotAcceptable(f"Accept '{accept}': this server answers {MEDIA_TYPE} (FHIR {FHIR_VERSION}) only")
