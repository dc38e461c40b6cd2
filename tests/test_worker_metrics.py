"""The worker serves the Temporal SDK's metrics for Prometheus at FOLLOWTHROUGH_WORKER_METRICS_ADDRESS."""

from __future__ import annotations

import socket

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import WorkflowEnvironment

from activities.notifications import LogChannel
from config.settings import Settings
from tests.conftest import now_of
from tests.workflows.support import eventually, interaction_input, start, state_of, team
from workers.client import connect, metrics_runtime
from workers.main import build_worker

SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def free_address() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


@SQLITE_ONLY
async def test_worker_exposes_sdk_metrics(
    env: WorkflowEnvironment, sessions: sessionmaker[Session], task_queue: str
) -> None:
    settings = Settings(
        temporal_address=env.client.service_client.config.target_host,
        temporal_namespace=env.client.namespace,
        worker_metrics_address=free_address(),
    )
    client = await connect(settings, runtime=metrics_runtime(settings))
    async with build_worker(client, task_queue=task_queue, sessions=sessions, channel=LogChannel()):
        inp = interaction_input(team(), await now_of(env))
        handle = await start(client, inp, task_queue)
        await eventually(lambda: state_of(handle))

        async def scraped() -> str:
            async with httpx.AsyncClient() as http:
                text = (await http.get(f"http://{settings.worker_metrics_address}/metrics")).text
            return (
                text if "temporal_workflow_completed" in text or "temporal_activity_execution" in text else ""
            )

        text = await eventually(scraped)
    assert "temporal_activity_execution_latency" in text
    assert "temporal_workflow_task_execution_latency" in text
    assert f'task_queue="{task_queue}"' in text


def test_worker_metrics_can_be_turned_off() -> None:
    assert metrics_runtime(Settings(worker_metrics_address="")) is None


def test_a_taken_metrics_address_is_reported() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        taken = f"127.0.0.1:{s.getsockname()[1]}"
        with pytest.raises(ValueError, match="Address already in use"):
            metrics_runtime(Settings(worker_metrics_address=taken))
