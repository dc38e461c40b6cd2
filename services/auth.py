"""Who a credential stands for: a bearer token becomes a ``Principal``.

One home for authentication, used by the HTTP API and the console. A static token grants a role
and, for staff, a staff id; the staff record is the truth for a person's role and team, so a lead
demoted to CHW in the team file loses lead rights at once, whatever their token said.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from config.settings import Settings, TokenGrant
from domain.errors import Forbidden, Unauthorized
from services.access import Principal
from services.db import Database
from store.models import Staff

STAFF_ROLES = ("chw", "lead", "manager")
INVALID = "missing or invalid bearer token"


def _staff(session: Session, staff_id: str) -> tuple[str, str] | None:
    staff = session.get(Staff, staff_id)
    return (staff.role, staff.team_id) if staff is not None else None


def grant_for(settings: Settings, token: str) -> TokenGrant | None:
    """The grant a static token stands for, or None."""
    return settings.tokens.get(token)


async def principal_for(db: Database, grant: TokenGrant) -> Principal:
    """The caller a grant names, with role and team from the staff record for staff."""
    if grant.role not in STAFF_ROLES:
        return Principal(role=grant.role, staff_id=grant.staff_id)
    if grant.staff_id is None:
        raise Forbidden("this staff token names no staff_id")
    found = await db.run(_staff, grant.staff_id)
    if found is None:
        raise Forbidden("this token's staff member is not on any team")
    role, team_id = found
    if role not in STAFF_ROLES:
        raise Forbidden("this token's staff member has no staff role")
    return Principal(role=role, staff_id=grant.staff_id, team_id=team_id)  # type: ignore[arg-type]


async def authenticate(db: Database, settings: Settings, token: str) -> Principal:
    """The caller a bearer token stands for; ``Unauthorized`` when it stands for nobody."""
    token = token.strip()
    grant = grant_for(settings, token) if token else None
    if grant is None:
        raise Unauthorized(INVALID)
    return await principal_for(db, grant)
