"""Service tokens from the CLI: printed once, stored as SHA-256, listed without the token,
revoked at once. (In tests/cli: CLI commands configure logging for the process.)"""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from api.app import create_app
from cli import main as cli
from config.settings import Settings
from store.models import ServiceToken
from tests.conftest import TOKENS, auth

SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
REPORT = "/v1/reports/sla?team_id=eastside&from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z"


def app_client(settings: Settings) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(settings)), base_url="http://test")


@SQLITE_ONLY
def test_service_tokens_are_created_listed_and_revoked_from_the_cli(
    db_url: str, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOLLOWTHROUGH_DATABASE_URL", db_url)
    runner = CliRunner()
    made = runner.invoke(cli.app, ["token", "create", "--name", "phone system", "--role", "system"])
    assert made.exit_code == 0, made.output
    token = made.output.strip().splitlines()[-1]
    assert token.startswith("ft_") and len(token) > 40
    with sessions() as s:
        (row,) = s.query(ServiceToken).all()
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert token not in json.dumps([row.id, row.name, row.role, row.token_hash])
    listed = runner.invoke(cli.app, ["token", "list"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0 and row.id in listed.output and "phone system" in listed.output
    assert token not in listed.output

    async def report(headers: dict[str, str]) -> int:
        async with app_client(Settings(database_url=db_url, tokens=TOKENS)) as api:
            return (await api.get(REPORT, headers=headers)).status_code

    import asyncio

    assert asyncio.run(report(auth(token))) == 200
    revoked = runner.invoke(cli.app, ["token", "revoke", row.id])
    assert revoked.exit_code == 0, revoked.output
    assert asyncio.run(report(auth(token))) == 401
    # A staff token names a real staff member; a bad role or a missing name is refused.
    assert runner.invoke(cli.app, ["token", "create", "--name", "x", "--role", "lead"]).exit_code == 1
    assert runner.invoke(cli.app, ["token", "create", "--name", "x", "--role", "boss"]).exit_code == 1
    assert runner.invoke(cli.app, ["token", "revoke", "st_nope"]).exit_code == 1
    lead = runner.invoke(
        cli.app, ["token", "create", "--name", "lee", "--role", "lead", "--staff-id", "lead-1"]
    )
    assert lead.exit_code == 0, lead.output
