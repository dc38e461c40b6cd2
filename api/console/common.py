"""What every console page shares: the signed-in person, checked forms, rendering, answers.

The console's pages (``api.console.sign_in``, ``queues``, ``interaction``, ``escalations``,
``absences``, ``report``, ``live``) call the same services as the API (``services.*``: their
commands check access, run once per operation and keep member text in SQL), so validation,
roles and repeat-safety are the API's. Pages only read the form, call one method and render.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import structlog
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData
from temporalio.client import WorkflowUpdateFailedError

from api import errors, idempotency
from api.console import labels, security, sso, views
from api.console.form_errors import FormProblems, plain, problems_of
from config.settings import Settings
from domain.errors import DomainError, Forbidden, Invalid, Unauthorized
from services.access import Principal
from services.auth import authenticate
from services.common import from_update_failure
from services.console_sessions import ConsoleSessions
from services.context import Context
from services.db import Database
from services.operations import Operation
from services.queues import Queues
from services.staffing import Teams

log = structlog.get_logger(__name__)

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
# Every vocabulary, name and zone a template shows goes through api.console.labels.
templates.env.filters["label"] = labels.label
templates.env.filters["zones_in"] = labels.zones_in
templates.env.globals["zone"] = labels.zone

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R")
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
    "linked": "Case linked to the member.",
    "acknowledged": "Escalation acknowledged.",
    "escalation-resolved": "Escalation resolved.",
    "absence-planned": "Absence planned.",
    "absence-changed": "Absence changed.",
    "absence-cancelled": "Absence cancelled.",
    # Save and next (api.console.queues.next_in_queue): said on the next case, or on the queue.
    "attempt-next": "Attempt recorded. This is the next case in your queue.",
    "resolved-next": "Interaction resolved. This is the next case in your queue.",
    "queue-done-attempt": "Attempt recorded. Nothing else is open in this queue.",
    "queue-done-resolved": "Interaction resolved. Nothing else is open in this queue.",
}
QUEUES = {"mine": "My queue", "unassigned": "Unassigned", "team": "Team queue"}
QUEUE_PATHS = {"mine": "/console/queue", "unassigned": "/console/unassigned", "team": "/console/team"}


class SignInRequired(Exception):
    pass


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def db_of(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def signed_in(request: Request) -> Principal:
    """The signed-in person, re-derived from the sealed token on every request, while the
    session is open (not signed out, not older than ``console_session_hours``)."""
    settings = settings_of(request)
    sealed = security.unseal(settings, request.cookies.get(security.SESSION_COOKIE))
    if sealed is None:
        raise SignInRequired
    live = await ConsoleSessions(context_of(request)).is_live(sealed.key, now=security.now())
    if not live:
        raise SignInRequired
    token = sealed.token
    try:
        principal = await authenticate(db_of(request), settings, token)
    except (Unauthorized, Forbidden):
        raise SignInRequired from None
    if principal.role not in STAFF_ROLES:
        raise SignInRequired
    idempotency.remember_credential(request, settings, token)
    # The team's staff, so that every page shows people's names rather than their ids.
    if principal.team_id:
        staff = await Teams(context_of(request)).list_staff(principal, principal.team_id)
        request.state.people = labels.People(staff.items)
        if page_request(request):
            request.state.counts = await Queues(context_of(request)).counts(principal)
    return principal


def page_request(request: Request) -> bool:
    """A whole page (its navigation shows counts), not a live part, the event stream or an action."""
    live_part = "part" in request.query_params or request.url.path in ("/console/events", "/console/nav")
    return request.method == "GET" and not live_part


def require_lead(principal: Principal) -> None:
    principal.require(principal.role in LEADS, "this page is for leads and managers")


def _nav(principal: Principal, counts: dict[str, int] | None = None) -> list[tuple[str, str, int | None]]:
    """The navigation: each page, with the count it holds where there is one (My queue's open
    cases, Unassigned, unresolved Escalations), kept live by ``/console/nav``."""
    got = counts or {}
    items: list[tuple[str, str, int | None]] = []
    if principal.role in LEADS:
        items.append(("Team", "/console/overview", None))
    items.append(("My queue", "/console/queue", got.get("mine")))
    if principal.role in LEADS:
        items += [
            ("Unassigned", "/console/unassigned", got.get("unassigned")),
            ("Team queue", "/console/team", None),
            ("Escalations", "/console/escalations", got.get("escalations")),
        ]
    items.append(("Absences", "/console/absences", None))
    if principal.role in LEADS:
        items.append(("Report", "/console/report", None))
    return items


def landing(principal: Principal) -> str:
    """Where a person lands after signing in: a lead or manager on the Team page, a CHW on My queue."""
    return "/console/overview" if principal.role in LEADS else "/console/queue"


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    principal: Principal | None = None,
    status: int = 200,
) -> HTMLResponse:
    settings = settings_of(request)
    done = request.query_params.get("done")
    ctx = {
        "csrf": security.csrf_token(request),
        "principal": principal,
        "nav": _nav(principal, getattr(request.state, "counts", None)) if principal else [],
        # Open safety escalations the person works on: in the title and the navigation of every page.
        "safety": (getattr(request.state, "counts", None) or {}).get("safety", 0) if principal else 0,
        "safety_href": "/console/escalations" if principal and principal.role in LEADS else "/console/queue",
        "path": request.url.path,
        "flash": FLASH.get(done or ""),
        "new_key": uuid.uuid4().hex,
        "sso": sso.configured(settings),
        "local": views.local,
        "who": getattr(request.state, "people", None) or labels.People(),
        # A refused form: each field's problem in plain words, shown beside it.
        "problems": getattr(request.state, "problems", None) or {},
        **context,
    }
    response = templates.TemplateResponse(request, name, ctx, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    security.ensure_csrf_cookie(request, response, settings)
    return response


def build(model: type[M], data: dict[str, Any]) -> M:
    """The form's fields as ``model``; refused in plain words, field by field
    (``api.console.form_errors``)."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise FormProblems(plain(err)) from None


