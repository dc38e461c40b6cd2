"""Committed histories replay against the current workflow code without nondeterminism.

A change that breaks replay would strand every case in flight; this test catches it in CI.
The histories are recorded by ``python -m tests.workflows.histories.record``.
"""

from __future__ import annotations

import ast
import base64
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from domain.messages import EscalationInput, EscalationState
from workflows.common import KEEP_TIMER_PATCH
from workflows.escalation import EscalationWorkflow
from workflows.interaction_contact import CONTACT_WINDOW_PATCH
from workflows.interaction_escalations import ESCALATION_OWN_ID_PATCH
from workflows.registry import ALL_WORKFLOWS

HISTORIES = Path(__file__).parent / "histories"
# File name -> workflow id, written by the recorder. v1: recorded before the keep-unchanged-timer
# patch (old runs); v2: with it.
CASES: dict[str, str] = json.loads((HISTORIES / "index.json").read_text())


def load(name: str) -> WorkflowHistory:
    return WorkflowHistory.from_json(CASES[name], (HISTORIES / name).read_text())


@pytest.mark.parametrize("name", sorted(CASES))
async def test_committed_history_replays(name: str) -> None:
    history = load(name)
    last = history.events[-1].event_type
    assert last in (  # a whole run, not a fragment
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
    )
    result = await Replayer(workflows=ALL_WORKFLOWS, data_converter=pydantic_data_converter).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert result.replay_failure is None, result.replay_failure


def test_every_file_is_indexed_and_every_indexed_file_exists() -> None:
    assert sorted(p.name for p in HISTORIES.glob("*.json") if p.name != "index.json") == sorted(CASES)


def what_happens(name: str) -> set[str]:
    """The workflow type and the handlers, signals and endings a history exercises."""
    found: set[str] = set()
    for event in load(name).events:
        if event.HasField("workflow_execution_started_event_attributes"):
            found.add(event.workflow_execution_started_event_attributes.workflow_type.name)
        elif event.HasField("workflow_execution_signaled_event_attributes"):
            found.add(f"signal:{event.workflow_execution_signaled_event_attributes.signal_name}")
        elif event.HasField("workflow_execution_update_accepted_event_attributes"):
            found.add(
                f"update:{event.workflow_execution_update_accepted_event_attributes.accepted_request.input.name}"
            )
        elif event.HasField("workflow_execution_continued_as_new_event_attributes"):
            found.add("continued_as_new")
        elif event.HasField("timer_fired_event_attributes"):
            found.add("timer_fired")
    return found


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "interaction_happy_path",
            {"InteractionWorkflow", "update:record_attempt", "update:resolve", "timer_fired"},
        ),
        (
            "interaction_with_escalation",
            {"InteractionWorkflow", "signal:escalation_changed", "update:resolve"},
        ),
        (
            "escalation_safety_night",
            {"EscalationWorkflow", "update:acknowledge", "update:resolve", "timer_fired"},
        ),
        ("interaction_covered", {"InteractionWorkflow", "signal:coverage"}),
        ("absence_coverage", {"AbsenceWorkflow", "timer_fired"}),
        ("absence_extend_cancel", {"AbsenceWorkflow", "update:change_end", "update:cancel"}),
        ("absence_continued_first_run", {"AbsenceWorkflow", "update:change_end", "continued_as_new"}),
        ("absence_continued_last_run", {"AbsenceWorkflow", "timer_fired"}),
        ("interaction_continued_first_run", {"InteractionWorkflow", "update:assign", "continued_as_new"}),
        ("interaction_continued_last_run", {"InteractionWorkflow", "update:resolve"}),
        (
            "checkin_continued_first_run",
            {"CheckinWorkflow", "signal:calendar_changed", "timer_fired", "continued_as_new"},
        ),
    ],
)
def test_the_recorded_paths_are_the_ones_that_matter(name: str, expected: set[str]) -> None:
    """Each recorded case covers what its replay must protect (re-record if this fails)."""
    assert expected <= what_happens(f"{name}.v2.json")


def payload_text(name: str) -> str:
    """Every payload of a committed history, decoded (timeline kinds, triggers, notice reasons)."""
    texts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "data" and isinstance(value, str):
                    texts.append(base64.b64decode(value).decode(errors="replace"))
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads((HISTORIES / name).read_text()))
    return "\n".join(texts)


