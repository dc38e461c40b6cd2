"""The walking skeleton over HTTP: configure a team, start an interaction, read it back."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.api.support import SYSTEM, interaction_body, setup_team
from tests.conftest import CHICAGO_TEAM, auth


async def test_start_interaction_then_read_it(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    r = await api.post("/v1/interactions", json=interaction_body(), headers=SYSTEM)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["workflow_id"] == "interaction:eastside:call-001"
    assert created["assignee_id"] == "chw-ana"
    assert created["status"] == "open"
    assert datetime.fromisoformat(created["due_at"]).tzinfo is not None

    again = await api.post("/v1/interactions", json=interaction_body(), headers=SYSTEM)
    assert again.status_code == 200
    assert again.json()["id"] == created["id"]

    got = await api.get(f"/v1/interactions/{created['id']}", headers=SYSTEM)
    assert got.status_code == 200
    assert got.json()["due_at"] == created["due_at"]
    assert got.json()["summary"].startswith("CANARY-SUMMARY")


async def test_member_without_owner_lands_in_unassigned_queue(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    r = await api.post(
        "/v1/interactions",
        json=interaction_body(external_id="t-9", member_id="mem-orphan", channel="text"),
        headers=SYSTEM,
    )
    assert r.status_code == 201, r.text
    assert r.json()["assignee_id"] is None
    q = await api.get(
        "/v1/interactions", params={"team_id": "eastside", "assignee_id": "unassigned"}, headers=SYSTEM
    )
    assert [i["external_id"] for i in q.json()["items"]] == ["t-9"]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda c: c["calendar"].update(timezone="Mars/Olympus"), "unknown time zone"),
        (lambda c: c["calendar"].update(holiday_country="XX"), "unknown holiday country"),
        (lambda c: c["calendar"]["hours"].update(mon=[["17:00", "09:00"]]), "mon"),
        (
            lambda c: c["calendar"]["hours"].update(mon=[["09:00", "13:00"], ["12:00", "17:00"]]),
            "overlapping",
        ),
        (lambda c: c.update(policy={"same_day_cutoff_minutes": -5}), "same_day_cutoff_minutes"),
    ],
)
async def test_bad_team_config_is_422_with_the_reason(
    api: httpx.AsyncClient, mutate: Any, message: str
) -> None:
    body = copy.deepcopy(CHICAGO_TEAM)
    mutate(body)
    r = await api.put("/v1/teams/bad", json=body, headers=SYSTEM)
    assert r.status_code == 422
    assert message in r.json()["error"]["message"]
    assert (await api.get("/v1/teams/bad", headers=SYSTEM)).status_code == 404


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"received_at": "2026-11-16T10:00:00"}, "received_at"),
        ({"channel": "fax"}, "channel"),
        ({"team_id": "nope"}, "unknown team"),
        ({"member_id": "stranger"}, "unknown member"),
        ({"received_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}, "future"),
    ],
)
async def test_bad_interaction_is_422_and_creates_nothing(
    api: httpx.AsyncClient, over: dict[str, Any], message: str
) -> None:
    await setup_team(api)
    r = await api.post("/v1/interactions", json=interaction_body(external_id="bad-1", **over), headers=SYSTEM)
    assert r.status_code == 422, r.text
    assert message in r.json()["error"]["message"]
    q = await api.get(
        "/v1/interactions", params={"status": "open,attempting,escalated,resolved"}, headers=SYSTEM
    )
    assert q.json()["items"] == []


async def test_missing_or_bad_token_is_401(api: httpx.AsyncClient) -> None:
    assert (await api.get("/v1/interactions")).status_code == 401
    r = await api.get("/v1/interactions", headers=auth("nope"))
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthorized"
