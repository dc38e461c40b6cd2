"""Activity log lines name the workflow they work for, so ops can follow one case through the logs."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import pytest
import structlog
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities import interactions
from tests.conftest import now_of
from tests.workflows.support import eventually, interaction_input, start, team


async def test_activity_log_lines_carry_workflow_id_and_activity_type(
    env: WorkflowEnvironment,
    client: Client,
    worker: Worker,
    task_queue: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inp = interaction_input(team(), await now_of(env))
    # A fresh logger for the projection: the module's own may have been cached on first use by
    # a command run in-process earlier in the session (config/logging.py caches loggers), and a
    # cached logger does not see capture_logs.
    monkeypatch.setattr(interactions, "log", structlog.get_logger(interactions.__name__))
    with structlog.testing.capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        handle = await start(client, inp, task_queue)

        async def projected() -> list[MutableMapping[str, Any]]:
            return [e for e in logs if e["event"] == "interaction.projected"]

        lines = await eventually(projected)
    for line in lines:
        assert line["workflow_id"] == handle.id
        assert line["activity_type"] == "sync_interaction"
        assert line["workflow_run_id"] == handle.result_run_id
    # Nothing leaks out of the activity's context once it is done.
    assert "workflow_id" not in structlog.contextvars.get_contextvars()