def text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    if not isinstance(value, str) or not value.strip():
        return None
    return value


async def checked_form(request: Request) -> FormData:
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


def form_key(form: FormData) -> str | None:
    key = text(form, "key")
    if key is not None and len(key) > 200:
        raise Invalid("key: at most 200 characters")
    return key


def context_of(request: Request) -> Context:
    ctx: Context = request.app.state.context
    return ctx


def operation(request: Request, form: FormData) -> Operation:
    """The action this form asks for, once per its ``key`` (a hidden field of every form)."""
    return idempotency.operation_of(request, form_key(form))


async def refused(
    request: Request,
    principal: Principal,
    err: DomainError,
    form: FormData,
    again: Callable[[Principal, str, int, FormData], Awaitable[Response]],
) -> Response:
    """The page shown ``again`` with the form as typed: the problem of each field beside it
    (``problems``), anything else above the form; the page puts its own address back in the
    address bar (``page_url`` in base.html), so the browser never stays on the POST endpoint."""
    fields = dict(problems_of(err))
    general = fields.pop("", "")  # a problem of the whole form, not of one field
    request.state.problems = fields
    message = general or ("" if fields else err.message)
    return await again(principal, message, errors.status_of(err), form)


async def act(
    request: Request,
    run: Callable[[Principal, FormData, Operation], Awaitable[R]],
    *,
    again: Callable[[Principal, str, int, FormData], Awaitable[Response]],
    then: Callable[[FormData, R], str],
) -> Response:
    """A form's action: checks (cross-site, CSRF, signed in), then ``run`` (one service command);
    a refusal shows the page ``again`` with the message beside the form, success goes to ``then``.

    A 403 is not the form's fault: it becomes the error page."""
    form = await checked_form(request)  # cross-site and CSRF checks first
    principal = await signed_in(request)
    try:
        result = await run(principal, form, operation(request, form))
    except WorkflowUpdateFailedError as exc:
        err = from_update_failure(exc)
        return await refused(request, principal, err, form, again)
    except DomainError as err:
        if isinstance(err, Forbidden):
            raise
        return await refused(request, principal, err, form, again)
    return RedirectResponse(then(form, result), status_code=303)
