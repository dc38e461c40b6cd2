"""Annotated dependencies: the services, the caller (``Principal``) and the operation they ask for.

Every dependency is ``async def``: FastAPI runs a plain ``def`` dependency in a worker thread, a
hand-off per dependency and request (four for an action) for what is an attribute read.

The application's one ``Context`` (database, Temporal, settings, clock) is built in
``api.app.create_app``; routes take the service they need (``InteractionsDep`` …), call one
method and present its answer. Temporal is connected on first use by the service that needs it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.idempotency import operation_of, remember_credential
from config.settings import Settings
from domain.errors import Unauthorized
from services.absences import Absences
from services.access import Principal
from services.auth import INVALID, authenticate
from services.context import Context
from services.db import Database
from services.escalations import Escalations
from services.fhir import FhirReads
from services.inbound import Inbound
from services.interactions import Interactions
from services.notifications import Notifications
from services.operations import Operation
from services.referrals import Referrals
from services.reports import Reports
from services.staffing import Teams


async def get_context(request: Request) -> Context:
    ctx: Context = request.app.state.context
    return ctx


async def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


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


PrincipalDep = Annotated[Principal, Depends(get_principal)]
ContextDep = Annotated[Context, Depends(get_context)]
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


async def get_operation(
    request: Request, principal: PrincipalDep, key: IdempotencyKeyDep = None
) -> Operation:
    """The action asked for: its ``Idempotency-Key`` scoped to the caller's credential and route."""
    return operation_of(request, key)


OperationDep = Annotated[Operation, Depends(get_operation)]


# ---------------------------------------------------------------- the services, one per aggregate
async def get_interactions(ctx: ContextDep) -> Interactions:
    return Interactions(ctx)


async def get_escalations(ctx: ContextDep) -> Escalations:
    return Escalations(ctx)


async def get_absences(ctx: ContextDep) -> Absences:
    return Absences(ctx)


async def get_teams(ctx: ContextDep) -> Teams:
    return Teams(ctx)


async def get_notifications(ctx: ContextDep) -> Notifications:
    return Notifications(ctx)


async def get_reports(ctx: ContextDep) -> Reports:
    return Reports(ctx)


async def get_inbound(ctx: ContextDep) -> Inbound:
    return Inbound(ctx)


async def get_fhir_reads(ctx: ContextDep) -> FhirReads:
    return FhirReads(ctx)


async def get_referrals(ctx: ContextDep) -> Referrals:
    return Referrals(ctx)


InteractionsDep = Annotated[Interactions, Depends(get_interactions)]
EscalationsDep = Annotated[Escalations, Depends(get_escalations)]
AbsencesDep = Annotated[Absences, Depends(get_absences)]
TeamsDep = Annotated[Teams, Depends(get_teams)]
NotificationsDep = Annotated[Notifications, Depends(get_notifications)]
ReportsDep = Annotated[Reports, Depends(get_reports)]
InboundDep = Annotated[Inbound, Depends(get_inbound)]
FhirReadsDep = Annotated[FhirReads, Depends(get_fhir_reads)]
ReferralsDep = Annotated[Referrals, Depends(get_referrals)]
