"""``/fhir/r4``: the CapabilityStatement, read and search of Task, Communication and Flag, and
create of a Task (a referral in, ``api.fhir.referral`` and ``services.referrals``).

Each route parses (``params``), calls one ``services.fhir.FhirReads`` method and presents the
answer as FHIR (``resources``); any error is an OperationOutcome (``http.FhirRoute``). Anything
else under ``/fhir/r4`` is answered too: 405 for another interaction on a resource type served
here, 404 for a resource type that is not.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fhir.resources.R4B.resource import Resource

from api.deps import FhirReadsDep, PrincipalDep, ReferralsDep
from api.fhir import params, resources
from api.fhir.capability import capability_statement
from api.fhir.http import (
    FhirRoute,
    MethodNotAllowed,
    NotSupported,
    PreconditionFailed,
    UnknownParameter,
    Unprocessable,
    fhir_response,
    negotiate,
)
from api.fhir.referral import PATH_OF, if_none_exist, parse as parse_referral
from services.fhir import Found
from services.referrals import AmbiguousCondition, InvalidReferral

PREFIX = "/fhir/r4"
router = APIRouter(prefix=PREFIX, tags=["fhir"], route_class=FhirRoute, dependencies=[Depends(negotiate)])
FHIR_JSON: dict[int | str, dict[str, Any]] = {200: {"content": {"application/fhir+json": {}}}}


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + PREFIX


def _only_format(request: Request) -> None:
    for name in request.query_params:
        if name != "_format":
            raise UnknownParameter(f"parameter '{name}' is not supported on a read (only _format)")


def _bundle(request: Request, found: Found[Any], entries: Sequence[Resource]) -> Response:
    next_url = None
    if found.next_cursor is not None:
        next_url = str(request.url.include_query_params(_cursor=found.next_cursor))
    bundle = resources.searchset(
        base_url(request), entries, total=found.total, self_url=str(request.url), next_url=next_url
    )
    return fhir_response(bundle)


@router.get("/metadata", response_class=Response, responses=FHIR_JSON)
async def metadata(request: Request) -> Response:
    """The CapabilityStatement: what this server supports (no token needed)."""
    _only_format(request)
    return fhir_response(capability_statement(base_url(request), request.app.version))


@router.get("/Task", response_class=Response, responses=FHIR_JSON)
async def search_tasks(request: Request, principal: PrincipalDep, reads: FhirReadsDep) -> Response:
    """Cases as Tasks: ``patient``, ``owner``, ``status``, ``code``, ``_lastUpdated``."""
    search = params.parse("Task", request.query_params)
    found = await reads.cases(principal, params.task_search(search), search.paging)
    return _bundle(request, found, [resources.task(v) for v in found.items])


@router.post("/Task", response_class=Response, responses={201: FHIR_JSON[200], 200: FHIR_JSON[200]})
async def create_task(request: Request, principal: PrincipalDep, referrals: ReferralsDep) -> Response:
    """A referral in (system tokens): opens a case with channel ``referral``; 201 with
    ``Location``; a repeat of its identifier answers the same Task (200), as does one that
    ``If-None-Exist: identifier=…`` finds (412 when it finds several)."""
    _only_format(request)
    condition = if_none_exist(request.headers.get("if-none-exist"))
    referral = parse_referral(await request.body(), request.headers.get("content-type"))
    try:
        answer = await referrals.receive(principal, referral, if_none_exist=condition)
    except InvalidReferral as err:
        raise Unprocessable([(PATH_OF[err.field], err.message)]) from err
    except AmbiguousCondition as err:
        raise PreconditionFailed(err.message) from err
    location = f"{base_url(request)}/Task/{answer.view.case.id}"
    return fhir_response(resources.task(answer.view), status=answer.status, headers={"Location": location})


@router.get("/Task/{task_id}", response_class=Response, responses=FHIR_JSON)
async def read_task(task_id: str, request: Request, principal: PrincipalDep, reads: FhirReadsDep) -> Response:
    _only_format(request)
    return fhir_response(resources.task(await reads.case(principal, task_id)))


@router.get("/Communication", response_class=Response, responses=FHIR_JSON)
async def search_communications(request: Request, principal: PrincipalDep, reads: FhirReadsDep) -> Response:
    """Contact attempts and inbound contacts as Communications: ``part-of``, ``patient``,
    ``_lastUpdated``."""
    search = params.parse("Communication", request.query_params)
    found = await reads.communications(principal, params.communication_search(search), search.paging)
    return _bundle(request, found, [resources.communication(v) for v in found.items])


@router.get("/Communication/{communication_id}", response_class=Response, responses=FHIR_JSON)
async def read_communication(
    communication_id: str, request: Request, principal: PrincipalDep, reads: FhirReadsDep
) -> Response:
    _only_format(request)
    return fhir_response(resources.communication(await reads.communication(principal, communication_id)))


@router.get("/Flag", response_class=Response, responses=FHIR_JSON)
async def search_flags(request: Request, principal: PrincipalDep, reads: FhirReadsDep) -> Response:
    """Escalations as Flags: ``patient``, ``status``, ``_lastUpdated``."""
    search = params.parse("Flag", request.query_params)
    found = await reads.escalations(principal, params.flag_search(search), search.paging)
    return _bundle(request, found, [resources.flag(v) for v in found.items])


@router.get("/Flag/{flag_id}", response_class=Response, responses=FHIR_JSON)
async def read_flag(flag_id: str, request: Request, principal: PrincipalDep, reads: FhirReadsDep) -> Response:
    _only_format(request)
    return fhir_response(resources.flag(await reads.escalation(principal, flag_id)))


SERVED = re.compile(r"^(metadata|(Task|Communication|Flag)(/[^/]+)?)$")
TYPES = ", ".join(params.SEARCH_PARAMETERS)


EVERY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@router.api_route("", methods=EVERY_METHOD, include_in_schema=False)
@router.api_route("/{rest:path}", methods=EVERY_METHOD, include_in_schema=False)
async def not_served(request: Request, rest: str = "") -> Response:
    """What this server does not do, said in FHIR's words."""
    if not rest:
        raise NotSupported("whole-system interactions (batch, transaction, search) are not supported")
    if SERVED.match(rest):
        raise MethodNotAllowed(
            f"{request.method} {PREFIX}/{rest} is not supported: this server reads and searches "
            "(and creates a Task: a referral)"
        )
    first = rest.split("/", 1)[0]
    if first in params.SEARCH_PARAMETERS:
        raise NotSupported(f"{PREFIX}/{rest}: only read ({first}/id) and search ({first}) are supported")
    raise NotSupported(f"resource type '{first}' is not served here (only {TYPES})")
