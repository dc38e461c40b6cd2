"""The worker's workflow sandbox (docs/adr/sandbox.md): on by default, with our deterministic
modules passed through, and those modules safe to share between workflow instances.

The lifecycle under the production runner is
``test_interaction_lifecycle.py::test_the_worker_runs_a_case_from_start_to_resolution_with_and_without_the_sandbox``;
the rest of the suite runs its workflows with the ``worker`` fixture, i.e. ``build_worker``'s runner.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import pkgutil
from pathlib import Path
from types import ModuleType

from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from config.settings import Settings
from workers.main import WORKFLOW_PASSTHROUGH_MODULES, build_worker, workflow_runner
from workflows.registry import ALL_WORKFLOWS

ROOT = Path(__file__).resolve().parents[2]
# Our own packages among the passed-through modules (the rest are pydantic and its dependencies).
OURS = ("domain", "activities", "workflows")
# What a passed-through module of ours that may run inside a workflow never imports: clocks,
# randomness, the environment, threads and I/O (a workflow takes these from ``workflow.*``).
NONDETERMINISTIC_IMPORTS = frozenset(
    {"random", "secrets", "time", "os", "uuid", "threading", "socket", "subprocess", "httpx", "sqlalchemy"}
)
NONDETERMINISTIC_CALLS = frozenset({"now", "utcnow", "today"})


def passed_through(name: str) -> bool:
    """Whether the production runner passes module ``name`` through (the SDK's own rule: the
    module or one of its parents is listed)."""
    parts = name.split(".")
    return any(".".join(parts[:k]) in WORKFLOW_PASSTHROUGH_MODULES for k in range(1, len(parts) + 1))


def our_passed_through_modules() -> list[ModuleType]:
    modules: list[ModuleType] = []
    for package in OURS:
        pkg = importlib.import_module(package)
        names = [package, *(f"{package}.{m.name}" for m in pkgutil.walk_packages(pkg.__path__))]
        modules += [importlib.import_module(n) for n in names if passed_through(n)]
    return modules


def runs_in_workflows(module: ModuleType) -> bool:
    """Activities are passed through for their definitions only; their code never runs in a workflow."""
    return not module.__name__.startswith("activities")


def test_the_worker_runs_workflows_in_the_sandbox_by_default() -> None:
    assert Settings.model_fields["worker_workflow_sandbox"].default is True
    assert inspect.signature(build_worker).parameters["sandbox"].default is True
    runner = workflow_runner()
    assert isinstance(runner, SandboxedWorkflowRunner)
    restrictions = runner.restrictions
    assert restrictions.passthrough_modules == (
        SandboxRestrictions.default.passthrough_modules | set(WORKFLOW_PASSTHROUGH_MODULES)
    )
    # Still the SDK's default guard on what workflow code may call.
    assert restrictions.invalid_module_members == SandboxRestrictions.default.invalid_module_members
    assert not restrictions.passthrough_all_modules


async def test_the_suites_worker_is_the_production_runner(worker: Worker) -> None:
    runner = worker.config()["workflow_runner"]
    assert isinstance(runner, SandboxedWorkflowRunner)
    assert set(WORKFLOW_PASSTHROUGH_MODULES) <= runner.restrictions.passthrough_modules


def test_every_passed_through_module_exists() -> None:
    """A misspelt name would pass nothing through and silently bring the price back."""
    missing = [m for m in WORKFLOW_PASSTHROUGH_MODULES if importlib.util.find_spec(m) is None]
    assert not missing


def test_the_modules_defining_workflows_are_re_imported_for_each_instance() -> None:
    """The sandbox keeps guarding the workflows' own code: their modules are not passed through."""
    shared = [wf.__module__ for wf in ALL_WORKFLOWS if passed_through(wf.__module__)]
    assert not shared


def test_our_passed_through_modules_hold_no_mutable_global_state() -> None:
    """Shared by every workflow instance of the worker: no module- or class-level list, dict, set
    or bytearray that one instance could change under another (constant tables are read-only
    ``MappingProxyType``s or frozensets), and no ``global`` statement. Activities are exempt:
    their process state (e.g. the outbox's unrecorded tries) belongs to the worker, and a
    workflow only names their definitions."""
    found: list[str] = []
    for module in filter(runs_in_workflows, our_passed_through_modules()):
        for name, value in vars(module).items():
            if name.startswith("__"):
                continue
            if isinstance(value, list | dict | set | bytearray):
                found.append(f"{module.__name__}.{name}: {type(value).__name__}")
            if inspect.isclass(value) and value.__module__ == module.__name__:
                for attr, member in vars(value).items():
                    if attr.startswith(("__", "_abc", "model_", "__pydantic")):
                        continue  # the class machinery's own
                    if isinstance(member, list | dict | set | bytearray):
                        found.append(f"{module.__name__}.{name}.{attr}: {type(member).__name__}")
        tree = ast.parse(Path(module.__file__ or "").read_text())
        found += [
            f"{module.__name__}:{n.lineno}: global" for n in ast.walk(tree) if isinstance(n, ast.Global)
        ]
    assert not found, "\n".join(found)


def test_our_passed_through_workflow_code_makes_no_nondeterministic_call() -> None:
    """The sandbox does not watch passed-through code at run time; this does, statically, for
    every passed-through module of ours whose code runs inside workflows (the replay tests also
    replay every recorded history under the SDK's default sandbox, which re-imports them)."""
    found: list[str] = []
    for module in filter(runs_in_workflows, our_passed_through_modules()):
        tree = ast.parse(Path(module.__file__ or "").read_text())
        for n in ast.walk(tree):
            if isinstance(n, ast.Import):
                found += [
                    f"{module.__name__}:{n.lineno}: import {a.name}"
                    for a in n.names
                    if a.name.split(".")[0] in NONDETERMINISTIC_IMPORTS
                ]
            elif isinstance(n, ast.ImportFrom) and (n.module or "").split(".")[0] in NONDETERMINISTIC_IMPORTS:
                found.append(f"{module.__name__}:{n.lineno}: from {n.module} import ...")
            elif (
                isinstance(n, ast.Call)
                and isinstance(n.func, ast.Attribute)
                and n.func.attr in NONDETERMINISTIC_CALLS
                and not (isinstance(n.func.value, ast.Name) and n.func.value.id == "workflow")
            ):
                found.append(f"{module.__name__}:{n.lineno}: .{n.func.attr}()")
    assert not found, "\n".join(found)
