"""Sign in with SSO: the OpenID Connect authorization-code flow with PKCE (public client).

``/console/sso`` sends the browser to the issuer's authorization endpoint (from its discovery
document) with ``client_id = oidc_client_id``; ``/console/sso/callback`` checks ``state``,
exchanges the code (with the PKCE verifier) for tokens at the token endpoint, and signs in with
the **access token**, which must pass exactly the check every API bearer JWT passes
(``services.auth.authenticate``: issuer, ``oidc_audience``, signature, expiry; the staff claim
names the staff member). The session then lasts as long as that token: once it expires the next
click asks to sign in again.

The state and verifier wait in a sealed, HttpOnly cookie for ten minutes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from typing import Any
from urllib.parse import urlencode

import httpx
import structlog
from cryptography.fernet import InvalidToken
from fastapi import Request
from fastapi.responses import Response

from api.console import security
from config.settings import Settings
from domain.errors import Invalid, Unavailable

log = structlog.get_logger(__name__)

SSO_COOKIE = "ft_sso"
SSO_SECONDS = 600
TIMEOUT = 5.0


def configured(settings: Settings) -> bool:
    return bool(settings.oidc_issuer and settings.oidc_audience and settings.oidc_client_id)


def callback_url(request: Request) -> str:
    return str(request.url_for("sso_callback"))


async def discover(settings: Settings) -> dict[str, Any]:
    """The issuer's discovery document (authorization and token endpoints)."""
    url = f"{(settings.oidc_issuer or '').rstrip('/')}/.well-known/openid-configuration"
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            resp = await client.get(url)
            resp.raise_for_status()
            found: dict[str, Any] = resp.json()
    except (httpx.HTTPError, ValueError) as err:
        log.warning("console.sso_discovery_failed", error_type=type(err).__name__)
        raise Unavailable("the sign-in provider cannot be reached; try again shortly") from None
    if "authorization_endpoint" not in found or "token_endpoint" not in found:
        raise Unavailable("the sign-in provider's discovery document names no endpoints")
    return found


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def start(request: Request, settings: Settings, endpoints: dict[str, Any], response: Response) -> str:
    """The authorization URL to send the browser to; stores state and verifier in a cookie."""
    state = secrets.token_urlsafe(24)
    verifier = secrets.token_urlsafe(48)
    sealed = security.fernet(settings).encrypt(json.dumps({"state": state, "verifier": verifier}).encode())
    response.set_cookie(
        SSO_COOKIE,
        sealed.decode(),
        max_age=SSO_SECONDS,
        path=security.PATH,
        httponly=True,
        samesite="lax",  # the provider's redirect back is a cross-site top-level GET
        secure=settings.console_secure_cookie,
    )
    query = {
        "response_type": "code",
        "client_id": settings.oidc_client_id,
        "redirect_uri": callback_url(request),
        "scope": "openid profile",
        "state": state,
        "code_challenge": _challenge(verifier),
        "code_challenge_method": "S256",
    }
    return f"{endpoints['authorization_endpoint']}?{urlencode(query)}"


def pending(request: Request, settings: Settings) -> dict[str, str]:
    """The state and verifier this browser started with; ``Invalid`` when absent or expired."""
    cookie = request.cookies.get(SSO_COOKIE)
    if not cookie:
        raise Invalid("the sign-in was not started here or took too long; start again")
    try:
        data: dict[str, str] = json.loads(security.fernet(settings).decrypt(cookie.encode(), ttl=SSO_SECONDS))
    except (InvalidToken, ValueError):
        raise Invalid("the sign-in was not started here or took too long; start again") from None
    return data


async def exchange(request: Request, settings: Settings, code: str, verifier: str) -> str:
    """The access token for an authorization code."""
    endpoints = await discover(settings)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": callback_url(request),
        "client_id": settings.oidc_client_id or "",
        "code_verifier": verifier,
    }
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            resp = await client.post(str(endpoints["token_endpoint"]), data=form)
    except httpx.HTTPError as err:
        log.warning("console.sso_token_failed", error_type=type(err).__name__)
        raise Unavailable("the sign-in provider cannot be reached; try again shortly") from None
    if resp.status_code != 200:
        log.info("console.sso_code_refused", status=resp.status_code)
        raise Invalid("the sign-in provider refused the sign-in; start again")
    try:
        token = resp.json()["access_token"]
    except (ValueError, KeyError):
        raise Invalid("the sign-in provider answered without an access token") from None
    if not isinstance(token, str) or not token:
        raise Invalid("the sign-in provider answered without an access token")
    return token
