"""Actions that are safe to repeat: the ``Idempotency-Key`` header.

A key is scoped to the credential the caller came with (``credential_of``) and the route it was
sent to (``operation_of``: credential | METHOD | path | key), so another backend's key never
meets it; the service command runs the ``Operation`` it names at most once
(``services.operations.once``): every id the action creates (the workflow update id, an attempt
id) derives from it, a repeat answers the stored answer again (``Idempotent-Replayed: true``,
``answer``), a refused action (4xx) is not stored, and the same key with a different body is
refused with 422. Stored answers are purged after ``IDEMPOTENCY_RETENTION_HOURS``
(``workers.retention``).
"""

from __future__ import annotations

import hashlib
from typing import Any

import jwt
from fastapi import Request
from fastapi.responses import JSONResponse

from config.production import token_digest
from config.settings import Settings
from services.auth import looks_like_jwt, static_grant
from services.operations import Answer, Operation


def credential_of(settings: Settings, token: str) -> str:
    """A stable, opaque name of the credential ``token`` (already authenticated) is: the scope of
    its Idempotency-Keys, so two backends that pick the same key never meet (issue 23).

    A static or service token is named by its SHA-256 (what the settings or the service-token
    table hold for it: it names that one token as its id does); an OpenID Connect token by its
    issuer and subject, so a refreshed access token of the same person keeps the scope. Never the
    token itself.
    """
    token = token.strip()
    if looks_like_jwt(token) and static_grant(settings, token) is None:
        # ``authenticate`` verified this very token (signature, issuer, audience, expiry).
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            claims = {}
        issuer, subject = claims.get("iss"), claims.get("sub")
        if isinstance(issuer, str) and isinstance(subject, str) and subject:
            return "oidc:" + hashlib.sha256(f"{issuer}\x00{subject}".encode()).hexdigest()
    return "token:" + token_digest(token)


def remember_credential(request: Request, settings: Settings, token: str) -> None:
    """Record who ``token`` is for this request (``operation_of`` scopes its keys by it)."""
    request.state.credential = credential_of(settings, token)


def operation_of(request: Request, key: str | None) -> Operation:
    """The operation ``key`` names for this caller at this route (``services.operations``)."""
    credential: str | None = getattr(request.state, "credential", None)
    if credential is None:  # every caller authenticates first; never fall back to a shared scope
        raise RuntimeError("an idempotent action without a recorded credential")
    return Operation.scoped(credential, f"{request.method}|{request.url.path}", key)


def answer(result: Answer[Any]) -> JSONResponse:
    """A command's answer as JSON; a stored answer says so (``Idempotent-Replayed: true``)."""
    headers = {"Idempotent-Replayed": "true"} if result.replayed else None
    return JSONResponse(result.body(), status_code=result.status, headers=headers)
