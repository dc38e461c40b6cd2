"""Annotated dependencies: settings, DB session, Temporal client, the caller (principal)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from api.errors import forbidden, unauthorized, unavailable
from config.settings import Settings, TokenRole
from store.models import Staff


@dataclass(frozen=True)
class Principal:
    """Who is calling: a role, and for staff their id and team."""

    role: TokenRole
    staff_id: str | None = None
    team_id: str | None = None

    @property
    def actor_id(self) -> str | None:
        return self.staff_id

    def is_team_lead(self, team_id: str) -> bool:
        return self.role in ("lead", "manager") and self.team_id == team_id

    def is_team_staff(self, team_id: str) -> bool:
        return self.role in ("chw", "lead", "manager") and self.team_id == team_id

    def can_read_team(self, team_id: str) -> bool:
        return self.role in ("system", "ops") or self.is_team_staff(team_id)

    def require(self, allowed: bool, message: str) -> None:
        if not allowed:
            raise forbidden(message)

    def team_scope(self, team_id: str | None) -> list[str] | None:
        """The teams a list may show this caller: staff see their own team (asking for another
        is 403); ops and system see all (None)."""
        if self.role not in ("chw", "lead", "manager"):
            return None
        if team_id is not None and team_id != self.team_id:
            raise forbidden("not a member of this team")
        return [self.team_id or ""]


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    factory: sessionmaker[Session] = request.app.state.sessions
    with factory() as session:
        yield session


async def get_temporal(request: Request) -> Client:
    client: Client | None = request.app.state.temporal
    if client is None:
        connect = request.app.state.temporal_connect
        try:
            client = await connect()
        except Exception as err:
            raise unavailable(f"Temporal is not reachable: {err}") from err
        request.app.state.temporal = client
    return client


def get_principal(request: Request, session: Annotated[Session, Depends(get_session)]) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise unauthorized()
    settings: Settings = request.app.state.settings
    grant = settings.tokens.get(token.strip())
    if grant is None:
        raise unauthorized()
    team_id = None
    if grant.role in ("chw", "lead", "manager"):
        if grant.staff_id is None:
            raise forbidden("this staff token names no staff_id")
        staff = session.get(Staff, grant.staff_id)
        team_id = staff.team_id if staff is not None else None
    return Principal(role=grant.role, staff_id=grant.staff_id, team_id=team_id)


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
