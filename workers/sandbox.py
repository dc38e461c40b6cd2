"""The SDK's workflow sandbox without the price of asking it, for every payload, which codec
context applies (docs/adr/sandbox.md, "What the sandbox still cost").

Before and after each workflow activation the SDK walks every payload (six passes: decode,
external retrieval and references going in; encode, external storage and references going out)
and, for each payload sequence, asks the workflow instance which serialization context its codec
and external storage should see. A sandboxed instance answers that question by running code in
the sandbox (``exec`` of a source string, compiled on each call, with ``sys.modules`` and the
builtins swapped in and out): 12 % of the worker's busy time in the 17:00 herd (bench P3).

The answer only matters to a payload codec or an external storage driver; the data converter's
payload converter never sees it. The worker's converter (``workers.payloads``, pydantic JSON) has
neither, so this runner answers "no context" without entering the sandbox, and
``build_worker`` uses it only for a converter without a codec and without external storage
(``context_free``). Everything else, the activation above all, runs in the SDK's sandbox as before.

Each new sandboxed instance imports its workflow's module again (so the module's names bind to
the sandbox's guarded modules); the import read the module's bytecode from disk and unmarshalled
fresh code objects each time: 61 KiB of the 98 KiB a new ``InteractionWorkflow`` costs.
``share_workflow_code`` lets every import of those modules after the first reuse the first one's
code objects (immutable): the module is still executed afresh per instance, in the sandbox, so
each instance has its own module, functions and classes, bound to its own guarded modules.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import temporalio.bridge.proto.workflow_activation
import temporalio.bridge.proto.workflow_completion
import temporalio.bridge.worker
import temporalio.common
import temporalio.converter
import temporalio.workflow
from temporalio.converter import StorageDriverStoreContext
from temporalio.converter._extstore import StorageOperationMetrics
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


class _SharedCodeLoader(importlib.machinery.SourceFileLoader):
    """A source file's loader that unmarshals its code once per process: every later load of the
    module executes the same (immutable) code object in a fresh module."""

    _codes: dict[str, types.CodeType] = {}  # the process's cache, by file path

    def get_code(self, fullname: str) -> types.CodeType:
        code = self._codes.get(self.path)
        if code is None:
            loaded = super().get_code(fullname)
            assert loaded is not None  # a source file always has code
            code = self._codes.setdefault(self.path, loaded)
        return code


class _SharedCodeFinder(importlib.abc.MetaPathFinder):
    """Finds the named modules as the path finder does, with ``_SharedCodeLoader``."""

    def __init__(self) -> None:
        self.modules: set[str] = set()

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.modules:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.origin is None:
            return spec
        if not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            return spec
        return importlib.util.spec_from_file_location(
            fullname, spec.origin, loader=_SharedCodeLoader(fullname, spec.origin)
        )


_FINDER = _SharedCodeFinder()
_FINDER_LOCK = threading.Lock()


def share_workflow_code(modules: Iterable[str]) -> None:
    """Let every import of ``modules`` (the workflows' own modules, which the sandbox imports
    again for each new instance) after the first in this process reuse its code objects."""
    with _FINDER_LOCK:
        _FINDER.modules.update(modules)
        if _FINDER not in sys.meta_path:
            sys.meta_path.insert(0, _FINDER)


# ---------------------------------------------------------------- payload walks that change nothing
_SDK_DECODE = temporalio.bridge.worker.decode_activation
_SDK_ENCODE = temporalio.bridge.worker.encode_completion


async def _decode_activation(
    activation: temporalio.bridge.proto.workflow_activation.WorkflowActivation,
    data_converter: temporalio.converter.DataConverter,
    decode_headers: bool,
    storage_concurrency_limit: int,
) -> StorageOperationMetrics:
    if context_free(data_converter):
        return StorageOperationMetrics()
    return await _SDK_DECODE(activation, data_converter, decode_headers, storage_concurrency_limit)


async def _encode_completion(
    completion: temporalio.bridge.proto.workflow_completion.WorkflowActivationCompletion,
    data_converter: temporalio.converter.DataConverter,
    encode_headers: bool,
    storage_concurrency_limit: int,
) -> StorageOperationMetrics:
    if context_free(data_converter):
        return StorageOperationMetrics()
    return await _SDK_ENCODE(completion, data_converter, encode_headers, storage_concurrency_limit)


def skip_idle_payload_walks() -> None:
    """Around every workflow activation the SDK walks the activation's payloads three times
    (reference decode, external retrieval, codec decode) and the completion's three times (codec
    encode, external storage, reference encode), each a full visit of the protobuf tree, awaited
    per payload sequence. With a ``context_free`` converter (no codec, no external storage) each
    walk hands every payload back unchanged: 10 % of the worker's Python time in the 17:00 herd
    (bench P3, ``--profile``). Installed once per process, this skips the walks for such a
    converter and runs the SDK's own for any other (a worker with the payload codec of
    architecture §3.12). What is lost is only the SDK's error for a payload stored externally
    arriving at a worker without external storage, which this product never configures."""
    temporalio.bridge.worker.decode_activation = _decode_activation
    temporalio.bridge.worker.encode_completion = _encode_completion


# ---------------------------------------------------------------- workflow definitions, shared
_SDK_APPLY = temporalio.workflow._Definition._apply_to_class


@dataclass(frozen=True)
class _Template:
    """What ``@workflow.defn`` found on the worker's own import of a workflow class, by the names
    of the class's members: enough to build the same definition on a class imported again from
    the same code, without inspecting it again."""

    codes: tuple[tuple[str, types.CodeType], ...]  # the class body's functions and update methods
    mro_tail: tuple[type, ...]  # its bases, which must be the very same classes
    options: tuple[object, ...]  # the decorator's arguments
    run: str
    signals: tuple[tuple[str | None, str], ...]  # (signal name, member name)
    queries: tuple[tuple[str | None, str], ...]
    updates: tuple[tuple[str | None, str], ...]
    dynamic_config: str | None


_TEMPLATES: dict[tuple[str, str], _Template] = {}


def _codes(cls: type) -> tuple[tuple[str, types.CodeType], ...]:
    found = []
    for name, member in vars(cls).items():
        fn = getattr(getattr(member, "_defn", None), "fn", member)  # an update method: its function
        code = getattr(fn, "__code__", None)
        if isinstance(code, types.CodeType):
            found.append((name, code))
    return tuple(sorted(found, key=lambda item: item[0]))


def _options(
    workflow_name: str | None,
    sandboxed: bool,
    failure_exception_types: Sequence[type[BaseException]],
    versioning_behavior: object,
) -> tuple[object, ...]:
    return (workflow_name, sandboxed, tuple(failure_exception_types), versioning_behavior)


def _member(cls: type, attribute: str, value: object) -> str:
    """The name under which ``cls`` holds the handler whose definition is ``value``."""
    for name in dir(cls):
        member = getattr(cls, name)
        if getattr(member, attribute, None) is value:
            return name
    raise LookupError(f"{cls.__qualname__} has no member with {attribute} {value!r}")


def _template(cls: type) -> _Template:
    defn = temporalio.workflow._Definition.must_from_class(cls)
    return _Template(
        codes=_codes(cls),
        mro_tail=cls.__mro__[1:],
        options=_options(defn.name, defn.sandboxed, defn.failure_exception_types, defn.versioning_behavior),
        run=_member(cls, "__temporal_workflow_definition", defn),
        signals=tuple((n, _member(cls, "__temporal_signal_definition", d)) for n, d in defn.signals.items()),
        queries=tuple((n, _member(cls, "__temporal_query_definition", d)) for n, d in defn.queries.items()),
        updates=tuple((n, _member(cls, "_defn", d)) for n, d in defn.updates.items()),
        dynamic_config=(None if defn.dynamic_config_fn is None else defn.dynamic_config_fn.__name__),
    )


def _rebuilt(cls: type, t: _Template, options: tuple[object, ...]) -> Any:
    """The definition of ``cls`` from its template, or None when ``cls`` is not the template's
    class imported again (other code, other bases, other decorator arguments, a handler missing)."""
    if options != t.options or cls.__mro__[1:] != t.mro_tail or _codes(cls) != t.codes:
        return None
    signals = {n: getattr(getattr(cls, m), "__temporal_signal_definition", None) for n, m in t.signals}
    queries = {n: getattr(getattr(cls, m), "__temporal_query_definition", None) for n, m in t.queries}
    updates = {n: getattr(getattr(cls, m), "_defn", None) for n, m in t.updates}
    for found in (signals, queries, updates):
        if any(d is None or d.name != n for n, d in found.items()):
            return None
    name, sandboxed, failure_exception_types, versioning_behavior = options
    return temporalio.workflow._Definition(
        name=name,  # type: ignore[arg-type]
        cls=cls,
        run_fn=getattr(cls, t.run),
        signals=signals,  # type: ignore[arg-type]
        queries=queries,  # type: ignore[arg-type]
        updates=updates,  # type: ignore[arg-type]
        sandboxed=sandboxed,  # type: ignore[arg-type]
        failure_exception_types=failure_exception_types,  # type: ignore[arg-type]
        versioning_behavior=versioning_behavior,  # type: ignore[arg-type]
        dynamic_config_fn=None if t.dynamic_config is None else getattr(cls, t.dynamic_config),
    )


def _apply_to_class(
    cls: type,
    *,
    workflow_name: str | None,
    sandboxed: bool,
    failure_exception_types: Sequence[type[BaseException]],
    versioning_behavior: Any,
) -> None:
    """``@workflow.defn``: from the class's template when it is one of ours imported again (each
    new sandboxed instance), else the SDK's own inspection and validation."""
    template = _TEMPLATES.get((cls.__module__, cls.__qualname__))
    if template is not None and temporalio.workflow._Definition.from_class(cls) is None:
        defn = _rebuilt(
            cls, template, _options(workflow_name, sandboxed, failure_exception_types, versioning_behavior)
        )
        if defn is not None:
            setattr(cls, "__temporal_workflow_definition", defn)
            setattr(defn.run_fn, "__temporal_workflow_definition", defn)
            return
    _SDK_APPLY(
        cls,
        workflow_name=workflow_name,
        sandboxed=sandboxed,
        failure_exception_types=failure_exception_types,
        versioning_behavior=versioning_behavior,
    )


