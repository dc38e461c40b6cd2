"""Absences: plan, preview, change and cancel who is out and who covers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel
from starlette.datastructures import FormData
from temporalio.client import Client

from api import errors, idempotency
from api.console import views
from api.console.common import (
    build,
    checked_form,
    context_of,
    db_of,
    form_key,
    render,
    settings_of,
    signed_in,
    text,
)
from domain.errors import DomainError, Forbidden, Invalid
from services import absences, access, presenters
from services.access import Principal
from services.public import AbsenceCreate, AbsenceUpdate

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/console", include_in_schema=False)


def _local_time(value: str | None, tz: str, name: str) -> datetime:
    if value is None:
        raise Invalid(f"{name}: required")
    try:
        naive = datetime.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{name}: expected a date and time such as 2026-12-01T09:00") from None
    if naive.tzinfo is not None:
        return naive
    return naive.replace(tzinfo=ZoneInfo(tz))


async def _absences_page(
    request: Request,
    principal: Principal,
    *,
    error: str | None = None,
    status: int = 200,
    form: FormData | None = None,
    preview: list[views.Row] | None = None,
    backup_name: str = "",
) -> Response:
    data = await db_of(request).read(views.absences, principal)
    return render(
        request,
        "absences.html",
        {
            "a": data,
            "error": error,
            "form": form or {},
            "preview": preview,
            "backup_name": backup_name,
            "title": "Absences",
        },
        principal=principal,
        status=status,
    )


@router.get("/absences")
async def absences_page(request: Request) -> Response:
    principal = await signed_in(request)
    return await _absences_page(request, principal)


async def _absence_body(request: Request, principal: Principal, form: FormData) -> AbsenceCreate:
    tz = await db_of(request).run(views.team_timezone, principal.team_id)
    staff_id = text(form, "staff_id") or (principal.staff_id if principal.role == "chw" else None)
    body = build(
        AbsenceCreate,
        {
            "staff_id": staff_id,
            "backup_id": text(form, "backup_id"),
            "starts_at": _local_time(text(form, "starts_at"), tz, "Starts"),
            "ends_at": _local_time(text(form, "ends_at"), tz, "Ends"),
            "reason": text(form, "reason"),
        },
    )
    # Who may plan it first: another team's staff id and an unknown one get the same answer.
    await db_of(request).run(absences.planned_staff, principal, body.staff_id)
    return body


@router.post("/absences/preview")
async def absence_preview(request: Request) -> Response:
    """Before saving: the open cases that will move to the backup (or Unassigned)."""
    form = await checked_form(request)  # cross-site and CSRF checks first
    principal = await signed_in(request)
    try:
        body = await _absence_body(request, principal, form)
    except DomainError as err:
        if isinstance(err, Forbidden):
            raise
        return await _absences_page(
            request, principal, error=err.message, status=errors.status_of(err), form=form
        )
    moving = await db_of(request).read(views.absence_preview, body.staff_id)
    return await _absences_page(
        request, principal, form=form, preview=moving, backup_name=body.backup_id or ""
    )


@router.post("/absences")
async def plan_absence(request: Request) -> Response:
    form = await checked_form(request)  # cross-site and CSRF checks first
    principal = await signed_in(request)
    db = db_of(request)
    try:
        body = await _absence_body(request, principal, form)
        client = await context_of(request).client()
        settings = settings_of(request)

        async def action(key: str) -> BaseModel:
            row = await absences.create_absence(
                db, client, settings, body, actor_id=principal.actor_id, key=key
            )
            return (await db.read(presenters.absences, [row]))[0]

        await idempotency.once(db, request, principal, form_key(form), body, action, status_code=201)
    except DomainError as err:
        if isinstance(err, Forbidden):
            raise
        return await _absences_page(
            request, principal, error=err.message, status=errors.status_of(err), form=form
        )
    return RedirectResponse("/console/absences?done=absence-planned", status_code=303)


async def _absence_change(
    request: Request,
    absence_id: str,
    change: Callable[
        [Principal, Any, FormData, Client],
        Awaitable[tuple[BaseModel | None, Callable[[str], Awaitable[BaseModel]]]],
    ],
    done: str,
) -> Response:
    form = await checked_form(request)  # cross-site and CSRF checks first
    principal = await signed_in(request)
    db = db_of(request)
    try:
        row = await db.run(absences.require_absence, absence_id)
        principal.require(principal.can_read_team(row.team_id), "not a member of this absence's team")
        access.require_absence_manager(principal, row)
        client = await context_of(request).client()
        body, action = await change(principal, row, form, client)
        await idempotency.once(db, request, principal, form_key(form), body, action)
    except DomainError as err:
        if isinstance(err, Forbidden):
            raise
        return await _absences_page(request, principal, error=err.message, status=errors.status_of(err))
    return RedirectResponse(f"/console/absences?done={done}", status_code=303)


@router.post("/absences/{absence_id}/change")
async def change_absence(absence_id: str, request: Request) -> Response:
    """Extend or shorten: a new end."""

    async def change(principal: Principal, row: Any, form: FormData, client: Client) -> Any:
        tz = await db_of(request).run(views.team_timezone, row.team_id)
        body = build(AbsenceUpdate, {"ends_at": _local_time(text(form, "ends_at"), tz, "New end")})
        settings = settings_of(request)

        async def action(key: str) -> BaseModel:
            done = await absences.change_absence_end(
                db_of(request), client, settings, row, body.ends_at, actor_id=principal.actor_id, key=key
            )
            return await db_of(request).read(presenters.absence, done)

        return body, action

    return await _absence_change(request, absence_id, change, "absence-changed")


@router.post("/absences/{absence_id}/cancel")
async def cancel_absence(absence_id: str, request: Request) -> Response:
    async def change(principal: Principal, row: Any, form: FormData, client: Client) -> Any:
        settings = settings_of(request)

        async def action(key: str) -> BaseModel:
            done = await absences.cancel_absence(
                db_of(request), client, settings, row, actor_id=principal.actor_id, key=key
            )
            return await db_of(request).read(presenters.absence, done)

        return None, action

    return await _absence_change(request, absence_id, change, "absence-cancelled")
