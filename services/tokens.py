"""Service tokens for backends: created once, stored as a SHA-256 hash, listed and revoked by id.

``followthrough token create`` prints the token once, at creation; nothing can show it again.
A request presents it as ``Authorization: Bearer ft_…``; the API looks up its hash.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.production import token_digest
from config.settings import TokenGrant, TokenRole
from domain.errors import Conflict, Invalid, NotFound
from services.common import now_utc
from services.context import Service
from store.db import committing
from store.models import ServiceToken, Staff

TOKEN_PREFIX = "ft_"
STAFF_ROLES = ("chw", "lead", "manager")


@dataclass(frozen=True)
class TokenInfo:
    id: str
    name: str
    role: str
    staff_id: str | None
    created_at: datetime
    revoked_at: datetime | None


def _info(row: ServiceToken) -> TokenInfo:
    return TokenInfo(row.id, row.name, row.role, row.staff_id, row.created_at, row.revoked_at)


def create(
    session: Session, *, name: str, role: TokenRole, staff_id: str | None = None
) -> tuple[str, TokenInfo]:
    """A new token and its record; the token itself is returned here only."""
    name = name.strip()
    if not name or len(name) > 200:
        raise Invalid("a token needs a name (1 to 200 characters) saying who uses it")
    if role in STAFF_ROLES:
        if staff_id is None or session.get(Staff, staff_id) is None:
            raise Invalid(f"a {role} token names an existing staff member (--staff-id)")
    elif staff_id is not None:
        raise Invalid(f"a {role} token names no staff member")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ServiceToken(
        id="st_" + secrets.token_hex(6),
        name=name,
        role=role,
        staff_id=staff_id,
        token_hash=token_digest(token),
        created_at=now_utc(),
    )
    session.add(row)
    session.flush()
    return token, _info(row)


def list_tokens(session: Session) -> list[TokenInfo]:
    return [_info(r) for r in session.scalars(select(ServiceToken).order_by(ServiceToken.created_at))]


def revoke(session: Session, token_id: str) -> TokenInfo:
    """Revoke a token at once (idempotent: revoking twice keeps the first time)."""
    row = session.get(ServiceToken, token_id)
    if row is None:
        raise NotFound(f"no service token {token_id!r}")
    if row.revoked_at is None:
        row.revoked_at = now_utc()
        session.flush()
    return _info(row)


class Tokens(Service):
    """Service tokens for the front ends that manage them (the CLI): each call one transaction."""

    async def create(
        self, *, name: str, role: TokenRole, staff_id: str | None = None
    ) -> tuple[str, TokenInfo]:
        """A new token (returned here only, never stored) and its record."""

        def tx(session: Session) -> tuple[str, TokenInfo]:
            with committing(session):
                return create(session, name=name, role=role, staff_id=staff_id)

        return await self.db.run(tx)

    async def list_tokens(self) -> list[TokenInfo]:
        return await self.db.run(list_tokens)

    async def revoke(self, token_id: str) -> TokenInfo:
        def tx(session: Session) -> TokenInfo:
            with committing(session):
                return revoke(session, token_id)

        return await self.db.run(tx)


def grant_for_hash(session: Session, digest: str) -> TokenGrant | None:
    """The grant of the live service token with this hash, or None."""
    row = session.scalar(select(ServiceToken).where(ServiceToken.token_hash == digest))
    if row is None or row.revoked_at is not None:
        return None
    if row.role not in ("system", "ops", *STAFF_ROLES):
        raise Conflict(f"service token {row.id} has an unknown role")
    return TokenGrant.model_validate({"role": row.role, "staff_id": row.staff_id})