@pytest.mark.parametrize(
    ("name", "expected", "said"),
    [
        (
            "interaction_escalation_paths",
            {"InteractionWorkflow", "update:flag", "update:record_attempt", "timer_fired"},
            ['"overdue"', "deadline_missed", "trigger_repeated", "unreachable", "wrong_number"],
        ),
        ("escalation_assigned", {"EscalationWorkflow", "update:assign"}, ["escalation_owner_changed"]),
        (
            "escalation_resolve_overdue",
            {"EscalationWorkflow", "update:acknowledge", "update:resolve", "timer_fired"},
            ["escalation_resolve_overdue"],
        ),
        ("escalation_unreachable", {"EscalationWorkflow", "update:resolve"}, ['"unreachable"']),
        ("escalation_continued_first_run", {"EscalationWorkflow", "timer_fired", "continued_as_new"}, []),
        ("escalation_continued_last_run", {"EscalationWorkflow", "update:acknowledge", "update:resolve"}, []),
        ("notification_group_continued_first_run", {"NotificationGroupWorkflow", "continued_as_new"}, []),
    ],
)
def test_the_v6_paths_are_recorded(name: str, expected: set[str], said: list[str]) -> None:
    """v6 covers the paths no older fixture had (issue 19): flag, overdue -> deadline_missed,
    unreachable, trigger_repeated, escalation assign, resolve-overdue and continue-as-new,
    grouping continue-as-new."""
    file = f"{name}.v6.json"
    assert expected <= what_happens(file)
    text = payload_text(file)
    assert all(s in text for s in said), [s for s in said if s not in text]


def test_every_workflow_type_has_a_recorded_history() -> None:
    types = set().union(*(what_happens(name) for name in CASES))
    assert {w.__name__ for w in ALL_WORKFLOWS} <= types


@pytest.mark.parametrize("version", ["v1", "v2", "v3"])
def test_the_escalation_history_is_the_whole_ladder(version: str) -> None:
    """The recorded case covers what replay must protect: level change, repeats, ack, resolve."""
    text = json.dumps(load(f"escalation_safety_night.{version}.json").to_json_dict())
    assert text.count("TIMER_FIRED") >= 3  # level 2, then two repeats
    assert text.count("WORKFLOW_EXECUTION_UPDATE_COMPLETED") == 2  # acknowledge, resolve
    assert "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED" in text  # the parent was told


@workflow.defn(name="EscalationWorkflow")
class ReorderedEscalation:
    """The same workflow with one step moved: waits before notifying level 1."""

    @workflow.run
    async def run(self, inp: EscalationInput) -> EscalationState:
        await workflow.sleep(timedelta(minutes=1))
        return await EscalationWorkflow(inp).run(inp)  # pragma: no cover - never reached in replay


async def test_a_reordered_workflow_is_caught() -> None:
    """The replay check can fail: a changed command order is reported as nondeterminism."""
    result = await Replayer(
        workflows=[ReorderedEscalation], data_converter=pydantic_data_converter
    ).replay_workflow(load("escalation_safety_night.v2.json"), raise_on_replay_failure=False)
    assert result.replay_failure is not None
    assert "nondetermin" in str(result.replay_failure).lower()


def test_only_new_runs_carry_the_keep_timer_patch() -> None:
    """v1 is a run from before the patch (it must replay on the old path), v2 one from after;
    v3 also records the escalation-own-id patch (v1 and v2 replay on the old escalation path)."""

    def patches(name: str) -> list[str]:
        found = []
        for event in load(name).events:
            if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
                for payload in event.marker_recorded_event_attributes.details["patch-data"].payloads:
                    found.append(json.loads(payload.data)["id"])
        return found

    assert patches("interaction_with_escalation.v1.json") == []
    assert patches("interaction_with_escalation.v2.json") == [KEEP_TIMER_PATCH]
    assert patches("escalation_safety_night.v2.json") == [KEEP_TIMER_PATCH]
    # v3: escalations with their own workflow id, started before the case records them.
    assert set(patches("interaction_with_escalation.v3.json")) == {KEEP_TIMER_PATCH, ESCALATION_OWN_ID_PATCH}
    # v4: a retry held for the member's contact window; runs before it never called the patch
    # (their attempts carried no member rules), so they replay unchanged.
    assert CONTACT_WINDOW_PATCH in patches("interaction_contact_window.v4.json")
    assert all(CONTACT_WINDOW_PATCH not in patches(n) for n in CASES if not n.endswith(".v4.json"))
    assert "timer_fired" in what_happens("interaction_contact_window.v4.json")


# Where a history carries the payloads a workflow reads back into message models on replay.
MODEL_PAYLOADS = {
    "workflowExecutionStartedEventAttributes": ("input",),
    "workflowExecutionSignaledEventAttributes": ("input",),
    "workflowExecutionUpdateAcceptedEventAttributes": ("acceptedRequest", "input", "args"),
    "activityTaskCompletedEventAttributes": ("result",),
}


def with_unknown_field(name: str) -> tuple[WorkflowHistory, set[str]]:
    """The committed history with a field this code does not know in every model payload it
    reads back: the workflow input, signals, update arguments and activity results. That is a
    history written by a release that had a field since removed, or an update sent by a newer
    API during a rolling deploy."""
    raw = json.loads((HISTORIES / name).read_text())
    touched: set[str] = set()
    for event in raw["events"]:
        for attributes, path in MODEL_PAYLOADS.items():
            node: Any = event.get(attributes)
            for key in path:
                node = node.get(key) if isinstance(node, dict) else None
            for payload in (node or {}).get("payloads", []):
                if base64.b64decode(payload["metadata"]["encoding"]) != b"json/plain":
                    continue  # binary/null: an activity that returns nothing
                value = json.loads(base64.b64decode(payload["data"]))
                if isinstance(value, dict):
                    value["field_from_another_release"] = {"any": ["shape"]}
                    payload["data"] = base64.b64encode(json.dumps(value).encode()).decode()
                    touched.add(attributes)
    return WorkflowHistory.from_json(CASES[name], json.dumps(raw)), touched


