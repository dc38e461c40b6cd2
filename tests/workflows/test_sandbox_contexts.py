"""The worker's sandbox asks no serialization context inside the sandbox (``workers.sandbox``):
chosen only for a data converter without codec and external storage, and still the sandbox."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowFailureError
from temporalio.converter import PayloadCodec
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from tests.workflows.sandbox_probe import Echo, WallClock, echo
from workers.main import workflow_runner
from workers.sandbox import ContextFreeSandboxRunner, context_free


class _Identity(PayloadCodec):
    """A codec that changes nothing (a codec is what serialization contexts are for)."""

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)


def test_the_production_converter_takes_no_context_so_the_worker_does_not_ask_the_sandbox(
    client: Client,
) -> None:
    assert context_free(client.data_converter)
    runner = workflow_runner(True, client.data_converter)
    assert isinstance(runner, ContextFreeSandboxRunner)
    assert isinstance(runner, SandboxedWorkflowRunner)  # the same sandbox and restrictions
    plain = workflow_runner(True)
    assert isinstance(plain, SandboxedWorkflowRunner)
    assert runner.restrictions == plain.restrictions
    assert not isinstance(workflow_runner(False, client.data_converter), SandboxedWorkflowRunner)


def test_a_converter_with_a_codec_keeps_the_sdks_runner(client: Client) -> None:
    converter = dataclasses.replace(client.data_converter, payload_codec=_Identity())
    assert not context_free(converter)
    runner = workflow_runner(True, converter)
    assert type(runner) is SandboxedWorkflowRunner


async def test_build_worker_picks_the_runner_from_its_clients_converter(worker: Worker) -> None:
    assert isinstance(worker.config()["workflow_runner"], ContextFreeSandboxRunner)


async def test_payloads_cross_the_context_free_runner_unchanged(env: WorkflowEnvironment) -> None:
    queue = f"probe-{uuid.uuid4().hex[:8]}"
    runner = workflow_runner(True, env.client.data_converter)
    async with Worker(
        env.client, task_queue=queue, workflows=[Echo], activities=[echo], workflow_runner=runner
    ):
        got = await env.client.execute_workflow(Echo.run, "ünïcode ✓", id=queue, task_queue=queue)
    assert got == "ünïcode ✓"


async def test_the_context_free_runner_still_refuses_a_wall_clock_read(env: WorkflowEnvironment) -> None:
    """The guard the sandbox exists for: a non-deterministic call in workflow code fails the run."""
    queue = f"probe-{uuid.uuid4().hex[:8]}"
    runner = workflow_runner(True, env.client.data_converter)
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[WallClock],
        workflow_runner=runner,
        workflow_failure_exception_types=[Exception],
    ):
        with pytest.raises(WorkflowFailureError) as failed:
            await env.client.execute_workflow(WallClock.run, id=queue, task_queue=queue)
    assert "Cannot access datetime.datetime.now" in str(failed.value.cause)
