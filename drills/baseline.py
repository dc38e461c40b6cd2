"""The in-run baseline: a trivial workflow with one activity on the same dev server.

N concurrent clients each start a workflow and await its result, one after another, as many
times as the drill's clients run lifecycles; the worker runs in this process.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker


@activity.defn(name="drill_echo")
async def echo(value: str) -> str:
    return value


@workflow.defn(name="DrillBaseline", sandboxed=False)
class BaselineWorkflow:
    @workflow.run
    async def run(self, value: str) -> str:
        return await workflow.execute_activity(echo, value, start_to_close_timeout=timedelta(seconds=30))


async def measure(address: str, clients: int, per_client: int) -> tuple[float, list[float]]:
    """Return (workflows per second, per-workflow start-and-await seconds)."""
    client = await Client.connect(address)
    queue = f"drill-baseline-{uuid.uuid4().hex[:8]}"
    latencies: list[float] = []

    async def one_client(c: int) -> None:
        for j in range(per_client):
            t0 = time.monotonic()
            got = await client.execute_workflow(
                BaselineWorkflow.run, f"{c}-{j}", id=f"baseline-{queue}-{c}-{j}", task_queue=queue
            )
            assert got == f"{c}-{j}"
            latencies.append(time.monotonic() - t0)

    async with Worker(client, task_queue=queue, workflows=[BaselineWorkflow], activities=[echo]):
        t0 = time.monotonic()
        await asyncio.gather(*(one_client(c) for c in range(clients)))
        elapsed = time.monotonic() - t0
    return clients * per_client / elapsed, latencies
