"""The SDK's workflow sandbox without the price of asking it, for every payload, which codec
context applies (docs/adr/sandbox.md, "What the sandbox still cost").

Before and after each workflow activation the SDK walks every payload (six passes: decode,
external retrieval and references going in; encode, external storage and references going out)
and, for each payload sequence, asks the workflow instance which serialization context its codec
and external storage should see. A sandboxed instance answers that question by running code in
the sandbox (``exec`` of a source string, compiled on each call, with ``sys.modules`` and the
builtins swapped in and out): 12 % of the worker's busy time in the 17:00 herd (bench P3).

The answer only matters to a payload codec or an external storage driver; the data converter's
payload converter never sees it. The worker's converter (``pydantic_data_converter``) has
neither, so this runner answers "no context" without entering the sandbox, and
``build_worker`` uses it only for a converter without a codec and without external storage
(``context_free``). Everything else, the activation above all, runs in the SDK's sandbox as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import temporalio.bridge.proto.workflow_activation
import temporalio.bridge.proto.workflow_completion
import temporalio.converter
import temporalio.workflow
from temporalio.converter import StorageDriverStoreContext
from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker._command_aware_visitor import CommandInfo
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

NO_STORE_CONTEXT = StorageDriverStoreContext(target=None)


def context_free(converter: temporalio.converter.DataConverter) -> bool:
    """Whether serialization contexts change nothing for ``converter``: it has no payload codec
    and no external storage (the only parts of a data converter the SDK gives a context to)."""
    return converter.payload_codec is None and converter.external_storage is None


class _ContextFreeInstance(WorkflowInstance):
    """A sandboxed instance, asked for serialization contexts outside the sandbox: none."""

    def __init__(self, inner: WorkflowInstance) -> None:
        self._inner = inner

    def activate(
        self, act: temporalio.bridge.proto.workflow_activation.WorkflowActivation
    ) -> temporalio.bridge.proto.workflow_completion.WorkflowActivationCompletion:
        return self._inner.activate(act)

    def get_serialization_context(
        self, command_info: CommandInfo | None
    ) -> temporalio.converter.SerializationContext | None:
        return None

    def get_external_store_context(self, command_info: CommandInfo | None) -> StorageDriverStoreContext:
        return NO_STORE_CONTEXT

    def get_info(self) -> temporalio.workflow.Info:
        return self._inner.get_info()

    def get_thread_id(self) -> int | None:
        return self._inner.get_thread_id()


@dataclass(frozen=True)
class ContextFreeSandboxRunner(SandboxedWorkflowRunner):
    """``SandboxedWorkflowRunner`` (same restrictions, same guard) whose instances answer the
    SDK's per-payload serialization-context question without entering the sandbox. Use only
    with a ``context_free`` data converter."""

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return _ContextFreeInstance(super().create_instance(det))
