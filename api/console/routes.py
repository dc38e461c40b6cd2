"""The web console under ``/console``: server-rendered pages, forms and a live event stream.

Every action goes through the same functions as the API (``services.*`` behind
``api.idempotency.once``), after the same access checks (``services.access``), so validation,
roles and repeat-safety are the API's. Routes only read the form, call them and render.
"""

from __future__ import annotations

import asyncio
import hmac
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData
from temporalio.client import Client, WorkflowUpdateFailedError

from api import errors, idempotency, presenters
from api.console import charts, live, security, sso, views
from api.deps import get_temporal
from api.schemas import (
    AbsenceCreate,
    AbsenceUpdate,
    AcknowledgeCreate,
    AssignCreate,
    AttemptCreate,
    EscalationResolveCreate,
    FlagCreate,
    ResolveCreate,
)
from config.settings import Settings
from domain.errors import DomainError, Forbidden, Invalid, NotFound, Unauthorized
from domain.models import FLAGS, OUTCOMES
from services import absences, access, escalations, interactions, reports
from services.access import Principal
from services.auth import authenticate
from services.common import from_update_failure
from services.db import Database
from store import console_sessions

log = structlog.get_logger(__name__)

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(prefix="/console", include_in_schema=False)

M = TypeVar("M", bound=BaseModel)
NOT_STAFF = "The console is for CHWs, leads and managers; ops and backend tokens use the API."
STAFF_ROLES = ("chw", "lead", "manager")
LEADS = ("lead", "manager")
EVENT_POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0
EVENT_STREAM_SECONDS = 300.0
FLASH = {
    "attempt": "Attempt recorded.",
    "flag": "Flag raised.",
    "resolved": "Interaction resolved.",
    "assigned": "Assignment saved.",
    "acknowledged": "Escalation acknowledged.",
    "escalation-resolved": "Escalation resolved.",
    "absence-planned": "Absence planned.",
    "absence-changed": "Absence changed.",
    "absence-cancelled": "Absence cancelled.",
}
QUEUES = {"mine": "My queue", "unassigned": "Unassigned", "team": "Team queue"}
QUEUE_PATHS = {"mine": "/console/queue", "unassigned": "/console/unassigned", "team": "/console/team"}


class SignInRequired(Exception):
    pass


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def _principal(request: Request) -> Principal:
    """The signed-in person, re-derived from the sealed token on every request, while the
    session is open (not signed out, not older than ``console_session_hours``)."""
    settings = _settings(request)
    sealed = security.unseal(settings, request.cookies.get(security.SESSION_COOKIE))
    if sealed is None:
        raise SignInRequired
    live = await _db(request).run(
        console_sessions.is_live, sealed.key, now=security.now(), hours=settings.console_session_hours
    )
    if not live:
        raise SignInRequired
    token = sealed.token
    try:
        principal = await authenticate(_db(request), settings, token)
    except (Unauthorized, Forbidden):
        raise SignInRequired from None
    if principal.role not in STAFF_ROLES:
        raise SignInRequired
    idempotency.remember_credential(request, settings, token)
    return principal


def _require_lead(principal: Principal) -> None:
    principal.require(principal.role in LEADS, "this page is for leads and managers")