@pytest.mark.parametrize("name", sorted(CASES))
async def test_a_history_carrying_unknown_fields_replays(name: str) -> None:
    """Message models ignore fields they do not know (docs/adr/message-evolution.md), so removing
    a field, or a newer API sending one, does not strand the workflows in flight."""
    history, touched = with_unknown_field(name)
    assert "workflowExecutionStartedEventAttributes" in touched
    result = await Replayer(workflows=ALL_WORKFLOWS, data_converter=pydantic_data_converter).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert result.replay_failure is None, result.replay_failure


# ---------------------------------------------------------------- every patch has a fixture
WORKFLOWS_DIR = Path(__file__).parents[2] / "workflows"
PATCHING_ADR = Path(__file__).parents[2] / "docs" / "adr" / "patching.md"

# Patches no committed fixture records, each with the reason. Shrink this, never grow it
# without a reason a reviewer accepts: an unrecorded patch branch is one replay never checks.
EXEMPT: dict[str, str] = {
    "no-window-no-overlap": (
        "its new branch only returns before any command (no_overlap, as a window that never meets"
        " business hours already does, fixture interaction_contact_window.v4.json's path); a"
        " fixture needs an attempt on a member with no window in force, which the recorder's"
        " scenarios do not make (2026-12-06, found by a time-of-day failure of"
        " test_a_member_window_outside_the_legal_one_is_held_by_no_overlap)"
    ),
}


def patch_constants() -> dict[str, str]:
    """Every module-level ``*_PATCH`` string constant in ``workflows/`` (id -> where defined),
    found by reading the modules' source, so a new patch cannot be forgotten here."""
    found: dict[str, str] = {}
    for path in sorted(WORKFLOWS_DIR.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.Assign):
                targets, value = node.targets, node.value
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                targets, value = [node.target], node.value
            else:
                continue
            for target in targets:
                if (
                    isinstance(target, ast.Name)
                    and target.id.endswith("_PATCH")
                    and isinstance(value, ast.Constant)
                    and isinstance(value.value, str)
                ):
                    found.setdefault(value.value, f"workflows/{path.name}:{target.id}")
    return found


def patch_markers(name: str) -> set[str]:
    """The patch ids a committed history records (``core_patch`` markers)."""
    found: set[str] = set()
    for event in load(name).events:
        if event.event_type != EventType.EVENT_TYPE_MARKER_RECORDED:
            continue
        details = event.marker_recorded_event_attributes.details
        if "patch-data" in details:
            for payload in details["patch-data"].payloads:
                found.add(json.loads(payload.data)["id"])
    return found


# Fixtures of patches met only in a race, each recorded on the commit that introduced the patch
# (a git worktree of it running the recorder's scenario): fixture -> (patch, commit).
RACE_FIXTURES: dict[str, tuple[str, str]] = {
    "interaction_suggested_first_run.v5.json": ("perf-continue-as-new-suggested", "d33924a"),
    "interaction_settle_race_first_run.v5.json": ("settle-before-run-ends", "97080a6"),
    "interaction_ends_after_escalation.v5.json": ("end-after-escalations", "b1c0191"),
}


@pytest.mark.parametrize("name", sorted(RACE_FIXTURES))
def test_a_race_fixture_records_its_patch(name: str) -> None:
    patch, _commit = RACE_FIXTURES[name]
    assert patch in patch_markers(name)


def test_the_patch_scan_finds_the_known_patches() -> None:
    """The scan works (it is what the guard below relies on)."""
    assert {KEEP_TIMER_PATCH, ESCALATION_OWN_ID_PATCH, CONTACT_WINDOW_PATCH} <= set(patch_constants())


def test_every_patch_has_a_committed_fixture_or_a_written_exemption() -> None:
    """Replay checks a patch's new branch only if some committed history recorded its marker;
    without one, a later change to that branch ships unchecked and the patch can never be
    retired safely (docs/adr/patching.md)."""
    recorded = set().union(*(patch_markers(name) for name in CASES))
    patches = patch_constants()
    missing = {p: where for p, where in patches.items() if p not in recorded and p not in EXEMPT}
    assert not missing, f"patches with no fixture recording their marker and no exemption: {missing}"
    assert all(reason.strip() for reason in EXEMPT.values())
    stale = {p for p in EXEMPT if p in recorded or p not in patches}
    assert not stale, f"exemptions no longer needed (recorded, or no such patch): {stale}"


def test_every_patch_is_listed_in_the_patching_adr() -> None:
    adr = PATCHING_ADR.read_text()
    unlisted = sorted(p for p in patch_constants() if f"`{p}`" not in adr)
    assert not unlisted, f"patches missing from docs/adr/patching.md: {unlisted}"
