"""The worker's sandbox asks no serialization context inside the sandbox (``workers.sandbox``):
chosen only for a data converter without codec and external storage, and still the sandbox."""

from __future__ import annotations

import dataclasses
import importlib
import sys
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowFailureError
from temporalio.converter import PayloadCodec
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from temporalio.worker._command_aware_visitor import CommandAwarePayloadVisitor
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from temporalio.workflow import _Definition

from tests.workflows.sandbox_probe import Echo, WallClock, echo
from workers import sandbox as sandbox_mod
from workers.main import workflow_runner
from workers.sandbox import (
    ContextFreeSandboxRunner,
    context_free,
    share_handler_hints,
    share_workflow_code,
    share_workflow_definitions,
)
from workflows.registry import ALL_WORKFLOWS


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


PROBE = "tests.workflows.sandbox_probe"


def test_a_workflow_module_imported_again_is_a_fresh_module_on_the_first_imports_code() -> None:
    """What the sandbox does per instance (import the workflow's module again), with the
    worker's shared code: a new module with its own classes, whose functions run the code objects
    of the first import (immutable), not ones unmarshalled again (61 KiB per InteractionWorkflow)."""
    share_workflow_code([PROBE])
    saved = sys.modules.pop(PROBE, None)
    try:
        first = importlib.import_module(PROBE)
        del sys.modules[PROBE]
        again = importlib.import_module(PROBE)
        assert again is not first and again.Echo is not first.Echo
        assert again.Echo.run is not first.Echo.run
        assert again.Echo.run.__code__ is first.Echo.run.__code__
        assert again.__spec__ is not None and first.__spec__ is not None
        assert again.__file__ == first.__file__ and again.__spec__.origin == first.__spec__.origin
    finally:
        if saved is not None:
            sys.modules[PROBE] = saved


async def test_the_context_free_runner_with_shared_code_still_refuses_a_wall_clock_read(
    env: WorkflowEnvironment,
) -> None:
    """The guard the sandbox exists for: a non-deterministic call in workflow code fails the run,
    also in an instance whose module runs the code objects of an earlier one (each instance still
    runs its module afresh in the sandbox, bound to the guarded modules)."""
    share_workflow_code([PROBE])
    share_workflow_definitions([WallClock])  # and each instance's class gets the shared definition
    queue = f"probe-{uuid.uuid4().hex[:8]}"
    runner = workflow_runner(True, env.client.data_converter)
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[WallClock],
        workflow_runner=runner,
        workflow_failure_exception_types=[Exception],
    ):
        for n in range(2):  # the second instance runs the first one's code objects
            with pytest.raises(WorkflowFailureError) as failed:
                await env.client.execute_workflow(WallClock.run, id=f"{queue}-{n}", task_queue=queue)
            assert "Cannot access datetime.datetime.now" in str(failed.value.cause)


class _Counting(_Identity):
    """An identity codec that counts the payloads it is given."""

    def __init__(self) -> None:
        self.encoded = 0
        self.decoded = 0

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        self.encoded += len(payloads)
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        self.decoded += len(payloads)
        return list(payloads)


async def _echo_walks(client: Client, monkeypatch: pytest.MonkeyPatch) -> tuple[str, int]:
    """Run ``Echo`` on a worker built as ours is; (its answer, payload walks the SDK made)."""
    walks = [0]
    visit = CommandAwarePayloadVisitor.visit

    async def counted(self: CommandAwarePayloadVisitor, *args: Any, **kwargs: Any) -> None:
        walks[0] += 1
        await visit(self, *args, **kwargs)

    monkeypatch.setattr(CommandAwarePayloadVisitor, "visit", counted)
    queue = f"probe-{uuid.uuid4().hex[:8]}"
    runner = workflow_runner(True, client.data_converter)
    async with Worker(client, task_queue=queue, workflows=[Echo], activities=[echo], workflow_runner=runner):
        got = await client.execute_workflow(Echo.run, "ünïcode ✓", id=queue, task_queue=queue)
    return got, walks[0]


