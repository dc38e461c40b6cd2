"""Absences: plan, preview, change and cancel who is out and who covers.

Each action reads the form and calls one method of ``services.absences.Absences``; times in the
forms are the team's local time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from api import errors
from api.console import views
from api.console.common import act, build, checked_form, context_of, render, signed_in, text
from api.console.form_errors import FormProblems, problems_of
from domain.errors import DomainError, Forbidden
from services.absences import Absences
from services.access import Principal
from services.operations import Answer, Operation
from services.public import AbsenceCreate, AbsencePublic, AbsenceUpdate, StaffPublic
from services.staffing import Teams

router = APIRouter(prefix="/console", include_in_schema=False)


@dataclass
class AbsencesView:
    """The team's scheduled and active absences, its staff, and the zone its times are in."""

    items: list[AbsencePublic]
    staff: list[StaffPublic]
    timezone: str


def _local_time(value: str | None, tz: str, name: str, field: str) -> datetime:
    if value is None:
        raise FormProblems({field: f"{name} is required: enter a date and time."})
    try:
        naive = datetime.fromisoformat(value)
    except ValueError:
        raise FormProblems({field: f"{name}: enter a date and time, such as 2026-12-01 09:00."}) from None
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
    changed: str = "",
) -> Response:
    data = await Absences(context_of(request)).planning(principal, limit=views.QUEUE_LIMIT)
    return render(
        request,
        "absences.html",
        {
            "a": AbsencesView(items=data.items, staff=data.staff, timezone=views.zone_of(data.team)),
            "error": error,
            "form": form or {},
            "changed": changed,  # the absence whose change was refused
            "page_url": "/console/absences",
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
    tz = await Teams(context_of(request)).timezone(principal.team_id)
    staff_id = text(form, "staff_id") or (principal.staff_id if principal.role == "chw" else None)
    return build(
        AbsenceCreate,
        {
            "staff_id": staff_id,
            "backup_id": text(form, "backup_id"),
            "starts_at": _local_time(text(form, "starts_at"), tz, "Starts", "starts_at"),
            "ends_at": _local_time(text(form, "ends_at"), tz, "Ends", "ends_at"),
            "reason": text(form, "reason"),
        },
    )


@router.post("/absences/preview")
async def absence_preview(request: Request) -> Response:
    """Before saving: the open cases that will move to the backup (or Unassigned)."""
    form = await checked_form(request)  # cross-site and CSRF checks first
    principal = await signed_in(request)
    try:
        body = await _absence_body(request, principal, form)
        moving = await Absences(context_of(request)).preview(principal, body, limit=views.QUEUE_LIMIT)
    except DomainError as err:
        if isinstance(err, Forbidden):
            raise
        request.state.problems = problems_of(err)
        message = "" if request.state.problems else err.message
        return await _absences_page(
            request, principal, error=message, status=errors.status_of(err), form=form
        )
    # Shown as the queues show cases (breached first, then by deadline).
    rows = views.queue(moving).rows
    return await _absences_page(request, principal, form=form, preview=rows, backup_name=body.backup_id or "")


@router.post("/absences")
async def plan_absence(request: Request) -> Response:
    absences = Absences(context_of(request))

    async def run(principal: Principal, form: FormData, op: Operation) -> Answer[AbsencePublic]:
        return await absences.create(principal, await _absence_body(request, principal, form), op)

    async def again(principal: Principal, error: str, status: int, form: FormData) -> Response:
        return await _absences_page(request, principal, error=error, status=status, form=form)

    return await act(
        request, run, again=again, then=lambda _form, _: "/console/absences?done=absence-planned"
    )


_Change = Callable[[Absences, Principal, FormData, Operation], Awaitable[Answer[AbsencePublic]]]


async def _change(request: Request, done: str, change: _Change) -> Response:
    """A change of one absence; back to this page with ``done`` (a refusal shows it beside the list)."""
    absences = Absences(context_of(request))

    async def again(principal: Principal, error: str, status: int, form: FormData) -> Response:
        # The refusal is shown in the row of the absence it concerns.
        changed = request.url.path.rsplit("/", 2)[-2]
        return await _absences_page(
            request, principal, error=error, status=status, changed=changed, form=form
        )

    return await act(
        request,
        lambda principal, form, op: change(absences, principal, form, op),
        again=again,
        then=lambda _form, _: f"/console/absences?done={done}",
    )


@router.post("/absences/{absence_id}/change")
async def change_absence(absence_id: str, request: Request) -> Response:
    """Extend or shorten: a new end, in the absence's team's time."""

    async def change(
        absences: Absences, principal: Principal, form: FormData, op: Operation
    ) -> Answer[AbsencePublic]:
        # Another team's absence is answered as not theirs before the form is read.
        row = await absences.readable(principal, absence_id)
        tz = await Teams(context_of(request)).timezone(row.team_id)
        body = build(AbsenceUpdate, {"ends_at": _local_time(text(form, "ends_at"), tz, "New end", "ends_at")})
        return await absences.change_end(principal, absence_id, body, op)

    return await _change(request, "absence-changed", change)


@router.post("/absences/{absence_id}/cancel")
async def cancel_absence(absence_id: str, request: Request) -> Response:
    async def change(
        absences: Absences, principal: Principal, form: FormData, op: Operation
    ) -> Answer[AbsencePublic]:
        await absences.readable(principal, absence_id)
        return await absences.cancel(principal, absence_id, op)

    return await _change(request, "absence-cancelled", change)
