"""The member contact profile over HTTP and attempts marked against the member's contact window
and the daily cap (docs/rules.md §2.7), on a real worker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from tests.api.support import SYSTEM, attempt, create, detail, require_real_clock, setup_team
from tests.workflows.support import eventually

PROFILE: dict[str, Any] = {
    "owner_id": "chw-ana",
    "timezone": "America/Denver",
    "postal_code": "33101",
    "phone": "+13055550123",
    "preferred_language": "es-MX",
    "preferred_channel": "call",
    "consent": {
        "call": {"status": "granted", "at": "2026-01-05", "source": "intake form"},
        "text": {"status": "refused", "at": "2026-01-05T10:30:00-07:00", "source": "intake call"},
    },
    "contact_window": ["09:00", "19:00"],
}


def zone_at_local_hour(hour: int) -> str:
    """A fixed-offset IANA zone in which it is now ``hour`` o'clock (Etc/GMT-N is UTC+N)."""
    offset = (hour - datetime.now(UTC).hour) % 24
    if offset > 14:
        offset -= 24
    return f"Etc/GMT-{offset}" if offset >= 0 else f"Etc/GMT+{-offset}"


async def put_member(api: httpx.AsyncClient, member_id: str, body: dict[str, Any]) -> httpx.Response:
    return await api.put(f"/v1/teams/eastside/members/{member_id}", json=body, headers=SYSTEM)


async def test_profile_is_stored_with_its_zone_source_and_window(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    r = await put_member(api, "mem-prof", PROFILE)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["timezone"] == "America/Denver"
    assert got["timezone_source"] == "profile"
    # Miami ZIP: Florida narrows to 20:00; the member's own window narrows to 09:00-19:00.
    assert got["contact_window"] == ["09:00", "19:00"]
    assert got["profile"]["consent"]["text"]["status"] == "refused"
    # Without the profile zone the postal code decides; without both, the phone; else the team.
    r = await put_member(api, "mem-prof", {"owner_id": "chw-ana", "postal_code": "80202"})
    assert (r.json()["timezone"], r.json()["timezone_source"]) == ("America/Denver", "postal_code")
    r = await put_member(api, "mem-prof", {"owner_id": "chw-ana", "phone": "+18085550123"})
    assert (r.json()["timezone"], r.json()["timezone_source"]) == ("Pacific/Honolulu", "phone")
    r = await put_member(api, "mem-prof", {"owner_id": "chw-ana", "postal_code": "33101"})
    assert r.json()["contact_window"] == ["08:00", "20:00"]  # Florida
    r = await put_member(api, "mem-prof", {"owner_id": "chw-ana"})
    assert (r.json()["timezone"], r.json()["timezone_source"]) == ("America/Chicago", "team")
    assert r.json()["contact_window"] == ["08:00", "21:00"]


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("timezone", "Mars/Olympus", "IANA"),
        ("postal_code", "00000", "ZIP"),
        ("postal_code", "ABCDE", "ZIP"),
        ("phone", "303-555-0123", "E.164"),
        ("phone", "+1555", "not a valid phone number"),
        ("preferred_language", "english!", "BCP 47"),
        ("preferred_channel", "fax", "call"),
        ("contact_window", ["19:00", "09:00"], "start before"),
        ("contact_window", ["9am", "5pm"], "HH:MM"),
        (
            "consent",
            {"text": {"status": "maybe", "at": "2026-01-01", "source": "x"}},
            "status: Input should be 'granted'",
        ),
        ("consent", {"text": {"status": "refused", "source": "x"}}, "consent.text.at: Field required"),
    ],
)
async def test_bad_profile_fields_are_refused_and_change_nothing(
    api: httpx.AsyncClient, field: str, value: Any, says: str
) -> None:
    await setup_team(api)
    before = (await put_member(api, "mem-bad", PROFILE)).json()
    r = await put_member(api, "mem-bad", {**PROFILE, field: value})
    assert r.status_code == 422, r.text
    # The message names the field refused, and says why ("at" alone would match "status").
    message = r.json()["error"]["message"]
    assert message.startswith(f"{field}"), message
    assert says in message, message
    again = (await put_member(api, "mem-bad", PROFILE)).json()
    assert again == before


