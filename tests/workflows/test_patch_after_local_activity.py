"""No run asks for a patch after a local activity (``patches-at-start``).

Under load, a case's first projection (a local activity) outlived its workflow task's heartbeat:
the code after it ran in the next workflow task, so the ``keep-unchanged-timer`` patch asked
there was recorded in that task, while replay runs the same code in the activity's task, finds
no marker there and fails ("Non-deprecated patch marker encountered ... no corresponding change
command"); 18 of 800 cases of a load run could not be replayed, and so could not go on once
their worker forgot them. A run now records ``patches-at-start`` before anything else and takes
every patch's new branch without asking again, so no patch marker can follow a local activity's.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.messages import AttemptInput, ResolveInput
from tests.conftest import now_of
from tests.workflows.support import interaction_input, resolve_update, resolved_by_lead, start, team
from workflows.common import PATCHES_AT_START_PATCH
from workflows.escalation import EscalationWorkflow
from workflows.interaction import InteractionWorkflow


def markers(history: Any) -> list[str]:
    """The history's markers in order: patch ids, and ``LA`` for a local activity's marker."""
    out: list[str] = []
    for e in history.events:
        if not e.HasField("marker_recorded_event_attributes"):
            continue
        a = e.marker_recorded_event_attributes
        if a.marker_name == "core_patch":
            out.append(json.loads(a.details["patch-data"].payloads[0].data)["id"])
        elif a.marker_name == "core_local_activity":
            out.append("LA")
    return out


async def test_every_patch_is_asked_before_any_local_activity(
    env: WorkflowEnvironment, client: Client, worker: Worker, sessions: sessionmaker[Session], task_queue: str
) -> None:
    inp = interaction_input(team(), await now_of(env), flags=["complaint"])
    handle = await start(client, inp, task_queue)
    st = await handle.execute_update(
        InteractionWorkflow.record_attempt,
        AttemptInput(attempt_id="a-1", outcome="no_answer", staff_id="chw-ana"),
    )
    (esc,) = st.escalations
    esc_handle: WorkflowHandle[Any, Any] = client.get_workflow_handle(esc.workflow_id)
    await esc_handle.execute_update(EscalationWorkflow.resolve, resolved_by_lead(esc.escalation_id))
    await handle.execute_update(resolve_update, ResolveInput(actor_id="chw-ana"))
    await handle.result()
    await esc_handle.result()
    for h in (handle, esc_handle):
        found = markers(await h.fetch_history())
        assert found[0] == PATCHES_AT_START_PATCH, found
        assert "LA" in found, found  # the projection is a local activity: the check means something
        assert found.count(PATCHES_AT_START_PATCH) == 1 and all(m == "LA" for m in found[1:]), (
            f"a patch asked after the run began: {found}"
        )


def test_patches_at_start_implies_exactly_the_patches_there_were_when_it_came_in() -> None:
    """A patch added later must not be implied: runs that recorded ``patches-at-start`` before
    it existed ran its old branch, and replay must keep them there."""
    from workflows.common import PATCHES_AT_START_IMPLIES

    assert sorted(PATCHES_AT_START_IMPLIES) == [
        "contact-window-retry",
        "end-after-escalations",
        "escalation-own-id",
        "keep-unchanged-timer",
        "perf-continue-as-new-suggested",
        "perf-lean-history",
        "settle-before-run-ends",
    ]
