"""Absences over HTTP (docs/rules.md §2.5; docs/api.md §4.3): validation, overlaps, roles, and
coverage end to end against a real worker on the time-skipping server (kept at real time) and each
database."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from tests.api.support import (
    ANA,
    BEN,
    LEAD,
    MANAGER,
    OPS,
    OTHER_LEAD,
    SYSTEM,
    create,
    detail,
    notifications,
    require_real_clock,
    setup_other_team,
    setup_team,
)
from tests.workflows.support import eventually

NOW = datetime.now(UTC).replace(microsecond=0)


def iso(delta: timedelta, base: datetime | None = None) -> str:
    return ((base or datetime.now(UTC)) + delta).isoformat()


def body(**over: Any) -> dict[str, Any]:
    b: dict[str, Any] = {
        "staff_id": "chw-ana",
        "backup_id": "chw-ben",
        "starts_at": iso(timedelta(days=1), NOW),
        "ends_at": iso(timedelta(days=3), NOW),
        "reason": "CANARY-REASON training",
    }
    b.update(over)
    return b


async def add(api: httpx.AsyncClient, headers: Any = SYSTEM, **over: Any) -> dict[str, Any]:
    r = await api.post("/v1/absences", json=body(**over), headers=headers)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def listed(api: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    r = await api.get("/v1/absences", params=params, headers=SYSTEM)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"ends_at": iso(timedelta(days=1), NOW)}, "ends_at must be after starts_at"),
        ({"ends_at": iso(timedelta(hours=2), NOW)}, "ends_at must be after starts_at"),
        ({"staff_id": "nobody"}, "unknown staff 'nobody'"),
        ({"backup_id": "nobody"}, "unknown staff 'nobody' in team 'eastside'"),
        ({"backup_id": "lead-other"}, "unknown staff 'lead-other' in team 'eastside'"),
        ({"backup_id": "chw-ana"}, "someone other than"),
        ({"starts_at": "2026-11-16T09:00:00"}, "starts_at"),
        ({"ends_at": "2030-11-16T09:00:00"}, "ends_at"),
        ({"starts_at": "next monday"}, "starts_at"),
        (
            {"starts_at": iso(timedelta(days=-3), NOW), "ends_at": iso(timedelta(days=-1), NOW)},
            "ends_at has already passed",
        ),
    ],
)
async def test_bad_absence_is_422_and_creates_nothing(
    api: httpx.AsyncClient, over: dict[str, Any], message: str
) -> None:
    await setup_team(api)
    await setup_other_team(api)
    r = await api.post("/v1/absences", json=body(**over), headers=SYSTEM)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid"
    assert message in r.json()["error"]["message"]
    assert await listed(api, status="scheduled,active,ended,cancelled") == []


async def test_overlapping_absences_of_one_chw_are_409_back_to_back_is_fine(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    first = await add(api)
    r = await api.post(
        "/v1/absences",
        json=body(starts_at=iso(timedelta(days=2), NOW), ends_at=iso(timedelta(days=4), NOW)),
        headers=SYSTEM,
    )
    assert r.status_code == 409, r.text
    assert (
        "chw-ana is already absent" in r.json()["error"]["message"]
        and first["id"] in r.json()["error"]["message"]
    )
    second = await add(api, starts_at=first["ends_at"], ends_at=iso(timedelta(days=5), NOW))
    # Extending the first into the second is an overlap too, and changes nothing.
    r = await api.patch(
        f"/v1/absences/{first['id']}", json={"ends_at": iso(timedelta(days=4), NOW)}, headers=LEAD
    )
    assert r.status_code == 409, r.text
    assert [a["ends_at"] for a in await listed(api)] == [first["ends_at"], second["ends_at"]]


async def test_a_backup_who_is_absent_then_is_409(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    await add(api, staff_id="chw-ben", backup_id=None)
    r = await api.post("/v1/absences", json=body(starts_at=iso(timedelta(days=2), NOW)), headers=SYSTEM)
    assert r.status_code == 409, r.text
    assert "backup chw-ben is absent themselves" in r.json()["error"]["message"]
    # Without a backup (the unassigned queue) it is fine.
    await add(api, backup_id=None, starts_at=iso(timedelta(days=2), NOW))


async def test_changing_an_absence_validates_the_new_end(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    a = await add(api)
    url = f"/v1/absences/{a['id']}"
    for ends_at, status in (
        (a["starts_at"], 422),
        (iso(timedelta(hours=1), NOW), 422),
        ("2030-01-01T00:00:00", 422),
    ):
        r = await api.patch(url, json={"ends_at": ends_at}, headers=LEAD)
        assert r.status_code == status, r.text
    r = await api.patch(url, json={"ends_at": iso(timedelta(days=5), NOW)}, headers=LEAD)
    assert r.status_code == 200, r.text
    assert r.json()["ends_at"] == iso(timedelta(days=5), NOW)
    assert [e["kind"] for e in r.json()["timeline"]] == ["absence_scheduled", "absence_extended"]
    same = await api.patch(url, json={"ends_at": iso(timedelta(days=5), NOW)}, headers=LEAD)
    assert same.status_code == 200 and len(same.json()["timeline"]) == 2  # nothing new
    shorter = await api.patch(url, json={"ends_at": iso(timedelta(days=2), NOW)}, headers=ANA)
    assert shorter.status_code == 200 and shorter.json()["ends_at"] == iso(timedelta(days=2), NOW)
    assert (
        await api.patch("/v1/absences/nope", json={"ends_at": a["ends_at"]}, headers=LEAD)
    ).status_code == 404


async def test_cancel_a_scheduled_absence_then_it_is_over(api: httpx.AsyncClient, client: Client) -> None:
    await setup_team(api)
    a = await add(api)
    r = await api.post(f"/v1/absences/{a['id']}/cancel", headers=ANA)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled"
    assert (await client.get_workflow_handle(a["workflow_id"]).describe()).status == (
        WorkflowExecutionStatus.COMPLETED
    )
    again = await api.post(f"/v1/absences/{a['id']}/cancel", headers=ANA)
    assert again.status_code == 409 and "already cancelled" in again.json()["error"]["message"]
    late = await api.patch(
        f"/v1/absences/{a['id']}", json={"ends_at": iso(timedelta(days=9), NOW)}, headers=LEAD
    )
    assert late.status_code == 409
    assert await listed(api) == []  # the default list is what is scheduled or active
    assert [x["status"] for x in await listed(api, status="cancelled")] == ["cancelled"]
    # The slot is free again.
    await add(api)


# ---------------------------------------------------------------- roles
async def test_who_may_plan_and_change_absences(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    await setup_other_team(api)
    forbidden = [
        (OPS, body()),  # ops read, they do not plan
        (BEN, body()),  # a CHW plans only their own
        (OTHER_LEAD, body()),  # another team's lead
    ]
    for headers, b in forbidden:
        r = await api.post("/v1/absences", json=b, headers=headers)
        assert r.status_code == 403, r.text
    own = await add(api, headers=ANA, backup_id=None)
    assert own["created_by"] == "chw-ana"
    by_manager = await add(
        api,
        headers=MANAGER,
        staff_id="chw-ben",
        backup_id="chw-ana",
        starts_at=iso(timedelta(days=5), NOW),
        ends_at=iso(timedelta(days=6), NOW),
    )
    for headers in (BEN, OPS, OTHER_LEAD):
        r = await api.post(f"/v1/absences/{own['id']}/cancel", headers=headers)
        assert r.status_code == 403, r.text
        r = await api.patch(
            f"/v1/absences/{own['id']}", json={"ends_at": iso(timedelta(days=4), NOW)}, headers=headers
        )
        assert r.status_code == 403, r.text
    # Everyone on the team reads the team's absences; ops read all; another team's lead sees none.
    for headers in (ANA, BEN, LEAD, OPS):
        r = await api.get("/v1/absences", headers=headers)
        assert sorted(a["id"] for a in r.json()["items"]) == sorted([own["id"], by_manager["id"]])
    assert (await api.get("/v1/absences", headers=OTHER_LEAD)).json()["items"] == []
    assert (
        await api.get("/v1/absences", params={"team_id": "eastside"}, headers=OTHER_LEAD)
    ).status_code == 403
    assert (await api.get(f"/v1/absences/{own['id']}", headers=OTHER_LEAD)).status_code == 403
    assert (await api.get("/v1/absences", params={"status": "gone"}, headers=OPS)).status_code == 422


# ---------------------------------------------------------------- coverage end to end
async def test_active_absence_covers_cases_routes_new_ones_and_cancel_hands_back(
    api: httpx.AsyncClient, env: WorkflowEnvironment
) -> None:
    await require_real_clock(env)
    await setup_team(api)
    before = await create(api, member_id="mem-1")
    assert before["assignee_id"] == "chw-ana"
    a = await add(api, headers=LEAD, starts_at=iso(timedelta(minutes=-1)), ends_at=iso(timedelta(hours=4)))

    async def assignee(iid: str, want: str | None) -> dict[str, Any] | None:
        got = await detail(api, iid)
        return got if got["assignee_id"] == want else None

    moved = await eventually(lambda: assignee(before["id"], "chw-ben"))
    assert moved["assignment_source"] == f"absence:{a['id']}" and moved["due_at"] == before["due_at"]
    assert "assigned" in [e["kind"] for e in moved["timeline"]]

    async def told_ben() -> bool:  # the notice is written in the background, after the move
        return before["id"] in [
            n["interaction_id"] for n in await notifications(api, "chw-ben") if n["kind"] == "assigned"
        ]

    assert await eventually(told_ben)

    during = await create(api, member_id="mem-1")
    assert (during["assignee_id"], during["assignment_source"]) == ("chw-ben", f"absence:{a['id']}")
    other = await create(api, member_id="mem-2")  # Ben's own member: untouched
    assert other["assignee_id"] == "chw-ben" and other["assignment_source"] == "owner"

    got = (await api.get(f"/v1/absences/{a['id']}", headers=ANA)).json()
    assert got["status"] == "active"
    assert [e["kind"] for e in got["timeline"]][:3] == [
        "absence_scheduled",
        "absence_started",
        "coverage_started",
    ]

    r = await api.post(f"/v1/absences/{a['id']}/cancel", headers=LEAD)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled" and r.json()["timeline"][-1]["kind"] == "handed_back"
    for iid in (before["id"], during["id"]):
        back = await eventually(lambda i=iid: assignee(i, "chw-ana"))  # type: ignore[misc]
        assert back["assignment_source"] == "owner"
    assert (await detail(api, other["id"]))["assignee_id"] == "chw-ben"
    after = await create(api, member_id="mem-1")
    assert (after["assignee_id"], after["assignment_source"]) == ("chw-ana", "owner")


async def test_absence_without_backup_fills_the_unassigned_queue_over_http(
    api: httpx.AsyncClient, env: WorkflowEnvironment
) -> None:
    await require_real_clock(env)
    await setup_team(api)
    case = await create(api, member_id="mem-1")
    a = await add(api, backup_id=None, starts_at=iso(timedelta(minutes=-1)), ends_at=iso(timedelta(hours=4)))

    async def queue() -> list[str]:
        r = await api.get(
            "/v1/interactions", params={"team_id": "eastside", "assignee_id": "unassigned"}, headers=LEAD
        )
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()["items"]]

    assert await eventually(queue) == [case["id"]]
    landed = await eventually(lambda: _lead_notices(api, case["id"]))
    assert [n["recipient_id"] for n in landed] == ["lead-1"]
    newcomer = await create(api, member_id="mem-1")
    assert (newcomer["assignee_id"], newcomer["assignment_source"]) == (None, f"absence:{a['id']}")
    assert sorted(await queue()) == sorted([case["id"], newcomer["id"]])


async def _lead_notices(api: httpx.AsyncClient, interaction_id: str) -> list[dict[str, Any]]:
    """The leads hear when a case lands in the unassigned queue."""
    return [
        n
        for n in await notifications(api, "lead-1")
        if n["kind"] == "unassigned" and n["interaction_id"] == interaction_id
    ]


# ---------------------------------------------------------------- check-ins follow the team config
async def test_putting_a_team_starts_its_check_ins_once(api: httpx.AsyncClient, client: Client) -> None:
    await setup_team(api)
    handle = client.get_workflow_handle("checkin:eastside")
    first = await handle.describe()
    assert first.status == WorkflowExecutionStatus.RUNNING
    await setup_team(api)  # a second PUT signals the running workflow, it does not start another
    again = await handle.describe()
    assert again.run_id == first.run_id and again.status == WorkflowExecutionStatus.RUNNING


async def test_the_absence_reason_stays_in_the_database(api: httpx.AsyncClient, client: Client) -> None:
    await setup_team(api)
    a = await add(api, headers=ANA, reason="CANARY-ABSENCE-5e1c surgery follow-up")
    r = await api.patch(f"/v1/absences/{a['id']}", json={"ends_at": iso(timedelta(days=4), NOW)}, headers=ANA)
    assert r.status_code == 200, r.text
    assert (await api.post(f"/v1/absences/{a['id']}/cancel", headers=ANA)).status_code == 200
    got = (await api.get(f"/v1/absences/{a['id']}", headers=LEAD)).json()
    assert got["reason"].startswith("CANARY-ABSENCE-5e1c")
    history = (await client.get_workflow_handle(a["workflow_id"]).fetch_history()).to_json_dict()
    text = json.dumps(history) + "\n".join(_payload_texts(history))
    assert "change_end" in text and '"chw-ana"' in text  # payloads decoded: the search is real
    assert "CANARY-ABSENCE" not in text


def _payload_texts(node: Any) -> list[str]:
    """Every payload's data in an exported history, decoded (the export holds it in base64)."""
    found: list[str] = []
    if isinstance(node, dict):
        if isinstance(node.get("data"), str) and "metadata" in node:
            found.append(base64.b64decode(node["data"]).decode(errors="replace"))
        for value in node.values():
            found += _payload_texts(value)
    elif isinstance(node, list):
        for value in node:
            found += _payload_texts(value)
    return found
