"""Staff notifications are grouped by default (docs/rules.md §2.8): a team saved without a
``notifications`` block gets the documented defaults, so two notices to one CHW within the 30 s
group wait go out in one delivery, while a safety notice goes alone at once; a team that says
``notifications: null`` has every notice delivered alone, at once. What a delivery carried is
read where staff read it: ``GET /v1/notifications`` (``delivered_at``, ``delivery_id``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from temporalio.testing import WorkflowEnvironment

from tests.api.support import SYSTEM, create, notifications, setup_team
from tests.conftest import CHICAGO_TEAM
from tests.workflows.support import eventually, steady

DEFAULTS = {
    "group_wait_seconds": 30,
    "group_interval_minutes": 5,
    "repeat_interval_minutes": 60,
    "max_items_per_delivery": 50,
    "bypass": ["safety"],
    "task_updated": False,
}


async def save_team(api: httpx.AsyncClient, **over: Any) -> dict[str, Any]:
    """Save eastside's configuration (one case per contact) and answer it as ``GET`` shows it."""
    body = {**CHICAGO_TEAM, "policy": {"merge_repeat_contacts": False}, **over}
    r = await api.put("/v1/teams/eastside", json=body, headers=SYSTEM)
    assert r.status_code == 200, r.text
    r = await api.get("/v1/teams/eastside", headers=SYSTEM)
    assert r.status_code == 200, r.text
    team: dict[str, Any] = r.json()
    return team


async def notices(api: httpx.AsyncClient, recipient: str, kind: str, count: int) -> list[dict[str, Any]]:
    """The ``count`` notices of ``kind`` to ``recipient`` once they are all written."""

    async def written() -> list[dict[str, Any]] | None:
        rows = [n for n in await notifications(api, recipient) if n["kind"] == kind]
        return rows if len(rows) == count else None

    return await eventually(written)


async def delivered(api: httpx.AsyncClient, recipient: str, kind: str, count: int) -> list[dict[str, Any]]:
    """The ``count`` notices of ``kind`` to ``recipient`` once every one of them is delivered."""

    async def done() -> list[dict[str, Any]] | None:
        rows = await notices(api, recipient, kind, count)
        return rows if all(n["delivered_at"] is not None for n in rows) else None

    return await eventually(done)


async def test_a_team_saved_without_the_block_sends_two_notices_in_one_delivery(
    api: httpx.AsyncClient, env: WorkflowEnvironment
) -> None:
    await setup_team(api)
    team = await save_team(api)  # no "notifications" key
    assert team["notifications"] == DEFAULTS
    await create(api, member_id="mem-1")
    await create(api, member_id="mem-1")
    # Both "assigned" notices to Ana wait in her group: nothing is delivered while the test
    # server's clock stands still inside the 30-second group wait.
    waiting = await steady(lambda: notices(api, "chw-ana", "assigned", 2), quiet=1.0)
    assert [n["delivered_at"] for n in waiting] == [None, None]

    await env.sleep(timedelta(seconds=35))
    rows = await delivered(api, "chw-ana", "assigned", 2)
    [delivery] = {n["delivery_id"] for n in rows}  # one delivery carried both
    assert delivery is not None


async def test_a_safety_notice_goes_alone_at_once_under_the_defaults(
    api: httpx.AsyncClient, env: WorkflowEnvironment
) -> None:
    await setup_team(api)
    await save_team(api)
    await create(api, member_id="mem-1", flags=["safety"])
    [safety] = await delivered(api, "lead-1", "escalation", 1)
    assert safety["trigger"] == "safety"
    # Delivered while the case's ordinary notice to Ana still waits for its group: alone.
    [assigned] = await notices(api, "chw-ana", "assigned", 1)
    assert assigned["delivered_at"] is None
    carried = [n for n in await notifications(api, "lead-1") if n["delivery_id"] == safety["delivery_id"]]
    assert [n["id"] for n in carried] == [safety["id"]]


async def test_a_team_with_notifications_null_delivers_each_notice_alone_at_once(
    api: httpx.AsyncClient, env: WorkflowEnvironment
) -> None:
    await setup_team(api)
    team = await save_team(api, notifications=None)
    assert team["notifications"] is None  # saved and read back as "off", not as the defaults
    await create(api, member_id="mem-1")
    await create(api, member_id="mem-1")
    rows = await delivered(api, "chw-ana", "assigned", 2)  # no clock moved: at once
    assert [n["delivery_id"] for n in rows] == [None, None]  # each its own delivery, no group

    # Saving the team again without the block turns grouping on (the documented default).
    assert (await save_team(api))["notifications"] == DEFAULTS
