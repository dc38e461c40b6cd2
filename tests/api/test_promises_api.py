"""Behaviours docs/api.md promises that no other test checked (issue 26): the team version grows
on every PUT, and `Idempotency-Key` makes absences and escalation actions repeat-safe."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from config.settings import Settings
from domain.ids import checkin_workflow_id
from tests.api.support import ANA, LEAD, SYSTEM, attempt, create, detail, require_real_clock, setup_team
from tests.api.test_member_contact_api import put_member, zone_at_local_hour
from tests.conftest import CHICAGO_TEAM, binary
from tests.workflows.support import eventually
from workflows.checkin import CheckinWorkflow


async def test_the_team_version_grows_on_every_put(api: httpx.AsyncClient) -> None:
    """api.md §4.3 Teams: `version` starts at 1 and grows with every PUT (the same body too);
    an escalation records the version in force when it started."""
    # A new team starts at 1.
    fresh = [(await api.put("/v1/teams/northside", json=CHICAGO_TEAM, headers=SYSTEM)) for _ in range(2)]
    assert [r.json()["version"] for r in fresh] == [1, 2]
    await setup_team(api)
    base = (await api.get("/v1/teams/eastside", headers=SYSTEM)).json()["version"]
    versions = []
    for body in (CHICAGO_TEAM, CHICAGO_TEAM, {**CHICAGO_TEAM, "name": "Eastside renamed"}):
        r = await api.put("/v1/teams/eastside", json=body, headers=SYSTEM)
        assert r.status_code == 200, r.text
        versions.append(r.json()["version"])
    assert versions == [base + 1, base + 2, base + 3]
    assert (await api.get("/v1/teams/eastside", headers=SYSTEM)).json()["version"] == base + 3

    created = await create(api, member_id="mem-1", flags=["complaint"])

    async def started() -> Any:
        return [e for e in (await detail(api, created["id"]))["escalations"] if e["notified"]]

    (esc,) = await eventually(started)
    assert esc["matrix_version"] == base + 3


def _absence(**over: Any) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    body: dict[str, Any] = {
        "staff_id": "chw-ana",
        "backup_id": "chw-ben",
        "starts_at": (now + timedelta(days=1)).isoformat(),
        "ends_at": (now + timedelta(days=3)).isoformat(),
        "reason": "training",
    }
    body.update(over)
    return body


def keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": f"{key}-{uuid.uuid4().hex[:8]}"}


async def test_absence_actions_are_repeat_safe_with_an_idempotency_key(api: httpx.AsyncClient) -> None:
    """api.md §4.3 Repeat-safe actions, for absences: the same key answers the stored result
    (`Idempotent-Replayed: true`) and changes nothing; the same key with another body is 422."""
    await setup_team(api)
    body = _absence()
    headers = keyed(LEAD, "absence")
    first = await api.post("/v1/absences", json=body, headers=headers)
    assert first.status_code == 201, first.text
    assert first.headers.get("Idempotent-Replayed") != "true"
    again = await api.post("/v1/absences", json=body, headers=headers)
    assert again.status_code == 201, again.text  # without the key: 409, an overlapping absence
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["id"] == first.json()["id"]
    other = await api.post("/v1/absences", json={**body, "reason": "other"}, headers=headers)
    assert other.status_code == 422, other.text
    listed = (await api.get("/v1/absences", params={"staff_id": "chw-ana"}, headers=LEAD)).json()["items"]
    assert [a["id"] for a in listed] == [first.json()["id"]]
    aid = first.json()["id"]

    # Extending: the repeat is answered from the store even after a later change.
    patch_headers = keyed(LEAD, "extend")
    new_end = (datetime.now(UTC).replace(microsecond=0) + timedelta(days=4)).isoformat()
    r = await api.patch(f"/v1/absences/{aid}", json={"ends_at": new_end}, headers=patch_headers)
    assert r.status_code == 200, r.text
    later_end = (datetime.now(UTC).replace(microsecond=0) + timedelta(days=5)).isoformat()
    r = await api.patch(f"/v1/absences/{aid}", json={"ends_at": later_end}, headers=LEAD)
    assert r.status_code == 200, r.text
    r = await api.patch(f"/v1/absences/{aid}", json={"ends_at": new_end}, headers=patch_headers)
    assert r.status_code == 200 and r.headers.get("Idempotent-Replayed") == "true", r.text
    got = (await api.get(f"/v1/absences/{aid}", headers=LEAD)).json()
    assert datetime.fromisoformat(got["ends_at"]) == datetime.fromisoformat(later_end)  # unchanged

    # Cancelling twice: the repeat is the stored 200, not the 409 of a cancelled absence.
    cancel_headers = keyed(LEAD, "cancel")
    r = await api.post(f"/v1/absences/{aid}/cancel", headers=cancel_headers)
    assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text
    r = await api.post(f"/v1/absences/{aid}/cancel", headers=cancel_headers)
    assert r.status_code == 200 and r.headers.get("Idempotent-Replayed") == "true", r.text
    assert (await api.post(f"/v1/absences/{aid}/cancel", headers=LEAD)).status_code == 409


async def test_escalation_actions_are_repeat_safe_with_an_idempotency_key(api: httpx.AsyncClient) -> None:
    """api.md §4.3 Repeat-safe actions, for escalation acknowledge, assign and resolve."""
    await setup_team(api)
    created = await create(api, member_id="mem-1", flags=["complaint"])

    async def started() -> Any:
        return [e for e in (await detail(api, created["id"]))["escalations"] if e["notified"]]

    (esc,) = await eventually(started)
    eid = esc["id"]

    ack = keyed(LEAD, "ack")
    first = await api.post(f"/v1/escalations/{eid}/acknowledge", json={"note": "on it"}, headers=ack)
    assert first.status_code == 200 and first.json()["status"] == "acknowledged", first.text
    again = await api.post(f"/v1/escalations/{eid}/acknowledge", json={"note": "on it"}, headers=ack)
    assert again.status_code == 200, again.text  # without the key: 409, already acknowledged
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["acknowledged_at"] == first.json()["acknowledged_at"]
    other = await api.post(f"/v1/escalations/{eid}/acknowledge", json={"note": "else"}, headers=ack)
    assert other.status_code == 422, other.text

    assign = keyed(LEAD, "assign")
    r = await api.post(f"/v1/escalations/{eid}/assign", json={"owner_id": "chw-ben"}, headers=assign)
    assert r.status_code == 200 and r.json()["owner_id"] == "chw-ben", r.text
    r = await api.post(f"/v1/escalations/{eid}/assign", json={"owner_id": "chw-ana"}, headers=LEAD)
    assert r.status_code == 200 and r.json()["owner_id"] == "chw-ana", r.text
    r = await api.post(f"/v1/escalations/{eid}/assign", json={"owner_id": "chw-ben"}, headers=assign)
    assert r.status_code == 200 and r.headers.get("Idempotent-Replayed") == "true", r.text
    got = (await api.get(f"/v1/escalations/{eid}", headers=LEAD)).json()
    assert got["owner_id"] == "chw-ana"  # the repeat changed nothing
    owner_lines = [t for t in got["timeline"] if t["kind"] == "escalation_owner_changed"]
    assert len(owner_lines) == 2

    resolve = keyed(LEAD, "resolve")
    docs = {"action_taken": "called back", "outcome": "settled"}
    first = await api.post(f"/v1/escalations/{eid}/resolve", json=docs, headers=resolve)
    assert first.status_code == 200 and first.json()["status"] == "resolved", first.text
    again = await api.post(f"/v1/escalations/{eid}/resolve", json=docs, headers=resolve)
    assert again.status_code == 200, again.text  # without the key: 409, already resolved
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["resolved_at"] == first.json()["resolved_at"]
    assert (await api.post(f"/v1/escalations/{eid}/resolve", json=docs, headers=LEAD)).status_code == 409


async def test_the_daily_cap_counts_attempts_on_resolved_cases(
    api: httpx.AsyncClient, env: WorkflowEnvironment
) -> None:
    """rules.md §2.7 Daily cap: counted across all of the member's cases, resolved ones too."""
    await require_real_clock(env)
    await setup_team(api)
    r = await put_member(api, "mem-cap", {"owner_id": "chw-ana", "timezone": zone_at_local_hour(12)})
    assert r.status_code == 200, r.text
    done = await create(api, member_id="mem-cap")
    for _ in range(2):
        await attempt(api, done["id"], outcome="reached")
    r = await api.post(f"/v1/interactions/{done['id']}/resolve", json={"resolution": "helped"}, headers=ANA)
    assert r.status_code == 200 and r.json()["status"] == "resolved", r.text

    later = await create(api, member_id="mem-cap")
    third = (await attempt(api, later["id"], outcome="reached"))["attempts"][-1]
    assert third["over_daily_cap"] is False
    fourth = (await attempt(api, later["id"], outcome="reached"))["attempts"][-1]
    assert fourth["over_daily_cap"] is True


