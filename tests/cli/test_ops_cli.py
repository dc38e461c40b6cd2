"""The lead/ops CLI reads the same store as the API: queue, escalations, report."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from api.app import create_app
from cli.main import app
from config.settings import Settings
from domain.models import TeamConfig
from store.db import make_engine, make_sessionmaker, unit_of_work
from store.migrate import upgrade
from store.models import Escalation, Interaction, Staff
from store.repositories import upsert_team
from tests.api.support import SYSTEM, interaction_body, setup_team
from tests.conftest import CHICAGO_TEAM, TOKENS, binary


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("FOLLOWTHROUGH_DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(app, ["migrate"])
    assert result.exit_code == 0, result.output
    now = datetime.now(UTC)
    with unit_of_work(make_sessionmaker(make_engine(url))) as s:
        cfg = TeamConfig.model_validate(CHICAGO_TEAM)
        upsert_team(s, "eastside", cfg.name, cfg.model_dump(mode="json"))
        s.add(Staff(id="chw-ana", team_id="eastside", name="Ana", role="chw"))
        s.flush()
        for n, (assignee, status, received) in enumerate(
            [("chw-ana", "attempting", now - timedelta(hours=1)), (None, "open", now - timedelta(days=3))]
        ):
            s.add(
                Interaction(
                    id=f"i-{n}",
                    workflow_id=f"interaction:eastside:e-{n}",
                    team_id="eastside",
                    external_id=f"e-{n}",
                    member_id="m",
                    channel="call",
                    status=status,
                    assignee_id=assignee,
                    received_at=received,
                    due_at=received + timedelta(hours=2),
                    first_response_at=received + timedelta(minutes=30) if assignee else None,
                    attempt_count=1 if assignee else 0,
                    triggers=[] if assignee else ["deadline_missed"],
                    contacts=2 if assignee else 1,  # the member of i-0 called twice
                    created_at=now,
                    updated_at=now,
                )
            )
        s.flush()
        s.add(
            Escalation(
                id="esc-1",
                workflow_id="escalation:eastside:e-1:deadline_missed",
                interaction_id="i-1",
                team_id="eastside",
                trigger="deadline_missed",
                severity=6,
                status="open",
                level=1,
                clock="business",
                rule={"levels": [{"role": "lead"}, {"role": "manager"}]},
                matrix_version=1,
                started_at=now,
                updated_at=now,
            )
        )
    return url


def test_queue_lists_open_cases_and_the_unassigned_queue(db: str) -> None:
    out = CliRunner().invoke(app, ["queue", "--team", "eastside"])
    assert out.exit_code == 0, out.output
    assert "i-0" in out.output
    assert "i-1" in out.output
    assert "unassigned" in out.output
    only = CliRunner().invoke(app, ["queue", "--team", "eastside", "--assignee", "unassigned"])
    assert "i-1" in only.output
    assert "i-0" not in only.output


def test_escalations_and_report(db: str) -> None:
    out = CliRunner().invoke(app, ["escalations", "--team", "eastside"])
    assert out.exit_code == 0, out.output
    assert "esc-1" in out.output
    assert "deadline_missed" in out.output
    assert "1/2" in out.output
    resolved = CliRunner().invoke(app, ["escalations", "--status", "resolved"])
    assert "esc-1" not in resolved.output

    out = CliRunner().invoke(app, ["report", "--team", "eastside", "--days", "7"])
    assert out.exit_code == 0, out.output
    assert "deadline_missed: 1" in out.output
    call_row = next(line for line in out.output.splitlines() if "call" in line)
    cells = [c.strip() for c in call_row.split("│") if c.strip()]
    assert cells[:5] == ["call", "2", "1", "0", "1"]
    assert cells[-1] == "1" and "repeat contacts" in out.output  # i-0's second call
    unknown = CliRunner().invoke(app, ["report", "--team", "nowhere"])
    assert unknown.exit_code != 0
    assert "unknown team" in unknown.output


async def test_load_config_starts_the_teams_check_ins(
    dev_env: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With Temporal up, loading a team file starts (or refreshes) its CheckinWorkflow."""
    monkeypatch.setenv("FOLLOWTHROUGH_DATABASE_URL", f"sqlite:///{tmp_path / 'lc.db'}")
    monkeypatch.setenv("FOLLOWTHROUGH_TEMPORAL_ADDRESS", dev_env.client.service_client.config.target_host)
    team = f"team-{uuid.uuid4().hex[:6]}"
    team_file = _team_file(tmp_path, team)
    runner = CliRunner()
    assert (await asyncio.to_thread(runner.invoke, app, ["migrate"])).exit_code == 0
    out = await asyncio.to_thread(runner.invoke, app, ["load-config", team_file])
    assert out.exit_code == 0, out.output
    assert f"check-ins of {team} follow the loaded calendar" in out.output
    desc = await dev_env.client.get_workflow_handle(f"checkin:{team}").describe()
    assert desc.status == WorkflowExecutionStatus.RUNNING
    await dev_env.client.get_workflow_handle(f"checkin:{team}").terminate("test over")


def _team_file(tmp_path: Path, team: str) -> str:
    """The demo team file under another team id."""
    path = tmp_path / "team.yaml"
    path.write_text(Path("config/demo_team.yaml").read_text().replace("eastside", team))
    return str(path)


async def test_a_fresh_namespace_works_before_any_worker_ran(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`load-config` and the API may come before the first worker on a new namespace: they
    register the Ft* search attributes themselves instead of failing on the first start."""
    async with await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter, dev_server_existing_path=binary("temporal"), ui=False
    ) as fresh:
        address = fresh.client.service_client.config.target_host
        db = f"sqlite:///{tmp_path / 'fresh.db'}"
        monkeypatch.setenv("FOLLOWTHROUGH_DATABASE_URL", db)
        monkeypatch.setenv("FOLLOWTHROUGH_TEMPORAL_ADDRESS", address)
        team = f"team-{uuid.uuid4().hex[:6]}"
        runner = CliRunner()
        assert (await asyncio.to_thread(runner.invoke, app, ["migrate"])).exit_code == 0
        out = await asyncio.to_thread(runner.invoke, app, ["load-config", _team_file(tmp_path, team)])
        assert out.exit_code == 0, out.output
        assert f"check-ins of {team} follow the loaded calendar" in out.output

    async with await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter, dev_server_existing_path=binary("temporal"), ui=False
    ) as fresh:
        settings = Settings(
            database_url=f"sqlite:///{tmp_path / 'api.db'}",
            temporal_address=fresh.client.service_client.config.target_host,
            tokens=TOKENS,
        )
        upgrade(settings.database_url)
        transport = httpx.ASGITransport(app=create_app(settings))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as api:
            await setup_team(api)
            created = await api.post("/v1/interactions", json=interaction_body(), headers=SYSTEM)
            assert created.status_code == 201, created.text
