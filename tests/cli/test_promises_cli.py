"""`followthrough assign` (docs/api.md §4.2; issue 26): reassigns through the workflow's `assign`
update and prints `{"id", "assignee_id", "status"}`; a broken rule prints `error: …` and exits 1."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner, Result

from cli.main import app
from tests.api.support import create, detail, setup_team
from workers import startup


async def test_assign_moves_a_case_and_refuses_a_no_op(
    api: httpx.AsyncClient,
    env: WorkflowEnvironment,
    db_url: str,
    task_queue: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await setup_team(api)
    case = await create(api, member_id="mem-1")
    assert case["assignee_id"] == "chw-ana"
    monkeypatch.setenv("FOLLOWTHROUGH_DATABASE_URL", db_url)
    monkeypatch.setenv("FOLLOWTHROUGH_TEMPORAL_ADDRESS", env.client.service_client.config.target_host)
    monkeypatch.setenv("FOLLOWTHROUGH_TASK_QUEUE", task_queue)
    # In-process, the command's logging setup (structlog, loggers cached on first use) would stay
    # for every later test of the session (tests/workflows/test_activity_logging.py then captured
    # nothing): the command runs with the test session's logging.
    monkeypatch.setattr(startup, "configure_logging", lambda *_: None)
    runner = CliRunner()

    async def cli(*args: str) -> Result:
        return await asyncio.to_thread(runner.invoke, app, ["assign", *args])

    out = await cli(case["id"], "chw-ben", "--as", "lead-1")
    assert out.exit_code == 0, out.output
    assert printed(out) == {"id": case["id"], "assignee_id": "chw-ben", "status": "open"}
    got = await detail(api, case["id"])
    assert (got["assignee_id"], got["assignment_source"]) == ("chw-ben", "lead:lead-1")
    moves = [t for t in got["timeline"] if t["kind"] == "assigned" and t["actor_id"] == "lead-1"]
    assert [(m["details"]["from"], m["details"]["to"]) for m in moves] == [("chw-ana", "chw-ben")]

    again = await cli(case["id"], "chw-ben", "--as", "lead-1")
    assert again.exit_code == 1
    assert "error: interaction is already assigned to chw-ben" in again.output.splitlines()

    out = await cli(case["id"], "unassigned", "--as", "lead-1")
    assert out.exit_code == 0, out.output
    assert printed(out)["assignee_id"] is None
    assert (await detail(api, case["id"]))["assignee_id"] is None


def printed(out: Result) -> dict[str, Any]:
    """The command's JSON (the worker's log lines share the captured output, and the console
    wraps a long line at 80 columns, between JSON tokens)."""
    lines = out.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("{"))
    end = next(i for i in range(start, len(lines)) if lines[i].rstrip().endswith("}"))
    got: dict[str, Any] = json.loads("\n".join(lines[start : end + 1]))
    return got