async def test_a_member_window_outside_the_legal_one_is_held_by_no_overlap(
    api: httpx.AsyncClient, env: WorkflowEnvironment
) -> None:
    """rules.md §2.7: a member window of 06:00-07:30 never meets 08:00-21:00: every attempt is
    outside the window and the retry keeps business hours with `held_by: no_overlap`."""
    await require_real_clock(env)
    await setup_team(api)
    zone = zone_at_local_hour(12)
    r = await put_member(
        api, "mem-early", {"owner_id": "chw-ana", "timezone": zone, "contact_window": ["06:00", "07:30"]}
    )
    assert r.status_code == 200, r.text
    case = await create(api, member_id="mem-early")
    got = await attempt(api, case["id"], outcome="no_answer")
    assert got["attempts"][-1]["outside_contact_window"] is True
    (scheduled,) = [e for e in got["timeline"] if e["kind"] == "retry_scheduled"]
    assert scheduled["details"]["held_by"] == "no_overlap"
    assert scheduled["details"]["member_zone"] == zone


async def test_put_team_with_temporal_unreachable_is_503_keeps_the_config_and_a_repeat_catches_up(
    api: httpx.AsyncClient, settings: Settings, client: Client, env: WorkflowEnvironment
) -> None:
    """api.md §4.3 Teams: with Temporal unreachable the PUT answers 503 with the configuration
    saved, and a repeat (it is idempotent) brings the check-ins up to date."""
    await require_real_clock(env)
    await setup_team(api)
    checkins = client.get_workflow_handle(checkin_workflow_id("eastside"))
    assert _local(await checkins.query(CheckinWorkflow.next_checkin_at)) in (time(9), time(13), time(15, 30))
    late = {
        **CHICAGO_TEAM,
        "name": "Eastside late shift",
        "calendar": {
            **CHICAGO_TEAM["calendar"],
            "hours": {d: [["10:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
        },
    }
    before = (await api.get("/v1/teams/eastside", headers=SYSTEM)).json()["version"]

    # An API connected to a Temporal server that has gone away since.
    quick = settings.model_copy(update={"temporal_rpc_timeout_seconds": 2.0})
    async with await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter, test_server_existing_path=binary("temporal-test-server")
    ) as gone:
        app = create_app(quick, temporal_client=gone.client)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as unreachable:
        r = await unreachable.put("/v1/teams/eastside", json=late, headers=SYSTEM)
        assert r.status_code == 503 and r.json()["error"]["code"] == "unavailable", r.text
    saved = (await api.get("/v1/teams/eastside", headers=SYSTEM)).json()
    assert (saved["name"], saved["calendar"]["hours"]["mon"]) == ("Eastside late shift", [["10:00", "18:00"]])
    assert saved["version"] == before + 1
    assert _local(await checkins.query(CheckinWorkflow.next_checkin_at)) in (time(9), time(13), time(15, 30))

    r = await api.put("/v1/teams/eastside", json=late, headers=SYSTEM)
    assert r.status_code == 200, r.text

    async def moved() -> bool:
        return _local(await checkins.query(CheckinWorkflow.next_checkin_at)) in (
            time(10),
            time(14),
            time(16, 30),
        )

    await eventually(moved)


def _local(at: datetime | None) -> time | None:
    return None if at is None else at.astimezone(ZoneInfo("America/Chicago")).time()


async def test_put_team_from_an_api_that_never_reached_temporal_still_saves_the_config(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    """api.md §4.3 Teams: an API process that has not reached Temporal yet saves the
    configuration too, then answers 503 (Temporal is connected by the service, after the save)."""
    await setup_team(api)
    down = settings.model_copy(
        update={"temporal_address": "127.0.0.1:1", "temporal_rpc_timeout_seconds": 2.0}
    )
    renamed = {**CHICAGO_TEAM, "name": "Eastside renamed while Temporal is down"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(down)), base_url="http://test"
    ) as unreachable:
        r = await unreachable.put("/v1/teams/eastside", json=renamed, headers=SYSTEM)
    assert r.status_code == 503, r.text
    assert (await api.get("/v1/teams/eastside", headers=SYSTEM)).json()["name"] == renamed["name"]
