"""The console's session cookie and CSRF protection.

The session cookie holds the bearer token the person signed in with and a random session id,
sealed (Fernet: AES and HMAC) with a key derived from ``console_session_key``: the browser cannot
read it and nobody can forge it. Every request unseals it, checks that its session is still open
in the database (``store.console_sessions``: sign-out deletes it, and it lasts at most
``console_session_hours``), and turns the token into a ``Principal`` with
``services.auth.authenticate``, exactly as the API does with a bearer header, so a revoked token
or a demoted lead takes effect on the next click, and a copied cookie dies with its session.

Every answer under ``/console`` carries ``SECURITY_HEADERS`` (``ConsoleSecurityHeaders``): a
Content-Security-Policy that allows scripts, styles and connections from this origin only (the
console has no inline script or style, and htmx runs with ``allowEval`` off) and no framing.

CSRF: a random token in a second cookie (``SameSite=Strict``, HttpOnly) must come back in every
form (hidden field ``csrf``) or htmx request (header ``X-CSRF-Token``); a request that a browser
marks as cross-site (``Sec-Fetch-Site``) or whose ``Origin`` is another site is refused first.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from fastapi import Request
from fastapi.responses import Response
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


def now() -> datetime:
    """The wall clock the session seal and the session record go by."""
    return datetime.fromtimestamp(time.time(), UTC)


@dataclass(frozen=True)
class SealedSession:
    """What a session cookie holds: the session's id (its record is keyed by ``key``) and the token."""

    session_id: str
    token: str

    @property
    def key(self) -> str:
        return session_key(self.session_id)


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def session_key(session_id: str) -> str:
    """The session record's key: the SHA-256 of the cookie's session id, never the id itself."""
    return hashlib.sha256(session_id.encode()).hexdigest()


def seal(settings: Settings, session_id: str, token: str) -> str:
    payload = json.dumps({"kind": "console-session", "sid": session_id, "token": token})
    return fernet(settings).encrypt_at_time(payload.encode(), int(now().timestamp())).decode()


def unseal(settings: Settings, cookie: str | None) -> SealedSession | None:
    """The session in a cookie, or None when absent, forged, of another kind (the SSO cookie is
    sealed with the same key) or older than the session lifetime. Whether the session is still
    open is the database's to say (``store.console_sessions.is_live``)."""
    if not cookie:
        return None
    try:
        ttl = int(settings.console_session_hours * 3600)
        raw = fernet(settings).decrypt_at_time(cookie.encode(), ttl, int(now().timestamp()))
        data = json.loads(raw)
    except (InvalidToken, ValueError):
        return None
    if not isinstance(data, dict) or data.get("kind") != "console-session":
        return None
    sid, token = data.get("sid"), data.get("token")
    if not (isinstance(sid, str) and sid and isinstance(token, str) and token):
        return None
    return SealedSession(sid, token)


def set_session(response: Response, settings: Settings, session_id: str, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        seal(settings, session_id, token),
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


# ---------------------------------------------------------------- response headers
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


class ConsoleSecurityHeaders:
    """Every answer under ``/console`` (pages, redirects, errors, static files, the event stream)
    carries ``SECURITY_HEADERS``; pages also ``Cache-Control: no-store`` unless they set their own
    (they show member data: no shared or back-button cache keeps it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == PATH or path.startswith(PATH + "/")):
            await self.app(scope, receive, send)
            return
        static = path.startswith(PATH + "/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
                if not static and "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, with_headers)
