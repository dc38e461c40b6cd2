"""The console's session cookie and CSRF protection.

The session cookie holds the bearer token the person signed in with, sealed (Fernet: AES and
HMAC) with a key derived from ``console_session_key``: the browser cannot read it and nobody can
forge it. Every request unseals it and turns the token into a ``Principal`` with
``services.auth.authenticate``, exactly as the API does with a bearer header, so a revoked token
or a demoted lead takes effect on the next click.

CSRF: a random token in a second cookie (``SameSite=Strict``, HttpOnly) must come back in every
form (hidden field ``csrf``) or htmx request (header ``X-CSRF-Token``); a request that a browser
marks as cross-site (``Sec-Fetch-Site``) or whose ``Origin`` is another site is refused first.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from fastapi import Request
from fastapi.responses import Response

from config.settings import Settings

SESSION_COOKIE = "ft_session"
CSRF_COOKIE = "ft_csrf"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
PATH = "/console"

# One random key per process when none is configured (a restart signs everybody out).
_PROCESS_KEY = secrets.token_urlsafe(32)


@lru_cache(maxsize=8)
def _fernet(secret: str) -> Fernet:
    derived = hashlib.sha256(b"followthrough-console-session\x00" + secret.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(derived))


def fernet(settings: Settings) -> Fernet:
    return _fernet(settings.console_session_key or _PROCESS_KEY)


def seal(settings: Settings, token: str) -> str:
    return fernet(settings).encrypt(token.encode()).decode()


def unseal(settings: Settings, cookie: str | None) -> str | None:
    """The token in a session cookie, or None when absent, forged or older than the session lifetime."""
    if not cookie:
        return None
    try:
        ttl = int(settings.console_session_hours * 3600)
        return fernet(settings).decrypt(cookie.encode(), ttl=ttl).decode()
    except (InvalidToken, ValueError):
        return None


def set_session(response: Response, settings: Settings, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        seal(settings, token),
        max_age=int(settings.console_session_hours * 3600),
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=settings.console_secure_cookie,
    )


def clear_session(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path=PATH, httponly=True, samesite="strict", secure=settings.console_secure_cookie
    )


def csrf_token(request: Request) -> str:
    """This browser's CSRF token (made on first use; ``ensure_csrf_cookie`` stores it)."""
    existing = request.cookies.get(CSRF_COOKIE)
    if existing and 20 <= len(existing) <= 100:
        return existing
    made: str | None = getattr(request.state, "csrf_made", None)
    if made is None:
        made = secrets.token_urlsafe(32)
        request.state.csrf_made = made
    return made


def ensure_csrf_cookie(request: Request, response: Response, settings: Settings) -> None:
    made: str | None = getattr(request.state, "csrf_made", None)
    if made is not None:
        response.set_cookie(
            CSRF_COOKIE,
            made,
            path=PATH,
            httponly=True,
            samesite="strict",
            secure=settings.console_secure_cookie,
        )


def same_site(request: Request) -> bool:
    """False when the browser says the request came from another site."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is not None:
        expected = f"{request.url.scheme}://{request.url.netloc}"
        host = request.headers.get("host")
        allowed = {expected} | ({f"http://{host}", f"https://{host}"} if host else set())
        if origin not in allowed:
            return False
    return True


def csrf_ok(request: Request, submitted: str | None) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE)
    sent = submitted or request.headers.get(CSRF_HEADER)
    if not cookie or not sent:
        return False
    return hmac.compare_digest(cookie.encode(), sent.encode())