async def test_attempt_at_three_in_the_morning_is_marked_outside_the_window(
    api: httpx.AsyncClient, env: WorkflowEnvironment
) -> None:
    await require_real_clock(env)
    await setup_team(api)
    r = await put_member(api, "mem-night", {"owner_id": "chw-ana", "timezone": zone_at_local_hour(3)})
    assert r.status_code == 200, r.text
    case = await create(api, member_id="mem-night")
    got = await attempt(api, case["id"], override_reason="member asked for a call after her night shift")
    assert (await sla(api))["attempts_outside_contact_window"] == 1
    [a] = got["attempts"]
    assert a["outside_contact_window"] is True
    assert a["over_daily_cap"] is False
    assert a["override_reason"] == "member asked for a call after her night shift"
    marked = [e for e in got["timeline"] if e["kind"] == "attempt"]
    assert marked[0]["details"]["outside_contact_window"] is True


async def test_fourth_attempt_in_a_day_across_cases_is_over_the_cap(
    api: httpx.AsyncClient, env: WorkflowEnvironment
) -> None:
    await require_real_clock(env)
    await setup_team(api)
    r = await put_member(api, "mem-cap", {"owner_id": "chw-ana", "timezone": zone_at_local_hour(12)})
    assert r.status_code == 200, r.text
    first, second = await create(api, member_id="mem-cap"), await create(api, member_id="mem-cap")
    for iid in (first["id"], first["id"], second["id"]):
        got = await attempt(api, iid)
        last = got["attempts"][-1]
        assert (last["outside_contact_window"], last["over_daily_cap"]) == (False, False)
    got = await attempt(api, second["id"], outcome="reached")
    fourth = got["attempts"][-1]
    assert fourth["over_daily_cap"] is True
    assert fourth["outside_contact_window"] is False
    # Another member's attempts do not count.
    r = await put_member(api, "mem-1", {"owner_id": "chw-ana", "timezone": zone_at_local_hour(12)})
    assert r.status_code == 200, r.text
    other = await create(api, member_id="mem-1")
    assert (await attempt(api, other["id"]))["attempts"][-1]["over_daily_cap"] is False
    assert (await detail(api, first["id"]))["attempts"][0]["over_daily_cap"] is False
    report = await sla(api)
    assert report["attempts_over_daily_cap"] == 1
    assert report["attempts_outside_contact_window"] == 0


async def sla(api: httpx.AsyncClient) -> dict[str, Any]:
    r = await api.get("/v1/reports/sla", params={"team_id": "eastside"}, headers=SYSTEM)
    assert r.status_code == 200, r.text
    got: dict[str, Any] = r.json()
    return got


async def test_sla_report_counts_cases_held_by_the_members_window(
    api: httpx.AsyncClient, env: WorkflowEnvironment
) -> None:
    await require_real_clock(env)
    await setup_team(api)
    # 06:00-07:30 never meets the legal 08:00-21:00: this member can never be called lawfully.
    r = await put_member(api, "mem-early", {"owner_id": "chw-ana", "contact_window": ["06:00", "07:30"]})
    assert r.status_code == 200, r.text
    assert r.json()["contact_window"] is None
    # Ten days back: overdue whatever the run's day (a Friday-evening call three days back is
    # only due Monday 17:00; holidays add more).
    old = (datetime.now(UTC) - timedelta(days=10)).isoformat()
    held = await create(api, member_id="mem-early", received_at=old)
    late = await create(api, member_id="mem-1", received_at=old)

    async def both_overdue() -> bool:
        return [(await detail(api, c["id"]))["overdue"] for c in (held, late)] == [True, True]

    await eventually(both_overdue)
    report = await sla(api)
    assert report["channels"]["call"]["open_overdue"] == 2
    assert report["blocked_by_contact_window"] == 1