def share_workflow_definitions(classes: Iterable[type]) -> None:
    """Let every later ``@workflow.defn`` of these classes' modules imported again (by the sandbox,
    for each new instance) build the definition the worker's own import found, bound to the new
    class and its functions, instead of inspecting the class again: 13 % of the worker's Python
    time in the 17:00 herd (bench P3, ``--profile``), most of it the sandbox's guarded
    ``isinstance`` on every member. A class imported from other code, or whose bases or decorator
    arguments differ, is inspected and validated by the SDK as before."""
    with _FINDER_LOCK:
        for cls in classes:
            _TEMPLATES.setdefault((cls.__module__, cls.__qualname__), _template(cls))
        temporalio.workflow._Definition._apply_to_class = staticmethod(_apply_to_class)  # type: ignore[method-assign]


# ---------------------------------------------------------------- handlers' type hints, shared
_SDK_TYPE_HINTS = temporalio.common._type_hints_from_func
# Where a hint's own objects may come from and be the same in every instance: the interpreter's
# builtins and the typing machinery, and the modules the worker passes through (set by
# ``share_handler_hints``). A class of a module the sandbox imports again is not among them.
_FORMS = frozenset({"builtins", "typing", "types", "collections.abc", "typing_extensions"})
_Hints = tuple[list[type] | None, type | None]