async def test_without_codec_the_worker_skips_the_sdks_payload_walks(
    env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Our converter (no codec, no external storage): no walk of an activation's or a
    completion's payloads (six per activation in the SDK), and the payloads arrive unchanged."""
    got, walks = await _echo_walks(env.client, monkeypatch)
    assert got == "ünïcode ✓"
    assert walks == 0


async def test_with_a_codec_every_workflow_payload_still_goes_through_it(
    env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deployment with the payload codec (architecture §3.12): the worker walks the payloads as
    the SDK does, and the codec sees the workflow's input, its activity's input and result, and
    its answer."""
    codec = _Counting()
    config = env.client.config()
    config["data_converter"] = dataclasses.replace(env.client.data_converter, payload_codec=codec)
    client = Client(**config)
    got, walks = await _echo_walks(client, monkeypatch)
    assert got == "ünïcode ✓"
    assert walks > 0
    assert codec.encoded >= 3 and codec.decoded >= 3


def _handler_hints(module: Any) -> dict[str, tuple[Any, Any]]:
    """The payload types the SDK's definitions of ``module.Handlers`` hold, by handler."""
    cls = module.Handlers
    status = cls.status.__temporal_query_definition
    return {
        "flagged": (cls.flagged.__temporal_signal_definition.arg_types, None),
        "local": (cls.local.__temporal_signal_definition.arg_types, None),
        "status": (status.arg_types, status.ret_type),
    }


def test_an_instances_handlers_reuse_hints_only_when_they_name_passed_through_types(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each new instance runs its workflow module's handler decorators again, and each asked for
    its function's signature and type hints (7 % of the worker's Python, bench P1). With
    ``share_handler_hints`` a handler whose hints are builtins, typing forms and classes of
    passed-through modules reuses the first import's; one naming a class of the module itself
    resolves it in the new module, never the first import's class."""
    from domain.messages import FlagInput

    asked: list[str] = []
    sdk = sandbox_mod._SDK_TYPE_HINTS

    def counting(func: Any) -> Any:
        asked.append(func.__name__)
        return sdk(func)

    monkeypatch.setattr(sandbox_mod, "_SDK_TYPE_HINTS", counting)
    share_workflow_code([PROBE])
    share_handler_hints(["domain"])
    monkeypatch.setattr(sandbox_mod._HINT_CACHE, "found", {})  # what earlier tests' imports left
    saved = sys.modules.pop(PROBE, None)
    try:
        first = importlib.import_module(PROBE)
        assert {"flagged", "local", "status"} <= set(asked)
        asked.clear()
        del sys.modules[PROBE]
        again = importlib.import_module(PROBE)
        assert "flagged" not in asked and "status" not in asked  # reused
        assert asked.count("local") == 1  # asked again: its type is the module's own
        hints = _handler_hints(again)
        assert hints["flagged"] == ([FlagInput], None)
        assert hints["status"] == ([], sdk(again.Handlers.status)[1])
        assert hints["local"] == ([again.Local], None)
        assert again.Local is not first.Local
        assert _handler_hints(first)["local"] == ([first.Local], None)
    finally:
        if saved is not None:
            sys.modules[PROBE] = saved


def test_the_workflows_own_handlers_get_the_sdks_hints_from_the_shared_ones() -> None:
    """Every handler and run method of our workflows, imported again with the worker's sharing:
    the hints its definition holds are what the SDK finds for that function."""
    workflow_runner(True)  # installs the sharing, as the worker does
    for cls in ALL_WORKFLOWS:
        name = cls.__module__
        saved = sys.modules.pop(name)
        try:
            again = importlib.import_module(name)
            fresh = getattr(again, cls.__name__)
            defn = _Definition.must_from_class(fresh)
            handlers: list[Any] = [defn.run_fn]
            handlers += [d.fn for d in defn.signals.values()]
            handlers += [d.fn for d in defn.queries.values()]
            handlers += [d.fn for d in defn.updates.values()]
            own = [fn for fn in handlers if fn.__module__ == name]
            assert own and all(fn.__code__.co_filename in sandbox_mod._SharedCodeLoader._codes for fn in own)
            for fn in handlers:
                got = sandbox_mod._type_hints_from_func(fn)
                assert got == sandbox_mod._SDK_TYPE_HINTS(fn), f"{cls.__name__}.{fn.__name__}"
            assert defn.arg_types == sandbox_mod._SDK_TYPE_HINTS(defn.run_fn)[0]
        finally:
            sys.modules[name] = saved
