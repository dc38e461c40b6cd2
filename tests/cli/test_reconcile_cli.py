"""`followthrough reconcile`: a thin command over ``services.reconcile`` (tests/workflows/
test_reconcile.py covers what it repairs). It prints one line per difference and a summary, and
exits 0 when it repaired or found nothing."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from cli.main import app
from domain.models import TeamConfig
from store.db import make_engine, make_sessionmaker, unit_of_work
from store.models import PendingText
from store.repositories import upsert_team
from tests.conftest import CHICAGO_TEAM


async def test_reconcile_prints_each_difference_and_a_summary_and_exits_0(
    dev_env: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'rec.db'}"
    monkeypatch.setenv("FOLLOWTHROUGH_DATABASE_URL", url)
    monkeypatch.setenv("FOLLOWTHROUGH_TEMPORAL_ADDRESS", dev_env.client.service_client.config.target_host)
    runner = CliRunner()
    assert (await asyncio.to_thread(runner.invoke, app, ["migrate"])).exit_code == 0
    team = f"cli-{uuid.uuid4().hex[:8]}"
    key = f"resolution:{uuid.uuid4().hex}"
    sessions = make_sessionmaker(make_engine(url))
    with unit_of_work(sessions) as s:
        upsert_team(s, team, "CLI", TeamConfig.model_validate(CHICAGO_TEAM).model_dump(mode="json"))
        s.add(
            PendingText(
                key=key, text="called the pharmacy", created_at=datetime.now(UTC) - timedelta(hours=2)
            )
        )

    def keys() -> list[str]:
        with sessions() as s:
            return list(s.scalars(select(PendingText.key)))

    dry = await asyncio.to_thread(runner.invoke, app, ["reconcile", "--team", team, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"pending_text_purged key={key} outcome=would_repair" in dry.output
    assert keys() == [key]

    out = await asyncio.to_thread(runner.invoke, app, ["reconcile", "--team", team])
    assert out.exit_code == 0, out.output
    lines = out.stdout.strip().splitlines()
    assert lines[0] == f"pending_text_purged key={key} outcome=repaired"
    assert lines[-1].startswith(f"reconcile team={team}: 0 running case(s)")
    assert "1 difference(s) (pending_text_purged=1); repaired 1, failed 0" in lines[-1]
    assert "pharmacy" not in out.output
    assert keys() == []

    again = await asyncio.to_thread(runner.invoke, app, ["reconcile", "--team", team])
    assert again.exit_code == 0, again.output
    assert again.stdout.strip().splitlines() == [again.stdout.strip()]  # the summary alone
    assert "0 difference(s) (none)" in again.stdout


def test_reconcile_without_temporal_exits_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOLLOWTHROUGH_DATABASE_URL", f"sqlite:///{tmp_path / 'down.db'}")
    monkeypatch.setenv("FOLLOWTHROUGH_TEMPORAL_ADDRESS", "127.0.0.1:1")
    runner = CliRunner()
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    out = runner.invoke(app, ["reconcile"])
    assert out.exit_code == 1
    assert "not reachable" in out.output
