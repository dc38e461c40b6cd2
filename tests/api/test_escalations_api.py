"""Escalations over HTTP: who may acknowledge and resolve, documentation, the list's order."""

from __future__ import annotations

from typing import Any

import httpx
from temporalio.client import Client

from tests.api.support import ANA, BEN, LEAD, MANAGER, OPS, SYSTEM, create, detail, notifications, setup_team
from tests.conftest import CHICAGO_TEAM
from tests.workflows.support import eventually

# Complaints go first to a named CHW (chw-ben, the team's complaints contact), then the lead.
NAMED_MATRIX = {
    **CHICAGO_TEAM,
    "escalation_matrix": {
        "complaint": {
            "levels": [
                {"staff_id": "chw-ben", "ack_within_minutes": 30},
                {"role": "lead", "ack_within_minutes": 30},
            ],
            "resolve_within_minutes": 480,
        },
        "sensitive": {
            "levels": [{"role": "lead", "ack_within_minutes": 60}],
            "resolve_within_minutes": 480,
            "documentation_required": False,
        },
    },
}


async def escalation_of(api: httpx.AsyncClient, iid: str, trigger: str) -> dict[str, Any]:
    async def found() -> Any:
        for e in (await detail(api, iid))["escalations"]:
            if e["trigger"] == trigger and e["notified"]:
                return e
        return None

    got: dict[str, Any] = await eventually(found)
    return got


async def act(api: httpx.AsyncClient, eid: str, action: str, body: Any, headers: Any) -> httpx.Response:
    return await api.post(f"/v1/escalations/{eid}/{action}", json=body, headers=headers)


