"""A workflow class the sandbox imports again gets, from ``workers.sandbox``'s template, the very
definition the SDK's inspection would build, bound to the new class and its own functions; a
class that is not the same code is inspected and validated by the SDK as before."""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Iterator
from typing import Any

import pytest
import temporalio.workflow
from temporalio import workflow

import workers.sandbox
from drills.common import compile_project
from workers.main import workflow_runner
from workflows.registry import ALL_WORKFLOWS

SDK = staticmethod(workers.sandbox._SDK_APPLY)


@pytest.fixture(autouse=True)
def shared() -> Iterator[None]:
    """The worker's runner, which shares code and definitions; the modules restored after."""
    compile_project()
    workflow_runner()
    saved = {cls.__module__: sys.modules[cls.__module__] for cls in ALL_WORKFLOWS}
    yield
    sys.modules.update(saved)


def imported_again(module: str) -> types.ModuleType:
    """``module`` imported afresh, as the sandbox does for every new instance."""
    del sys.modules[module]
    return importlib.import_module(module)


def described(defn: Any) -> dict[str, Any]:
    """Everything a definition says, with functions by qualified name."""

    def fn(f: Any) -> str | None:
        return None if f is None else f.__qualname__

    def handlers(table: Any) -> list[tuple[Any, ...]]:
        return sorted(
            (
                str(name),
                fn(d.fn),
                d.is_method,
                getattr(d, "unfinished_policy", None),
                fn(getattr(d, "validator", None)),
                repr(getattr(d, "arg_types", None)),
                repr(getattr(d, "ret_type", None)),
            )
            for name, d in table.items()
        )

    return {
        "name": defn.name,
        "cls": defn.cls.__qualname__,
        "run": fn(defn.run_fn),
        "signals": handlers(defn.signals),
        "queries": handlers(defn.queries),
        "updates": handlers(defn.updates),
        "sandboxed": defn.sandboxed,
        "failure_exception_types": list(defn.failure_exception_types),
        "versioning_behavior": defn.versioning_behavior,
        "arg_types": repr(defn.arg_types),
        "ret_type": repr(defn.ret_type),
        "dynamic_config": fn(defn.dynamic_config_fn),
    }


def functions(defn: Any) -> list[Any]:
    found = [defn.run_fn, defn.dynamic_config_fn]
    for table in (defn.signals, defn.queries, defn.updates):
        for d in table.values():
            found += [d.fn, getattr(d, "validator", None)]
    return [f for f in found if f is not None]


@pytest.mark.parametrize("cls", ALL_WORKFLOWS, ids=lambda c: c.__name__)
def test_a_class_imported_again_gets_what_the_sdk_would_find_bound_to_it(
    cls: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as sdk_only:
        sdk_only.setattr(temporalio.workflow._Definition, "_apply_to_class", SDK)
        by_sdk = getattr(imported_again(cls.__module__), cls.__name__)
    inspected: list[type] = []
    monkeypatch.setattr(workers.sandbox, "_SDK_APPLY", lambda c, **_: inspected.append(c))
    again = imported_again(cls.__module__)
    new_cls = getattr(again, cls.__name__)
    assert new_cls not in inspected  # built from the template, not inspected again
    assert new_cls is not cls and new_cls is not by_sdk
    shared = temporalio.workflow._Definition.must_from_class(new_cls)
    assert described(shared) == described(temporalio.workflow._Definition.must_from_class(by_sdk))
    assert shared.cls is new_cls and shared.run_fn is vars(new_cls)["run"]
    assert getattr(shared.run_fn, "__temporal_workflow_definition") is shared
    # Each function is the new import's own (bound to its module's names, in the sandbox the
    # guarded ones), or one a passed-through base class holds, never the first import's.
    for f in functions(shared):
        owner = sys.modules[f.__module__]
        assert f.__globals__ is (vars(again) if f.__module__ == cls.__module__ else vars(owner))
        assert f.__module__ != cls.__module__ or f is not getattr(cls, f.__name__, None)


def test_other_code_under_the_same_name_is_inspected_and_refused_by_the_sdk() -> None:
    """A class that is not the template's code (here: its run method gone) is not given the
    template's definition: the SDK inspects it and refuses it."""
    from workflows.escalation import EscalationWorkflow

    namespace: dict[str, Any] = {"__module__": EscalationWorkflow.__module__}
    stray = type("EscalationWorkflow", EscalationWorkflow.__mro__[1:2], namespace)
    assert (stray.__module__, stray.__qualname__) == (EscalationWorkflow.__module__, "EscalationWorkflow")
    with pytest.raises(ValueError, match=r"Missing @workflow\.run method"):
        workflow.defn(stray)