@dataclass
class _HintCache:
    roots: frozenset[str] = frozenset()
    found: dict[types.CodeType, _Hints] = field(default_factory=dict)


_HINT_CACHE = _HintCache()


def _stable(hint: object) -> bool:
    """Whether ``hint`` names only objects every sandboxed instance resolves to the very same:
    builtins, typing forms, and classes of passed-through modules (``_HINT_CACHE.roots``)."""
    if hint is None or hint is type(None):
        return True
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return True  # its arguments are values
    if origin is not None:
        return _stable(origin) and all(_stable(a) for a in typing.get_args(hint))
    module = getattr(hint, "__module__", None)
    if not isinstance(module, str):
        return False
    return module in _FORMS or module.split(".")[0] in _HINT_CACHE.roots or module in _HINT_CACHE.roots


def _type_hints_from_func(func: Any) -> _Hints:
    """``temporalio.common._type_hints_from_func``, once per function of the workflows' own
    modules: every instance imports them again (``share_workflow_code``: same code objects), and
    each handler decorator (``@workflow.signal``, ``update``, ``query``) asks again for its
    function's ``inspect.signature`` and ``typing.get_type_hints``. Kept only when every hint is
    ``_stable``; anything else is asked afresh, as the SDK does."""
    code = getattr(func, "__code__", None)
    if not isinstance(code, types.CodeType) or code.co_filename not in _SharedCodeLoader._codes:
        return _SDK_TYPE_HINTS(func)
    hints = _HINT_CACHE.found.get(code)
    if hints is None:
        hints = _SDK_TYPE_HINTS(func)
        if not all(_stable(h) for h in (*(hints[0] or ()), hints[1])):
            return hints
        _HINT_CACHE.found[code] = hints
    args, ret = hints
    return (None if args is None else list(args), ret)


def share_handler_hints(passed_through: Iterable[str]) -> None:
    """Let the handler decorators of the workflows' own modules, run again by each new sandboxed
    instance, reuse the type hints the first run found when they name only builtins, typing
    forms and classes of the ``passed_through`` modules (the same objects in every instance):
    the hints are the workflow's payload types, which an instance must not resolve to another
    instance's classes. 7 % of the worker's Python in the API's happy path (bench P1, ``--profile``)."""
    with _FINDER_LOCK:
        _HINT_CACHE.roots = _HINT_CACHE.roots | frozenset(passed_through)
        temporalio.common._type_hints_from_func = _type_hints_from_func
