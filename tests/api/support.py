"""Helpers for API tests: the standard team over HTTP, request bodies, polling."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from temporalio.testing import WorkflowEnvironment

from tests.conftest import CHICAGO_TEAM, auth

SYSTEM = auth("t-system")
OPS = auth("t-ops")
MANAGER = auth("t-manager")
LEAD = auth("t-lead")
ANA = auth("t-chw-ana")
BEN = auth("t-chw-ben")
OTHER_LEAD = auth("t-other-lead")

ALL_STATUSES = "open,attempting,escalated,resolved"


async def setup_team(api: httpx.AsyncClient, team_id: str = "eastside") -> None:
    """The standard team: mgr-1, lead-1, chw-ana, chw-ben; mem-1 → ana, mem-2 → ben, mem-orphan → nobody."""
    # Repeat contacts merge and staff notices are grouped by default (docs/rules.md §2.10, §2.8);
    # the standard team opens one case per contact and delivers each notice alone, at once, as
    # the tests written before them expect. Tests of merging and grouping turn them on.
    r = await api.put(
        f"/v1/teams/{team_id}",
        json={**CHICAGO_TEAM, "policy": {"merge_repeat_contacts": False}, "notifications": None},
        headers=SYSTEM,
    )
    assert r.status_code == 200, r.text
    for staff_id, role in (("mgr-1", "manager"), ("lead-1", "lead"), ("chw-ana", "chw"), ("chw-ben", "chw")):
        r = await api.put(
            f"/v1/teams/{team_id}/staff/{staff_id}", json={"name": staff_id, "role": role}, headers=SYSTEM
        )
        assert r.status_code == 200, r.text
    for member_id, owner in (("mem-1", "chw-ana"), ("mem-2", "chw-ben"), ("mem-orphan", None)):
        r = await api.put(
            f"/v1/teams/{team_id}/members/{member_id}", json={"owner_id": owner}, headers=SYSTEM
        )
        assert r.status_code == 200, r.text


async def setup_other_team(api: httpx.AsyncClient, team_id: str = "westside") -> None:
    """A second team whose lead is ``lead-other`` (token ``t-other-lead``)."""
    r = await api.put(f"/v1/teams/{team_id}", json={**CHICAGO_TEAM, "name": "Westside"}, headers=SYSTEM)
    assert r.status_code == 200, r.text
    r = await api.put(
        f"/v1/teams/{team_id}/staff/lead-other", json={"name": "Other lead", "role": "lead"}, headers=SYSTEM
    )
    assert r.status_code == 200, r.text


def interaction_body(**over: Any) -> dict[str, Any]:
    body = {
        "team_id": "eastside",
        "external_id": "call-001",
        "member_id": "mem-1",
        "channel": "call",
        "received_at": datetime.now(UTC).isoformat(),
        "summary": "CANARY-SUMMARY member asked about food bank",
    }
    body.update(over)
    return body


async def create(api: httpx.AsyncClient, **over: Any) -> dict[str, Any]:
    """Start an interaction as the system (a fresh external id unless given) and return it."""
    over.setdefault("external_id", f"ext-{uuid.uuid4().hex[:10]}")
    r = await api.post("/v1/interactions", json=interaction_body(**over), headers=SYSTEM)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def detail(api: httpx.AsyncClient, interaction_id: str) -> dict[str, Any]:
    r = await api.get(f"/v1/interactions/{interaction_id}", headers=SYSTEM)
    assert r.status_code == 200, r.text
    got: dict[str, Any] = r.json()
    return got


async def notifications(api: httpx.AsyncClient, recipient_id: str) -> list[dict[str, Any]]:
    r = await api.get("/v1/notifications", params={"recipient_id": recipient_id}, headers=SYSTEM)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def require_real_clock(env: WorkflowEnvironment) -> None:
    """These tests compare workflow time with wall-clock deadlines: the test server must not run ahead.

    If the time-skipping server were shared with a test that skipped it forward (env.sleep),
    every fresh deadline would look missed at once; fail clearly instead of mysteriously.
    """
    skew = await env.get_current_time() - datetime.now(UTC)
    assert skew < timedelta(minutes=30), f"the test server's clock runs {skew} ahead of real time"


def zone_where_it_is(hour: int) -> str:
    """An ``Etc/GMT±N`` zone whose clock reads ``hour``:xx now."""
    offset = (hour - datetime.now(UTC).hour) % 24
    offset = offset - 24 if offset > 14 else offset
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/GMT"  # Etc/GMT-3 is UTC+3


def zone_abbr(zone: str) -> str:
    """How the console shows ``zone`` now: its abbreviation ("CST"; "+03" for Etc/GMT-3)."""
    return datetime.now(ZoneInfo(zone)).strftime("%Z")


async def attempt(api: httpx.AsyncClient, iid: str, **body: Any) -> dict[str, Any]:
    """Ana records an attempt (``no_answer`` unless ``body`` says otherwise); it must succeed."""
    r = await api.post(f"/v1/interactions/{iid}/attempts", json={"outcome": "no_answer", **body}, headers=ANA)
    assert r.status_code == 200, r.text
    got: dict[str, Any] = r.json()
    return got
