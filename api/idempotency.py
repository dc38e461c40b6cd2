"""Actions that are safe to repeat: the ``Idempotency-Key`` header.

An action with a key derives every id it creates (the workflow update id, an attempt id) from
the key, scoped to the credential the caller came with (``credential_of``) and the route, so a
repeat attaches to the same update instead of applying it again, and another backend's key never
meets it. Its answer is stored, and a repeat with the same key answers it again
(``Idempotent-Replayed: true``). A refused action (4xx) is not stored: a repeat is judged anew.
Stored answers are purged after ``IDEMPOTENCY_RETENTION_HOURS`` (``workers.retention``).
The same key with a different body is refused with 422.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import jwt
from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from config.production import token_digest
from config.settings import Settings
from domain.errors import DomainError, Invalid, Unavailable
from services.access import Principal
from services.auth import looks_like_jwt, static_grant
from services.db import Database
from services.faults import crash_point
from services.operations import Answer, Operation
from store import idempotency as idem


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
    """Record who ``token`` is for this request (``once`` scopes its keys by it)."""
    request.state.credential = credential_of(settings, token)


def operation_of(request: Request, key: str | None) -> Operation:
    """The operation ``key`` names for this caller at this route (``services.operations``)."""
    credential: str | None = getattr(request.state, "credential", None)
    if credential is None:  # every caller authenticates first; never fall back to a shared scope
        raise RuntimeError("an idempotent action without a recorded credential")
    return Operation.scoped(credential, f"{request.method}|{request.url.path}", key)


def _scoped(request: Request, key: str) -> str:
    scoped = operation_of(request, key).key
    assert scoped is not None
    return scoped


def answer(result: Answer[Any]) -> JSONResponse:
    """A command's answer as JSON; a stored answer says so (``Idempotent-Replayed: true``)."""
    headers = {"Idempotent-Replayed": "true"} if result.replayed else None
    return JSONResponse(result.body(), status_code=result.status, headers=headers)


def _request_hash(body: BaseModel | None) -> str:
    raw = json.dumps(jsonable_encoder(body) if body is not None else None, sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()


async def once(
    db: Database,
    request: Request,
    principal: Principal,
    key: str | None,
    body: BaseModel | None,
    action: Callable[[str], Awaitable[BaseModel]],
    *,
    status_code: int = 200,
) -> JSONResponse:
    """Run ``action(operation_key)`` at most once per ``Idempotency-Key`` and answer its result."""
    if key is None:
        result = await action(uuid.uuid4().hex)
        return JSONResponse(jsonable_encoder(result), status_code=status_code)
    scoped = _scoped(request, key)
    try:
        stored = await db.run(idem.begin_answer, scoped, _request_hash(body))
    except idem.KeyReused as err:
        raise Invalid("this Idempotency-Key was already used with a different request") from err
    if stored is not None and stored.status is not None:
        return JSONResponse(stored.body, status_code=stored.status, headers={"Idempotent-Replayed": "true"})
    try:
        result = await action(scoped)
    except DomainError as err:
        if not isinstance(err, Unavailable):
            await db.run(idem.forget_answer, scoped)
        raise
    answer: dict[str, Any] = jsonable_encoder(result)
    crash_point("after_update_before_answer")
    await db.run(idem.finish_answer, scoped, status_code, answer)
    return JSONResponse(answer, status_code=status_code)
