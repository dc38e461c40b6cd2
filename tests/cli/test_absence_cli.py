"""``followthrough absence`` and ``followthrough queue`` as a lead would run them,
as subprocesses against the real Temporal dev server and a worker."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import WorkflowEnvironment

from activities.notifications import LogChannel
from store.db import unit_of_work
from store.models import Absence
from tests.workflows.support import add_interaction_row, eventually
from workers.main import build_worker

CLI = str(Path(sys.executable).parent / "followthrough")


async def run(env: dict[str, str], *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        CLI, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_absence_add_extend_cancel_list_and_queue(
    dev_env: WorkflowEnvironment, sessions: sessionmaker[Session], db_url: str, task_queue: str
) -> None:
    env = {
        **os.environ,
        "FOLLOWTHROUGH_DATABASE_URL": db_url,
        "FOLLOWTHROUGH_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "FOLLOWTHROUGH_TASK_QUEUE": task_queue,
        "COLUMNS": "200",
    }
    now = datetime.now(UTC).replace(microsecond=0)
    with unit_of_work(sessions) as s:
        add_interaction_row(s, assignee_id=None, due_at=now + timedelta(hours=3), external_id="queued-1")
    async with build_worker(dev_env.client, task_queue=task_queue, sessions=sessions, channel=LogChannel()):
        start, end = (now + timedelta(days=1)).isoformat(), (now + timedelta(days=2)).isoformat()
        code, out = await run(
            env, "absence", "add", "chw-ana", "--from", start, "--to", end, "--backup", "chw-ben"
        )
        assert code == 0, out
        assert "chw-ana" in out
        assert "chw-ben" in out
        assert "scheduled" in out
        with sessions() as s:
            (row,) = s.query(Absence).all()
        absence_id = row.id

        code, out = await run(env, "absence", "add", "chw-ana", "--from", start, "--to", end)
        assert code == 1
        assert "already absent" in out
        code, out = await run(env, "absence", "add", "chw-ana", "--from", "2030-01-01T09:00", "--to", end)
        assert code != 0
        assert "offset" in out

        later = (now + timedelta(days=3)).isoformat()
        code, out = await run(env, "absence", "extend", absence_id, "--to", later, "--as", "lead-1")
        assert code == 0, out

        async def extended() -> bool:
            with sessions() as s:
                got = s.get(Absence, absence_id)
                return got is not None and got.ends_at == now + timedelta(days=3)

        await eventually(extended)
        code, out = await run(env, "absence", "list", "--team", "eastside")
        assert code == 0
        assert absence_id in out
        assert "scheduled" in out

        code, out = await run(env, "absence", "cancel", absence_id, "--as", "lead-1")
        assert code == 0, out
        assert "cancelled" in out, out
        code, out = await run(env, "absence", "cancel", absence_id)
        assert code == 1
        assert "already cancelled" in out
        code, out = await run(env, "absence", "list", "--team", "eastside")
        assert absence_id not in out
        code, out = await run(env, "absence", "list", "--all")
        assert absence_id in out
        assert "cancelled" in out

        code, out = await run(env, "queue", "--team", "eastside", "--assignee", "unassigned")
        assert code == 0, out
        assert "unassigned" in out, out
        assert re.search(r"call\s", out), out
