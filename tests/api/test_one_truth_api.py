"""A repeat is answered from what Temporal applied, never from the row alone (a row can say more
than the workflow after a workflow task Temporal lost), and a closed case stays closed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy.orm import Session, sessionmaker
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from activities.notifications import LogChannel
from api.app import create_app
from config.settings import Settings
from store.db import unit_of_work
from store.models import Interaction
from tests.api.support import ANA, LEAD, SYSTEM, create, detail, interaction_body, setup_team
from tests.workflows.support import eventually, status_of
from workers.main import build_worker


def with_key(headers: dict[str, str]) -> dict[str, str]:
    return {**headers, "Idempotency-Key": uuid.uuid4().hex}


def say_resolved_in_sql_only(sessions: sessionmaker[Session], interaction_id: str, by: str) -> None:
    """What a resolve whose projection committed, and whose workflow task the server then lost,
    leaves behind: the row resolved one version ahead, the workflow still running."""
    with unit_of_work(sessions) as s:
        row = s.get(Interaction, interaction_id)
        assert row is not None
        row.status, row.resolved_by, row.version = "resolved", by, row.version + 1


async def test_a_resolve_repeated_after_temporal_lost_it_resolves_the_case_in_temporal(
    api: httpx.AsyncClient, client: Client, sessions: sessionmaker[Session]
) -> None:
    await setup_team(api)
    case = await create(api)
    r = await api.post(
        f"/v1/interactions/{case['id']}/attempts", json={"outcome": "reached"}, headers=with_key(ANA)
    )
    assert r.status_code == 200, r.text
    say_resolved_in_sql_only(sessions, case["id"], "chw-ana")
    assert await status_of(client, case["workflow_id"]) == WorkflowExecutionStatus.RUNNING

    headers = with_key(ANA)
    r = await api.post(
        f"/v1/interactions/{case['id']}/resolve", json={"resolution": "food bank"}, headers=headers
    )
    assert r.status_code == 200, r.text
    assert await eventually(
        lambda: _is(status_of(client, case["workflow_id"]), WorkflowExecutionStatus.COMPLETED)
    ), "the repeat was answered from the row: the workflow still runs"
    got = await detail(api, case["id"])
    assert got["status"] == "resolved" and got["resolution"] == "food bank"


async def test_an_attempt_on_a_row_that_only_says_resolved_reaches_the_workflow(
    api: httpx.AsyncClient, client: Client, sessions: sessionmaker[Session]
) -> None:
    """The row's word alone does not refuse an action: the workflow, which is still open, takes
    it, and its projection corrects the row."""
    await setup_team(api)
    case = await create(api)
    assert await eventually(lambda: _row_version(sessions, case["id"]))  # "created" projected
    say_resolved_in_sql_only(sessions, case["id"], "chw-ana")
    r = await api.post(
        f"/v1/interactions/{case['id']}/attempts", json={"outcome": "no_answer"}, headers=with_key(ANA)
    )
    assert r.status_code == 200, r.text
    got = await detail(api, case["id"])
    assert got["status"] == "attempting" and got["resolved_by"] is None


async def _row_version(sessions: sessionmaker[Session], interaction_id: str) -> int:
    with sessions() as s:
        row = s.get(Interaction, interaction_id)
        return 0 if row is None else row.version


async def _is(value: Any, expected: Any) -> bool:
    return bool(await value == expected)


@pytest_asyncio.fixture(loop_scope="session")
async def dev_api(
    dev_env: WorkflowEnvironment, sessions: sessionmaker[Session], settings: Settings
) -> AsyncIterator[tuple[httpx.AsyncClient, Client]]:
    """The API and a worker on the dev server (it can delete a closed run, as retention does)."""
    client = dev_env.client
    async with build_worker(client, task_queue=settings.task_queue, sessions=sessions, channel=LogChannel()):
        app = create_app(settings, temporal_client=client)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
            yield c, client


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_repeat_start_after_retention_answers_the_closed_case_and_starts_nothing(
    dev_api: tuple[httpx.AsyncClient, Client],
) -> None:
    api, client = dev_api
    await setup_team(api)
    body = interaction_body(external_id=f"ret-{uuid.uuid4().hex[:8]}")
    r = await api.post("/v1/interactions", json=body, headers=SYSTEM)
    assert r.status_code == 201, r.text
    case = r.json()
    for action, payload in (("attempts", {"outcome": "reached"}), ("resolve", {"resolution": "done"})):
        r = await api.post(f"/v1/interactions/{case['id']}/{action}", json=payload, headers=with_key(ANA))
        assert r.status_code == 200, r.text
    wid = case["workflow_id"]
    assert await eventually(lambda: _is(status_of(client, wid), WorkflowExecutionStatus.COMPLETED))
    await client.workflow_service.delete_workflow_execution(
        DeleteWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(
                workflow_id=wid, run_id=(await client.get_workflow_handle(wid).describe()).run_id
            ),
        )
    )
    # The dev server deletes a closed run about half a minute after it is asked (as retention does).
    assert await eventually(lambda: _is(status_of(client, wid), None), within=90)

    r = await api.post("/v1/interactions", json=body, headers=SYSTEM)  # the backend repeats its start
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "resolved"
    await asyncio.sleep(1.0)
    assert await status_of(client, wid) is None, "a closed case was reopened by a repeated start"


async def test_two_people_resolving_one_case_at_once_store_the_winners_resolution(
    api: httpx.AsyncClient, sessions: sessionmaker[Session]
) -> None:
    """The resolution is kept per action and placed only by the resolve that won; the loser's
    409 drops only its own text (it used to be one text per case, which the loser deleted)."""
    await setup_team(api)
    for n in range(6):
        case = await create(api)
        rivals = [("chw-ana", ANA), ("lead-1", LEAD)] if n % 2 == 0 else [("lead-1", LEAD), ("chw-ana", ANA)]

        async def resolve(
            who: str, headers: dict[str, str], iid: str = case["id"], n: int = n
        ) -> tuple[str, int]:
            r = await api.post(
                f"/v1/interactions/{iid}/resolve",
                json={"resolution": f"{who} ({n})"},
                headers=with_key(headers),
            )
            return who, r.status_code

        answers = await asyncio.gather(*(resolve(who, h) for who, h in rivals))
        assert sorted(code for _, code in answers) == [200, 409], answers
        (winner,) = [who for who, code in answers if code == 200]
        got = await detail(api, case["id"])
        assert (got["resolution"], got["resolved_by"]) == (f"{winner} ({n})", winner)


async def test_an_escalation_resolve_temporal_lost_is_applied_by_its_repeat(
    api: httpx.AsyncClient, client: Client, sessions: sessionmaker[Session]
) -> None:
    """The escalation's row says resolved (a resolve projected, then lost with its workflow task);
    the lead's repeat reaches the workflow, which applies it, instead of a 409 from the row."""
    from store.models import Escalation
    from tests.api.test_escalations_api import escalation_of

    await setup_team(api)
    case = await create(api, flags=["complaint"])
    esc = await escalation_of(api, case["id"], "complaint")
    with unit_of_work(sessions) as s:
        row = s.get(Escalation, esc["id"])
        assert row is not None
        row.status, row.resolved_by, row.version = "resolved", "lead-1", row.version + 1
    assert await status_of(client, esc["workflow_id"]) == WorkflowExecutionStatus.RUNNING
    body = {"action_taken": "called the member back", "outcome": "apologised"}
    r = await api.post(f"/v1/escalations/{esc['id']}/resolve", json=body, headers=with_key(LEAD))
    assert r.status_code == 200, r.text
    assert await eventually(
        lambda: _is(status_of(client, esc["workflow_id"]), WorkflowExecutionStatus.COMPLETED)
    )
    assert r.json()["action_taken"] == "called the member back"
