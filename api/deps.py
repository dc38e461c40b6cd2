"""Annotated dependencies: settings, DB session, Temporal client, the caller (``Principal``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from config.settings import Settings
from domain.errors import Forbidden, Unauthorized, Unavailable
from services.access import Principal
from store.models import Staff


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
            raise Unavailable(f"Temporal is not reachable: {err}") from err
        request.app.state.temporal = client
    return client


def get_principal(request: Request, session: Annotated[Session, Depends(get_session)]) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("missing or invalid bearer token")
    settings: Settings = request.app.state.settings
    grant = settings.tokens.get(token.strip())
    if grant is None:
        raise Unauthorized("missing or invalid bearer token")
    team_id = None
    if grant.role in ("chw", "lead", "manager"):
        if grant.staff_id is None:
            raise Forbidden("this staff token names no staff_id")
        staff = session.get(Staff, grant.staff_id)
        team_id = staff.team_id if staff is not None else None
    return Principal(role=grant.role, staff_id=grant.staff_id, team_id=team_id)


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
