"""Invalid input: 422 ``{"error": {"code": "invalid", "message"}}`` and nothing changed; unknown
interactions 404; no input ever produces a 500.

Each test runs a table of cases against one app (a fresh worker and test server per test cost
more than the cases themselves) and reports every case that went wrong, not just the first.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.api.support import (
    ALL_STATUSES,
    ANA,
    LEAD,
    MANAGER,
    SYSTEM,
    create,
    detail,
    interaction_body,
    setup_other_team,
    setup_team,
)
from tests.conftest import CHICAGO_TEAM
from tests.workflows.support import eventually, steady


def invalid_problem(r: httpx.Response, *words: str) -> str | None:
    """Why ``r`` is not a proper 422 naming ``words``; None if it is."""
    if r.status_code != 422:
        return f"{r.status_code} {r.text[:300]}"
    err = r.json().get("error", {})
    if err.get("code") != "invalid" or not isinstance(err.get("message"), str) or not err["message"]:
        return f"bad error body {r.text[:300]}"
    missing = [w for w in words if w not in err["message"]]
    return f"message {err['message']!r} does not name {missing}" if missing else None


def assert_invalid(r: httpx.Response, *words: str) -> None:
    problem = invalid_problem(r, *words)
    assert problem is None, problem


def report(wrong: list[str]) -> None:
    assert not wrong, "\n".join(wrong)


async def all_interactions(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    r = await api.get("/v1/interactions", params={"status": ALL_STATUSES, "limit": 500}, headers=SYSTEM)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def started(api: httpx.AsyncClient) -> dict[str, Any]:
    """An interaction of chw-ana whose start has been projected (so re-reads are stable)."""
    created = await create(api, external_id="valid-1")

    async def check() -> dict[str, Any] | None:
        got = await detail(api, created["id"])
        return got if "created" in [e["kind"] for e in got["timeline"]] else None

    await eventually(check)
    return await steady(lambda: detail(api, created["id"]))


# ---------------------------------------------------------------- starting an interaction
BAD_STARTS: list[tuple[dict[str, Any], tuple[str, ...]]] = [
    # naive, malformed and missing times
    ({"received_at": "2026-11-16T10:00:00"}, ("received_at",)),
    ({"received_at": "2026-11-16 10:00"}, ("received_at",)),
    ({"received_at": "yesterday"}, ("received_at",)),
    ({"received_at": None}, ("received_at",)),
    # absurd times: out of range, a broken clock, the future
    ({"received_at": "0001-01-01T00:00:00+00:00"}, ("received_at",)),
    ({"received_at": "0001-01-01T00:00:00+14:00"}, ("received_at",)),
    ({"received_at": "1900-01-01T12:00:00+00:00"}, ("received_at",)),
    ({"received_at": "1970-01-01T00:00:00Z"}, ("received_at",)),
    ({"received_at": (datetime.now(UTC) - timedelta(days=6 * 366)).isoformat()}, ("received_at",)),
    # A day ahead, not minutes: the value is computed at collection, and a slow suite may reach the
    # test minutes later (CI saw "+10 minutes" answered 201).
    ({"received_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()}, ("received_at",)),
    ({"received_at": "9999-12-31T23:59:59+00:00"}, ("received_at",)),
    ({"received_at": "9999-12-31T23:59:59-14:00"}, ("received_at",)),
    # unknown enums
    ({"channel": "fax"}, ("channel",)),
    ({"channel": "CALL"}, ("channel",)),
    ({"flags": ["loud"]}, ("flags",)),
    ({"flags": ["deadline_missed"]}, ("flags",)),
    ({"flags": "urgent"}, ("flags",)),
    ({"urgent": "very"}, ("urgent",)),
    # unknown or malformed references
    ({"team_id": "nope"}, ("unknown team",)),
    ({"team_id": ""}, ("team_id",)),
    ({"member_id": "stranger"}, ("unknown member",)),
    ({"external_id": ""}, ("external_id",)),
    ({"external_id": "x" * 201}, ("external_id",)),
    ({"summary": "x" * 10_001}, ("summary",)),
    ({"summary": "a\x00b"}, ("summary", "NUL")),
    ({"external_id": "a\x00b"}, ("external_id", "NUL")),
    # fields the API does not know
    ({"priority": "high"}, ("priority",)),
    ({"assignee_id": "chw-ben"}, ("assignee_id",)),
]


async def test_bad_interaction_is_422_and_starts_nothing(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    wrong = []
    for n, (over, words) in enumerate(BAD_STARTS):
        r = await api.post(
            "/v1/interactions", json=interaction_body(**{"external_id": f"bad-{n}", **over}), headers=SYSTEM
        )
        if (problem := invalid_problem(r, *words)) is not None:
            wrong.append(f"{over}: {problem}")
    for content in (b"", b"not json", b"[]", b"null", b'"text"', b'{"team_id": "eastside"', b"\xff\xfe"):
        r = await api.post(
            "/v1/interactions", content=content, headers={**SYSTEM, "Content-Type": "application/json"}
        )
        if (problem := invalid_problem(r)) is not None:
            wrong.append(f"body {content!r}: {problem}")
    report(wrong)
    assert await all_interactions(api) == []


async def test_backfill_of_last_week_is_accepted(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    received = (datetime.now(UTC) - timedelta(days=7)).isoformat()
    created = await create(api, received_at=received)
    assert datetime.fromisoformat(created["due_at"]) < datetime.now(UTC)


async def test_unanswerable_team_policy_is_422_not_500(api: httpx.AsyncClient) -> None:
    """A deadline that cannot be computed (here: past year 9999) is refused, not a crash."""
    await setup_team(api)
    policy = {"urgent_response_business_minutes": 10**18}
    r = await api.put("/v1/teams/eastside", json={**CHICAGO_TEAM, "policy": policy}, headers=SYSTEM)
    assert r.status_code == 200, r.text
    r = await api.post("/v1/interactions", json=interaction_body(urgent=True), headers=SYSTEM)
    assert_invalid(r, "deadline")
    assert await all_interactions(api) == []


# ---------------------------------------------------------------- acting on an interaction
BAD_ACTIONS: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
    ("attempts", {"outcome": "ghosted"}, ("outcome",)),
    ("attempts", {"outcome": "REACHED"}, ("outcome",)),
    ("attempts", {"outcome": None}, ("outcome",)),
    ("attempts", {}, ("outcome",)),
    ("attempts", {"outcome": "reached", "at": "2026-11-16T10:00:00+00:00"}, ("at",)),
    ("attempts", {"outcome": "reached", "note": "x" * 10_001}, ("note",)),
    ("attempts", {"outcome": "reached", "note": "a\x00b"}, ("note", "NUL")),
    ("flags", {"flag": "deadline_missed"}, ("flag",)),
    ("flags", {"flag": "unreachable"}, ("flag",)),
    ("flags", {"flag": "loud"}, ("flag",)),
    ("flags", {"flag": "urgent", "severity": 3}, ("severity",)),
    ("resolve", {"resolution": ""}, ("resolution",)),
    ("resolve", {"resolution": "   \n\t "}, ("resolution",)),
    ("resolve", {}, ("resolution",)),
    ("resolve", {"resolution": None}, ("resolution",)),
    ("resolve", {"resolution": "x" * 10_001}, ("resolution",)),
    ("resolve", {"resolution": "done", "outcome": "ok"}, ("outcome",)),
    ("assign", {"assignee_id": "chw-nobody", "reason": "x"}, ("unknown staff", "chw-nobody")),
    ("assign", {"assignee_id": "lead-other", "reason": "x"}, ("unknown staff", "lead-other")),
    ("assign", {"assignee_id": "", "reason": "x"}, ("unknown staff",)),
    ("assign", {"reason": "x"}, ("assignee_id",)),
    ("assign", {"assignee_id": "chw-ben", "reason": "x" * 2_001}, ("reason",)),
    ("assign", {"assignee_id": "chw-ben", "reason": "x", "notify": False}, ("notify",)),
    ("assign", {"assignee_id": ["chw-ben"], "reason": "x"}, ("assignee_id",)),
]


async def test_bad_action_is_422_and_changes_nothing(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    await setup_other_team(api)  # lead-other exists, but in another team
    before = await started(api)
    wrong = []
    for action, body, words in BAD_ACTIONS:
        headers = LEAD if action == "assign" else ANA
        r = await api.post(f"/v1/interactions/{before['id']}/{action}", json=body, headers=headers)
        if (problem := invalid_problem(r, *words)) is not None:
            wrong.append(f"{action} {body}: {problem}")
        if await detail(api, before["id"]) != before:
            wrong.append(f"{action} {body}: the interaction changed")
            before = await detail(api, before["id"])
    report(wrong)
    # And the interaction still takes valid actions.
    r = await api.post(f"/v1/interactions/{before['id']}/attempts", json={"outcome": "reached"}, headers=ANA)
    assert r.status_code == 200, r.text
    assert [a["outcome"] for a in r.json()["attempts"]] == ["reached"]


async def test_unknown_interaction_is_404(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    wrong = []
    for iid in ("does-not-exist", "interaction:eastside:call-001", "x" * 300):
        for method, path, body in (
            ("GET", "/v1/interactions/{iid}", None),
            ("POST", "/v1/interactions/{iid}/attempts", {"outcome": "reached"}),
            ("POST", "/v1/interactions/{iid}/flags", {"flag": "safety"}),
            ("POST", "/v1/interactions/{iid}/assign", {"assignee_id": "chw-ben", "reason": "x"}),
            ("POST", "/v1/interactions/{iid}/resolve", {"resolution": "done"}),
        ):
            r = await api.request(method, path.format(iid=iid), json=body, headers=LEAD)
            err = r.json().get("error", {})
            if (
                r.status_code != 404
                or err.get("code") != "not_found"
                or "not found" not in err.get("message", "")
            ):
                wrong.append(f"{method} {path} {iid[:20]}: {r.status_code} {r.text[:200]}")
    report(wrong)


# ---------------------------------------------------------------- teams, staff, members
async def test_bad_team_staff_and_member_input(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    await setup_other_team(api)
    before_team = (await api.get("/v1/teams/eastside", headers=SYSTEM)).json()
    before_staff = (await api.get("/v1/teams/eastside/staff", headers=SYSTEM)).json()

    wrong = []
    cases: list[tuple[str, Any, tuple[str, ...]]] = [
        ("/v1/teams/eastside", {**CHICAGO_TEAM, "motto": "we call back"}, ("motto",)),
        ("/v1/teams/eastside", {}, ("name",)),
        ("/v1/teams/" + "t" * 65, CHICAGO_TEAM, ("team_id",)),
        ("/v1/teams/eastside/staff/chw-ana", {"name": "Ana", "role": "admin"}, ("role",)),
        ("/v1/teams/eastside/staff/chw-ana", {"name": "", "role": "chw"}, ("name",)),
        ("/v1/teams/eastside/staff/chw-ana", {"name": "Ana", "role": "chw", "email": "a@x.org"}, ("email",)),
        ("/v1/teams/eastside/staff/chw-ana", {"role": "chw"}, ("name",)),
        ("/v1/teams/eastside/staff/" + "s" * 65, {"name": "X", "role": "chw"}, ("staff_id",)),
        ("/v1/teams/eastside/members/mem-1", {"owner_id": "chw-nobody"}, ("unknown staff",)),
        ("/v1/teams/eastside/members/mem-1", {"owner_id": "lead-other"}, ("unknown staff",)),
        ("/v1/teams/eastside/members/mem-1", {"owner_id": "chw-ana", "phone": "555"}, ("phone",)),
        ("/v1/teams/eastside/members/mem-1", {}, ("owner_id",)),
        ("/v1/teams/eastside/members/" + "m" * 65, {"owner_id": None}, ("member_id",)),
    ]
    for path, body, words in cases:
        r = await api.put(path, json=body, headers=SYSTEM)
        if (problem := invalid_problem(r, *words)) is not None:
            wrong.append(f"PUT {path[:40]} {str(body)[:60]}: {problem}")
    report(wrong)

    assert (await api.get("/v1/teams/eastside", headers=SYSTEM)).json() == before_team
    assert (await api.get("/v1/teams/eastside/staff", headers=SYSTEM)).json() == before_staff
    # mem-1 still belongs to ana: a new interaction for it is hers.
    assert (await create(api, member_id="mem-1"))["assignee_id"] == "chw-ana"

    # Unknown teams in the path are 404; a manager never takes another team's staff member (only
    # the system moves staff, handing their cases back: tests/api/test_team_rights.py).
    r = await api.put("/v1/teams/nowhere/staff/chw-x", json={"name": "X", "role": "chw"}, headers=SYSTEM)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = await api.put("/v1/teams/nowhere/members/mem-x", json={"owner_id": None}, headers=SYSTEM)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = await api.put(
        "/v1/teams/eastside/staff/lead-other", json={"name": "X", "role": "chw"}, headers=MANAGER
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
    assert (await api.get("/v1/teams/eastside/staff", headers=SYSTEM)).json() == before_staff


# ---------------------------------------------------------------- queries
BAD_QUERIES: list[tuple[str, dict[str, str], tuple[str, ...]]] = [
    ("/v1/interactions", {"status": "lost"}, ("lost",)),
    ("/v1/interactions", {"overdue": "maybe"}, ("overdue",)),
    ("/v1/interactions", {"limit": "0"}, ("limit",)),
    ("/v1/interactions", {"limit": "10000"}, ("limit",)),
    ("/v1/interactions", {"cursor": "!!"}, ("cursor",)),
    ("/v1/notifications", {"cursor": "!!"}, ("cursor",)),
    ("/v1/notifications", {"limit": "-3"}, ("limit",)),
    ("/v1/reports/sla", {"team_id": "eastside", "from": "2026-11-01T00:00:00"}, ("from",)),
    ("/v1/reports/sla", {"team_id": "eastside", "to": "soon"}, ("to",)),
    (
        "/v1/reports/sla",
        {"team_id": "eastside", "from": "2026-11-02T00:00:00Z", "to": "2026-11-01T00:00:00Z"},
        ("to",),
    ),
    ("/v1/reports/sla", {"team_id": "eastside", "from": "0001-01-01T00:00:00+14:00"}, ("from",)),
    ("/v1/reports/sla", {"team_id": "eastside", "to": "0001-01-01T00:00:00Z"}, ("to",)),
    ("/v1/reports/sla", {}, ("team_id",)),
]


async def test_bad_query_is_422(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    wrong = []
    for path, params, words in BAD_QUERIES:
        r = await api.get(path, params=params, headers=SYSTEM)
        if (problem := invalid_problem(r, *words)) is not None:
            wrong.append(f"{path} {params}: {problem}")
    report(wrong)
    # Odd but valid: a report from year 1 is empty, not an error.
    r = await api.get(
        "/v1/reports/sla", params={"team_id": "eastside", "from": "0001-01-01T00:00:00Z"}, headers=SYSTEM
    )
    assert r.status_code == 200, r.text
    r = await api.get("/v1/reports/sla", params={"team_id": "nowhere"}, headers=SYSTEM)
    assert r.status_code == 404, r.text
    assert r.json()["error"]["code"] == "not_found"
