"""Signing in and out: a token, or single sign-on (OIDC), opens a server-side session."""

from __future__ import annotations

import hmac

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from api.console import security, sso
from api.console.common import (
    NOT_STAFF,
    STAFF_ROLES,
    SignInRequired,
    checked_form,
    context_of,
    db_of,
    landing,
    render,
    settings_of,
    signed_in,
    text,
)
from domain.errors import Forbidden, Invalid, NotFound, Unauthorized
from services.access import Principal
from services.auth import authenticate
from services.console_sessions import ConsoleSessions

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/console", include_in_schema=False)


@router.get("")
@router.get("/")
async def home(request: Request) -> Response:
    try:
        principal = await signed_in(request)
    except SignInRequired:
        return RedirectResponse("/console/sign-in", status_code=303)
    return RedirectResponse(landing(principal), status_code=303)


@router.get("/sign-in")
async def sign_in_page(request: Request) -> Response:
    return render(request, "sign_in.html", {"error": None})


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    form = await checked_form(request)
    token = text(form, "token")
    settings = settings_of(request)
    error = None
    principal = None
    if token is None:
        error = "Enter your token."
    else:
        try:
            principal = await authenticate(db_of(request), settings, token)
        except (Unauthorized, Forbidden):
            error = "That token was not accepted."
    if principal is not None and principal.role not in STAFF_ROLES:
        error = NOT_STAFF
    if error is not None or token is None:
        log.info("console.sign_in_refused")
        return render(request, "sign_in.html", {"error": error}, status=401)
    # A lead or manager lands on the Team page, a CHW on My queue.
    response = RedirectResponse(landing(principal) if principal else "/console/queue", status_code=303)
    await _open_session(request, response, token, principal)
    log.info("console.signed_in", role=principal.role if principal else None)
    return response


@router.get("/sso")
async def sso_start(request: Request) -> Response:
    """Sign in with SSO: off to the provider (OIDC authorization code with PKCE)."""
    settings = settings_of(request)
    if not sso.configured(settings):
        raise NotFound("single sign-on is not configured")
    endpoints = await sso.discover(settings)
    response = RedirectResponse("/console/sign-in", status_code=303)
    response.headers["location"] = sso.start(request, settings, endpoints, response)
    return response


@router.get("/sso/callback", name="sso_callback")
async def sso_callback(request: Request) -> Response:
    """Back from the provider: check state, exchange the code, sign in with the access token."""
    settings = settings_of(request)
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
        principal = await authenticate(db_of(request), settings, token)
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
    response = render(request, "sso_continue.html", {"title": "Signed in", "landing": landing(principal)})
    await _open_session(request, response, token, principal)
    response.delete_cookie(sso.SSO_COOKIE, path=security.PATH)
    log.info("console.signed_in", role=principal.role, via="sso")
    return response


async def _open_session(
    request: Request, response: Response, token: str, principal: Principal | None
) -> None:
    """A new server-side session for this sign-in, and its sealed cookie on ``response``."""
    session_id = security.new_session_id()
    await ConsoleSessions(context_of(request)).open(
        security.session_key(session_id),
        staff_id=principal.staff_id if principal else None,
        now=security.now(),
    )
    security.set_session(response, settings_of(request), session_id, token)


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    """End the session server-side (a copy of the cookie opens nothing after this) and clear it."""
    await checked_form(request)
    settings = settings_of(request)
    sealed = security.unseal(settings, request.cookies.get(security.SESSION_COOKIE))
    if sealed is not None:
        await ConsoleSessions(context_of(request)).end(sealed.key)
        log.info("console.signed_out")
    response = RedirectResponse("/console/sign-in", status_code=303)
    security.clear_session(response, settings)
    return response
