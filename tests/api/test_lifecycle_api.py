"""The interaction lifecycle over HTTP: start, attempts, flags, reassignment, resolution, the
queue and the SLA report, against a real worker on the time-skipping server and SQLite."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from domain.calendar import BusinessCalendar
from domain.deadlines import response_due, retry_due_at
from domain.models import TeamConfig
from tests.api.support import (
    ALL_STATUSES,
    ANA,
    BEN,
    LEAD,
    SYSTEM,
    create,
    detail,
    notifications,
    require_real_clock,
    setup_other_team,
    setup_team,
)
from tests.conftest import CHICAGO_TEAM
from tests.workflows.support import eventually

TEAM = TeamConfig.model_validate(CHICAGO_TEAM)


def ts(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, f"{value!r} has no offset"
    return parsed


def kinds(item: dict[str, Any]) -> list[str]:
    return [e["kind"] for e in item["timeline"]]


async def post(api: httpx.AsyncClient, iid: str, action: str, body: dict[str, Any], headers: Any) -> Any:
    return await api.post(f"/v1/interactions/{iid}/{action}", json=body, headers=headers)


async def ok(api: httpx.AsyncClient, iid: str, action: str, body: dict[str, Any], headers: Any) -> Any:
    r = await post(api, iid, action, body, headers)
    assert r.status_code == 200, r.text
    return r.json()


async def queue(api: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    r = await api.get("/v1/interactions", params={"limit": 500, **params}, headers=SYSTEM)
    assert r.status_code == 200, r.text
    assert r.json()["next_cursor"] is None
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def wait_overdue(api: httpx.AsyncClient, iid: str) -> dict[str, Any]:
    """A backfilled interaction whose deadline passed escalates at once (workflow time)."""

    async def check() -> dict[str, Any] | None:
        got = await detail(api, iid)
        return got if got["overdue"] and "deadline_missed" in got["triggers"] else None

    return await eventually(check)


# ---------------------------------------------------------------- the whole lifecycle
async def test_interaction_lifecycle_over_http(api: httpx.AsyncClient, env: WorkflowEnvironment) -> None:
    await require_real_clock(env)
    await setup_team(api)
    received = datetime.now(UTC).replace(microsecond=0)
    created = await create(api, external_id="call-life", received_at=received.isoformat())
    iid = created["id"]
    assert created["status"] == "open"
    assert created["assignee_id"] == "chw-ana"
    assert ts(created["received_at"]) == received
    due = ts(created["due_at"])
    assert due == response_due(received, "call", urgent=False, team=TEAM)
    assert created["first_response_at"] is None
    assert created["sla_met"] is None

    async def has_created() -> dict[str, Any] | None:
        got = await detail(api, iid)
        return got if "created" in kinds(got) else None

    got = await eventually(has_created)
    assert got["summary"].startswith("CANARY-SUMMARY")
    assert got["attempts"] == [] and got["escalations"] == []

    # First attempt: no answer. The interaction is answered (SLA met) and a retry is scheduled.
    after = await ok(api, iid, "attempts", {"outcome": "no_answer", "note": "rang 10 times"}, ANA)
    assert after["status"] == "attempting"
    assert [(a["seq"], a["outcome"], a["staff_id"], a["note"]) for a in after["attempts"]] == [
        (1, "no_answer", "chw-ana", "rang 10 times")
    ]
    first_response = ts(after["first_response_at"])
    assert received <= first_response <= due
    assert after["sla_met"] is True
    calendar = BusinessCalendar.from_config(TEAM.calendar, around=received.date())
    retry = ts(after["next_retry_at"])
    assert retry == retry_due_at(first_response, calendar=calendar, policy=TEAM.policy)
    assert "attempt" in kinds(after) and "first_response" in kinds(after)
    assert "retry_scheduled" in kinds(after)

    # Second attempt: reached. Retries stop; the first response does not move.
    after = await ok(api, iid, "attempts", {"outcome": "reached"}, ANA)
    assert [a["outcome"] for a in after["attempts"]] == ["no_answer", "reached"]
    assert after["attempts"][1]["note"] is None
    assert after["status"] == "attempting"
    assert after["next_retry_at"] is None
    assert ts(after["first_response_at"]) == first_response

    # Urgent: the deadline can only move earlier (here: to the urgent deadline, if that is earlier).
    after = await ok(api, iid, "flags", {"flag": "urgent"}, ANA)
    urgent_due = ts(after["due_at"])
    assert urgent_due <= due
    assert urgent_due == min(due, response_due(received, "call", urgent=True, team=TEAM))
    assert after["urgent"] is True and "urgent" in after["flags"]
    assert after["status"] == "attempting"
    assert after["triggers"] == []

    # Complaint: an escalation trigger, the status says so, the note is in the timeline.
    after = await ok(api, iid, "flags", {"flag": "complaint", "note": "unhappy with wait"}, ANA)
    assert after["status"] == "escalated"
    assert "complaint" in after["flags"]
    assert after["triggers"] == ["complaint"]
    assert [e["trigger"] for e in after["escalations"]] == ["complaint"]
    assert ts(after["due_at"]) == urgent_due
    notes = [e for e in after["timeline"] if e["kind"] == "flag_note"]
    assert [(n["note"], n["actor_id"], n["details"]) for n in notes] == [
        ("unhappy with wait", "chw-ana", {"flag": "complaint"})
    ]

    # The lead reassigns to ben: new assignee, the deadline keeps running.
    after = await ok(api, iid, "assign", {"assignee_id": "chw-ben", "reason": "ana is on leave"}, LEAD)
    assert after["assignee_id"] == "chw-ben"
    assert ts(after["due_at"]) == urgent_due
    assigned = [e for e in after["timeline"] if e["kind"] == "assigned"]
    assert [(e["actor_id"], e["details"]["from"], e["details"]["to"]) for e in assigned] == [
        ("lead-1", "chw-ana", "chw-ben")
    ]
    reasons = [e for e in after["timeline"] if e["kind"] == "assign_reason"]
    assert [(e["note"], e["actor_id"]) for e in reasons] == [("ana is on leave", "lead-1")]

    # Ana no longer acts on it; ben cannot resolve it while the complaint escalation is open.
    r = await post(api, iid, "attempts", {"outcome": "reached"}, ANA)
    assert r.status_code == 403, r.text
    r = await post(api, iid, "resolve", {"resolution": "connected to food bank"}, BEN)
    assert r.status_code == 409, r.text
    (escalation,) = after["escalations"]
    assert escalation["id"] in r.json()["error"]["message"] and "complaint" in r.json()["error"]["message"]
    r = await api.post(
        f"/v1/escalations/{escalation['id']}/resolve",
        json={"action_taken": "called member back", "outcome": "apologised, wait explained"},
        headers=LEAD,
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "resolved" and r.json()["outcome"] == "apologised, wait explained"
    after = await ok(api, iid, "resolve", {"resolution": "connected to food bank"}, BEN)
    assert after["status"] == "resolved"
    assert after["resolution"] == "connected to food bank"
    assert after["resolved_by"] == "chw-ben"
    assert after["resolved_at"] is not None
    assert "resolved" in kinds(after)

    # A resolved interaction stays resolved.
    r = await post(api, iid, "resolve", {"resolution": "again"}, BEN)
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "conflict"
    assert "already resolved" in r.json()["error"]["message"]
    r = await post(api, iid, "attempts", {"outcome": "reached"}, BEN)
    assert r.status_code == 409, r.text
    assert "already resolved" in r.json()["error"]["message"]
    r = await post(api, iid, "flags", {"flag": "safety"}, BEN)
    assert r.status_code == 409, r.text
    r = await post(api, iid, "assign", {"assignee_id": "chw-ana", "reason": "back"}, LEAD)
    assert r.status_code == 409, r.text
    final = await detail(api, iid)
    assert final["resolution"] == "connected to food bank"
    assert final["assignee_id"] == "chw-ben"
    assert len(final["attempts"]) == 2
    assert final["status"] == "resolved"

    # A duplicate start after resolution does not reopen the case.
    again = await api.post(
        "/v1/interactions",
        json={
            "team_id": "eastside",
            "external_id": "call-life",
            "member_id": "mem-1",
            "channel": "call",
            "received_at": received.isoformat(),
        },
        headers=SYSTEM,
    )
    assert again.status_code == 200, again.text
    assert again.json()["id"] == iid and again.json()["status"] == "resolved"

    # Notices: ana got the new case, ben the reassignment, the lead the complaint escalation.
    async def notice(recipient: str, kind: str) -> list[dict[str, Any]]:
        return [
            n for n in await notifications(api, recipient) if n["kind"] == kind and n["interaction_id"] == iid
        ]

    assert await eventually(lambda: notice("chw-ana", "assigned"))
    (to_ben,) = await eventually(lambda: notice("chw-ben", "assigned"))
    assert to_ben["recipient_id"] == "chw-ben" and to_ben["escalation_id"] is None
    assert ts(to_ben["created_at"]) is not None
    escalations = await eventually(lambda: notice("lead-1", "escalation"))
    assert [n["trigger"] for n in escalations] == ["complaint"]
    assert not await notice("chw-ben", "escalation")
    # Member text never leaves the database through a notice.
    for n in [*await notifications(api, "chw-ben"), *await notifications(api, "lead-1")]:
        assert "CANARY" not in str(n) and "food bank" not in str(n)


@pytest.mark.parametrize(
    "over",
    [
        {},
        {"channel": "text", "urgent": True},
        {"channel": "voicemail", "member_id": "mem-orphan"},
    ],
    ids=["call", "urgent-text", "no-owner"],
)
async def test_a_starts_answer_is_the_case_its_workflow_then_projects(
    api: httpx.AsyncClient, over: dict[str, Any]
) -> None:
    """A start is answered from the row it inserted, not read back: once the workflow's first
    projection has landed, the case reads the same but for its ``updated_at``."""
    await setup_team(api)
    created = await create(api, **over)

    async def projected() -> dict[str, Any] | None:
        got = await detail(api, created["id"])
        return got if "created" in kinds(got) else None

    got = await eventually(projected)
    ignored = {"updated_at", "timeline"}
    assert {k: v for k, v in created.items() if k not in ignored} == {
        k: v for k, v in got.items() if k not in ignored
    }


async def test_unassigned_interaction_is_assigned_by_a_lead(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    created = await create(api, member_id="mem-orphan", channel="text")
    assert created["assignee_id"] is None
    iid = created["id"]

    async def unassigned_notice() -> list[dict[str, Any]]:
        return [
            n
            for n in await notifications(api, "lead-1")
            if n["kind"] == "unassigned" and n["interaction_id"] == iid
        ]

    assert await eventually(unassigned_notice)
    after = await ok(api, iid, "assign", {"assignee_id": "chw-ana", "reason": ""}, LEAD)
    assert after["assignee_id"] == "chw-ana"
    assert not [e for e in after["timeline"] if e["kind"] == "assign_reason"]
    # Assigning to the current assignee is a conflict, and changes nothing.
    r = await post(api, iid, "assign", {"assignee_id": "chw-ana", "reason": "again"}, LEAD)
    assert r.status_code == 409, r.text
    assert "already assigned" in r.json()["error"]["message"]
    # Back to the unassigned queue.
    after = await ok(api, iid, "assign", {"assignee_id": None, "reason": "needs a Spanish speaker"}, LEAD)
    assert after["assignee_id"] is None
    assert after["assignment_source"] == "unassigned"
    assert [i["id"] for i in await queue(api, team_id="eastside", assignee_id="unassigned")] == [iid]


# ---------------------------------------------------------------- the queue
async def test_queue_filters(api: httpx.AsyncClient, env: WorkflowEnvironment) -> None:
    await require_real_clock(env)
    await setup_team(api)
    await setup_other_team(api)
    r = await api.put("/v1/teams/westside/members/mem-w", json={"owner_id": "lead-other"}, headers=SYSTEM)
    assert r.status_code == 200, r.text
    now = datetime.now(UTC)
    a = await create(api, external_id="a", member_id="mem-1", channel="call")
    b = await create(api, external_id="b", member_id="mem-2", channel="text")
    c = await create(api, external_id="c", member_id="mem-orphan", channel="voicemail")
    d = await create(
        api,
        external_id="d",
        member_id="mem-1",
        channel="call",
        received_at=(now - timedelta(days=10)).isoformat(),
    )
    e = await create(api, external_id="e", member_id="mem-2", channel="text", urgent=True)
    w = await create(api, team_id="westside", external_id="w", member_id="mem-w", channel="call")
    assert w["assignee_id"] == "lead-other"
    ids = {x["id"]: name for name, x in zip("abcdew", (a, b, c, d, e, w), strict=True)}

    def names(items: list[dict[str, Any]]) -> list[str]:
        return [ids[i["id"]] for i in items]

    # d was received ten days ago: its deadline passed, so it is overdue and escalated at once.
    got = await wait_overdue(api, d["id"])
    assert got["status"] == "escalated"

    everything = await queue(api, team_id="eastside")
    assert sorted(names(everything)) == ["a", "b", "c", "d", "e"]
    dues = [(ts(i["due_at"]), i["id"]) for i in everything]
    assert dues == sorted(dues), "the queue is ordered by due_at (then id)"
    assert names(everything)[0] == "d"
    assert sorted(names(await queue(api))) == ["a", "b", "c", "d", "e", "w"]
    assert names(await queue(api, team_id="westside")) == ["w"]
    assert await queue(api, team_id="nowhere") == []

    assert sorted(names(await queue(api, team_id="eastside", assignee_id="chw-ana"))) == ["a", "d"]
    assert sorted(names(await queue(api, team_id="eastside", assignee_id="chw-ben"))) == ["b", "e"]
    assert names(await queue(api, team_id="eastside", assignee_id="unassigned")) == ["c"]

    assert names(await queue(api, team_id="eastside", overdue="true")) == ["d"]
    assert sorted(names(await queue(api, team_id="eastside", overdue="false"))) == ["a", "b", "c", "e"]
    assert names(await queue(api, team_id="eastside", status="escalated")) == ["d"]
    assert sorted(names(await queue(api, team_id="eastside", status="open"))) == ["a", "b", "c", "e"]

    # Statuses move the rows between the filters; resolved ones leave the default queue.
    await ok(api, b["id"], "attempts", {"outcome": "busy"}, BEN)
    await ok(api, a["id"], "attempts", {"outcome": "reached"}, ANA)
    await ok(api, a["id"], "resolve", {"resolution": "done"}, ANA)
    assert names(await queue(api, team_id="eastside", status="attempting")) == ["b"]
    assert names(await queue(api, team_id="eastside", status="resolved")) == ["a"]
    assert sorted(names(await queue(api, team_id="eastside"))) == ["b", "c", "d", "e"]
    assert sorted(names(await queue(api, team_id="eastside", status=ALL_STATUSES))) == [
        "a",
        "b",
        "c",
        "d",
        "e",
    ]
    assert sorted(names(await queue(api, team_id="eastside", status="open, resolved"))) == ["a", "c", "e"]
    assert names(await queue(api, team_id="eastside", assignee_id="chw-ana")) == ["d"]
    # An answered interaction is not overdue, even once its deadline passes.
    assert names(await queue(api, team_id="eastside", overdue="true", status=ALL_STATUSES)) == ["d"]

    # A CHW or lead sees their own team only, whatever they ask for.
    r = await api.get("/v1/interactions", params={"team_id": "eastside"}, headers=LEAD)
    assert sorted(names(r.json()["items"])) == ["b", "c", "d", "e"]
    r = await api.get("/v1/interactions", headers=ANA)
    assert sorted(names(r.json()["items"])) == ["b", "c", "d", "e"]

    r = await api.get("/v1/interactions", params={"status": "lost"}, headers=SYSTEM)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid"
    assert "lost" in r.json()["error"]["message"]
    r = await api.get("/v1/interactions", params={"overdue": "maybe"}, headers=SYSTEM)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid"


async def test_queue_cursor_pagination(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    now = datetime.now(UTC)
    # Three calls share one deadline (ties are broken by id), two texts have their own.
    created = [
        await create(api, channel="call", received_at=now.isoformat()),
        await create(api, channel="call", received_at=now.isoformat()),
        await create(api, channel="text", member_id="mem-2"),
        await create(api, channel="call", member_id="mem-orphan", received_at=now.isoformat()),
        await create(api, channel="text", urgent=True),
    ]
    full = await queue(api, team_id="eastside")
    assert sorted(i["id"] for i in full) == sorted(c["id"] for c in created)

    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"team_id": "eastside", "limit": 2}
        if cursor is not None:
            params["cursor"] = cursor
        r = await api.get("/v1/interactions", params=params, headers=LEAD)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["items"]) <= 2
        seen.extend(page["items"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert pages < 10, "pagination does not end"
    assert pages == 3
    assert [i["id"] for i in seen] == [i["id"] for i in full]
    assert len({i["id"] for i in seen}) == 5
    keys = [(ts(i["due_at"]), i["id"]) for i in seen]
    assert keys == sorted(keys)

    # Filters hold across pages.
    r = await api.get("/v1/interactions", params={"assignee_id": "chw-ana", "limit": 1}, headers=SYSTEM)
    first = r.json()
    r = await api.get(
        "/v1/interactions",
        params={"assignee_id": "chw-ana", "limit": 5, "cursor": first["next_cursor"]},
        headers=SYSTEM,
    )
    rest = r.json()
    assert [i["assignee_id"] for i in first["items"] + rest["items"]] == ["chw-ana"] * 3
    assert rest["next_cursor"] is None

    for bad in (
        "not-a-cursor",
        "%%%",
        base64.urlsafe_b64encode(b"only-one-part").decode(),
        base64.urlsafe_b64encode(b"yesterday\x1fabc").decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ):
        r = await api.get("/v1/interactions", params={"cursor": bad}, headers=SYSTEM)
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["error"]["code"] == "invalid"
    for limit in (0, -1, 501, "many"):
        r = await api.get("/v1/interactions", params={"limit": limit}, headers=SYSTEM)
        assert r.status_code == 422, (limit, r.text)


# ---------------------------------------------------------------- the SLA report
async def test_sla_report_matches_what_happened(api: httpx.AsyncClient, env: WorkflowEnvironment) -> None:
    await require_real_clock(env)
    await setup_team(api)
    now = datetime.now(UTC)
    old = (now - timedelta(days=10)).isoformat()
    call1 = await create(api, channel="call")
    call2 = await create(api, channel="call")
    call3 = await create(api, channel="call")
    text1 = await create(api, channel="text", member_id="mem-2")
    vm_open = await create(api, channel="voicemail", received_at=old)
    vm_late = await create(api, channel="voicemail", received_at=old)
    # Both backfilled voicemails escalate at once (deadline missed) before anyone answers.
    await wait_overdue(api, vm_open["id"])
    await wait_overdue(api, vm_late["id"])

    await ok(api, call1["id"], "attempts", {"outcome": "no_answer"}, ANA)
    await ok(api, call1["id"], "attempts", {"outcome": "reached"}, ANA)
    await ok(api, call1["id"], "resolve", {"resolution": "done on the second try"}, ANA)
    await ok(api, call2["id"], "attempts", {"outcome": "reached"}, ANA)
    await ok(api, call2["id"], "resolve", {"resolution": "done at once"}, ANA)
    after = await ok(api, call3["id"], "attempts", {"outcome": "wrong_number"}, ANA)
    assert after["unreachable"] is True and after["triggers"] == ["unreachable"]
    assert after["status"] == "escalated"
    await ok(api, text1["id"], "attempts", {"outcome": "replied"}, BEN)
    await ok(api, text1["id"], "flags", {"flag": "complaint"}, BEN)
    late = await ok(api, vm_late["id"], "attempts", {"outcome": "reached"}, LEAD)
    assert late["sla_met"] is False

    params = {
        "team_id": "eastside",
        "from": (now - timedelta(days=30)).isoformat(),
        "to": (now + timedelta(hours=1)).isoformat(),
    }
    r = await api.get("/v1/reports/sla", params=params, headers=LEAD)
    assert r.status_code == 200, r.text
    report = r.json()
    assert set(report) == {
        "team_id",
        "from",
        "to",
        "channels",
        "escalations_by_trigger",
        "unreachable_rate",
        "attempts_outside_contact_window",
        "attempts_over_daily_cap",
        "blocked_by_contact_window",
    }
    assert report["team_id"] == "eastside"
    # The contract's three channels; a referral row only once the team received referrals.
    assert set(report["channels"]) == {"call", "voicemail", "text"}
    assert ts(report["from"]) == datetime.fromisoformat(params["from"])
    assert ts(report["to"]) == datetime.fromisoformat(params["to"])
    call, text, vm = (report["channels"][ch] for ch in ("call", "text", "voicemail"))

    assert (call["received"], call["answered_on_time"], call["answered_late"], call["open_overdue"]) == (
        3,
        3,
        0,
        0,
    )
    assert call["first_contact_resolution_rate"] == 0.5
    assert 0 <= call["median_first_response_business_minutes"] < 10

    assert (text["received"], text["answered_on_time"], text["answered_late"], text["open_overdue"]) == (
        1,
        1,
        0,
        0,
    )
    assert text["first_contact_resolution_rate"] is None

    assert (vm["received"], vm["answered_on_time"], vm["answered_late"], vm["open_overdue"]) == (2, 0, 1, 1)
    assert vm["first_contact_resolution_rate"] is None
    # The one voicemail answered: the team's open minutes from its receipt ten days back to that
    # answer (at least three business days even over Christmas and New Year).
    cal = BusinessCalendar.from_config(TEAM.calendar, around=now.date())
    waited = cal.open_minutes_between(
        datetime.fromisoformat(old), datetime.fromisoformat(late["first_response_at"])
    )
    assert waited >= 3 * 480
    assert vm["median_first_response_business_minutes"] == pytest.approx(waited, abs=1)

    assert report["escalations_by_trigger"] == {"unreachable": 1, "complaint": 1, "deadline_missed": 2}
    # One unreachable (wrong number) among five interactions with an attempt.
    assert report["unreachable_rate"] == pytest.approx(1 / 5)

    # The window is [from, to): yesterday onwards leaves the backfilled voicemails out.
    r = await api.get(
        "/v1/reports/sla",
        params={**params, "from": (now - timedelta(days=1)).isoformat()},
        headers=SYSTEM,
    )
    assert r.status_code == 200, r.text
    narrow = r.json()
    assert narrow["channels"]["voicemail"]["received"] == 0
    assert narrow["channels"]["voicemail"]["median_first_response_business_minutes"] is None
    assert narrow["channels"]["call"]["received"] == 3
    assert narrow["escalations_by_trigger"] == {"unreachable": 1, "complaint": 1}
    assert narrow["unreachable_rate"] == pytest.approx(1 / 4)
    # An empty window is rejected; an earlier one is empty.
    r = await api.get("/v1/reports/sla", params={**params, "to": params["from"]}, headers=SYSTEM)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid"
    r = await api.get(
        "/v1/reports/sla",
        params={
            **params,
            "from": (now - timedelta(days=60)).isoformat(),
            "to": (now - timedelta(days=30)).isoformat(),
        },
        headers=SYSTEM,
    )
    assert r.status_code == 200, r.text
    empty = r.json()
    assert all(ch["received"] == 0 for ch in empty["channels"].values())
    assert empty["escalations_by_trigger"] == {} and empty["unreachable_rate"] is None