async def test_named_staff_acknowledge_and_documentation_is_required(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    before = (await api.get("/v1/teams/eastside", headers=SYSTEM)).json()["version"]
    r = await api.put("/v1/teams/eastside", json=NAMED_MATRIX, headers=SYSTEM)
    assert r.status_code == 200, r.text
    version = r.json()["version"]
    assert version == before + 1  # the PUT made a new version of the team
    assert (await api.get("/v1/teams/eastside", headers=SYSTEM)).json()["version"] == version
    created = await create(api, member_id="mem-1", flags=["complaint"])
    iid = created["id"]
    esc = await escalation_of(api, iid, "complaint")
    eid = esc["id"]
    assert esc["status"] == "open" and esc["level"] == 1 and esc["levels"] == 2
    assert esc["matrix_version"] == version  # the matrix in force when it started
    assert [(n["level"], n["recipient_id"], n["reason"]) for n in esc["notified"]] == [
        (1, "chw-ben", "level")
    ]
    assert (await eventually(lambda: _escalation_notices(api, "chw-ben")))[0]["escalation_id"] == eid

    # chw-ana is not named at level 1; ops only reads.
    for headers in (ANA, OPS):
        r = await act(api, eid, "acknowledge", {}, headers)
        assert r.status_code == 403, r.text
    got = (await api.get(f"/v1/escalations/{eid}", headers=LEAD)).json()
    assert [n["recipients"] for n in got["notified"]] == [["chw-ben"]]
    r = await act(api, eid, "acknowledge", {"note": "calling her now"}, BEN)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "acknowledged" and body["acknowledged_by"] == "chw-ben"
    assert body["owner_id"] == "chw-ben" and body["acknowledged_at"] is not None
    assert [t["note"] for t in body["timeline"] if t["kind"] == "acknowledge_note"] == ["calling her now"]
    r = await act(api, eid, "acknowledge", {}, LEAD)
    assert r.status_code == 409 and "already acknowledged" in r.json()["error"]["message"]

    # Resolving needs both texts; a refusal changes nothing.
    for missing in (
        {"action_taken": "called"},
        {"outcome": "ok"},
        {"action_taken": " ", "outcome": "ok"},
        {},
    ):
        r = await act(api, eid, "resolve", missing, BEN)
        assert r.status_code == 422, r.text
        assert "requires documentation" in r.json()["error"]["message"]
    assert (await api.get(f"/v1/escalations/{eid}", headers=LEAD)).json()["status"] == "acknowledged"
    r = await api.post(f"/v1/interactions/{iid}/resolve", json={"resolution": "done"}, headers=ANA)
    assert r.status_code == 409 and eid in r.json()["error"]["message"]

    r = await act(api, eid, "resolve", {"action_taken": "apologised", "outcome": "member satisfied"}, BEN)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "resolved" and body["resolved_by"] == "chw-ben"
    assert (body["action_taken"], body["outcome"]) == ("apologised", "member satisfied")
    r = await act(api, eid, "resolve", {"action_taken": "again", "outcome": "again"}, LEAD)
    assert r.status_code == 409

    # The interaction shows the escalation with its level history, and can be resolved now.
    got = await detail(api, iid)
    assert got["escalations"][0]["status"] == "resolved"
    r = await api.post(f"/v1/interactions/{iid}/resolve", json={"resolution": "done"}, headers=ANA)
    assert r.status_code == 200, r.text


async def test_documentation_optional_when_the_matrix_says_so(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    assert (await api.put("/v1/teams/eastside", json=NAMED_MATRIX, headers=SYSTEM)).status_code == 200
    created = await create(api, member_id="mem-1", flags=["sensitive"])
    esc = await escalation_of(api, created["id"], "sensitive")
    assert esc["documentation_required"] is False
    r = await api.post(f"/v1/escalations/{esc['id']}/acknowledge", headers=LEAD)  # no body at all
    assert r.status_code == 200 and r.json()["status"] == "acknowledged", r.text
    r = await act(api, esc["id"], "resolve", {}, LEAD)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "resolved" and r.json()["action_taken"] is None


async def test_list_is_ordered_by_severity_then_age_and_filters(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    complaint = await create(api, member_id="mem-1", flags=["complaint"])
    sensitive = await create(api, member_id="mem-2", flags=["sensitive"])
    safety = await create(api, member_id="mem-1", flags=["safety"])
    older_complaint = await escalation_of(api, complaint["id"], "complaint")
    await escalation_of(api, sensitive["id"], "sensitive")
    await escalation_of(api, safety["id"], "safety")
    newer = await create(api, member_id="mem-2", flags=["complaint"])
    await escalation_of(api, newer["id"], "complaint")

    r = await api.get("/v1/escalations", params={"team_id": "eastside"}, headers=LEAD)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [(e["trigger"], e["interaction_id"]) for e in items] == [
        ("safety", safety["id"]),
        ("sensitive", sensitive["id"]),
        ("complaint", complaint["id"]),
        ("complaint", newer["id"]),
    ]
    # Pages of one keep the order.
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"team_id": "eastside", "limit": 1}
        if cursor:
            params["cursor"] = cursor
        page = (await api.get("/v1/escalations", params=params, headers=MANAGER)).json()
        seen += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [e["id"] for e in items]

    r = await api.get("/v1/escalations", params={"trigger": "complaint"}, headers=LEAD)
    assert [e["interaction_id"] for e in r.json()["items"]] == [complaint["id"], newer["id"]]
    await act(api, older_complaint["id"], "resolve", {"action_taken": "a", "outcome": "b"}, LEAD)
    r = await api.get("/v1/escalations", params={"trigger": "complaint"}, headers=LEAD)
    assert [e["interaction_id"] for e in r.json()["items"]] == [newer["id"]]
    r = await api.get("/v1/escalations", params={"status": "resolved"}, headers=LEAD)
    assert [e["id"] for e in r.json()["items"]] == [older_complaint["id"]]
    for bad in ({"status": "closed"}, {"trigger": "angry"}, {"cursor": "nonsense"}):
        r = await api.get("/v1/escalations", params=bad, headers=LEAD)
        assert r.status_code == 422, (bad, r.text)
    r = await api.get("/v1/escalations/does-not-exist", headers=LEAD)
    assert r.status_code == 404


async def test_lead_reassigns_the_escalation_owner(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    created = await create(api, member_id="mem-1", flags=["outside_role"])
    esc = await escalation_of(api, created["id"], "outside_role")
    r = await act(api, esc["id"], "assign", {"owner_id": "chw-ben", "reason": "she knows housing"}, LEAD)
    assert r.status_code == 200, r.text
    assert r.json()["owner_id"] == "chw-ben" and r.json()["status"] == "open"
    assert (await eventually(lambda: _escalation_notices(api, "chw-ben")))[0]["details"]["reason"] == "owner"
    listed = (await api.get("/v1/escalations", params={"trigger": "outside_role"}, headers=LEAD)).json()
    (item,) = listed["items"]
    assert [n["recipients"] for n in item["notified"]] == [["lead-1"], ["chw-ben"]]  # a role fans out
    r = await act(api, esc["id"], "assign", {"owner_id": "nobody"}, LEAD)
    assert r.status_code == 422
    r = await act(api, esc["id"], "assign", {"owner_id": "chw-ben"}, LEAD)
    assert r.status_code == 409
    # The owner may resolve it (documented).
    r = await act(
        api, esc["id"], "resolve", {"action_taken": "referred", "outcome": "housing team has it"}, BEN
    )
    assert r.status_code == 200, r.text


async def _escalation_notices(api: httpx.AsyncClient, recipient: str) -> list[dict[str, Any]]:
    return [n for n in await notifications(api, recipient) if n["kind"] == "escalation"]


async def test_flags_given_at_creation_answer_with_their_escalations(api: httpx.AsyncClient) -> None:
    """Like a flag added later, a flag in the create body is visible in the answer."""
    await setup_team(api)
    created = await create(api, member_id="mem-1", flags=["safety", "urgent"])
    assert [e["trigger"] for e in created["escalations"]] == ["safety"]
    assert created["status"] == "escalated" and created["escalations"][0]["status"] == "open"
    listed = (await api.get("/v1/escalations", params={"team_id": "eastside"}, headers=LEAD)).json()["items"]
    assert [(e["interaction_id"], e["trigger"]) for e in listed] == [(created["id"], "safety")]


async def test_a_case_whose_escalation_workflow_was_terminated_can_be_resolved(
    api: httpx.AsyncClient, client: Client
) -> None:
    await setup_team(api)
    case = await create(api, flags=["safety"])
    escalation = await escalation_of(api, case["id"], "safety")
    await client.get_workflow_handle(escalation["workflow_id"]).terminate("ended by mistake")
    r = await api.post(f"/v1/interactions/{case['id']}/resolve", json={"resolution": "done"}, headers=ANA)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "resolved"
    [ended] = r.json()["escalations"]
    assert ended["status"] == "resolved" and ended["outcome"].startswith("ended without resolution")
