"""The escalations page: open escalations of the team, to acknowledge and resolve."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel
from starlette.datastructures import FormData
from temporalio.client import Client, WorkflowUpdateFailedError

from api import errors, idempotency
from api.console import views
from api.console.common import (
    build,
    checked_form,
    context_of,
    db_of,
    form_key,
    render,
    require_lead,
    settings_of,
    signed_in,
    text,
)
from domain.errors import DomainError, Forbidden, Invalid
from services import access, escalations, presenters
from services.access import Principal
from services.common import from_update_failure
from services.public import AcknowledgeCreate, EscalationResolveCreate

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/console", include_in_schema=False)


async def _escalations_page(
    request: Request,
    principal: Principal,
    *,
    error: str | None = None,
    status: int = 200,
    form: FormData | None = None,
) -> Response:
    require_lead(principal)
    items, tz = await db_of(request).read(views.escalations, principal)
    part = request.query_params.get("part") == "list" and error is None
    return render(
        request,
        "_escalations.html" if part else "escalations.html",
        {
            "items": items,
            "timezone": tz,
            "error": error,
            "form": form or {},
            "title": "Escalations",
            "self_url": "/console/escalations",
        },
        principal=principal,
        status=status,
    )


@router.get("/escalations")
async def escalations_page(request: Request) -> Response:
    principal = await signed_in(request)
    return await _escalations_page(request, principal)


async def _escalation_action(
    request: Request,
    escalation_id: str,
    owner_may: bool,
    make: Callable[
        [Principal, Any, FormData, Client], tuple[BaseModel | None, Callable[[str], Awaitable[BaseModel]]]
    ],
    done: str,
) -> Response:
    form = await checked_form(request)  # cross-site and CSRF checks first
    principal = await signed_in(request)
    db = db_of(request)
    try:
        row = await db.run(escalations.require_escalation, escalation_id)
        principal.require(principal.can_read_team(row.team_id), "not a member of this escalation's team")
        access.require_escalation_actor(principal, row, owner_may=owner_may)
        client = await context_of(request).client()
        body, action = make(principal, row, form, client)
        await idempotency.once(db, request, principal, form_key(form), body, action)
    except WorkflowUpdateFailedError as exc:
        err = from_update_failure(exc)
        return await _escalations_page(
            request, principal, error=err.message, status=errors.status_of(err), form=form
        )
    except DomainError as err:
        if isinstance(err, Forbidden):
            raise
        return await _escalations_page(
            request, principal, error=err.message, status=errors.status_of(err), form=form
        )
    back = text(form, "back")
    if back == "interaction":
        return RedirectResponse(f"/console/interactions/{row.interaction_id}?done={done}", status_code=303)
    return RedirectResponse(f"/console/escalations?done={done}", status_code=303)


@router.post("/escalations/{escalation_id}/acknowledge")
async def acknowledge(escalation_id: str, request: Request) -> Response:
    def make(principal: Principal, row: Any, form: FormData, client: Client) -> Any:
        body = build(AcknowledgeCreate, {"note": text(form, "note")})
        settings = settings_of(request)

        async def action(key: str) -> BaseModel:
            done = await escalations.acknowledge(
                db_of(request), client, settings, row, principal, note=body.note, key=key
            )
            return await db_of(request).read(presenters.escalation_detail, done)

        return body, action

    return await _escalation_action(request, escalation_id, False, make, "acknowledged")


@router.post("/escalations/{escalation_id}/resolve")
async def resolve_escalation(escalation_id: str, request: Request) -> Response:
    def make(principal: Principal, row: Any, form: FormData, client: Client) -> Any:
        action_taken, outcome = text(form, "action_taken"), text(form, "outcome")
        missing = [n for n, v in (("Action taken", action_taken), ("Outcome", outcome)) if v is None]
        if missing:
            raise Invalid(f"{' and '.join(missing)}: required to resolve an escalation")
        body = build(EscalationResolveCreate, {"action_taken": action_taken, "outcome": outcome})
        settings = settings_of(request)

        async def action(key: str) -> BaseModel:
            done = await escalations.resolve(
                db_of(request),
                client,
                settings,
                row,
                principal,
                action_taken=body.action_taken,
                outcome=body.outcome,
                key=key,
            )
            return await db_of(request).read(presenters.escalation_detail, done)

        return body, action

    return await _escalation_action(request, escalation_id, True, make, "escalation-resolved")
