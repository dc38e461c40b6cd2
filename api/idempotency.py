"""Actions that are safe to repeat: the ``Idempotency-Key`` header.

An action with a key derives every id it creates (the workflow update id, an attempt id) from
the key, scoped to the caller and the route, so a repeat attaches to the same update instead of
applying it again. Its answer is stored, and a repeat with the same key answers it again
(``Idempotent-Replayed: true``). A refused action (4xx) is not stored: a repeat is judged anew.
The same key with a different body is refused with 422.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from domain.errors import DomainError, Invalid, Unavailable
from services.access import Principal
from services.db import Database
from store import idempotency as idem


def _scoped(principal: Principal, request: Request, key: str) -> str:
    who = f"{principal.role}:{principal.staff_id or ''}"
    return hashlib.sha256(f"{who}|{request.method}|{request.url.path}|{key}".encode()).hexdigest()[:48]


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
    scoped = _scoped(principal, request, key)
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
    await db.run(idem.finish_answer, scoped, status_code, answer)
    return JSONResponse(answer, status_code=status_code)