def _nav(principal: Principal) -> list[tuple[str, str]]:
    items = [("My queue", "/console/queue")]
    if principal.role in LEADS:
        items += [
            ("Unassigned", "/console/unassigned"),
            ("Team queue", "/console/team"),
            ("Escalations", "/console/escalations"),
        ]
    items.append(("Absences", "/console/absences"))
    if principal.role in LEADS:
        items.append(("Report", "/console/report"))
    return items


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    principal: Principal | None = None,
    status: int = 200,
) -> HTMLResponse:
    settings = _settings(request)
    done = request.query_params.get("done")
    ctx = {
        "csrf": security.csrf_token(request),
        "principal": principal,
        "nav": _nav(principal) if principal else [],
        "path": request.url.path,
        "flash": FLASH.get(done or ""),
        "new_key": uuid.uuid4().hex,
        "sso": sso.configured(settings),
        "local": views.local,
        **context,
    }
    response = templates.TemplateResponse(request, name, ctx, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    security.ensure_csrf_cookie(request, response, settings)
    return response


def _message(err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e.get("loc", ()))
        parts.append(f"{loc}: {e.get('msg', 'invalid')}" if loc else str(e.get("msg", "invalid")))
    return "; ".join(parts) or "invalid input"


def _build(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise Invalid(_message(err)) from None


def _text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    if not isinstance(value, str) or not value.strip():
        return None
    return value


async def _form(request: Request) -> FormData:
    """The posted form, once it has passed the cross-site and CSRF checks (403 otherwise)."""
    if not security.same_site(request):
        log.info("console.cross_site_refused")
        raise Forbidden("cross-site request refused")
    form = await request.form()
    token = form.get(security.CSRF_FIELD)
    if not security.csrf_ok(request, token if isinstance(token, str) else None):
        log.info("console.csrf_refused")
        raise Forbidden(
            "the form has expired or did not come from this console; reload the page and try again"
        )
    return form


def _key(form: FormData) -> str | None:
    key = _text(form, "key")
    if key is not None and len(key) > 200:
        raise Invalid("key: at most 200 characters")
    return key


async def _temporal(request: Request) -> Client:
    return await get_temporal(request)


# ---------------------------------------------------------------- sign-in
@router.get("")
@router.get("/")
async def home(request: Request) -> Response:
    try:
        await _principal(request)
    except SignInRequired:
        return RedirectResponse("/console/sign-in", status_code=303)
    return RedirectResponse("/console/queue", status_code=303)


@router.get("/sign-in")
async def sign_in_page(request: Request) -> Response:
    return render(request, "sign_in.html", {"error": None})


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    form = await _form(request)
    token = _text(form, "token")
    settings = _settings(request)
    error = None
    principal = None
    if token is None:
        error = "Enter your token."
    else:
        try:
            principal = await authenticate(_db(request), settings, token)
        except (Unauthorized, Forbidden):
            error = "That token was not accepted."
    if principal is not None and principal.role not in STAFF_ROLES:
        error = NOT_STAFF
    if error is not None or token is None:
        log.info("console.sign_in_refused")
        return render(request, "sign_in.html", {"error": error}, status=401)
    response = RedirectResponse("/console/queue", status_code=303)
    await _open_session(request, response, token, principal)
    log.info("console.signed_in", role=principal.role if principal else None)
    return response


@router.get("/sso")
async def sso_start(request: Request) -> Response:
    """Sign in with SSO: off to the provider (OIDC authorization code with PKCE)."""
    settings = _settings(request)
    if not sso.configured(settings):
        raise NotFound("single sign-on is not configured")
    endpoints = await sso.discover(settings)
    response = RedirectResponse("/console/sign-in", status_code=303)
    response.headers["location"] = sso.start(request, settings, endpoints, response)
    return response


@router.get("/sso/callback", name="sso_callback")
async def sso_callback(request: Request) -> Response:
    """Back from the provider: check state, exchange the code, sign in with the access token."""
    settings = _settings(request)
    if not sso.configured(settings):
        raise NotFound("single sign-on is not configured")
    params = request.query_params
    if params.get("error"):
        log.info("console.sso_refused")
        return render(
            request, "sign_in.html", {"error": "The sign-in provider did not sign you in."}, status=401
        )
    started = sso.pending(request, settings)
    state, code = params.get("state") or "", params.get("code") or ""
    if not code or not hmac.compare_digest(state.encode(), started["state"].encode()):
        raise Invalid("the sign-in does not match the one started here; start again")
    token = await sso.exchange(request, settings, code, started["verifier"])
    try:
        principal = await authenticate(_db(request), settings, token)
    except (Unauthorized, Forbidden) as err:
        log.info("console.sign_in_refused", via="sso")
        message = (
            err.message if isinstance(err, Forbidden) else "The sign-in provider's token was not accepted."
        )
        return render(request, "sign_in.html", {"error": message}, status=401)
    if principal.role not in STAFF_ROLES:
        return render(request, "sign_in.html", {"error": NOT_STAFF}, status=401)
    # A same-site page, not a redirect: a Strict cookie set on the way back from another site is
    # only sent once the browser navigates from a page of this site.
    response = render(request, "sso_continue.html", {"title": "Signed in"})
    await _open_session(request, response, token, principal)
    response.delete_cookie(sso.SSO_COOKIE, path=security.PATH)
    log.info("console.signed_in", role=principal.role, via="sso")
    return response


async def _open_session(
    request: Request, response: Response, token: str, principal: Principal | None
) -> None:
    """A new server-side session for this sign-in, and its sealed cookie on ``response``."""
    settings = _settings(request)
    session_id = security.new_session_id()
    await _db(request).run(
        console_sessions.open_session,
        security.session_key(session_id),
        staff_id=principal.staff_id if principal else None,
        now=security.now(),
        hours=settings.console_session_hours,
    )
    security.set_session(response, settings, session_id, token)


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    """End the session server-side (a copy of the cookie opens nothing after this) and clear it."""
    await _form(request)
    settings = _settings(request)
    sealed = security.unseal(settings, request.cookies.get(security.SESSION_COOKIE))
    if sealed is not None:
        await _db(request).run(console_sessions.end_session, sealed.key)
        log.info("console.signed_out")
    response = RedirectResponse("/console/sign-in", status_code=303)
    security.clear_session(response, settings)
    return response


# ---------------------------------------------------------------- queues
async def _queue(request: Request, which: str) -> Response:
    principal = await _principal(request)
    if which != "mine":
        _require_lead(principal)
    data = await _db(request).read(views.queue, principal, which)
    part = request.query_params.get("part") == "list"
    return render(
        request,
        "_queue.html" if part else "queue.html",
        {"queue": data, "which": which, "title": QUEUES[which], "self_url": QUEUE_PATHS[which]},
        principal=principal,
    )


@router.get("/queue")
async def my_queue(request: Request) -> Response:
    return await _queue(request, "mine")


@router.get("/unassigned")
async def unassigned(request: Request) -> Response:
    return await _queue(request, "unassigned")


@router.get("/team")
async def team_queue(request: Request) -> Response:
    return await _queue(request, "team")


# ---------------------------------------------------------------- interaction page
async def _interaction_page(
    request: Request,
    principal: Principal,
    interaction_id: str,
    *,
    error: str | None = None,
    status: int = 200,
    form: FormData | None = None,
) -> Response:
    db = _db(request)
    row = await db.run(interactions.require_interaction, interaction_id)
    principal.require(principal.can_read_team(row.team_id), "not a member of this interaction's team")
    data = await db.read(views.detail, row)
    can_act = True
    try:
        access.require_interaction_actor(principal, row)
    except Forbidden:
        can_act = False
    part = request.query_params.get("part") == "live" and error is None
    advice = await db.read(views.contact_advice, row) if can_act and not part else []
    return render(
        request,
        "_interaction.html" if part else "interaction.html",
        {
            "d": data,
            "can_act": can_act,
            "can_assign": principal.is_team_lead(row.team_id),
            "contact_advice": advice,
            "outcomes": OUTCOMES,
            "flags": FLAGS,
            "error": error,
            "form": form or {},
            "title": "Interaction",
        },
        principal=principal,
        status=status,
    )


@router.get("/interactions/{interaction_id}")
async def interaction_page(interaction_id: str, request: Request) -> Response:
    principal = await _principal(request)
    return await _interaction_page(request, principal, interaction_id)


async def _interaction_action(
    request: Request,
    interaction_id: str,
    check: Callable[[Principal, Any], None],
    act: Callable[
        [Principal, Any, FormData, Client],
        Awaitable[tuple[BaseModel | None, Callable[[str], Awaitable[BaseModel]]]],
    ],
    done: str,
) -> Response:
    form = await _form(request)  # cross-site and CSRF checks first
    principal = await _principal(request)
    db = _db(request)
    try:
        row = await db.run(interactions.require_interaction, interaction_id)
        check(principal, row)
        client = await _temporal(request)
        body, action = await act(principal, row, form, client)
        await idempotency.once(db, request, principal, _key(form), body, action)
    except WorkflowUpdateFailedError as exc:
        err = from_update_failure(exc)
        return await _interaction_page(
            request, principal, interaction_id, error=err.message, status=errors.status_of(err), form=form
        )
    except DomainError as err:
        if isinstance(err, Forbidden):
            raise
        return await _interaction_page(
            request, principal, interaction_id, error=err.message, status=errors.status_of(err), form=form
        )
    back = _text(form, "back")
    if back in QUEUE_PATHS:
        return RedirectResponse(f"{QUEUE_PATHS[back]}?done={done}", status_code=303)
    return RedirectResponse(f"/console/interactions/{interaction_id}?done={done}", status_code=303)


def _actor_check(principal: Principal, row: Any) -> None:
    access.require_interaction_actor(principal, row)


def _assigner_check(principal: Principal, row: Any) -> None:
    access.require_assigner(principal, row.team_id)


@router.post("/interactions/{interaction_id}/attempt")
async def record_attempt(interaction_id: str, request: Request) -> Response:
    async def act(principal: Principal, row: Any, form: FormData, client: Client) -> Any:
        body = _build(
            AttemptCreate,
            {
                "outcome": _text(form, "outcome"),
                "note": _text(form, "note"),
                "override_reason": _text(form, "override_reason"),
            },
        )
        settings = _settings(request)

        async def action(key: str) -> BaseModel:
            done = await interactions.record_attempt(
                _db(request),
                client,
                settings,
                row,
                outcome=body.outcome,
                note=body.note,
                override_reason=body.override_reason,
                actor_id=principal.actor_id,
                key=key,
            )
            return await _db(request).read(presenters.interaction, done)

        return body, action

    return await _interaction_action(request, interaction_id, _actor_check, act, "attempt")


@router.post("/interactions/{interaction_id}/flag")
async def flag(interaction_id: str, request: Request) -> Response:
    async def act(principal: Principal, row: Any, form: FormData, client: Client) -> Any:
        body = _build(FlagCreate, {"flag": _text(form, "flag"), "note": _text(form, "note")})
        settings = _settings(request)

        async def action(key: str) -> BaseModel:
            done = await interactions.flag(
                _db(request),
                client,
                settings,
                row,
                flag=body.flag,
                note=body.note,
                actor_id=principal.actor_id,
                key=key,
            )
            return await _db(request).read(presenters.interaction, done)

        return body, action

    return await _interaction_action(request, interaction_id, _actor_check, act, "flag")


@router.post("/interactions/{interaction_id}/resolve")
async def resolve(interaction_id: str, request: Request) -> Response:
    async def act(principal: Principal, row: Any, form: FormData, client: Client) -> Any:
        body = _build(ResolveCreate, {"resolution": _text(form, "resolution")})
        settings = _settings(request)

        async def action(key: str) -> BaseModel:
            done = await interactions.resolve(
                _db(request),
                client,
                settings,
                row,
                resolution=body.resolution,
                actor_id=principal.actor_id,
                key=key,
            )
            return await _db(request).read(presenters.interaction, done)

        return body, action

    return await _interaction_action(request, interaction_id, _actor_check, act, "resolved")


@router.post("/interactions/{interaction_id}/assign")
async def assign(interaction_id: str, request: Request) -> Response:
    async def act(principal: Principal, row: Any, form: FormData, client: Client) -> Any:
        body = _build(
            AssignCreate, {"assignee_id": _text(form, "assignee_id"), "reason": _text(form, "reason") or ""}
        )
        settings = _settings(request)

        async def action(key: str) -> BaseModel:
            done = await interactions.assign(
                _db(request),
                client,
                settings,
                row,
                assignee_id=body.assignee_id,
                reason=body.reason,
                actor_id=principal.actor_id,
                key=key,
            )
            return await _db(request).read(presenters.interaction, done)

        return body, action

    return await _interaction_action(request, interaction_id, _assigner_check, act, "assigned")


# ---------------------------------------------------------------- escalations
async def _escalations_page(
    request: Request,
    principal: Principal,
    *,
    error: str | None = None,
    status: int = 200,
    form: FormData | None = None,
) -> Response:
    _require_lead(principal)
    items, tz = await _db(request).read(views.escalations, principal)
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
    principal = await _principal(request)
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
    form = await _form(request)  # cross-site and CSRF checks first
    principal = await _principal(request)
    db = _db(request)
    try:
        row = await db.run(escalations.require_escalation, escalation_id)
        principal.require(principal.can_read_team(row.team_id), "not a member of this escalation's team")
        access.require_escalation_actor(principal, row, owner_may=owner_may)
        client = await _temporal(request)
        body, action = make(principal, row, form, client)
        await idempotency.once(db, request, principal, _key(form), body, action)
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
    back = _text(form, "back")
    if back == "interaction":
        return RedirectResponse(f"/console/interactions/{row.interaction_id}?done={done}", status_code=303)
    return RedirectResponse(f"/console/escalations?done={done}", status_code=303)


@router.post("/escalations/{escalation_id}/acknowledge")
async def acknowledge(escalation_id: str, request: Request) -> Response:
    def make(principal: Principal, row: Any, form: FormData, client: Client) -> Any:
        body = _build(AcknowledgeCreate, {"note": _text(form, "note")})
        settings = _settings(request)

        async def action(key: str) -> BaseModel:
            done = await escalations.acknowledge(
                _db(request), client, settings, row, principal, note=body.note, key=key
            )
            return await _db(request).read(presenters.escalation_detail, done)

        return body, action

    return await _escalation_action(request, escalation_id, False, make, "acknowledged")


@router.post("/escalations/{escalation_id}/resolve")
async def resolve_escalation(escalation_id: str, request: Request) -> Response:
    def make(principal: Principal, row: Any, form: FormData, client: Client) -> Any:
        action_taken, outcome = _text(form, "action_taken"), _text(form, "outcome")
        missing = [n for n, v in (("Action taken", action_taken), ("Outcome", outcome)) if v is None]
        if missing:
            raise Invalid(f"{' and '.join(missing)}: required to resolve an escalation")
        body = _build(EscalationResolveCreate, {"action_taken": action_taken, "outcome": outcome})
        settings = _settings(request)

        async def action(key: str) -> BaseModel:
            done = await escalations.resolve(
                _db(request),
                client,
                settings,
                row,
                principal,
                action_taken=body.action_taken,
                outcome=body.outcome,
                key=key,
            )
            return await _db(request).read(presenters.escalation_detail, done)

        return body, action

    return await _escalation_action(request, escalation_id, True, make, "escalation-resolved")


# ---------------------------------------------------------------- absences
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
    data = await _db(request).read(views.absences, principal)
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
    principal = await _principal(request)
    return await _absences_page(request, principal)


async def _absence_body(request: Request, principal: Principal, form: FormData) -> AbsenceCreate:
    tz = await _db(request).run(views.team_timezone, principal.team_id)
    staff_id = _text(form, "staff_id") or (principal.staff_id if principal.role == "chw" else None)
    body = _build(
        AbsenceCreate,
        {
            "staff_id": staff_id,
            "backup_id": _text(form, "backup_id"),
            "starts_at": _local_time(_text(form, "starts_at"), tz, "Starts"),
            "ends_at": _local_time(_text(form, "ends_at"), tz, "Ends"),
            "reason": _text(form, "reason"),
        },
    )
    # Who may plan it first: another team's staff id and an unknown one get the same answer.
    await _db(request).run(absences.planned_staff, principal, body.staff_id)
    return body


@router.post("/absences/preview")
async def absence_preview(request: Request) -> Response:
    """Before saving: the open cases that will move to the backup (or Unassigned)."""
    form = await _form(request)  # cross-site and CSRF checks first
    principal = await _principal(request)
    try:
        body = await _absence_body(request, principal, form)
    except DomainError as err:
        if isinstance(err, Forbidden):
            raise
        return await _absences_page(
            request, principal, error=err.message, status=errors.status_of(err), form=form
        )
    moving = await _db(request).read(views.absence_preview, body.staff_id)
    return await _absences_page(
        request, principal, form=form, preview=moving, backup_name=body.backup_id or ""
    )


@router.post("/absences")
async def plan_absence(request: Request) -> Response:
    form = await _form(request)  # cross-site and CSRF checks first
    principal = await _principal(request)
    db = _db(request)
    try:
        body = await _absence_body(request, principal, form)
        client = await _temporal(request)
        settings = _settings(request)

        async def action(key: str) -> BaseModel:
            row = await absences.create_absence(
                db, client, settings, body, actor_id=principal.actor_id, key=key
            )
            return (await db.read(presenters.absences, [row]))[0]

        await idempotency.once(db, request, principal, _key(form), body, action, status_code=201)
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
    form = await _form(request)  # cross-site and CSRF checks first
    principal = await _principal(request)
    db = _db(request)
    try:
        row = await db.run(absences.require_absence, absence_id)
        principal.require(principal.can_read_team(row.team_id), "not a member of this absence's team")
        access.require_absence_manager(principal, row)
        client = await _temporal(request)
        body, action = await change(principal, row, form, client)
        await idempotency.once(db, request, principal, _key(form), body, action)
    except DomainError as err:
        if isinstance(err, Forbidden):
            raise
        return await _absences_page(request, principal, error=err.message, status=errors.status_of(err))
    return RedirectResponse(f"/console/absences?done={done}", status_code=303)


@router.post("/absences/{absence_id}/change")
async def change_absence(absence_id: str, request: Request) -> Response:
    """Extend or shorten: a new end."""

    async def change(principal: Principal, row: Any, form: FormData, client: Client) -> Any:
        tz = await _db(request).run(views.team_timezone, row.team_id)
        body = _build(AbsenceUpdate, {"ends_at": _local_time(_text(form, "ends_at"), tz, "New end")})
        settings = _settings(request)

        async def action(key: str) -> BaseModel:
            done = await absences.change_absence_end(
                _db(request), client, settings, row, body.ends_at, actor_id=principal.actor_id, key=key
            )
            return await _db(request).read(presenters.absence, done)

        return body, action

    return await _absence_change(request, absence_id, change, "absence-changed")


@router.post("/absences/{absence_id}/cancel")
async def cancel_absence(absence_id: str, request: Request) -> Response:
    async def change(principal: Principal, row: Any, form: FormData, client: Client) -> Any:
        settings = _settings(request)

        async def action(key: str) -> BaseModel:
            done = await absences.cancel_absence(
                _db(request), client, settings, row, actor_id=principal.actor_id, key=key
            )
            return await _db(request).read(presenters.absence, done)

        return None, action

    return await _absence_change(request, absence_id, change, "absence-cancelled")


# ---------------------------------------------------------------- report
def _day(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{name}: expected a date such as 2026-11-01") from None


@router.get("/report")
async def report(request: Request) -> Response:
    principal = await _principal(request)
    team_id = principal.team_id or ""
    access.require_report_reader(principal, team_id)
    db = _db(request)
    tz = ZoneInfo(await db.run(views.team_timezone, team_id))
    today = datetime.now(UTC).astimezone(tz).date()
    first = _day(request.query_params.get("from"), "From") or today - timedelta(days=29)
    last = _day(request.query_params.get("to"), "To") or today
    if last < first:
        raise Invalid("To: must not be before From")
    start = datetime.combine(first, time(0), tzinfo=tz)
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=tz)
    sla = await db.read(reports.sla_report, team_id, start, end)
    spread = await db.read(reports.first_response_distribution, team_id, start, end)
    on_time = charts.bars(
        "On time and late first responses per channel",
        [(c, (r.answered_on_time, r.answered_late)) for c, r in sla.channels.items()],
        ("on time", "late"),
        chart_id="chart-on-time",
    )
    distribution = charts.bars(
        "First responses by time taken (open hours)",
        [(k, (v,)) for k, v in spread.items()],
        ("interactions",),
        chart_id="chart-first-response",
    )
    by_trigger = charts.bars(
        "Escalations by trigger",
        [(k, (v,)) for k, v in sorted(sla.escalations_by_trigger.items())] or [("none", (0,))],
        ("escalations",),
        chart_id="chart-triggers",
    )
    return render(
        request,
        "report.html",
        {
            "sla": sla,
            "spread": spread,
            "first": first.isoformat(),
            "last": last.isoformat(),
            "charts": (on_time, distribution, by_trigger),
            "title": "Report",
        },
        principal=principal,
    )


# ---------------------------------------------------------------- live updates
@router.get("/events")
async def events(request: Request) -> Response:
    """Server-sent events: ``change`` whenever anything of the caller's team changes.

    The stream ends after a few minutes and the browser reconnects, so the session is checked
    again; it is exempt from the request deadline (``api.errors.STREAM_PATHS``).
    """
    principal = await _principal(request)
    feeds: live.ChangeFeeds = request.app.state.console_feeds
    team_id = principal.team_id or ""

    async def stream() -> AsyncIterator[str]:
        yield "retry: 1000\n\n"
        async with feeds.subscribe(team_id) as feed:
            seen = feed.version
            loop = asyncio.get_running_loop()
            ends = loop.time() + EVENT_STREAM_SECONDS
            while loop.time() < ends:
                now = await feed.wait(seen, within=KEEPALIVE_SECONDS)
                if await request.is_disconnected():
                    return
                if now != seen:
                    seen = now
                    yield "event: change\ndata: {}\n\n"
                else:
                    yield ": keep-alive\n\n"

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


# ---------------------------------------------------------------- wiring
def install(app: FastAPI) -> None:
    """Mount the console: its routes, static files, and HTML answers for errors under /console."""
    app.state.console_feeds = live.ChangeFeeds(app.state.db, interval=EVENT_POLL_SECONDS)
    app.include_router(router)
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")

    def html_error(request: Request, status: int, message: str) -> Response:
        if status == 401:
            return RedirectResponse("/console/sign-in", status_code=303)
        title = {403: "Not allowed", 404: "Not found", 422: "Check your input"}.get(
            status, "Something went wrong"
        )
        principal = getattr(request.state, "console_principal", None)
        return render(
            request, "error.html", {"title": title, "message": message}, principal=principal, status=status
        )

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, _: SignInRequired) -> Response:
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": "/console/sign-in"})
        if request.url.path == "/console/events":
            return Response(status_code=204)
        return RedirectResponse("/console/sign-in", status_code=303)

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Response:
        if request.url.path.startswith("/console"):
            return html_error(request, errors.status_of(exc), exc.message)
        return errors.respond(exc)

    api_validation = app.exception_handlers[RequestValidationError]

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        if request.url.path.startswith("/console"):
            return html_error(request, 422, "invalid input")
        response: Response = await api_validation(request, exc)  # type: ignore[misc]
        return response

    @app.exception_handler(WorkflowUpdateFailedError)
    async def _update_failed(request: Request, exc: WorkflowUpdateFailedError) -> Response:
        err = from_update_failure(exc)
        if request.url.path.startswith("/console"):
            return html_error(request, errors.status_of(err), err.message)
        return errors.respond(err)
