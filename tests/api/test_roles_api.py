"""The role matrix (docs/api.md §4.1, 4.3): every route by every caller, allowed (2xx) or refused.

System starts interactions; a CHW acts (attempt, flag, resolve) only on interactions assigned
to them; leads and managers act on their own team (assigning is theirs alone); ops reads.
A refused call changes nothing.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from api.app import create_app
from config.settings import Settings
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
    interaction_body,
    setup_other_team,
    setup_team,
)
from tests.conftest import CHICAGO_TEAM
from tests.workflows.support import eventually, steady

CALLERS: dict[str, dict[str, str]] = {
    "system": SYSTEM,
    "ops": OPS,
    "manager": MANAGER,
    "lead": LEAD,
    "chw_assigned": ANA,  # chw-ana owns mem-1, so the test interaction is hers
    "chw_other": BEN,
    "other_team_lead": OTHER_LEAD,
    "no_token": {},
}
READERS = {"system", "ops", "manager", "lead", "chw_assigned", "chw_other"}
ACTORS = {"manager", "lead", "chw_assigned"}
TEAM_LEADS = {"manager", "lead"}
ABSENCE_PLANNERS = {"system", "manager", "lead", "chw_assigned"}


def absence_window(n: int) -> tuple[str, str]:
    """Day ``n`` of a series of one-day absences far enough ahead not to overlap each other."""
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=40 + 2 * n)
    return start.isoformat(), (start + timedelta(days=1)).isoformat()


def absence_body(n: int) -> dict[str, Any]:
    starts_at, ends_at = absence_window(n)
    return {"staff_id": "chw-ana", "backup_id": "chw-ben", "starts_at": starts_at, "ends_at": ends_at}


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # {iid} is the test interaction
    allowed: set[str]
    body: dict[str, Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    needs_interaction: bool = False
    needs_escalation: bool = False  # {eid}: a fresh complaint escalation (lead, then manager)
    needs_absence: bool = False  # {aid}: a fresh scheduled absence of chw-ana
    success: int = 200


ROUTES: dict[str, Route] = {
    "put_team": Route("PUT", "/v1/teams/eastside", {"system", "manager"}, body=CHICAGO_TEAM),
    "get_team": Route("GET", "/v1/teams/eastside", READERS),
    "list_staff": Route("GET", "/v1/teams/eastside/staff", READERS),
    "put_staff": Route(
        "PUT", "/v1/teams/eastside/staff/chw-new", {"system", "manager"}, body={"name": "New", "role": "chw"}
    ),
    "put_member": Route(
        "PUT", "/v1/teams/eastside/members/mem-new", {"system", *TEAM_LEADS}, body={"owner_id": "chw-ana"}
    ),
    "get_member": Route("GET", "/v1/teams/eastside/members/mem-1", READERS),
    "create_interaction": Route(
        "POST", "/v1/interactions", {"system"}, body=interaction_body(external_id="new-1"), success=201
    ),
    "list_interactions": Route("GET", "/v1/interactions", READERS, params={"team_id": "eastside"}),
    "get_interaction": Route("GET", "/v1/interactions/{iid}", READERS, needs_interaction=True),
    "record_attempt": Route(
        "POST",
        "/v1/interactions/{iid}/attempts",
        ACTORS,
        body={"outcome": "no_answer"},
        needs_interaction=True,
    ),
    "flag": Route(
        "POST",
        "/v1/interactions/{iid}/flags",
        ACTORS,
        body={"flag": "sensitive", "note": "asked for privacy"},
        needs_interaction=True,
    ),
    "assign": Route(
        "POST",
        "/v1/interactions/{iid}/assign",
        TEAM_LEADS,
        body={"assignee_id": "chw-ben", "reason": "coverage"},
        needs_interaction=True,
    ),
    "resolve": Route(
        "POST", "/v1/interactions/{iid}/resolve", ACTORS, body={"resolution": "done"}, needs_interaction=True
    ),
    # Linking a case to its own member changes nothing; who may ask is what is checked here.
    "link": Route(
        "POST", "/v1/interactions/{iid}/link", TEAM_LEADS, body={"member_id": "mem-1"}, needs_interaction=True
    ),
    # A contact from any phone system: backends only (the team owns the number called).
    "inbound": Route("POST", "/v1/inbound", {"system"}, success=201),
    "list_escalations": Route("GET", "/v1/escalations", READERS, params={"team_id": "eastside"}),
    "get_escalation": Route("GET", "/v1/escalations/{eid}", READERS, needs_escalation=True),
    "acknowledge_escalation": Route(
        "POST", "/v1/escalations/{eid}/acknowledge", TEAM_LEADS, body={}, needs_escalation=True
    ),
    "resolve_escalation": Route(
        "POST",
        "/v1/escalations/{eid}/resolve",
        TEAM_LEADS,
        body={"action_taken": "called back", "outcome": "settled"},
        needs_escalation=True,
    ),
    "assign_escalation": Route(
        "POST",
        "/v1/escalations/{eid}/assign",
        TEAM_LEADS,
        body={"owner_id": "chw-ben"},
        needs_escalation=True,
    ),
    # Absences of chw-ana: she, the team's leads and managers, and the system plan them.
    "create_absence": Route("POST", "/v1/absences", ABSENCE_PLANNERS, success=201),
    "list_absences": Route("GET", "/v1/absences", READERS, params={"team_id": "eastside"}),
    "get_absence": Route("GET", "/v1/absences/{aid}", READERS, needs_absence=True),
    "change_absence": Route("PATCH", "/v1/absences/{aid}", ABSENCE_PLANNERS, needs_absence=True),
    "cancel_absence": Route("POST", "/v1/absences/{aid}/cancel", ABSENCE_PLANNERS, needs_absence=True),
    "notifications": Route(
        "GET",
        "/v1/notifications",
        {"system", "ops", *TEAM_LEADS, "chw_assigned"},
        params={"recipient_id": "chw-ana"},
    ),
    "sla_report": Route(
        "GET", "/v1/reports/sla", {"system", "ops", *TEAM_LEADS}, params={"team_id": "eastside"}
    ),
}


TEAM_NUMBER = "+13125550100"
# Signed by the phone system (X-Twilio-Signature), not by a token: tests/api/test_inbound_twilio.py.
SIGNED_BY_THE_PHONE_SYSTEM = {("POST", "/v1/inbound/twilio/voice"), ("POST", "/v1/inbound/twilio/messaging")}


def inbound_body(n: int) -> dict[str, Any]:
    return {
        "to": TEAM_NUMBER,
        "from": f"+1312555{2000 + n:04d}",
        "channel": "call",
        "at": datetime.now(UTC).isoformat(),
        "provider_id": f"call-{uuid.uuid4().hex}",
    }


def _later(n: int) -> str:
    """A new end for the absence of ``absence_body(100 + n)``: twelve hours later."""
    _, ends_at = absence_window(100 + n)
    return (datetime.fromisoformat(ends_at) + timedelta(hours=12)).isoformat()


def expected_status(route: Route, caller: str) -> int:
    if caller == "no_token":
        return 401
    return route.success if caller in route.allowed else 403


Snapshot = Callable[[], Awaitable[Any]]


def snapshot_of(api: httpx.AsyncClient, route_name: str, iid: str | None, eid: str | None = None) -> Snapshot:
    """What a refused call must leave as it was."""

    async def escalation() -> Any:
        # What an action could change; who a notice reached is written by the outbox in the
        # background and may land after the refused call.
        found = (await api.get(f"/v1/escalations/{eid}", headers=SYSTEM)).json()
        notified = [{k: v for k, v in n.items() if k != "recipients"} for n in found["notified"]]
        return {k: v for k, v in found.items() if k != "timeline"} | {"notified": notified}

    async def absences() -> Any:
        r = await api.get(
            "/v1/absences", params={"status": "scheduled,active,ended,cancelled"}, headers=SYSTEM
        )
        return sorted((a["id"], a["status"], a["ends_at"]) for a in r.json()["items"])

    async def interaction() -> Any:
        assert iid is not None
        return await detail(api, iid)

    async def team() -> Any:
        return (await api.get("/v1/teams/eastside", headers=SYSTEM)).json()

    async def staff() -> Any:
        return (await api.get("/v1/teams/eastside/staff", headers=SYSTEM)).json()

    async def interactions() -> Any:
        r = await api.get(
            "/v1/interactions", params={"status": "open,attempting,escalated,resolved"}, headers=SYSTEM
        )
        return [i["id"] for i in r.json()["items"]]

    async def nothing() -> Any:
        return None

    if route_name == "put_team":
        return team
    if route_name == "put_staff":
        return staff
    if route_name in ("create_interaction", "inbound"):
        return interactions
    if route_name in ("create_absence", "change_absence", "cancel_absence"):
        return absences
    if eid is not None:
        return escalation
    if iid is not None:
        return interaction
    return nothing


async def fresh_interaction(api: httpx.AsyncClient) -> str:
    """A new interaction of chw-ana whose start is projected (so re-reads are stable)."""
    created = await create(api, member_id="mem-1")
    assert created["assignee_id"] == "chw-ana"

    async def started() -> bool:
        return "created" in [e["kind"] for e in (await detail(api, created["id"]))["timeline"]]

    await eventually(started)
    iid: str = created["id"]
    await steady(lambda: detail(api, iid), quiet=0.3)
    return iid


async def fresh_escalation(api: httpx.AsyncClient) -> tuple[str, str]:
    """A new interaction of chw-ana flagged as a complaint, and its escalation's id."""
    created = await create(api, member_id="mem-1", flags=["complaint"])

    async def escalation() -> Any:
        found = (await detail(api, created["id"]))["escalations"]
        settled = found and found[0]["notified"] and found[0]["notified"][0]["recipients"]
        return found[0]["id"] if settled else None

    eid: str = await eventually(escalation)
    await steady(lambda: detail(api, created["id"]), quiet=0.3)
    return created["id"], eid


@pytest.mark.parametrize("route_name", list(ROUTES))
async def test_role_matrix(api: httpx.AsyncClient, route_name: str) -> None:
    """One route, every caller; each caller acts on a fresh interaction, so no case sees another's."""
    route = ROUTES[route_name]
    await setup_team(api)
    await setup_other_team(api)
    if route_name == "inbound":
        r = await api.put(
            "/v1/teams/eastside", json={**CHICAGO_TEAM, "phone_numbers": [TEAM_NUMBER]}, headers=SYSTEM
        )
        assert r.status_code == 200, r.text

    async def fresh(n: int) -> tuple[str | None, str | None, str | None]:
        """Caller ``n``'s own case, escalation and absence (those the route needs)."""
        iid = await fresh_interaction(api) if route.needs_interaction else None
        eid = aid = None
        if route.needs_escalation:
            iid, eid = await fresh_escalation(api)
        if route.needs_absence:
            r = await api.post("/v1/absences", json=absence_body(100 + n), headers=SYSTEM)
            assert r.status_code == 201, r.text
            aid = r.json()["id"]
        return iid, eid, aid

    # Made together (each waits for its own projections to settle), then each caller in turn.
    made = await asyncio.gather(*(fresh(n) for n in range(len(CALLERS))))
    wrong: list[str] = []
    for n, (caller, headers) in enumerate(CALLERS.items()):
        iid, eid, aid = made[n]
        body = route.body
        if route_name == "create_absence":
            body = absence_body(n)
        if route_name == "change_absence":
            body = {"ends_at": _later(n)}
        if route_name == "create_interaction":
            body = interaction_body(external_id=f"new-{n}")
        if route_name == "inbound":
            body = inbound_body(n)
        snapshot = snapshot_of(api, route_name, iid, eid)
        before = await snapshot()

        r = await api.request(
            route.method,
            route.path.format(iid=iid, eid=eid, aid=aid),
            json=body,
            params=route.params,
            headers=headers,
        )

        want = expected_status(route, caller)
        if r.status_code != want:
            wrong.append(f"{caller}: {r.status_code} (want {want}) {r.text[:200]}")
            continue
        if want < 400:
            if route.method != "GET":  # what it set off in the background lands before the next check
                await steady(snapshot, quiet=0.3)
        else:
            error = r.json()["error"]
            if error["code"] != ("unauthorized" if want == 401 else "forbidden") or not error["message"]:
                wrong.append(f"{caller}: error body {error}")
            if await snapshot() != before:
                wrong.append(f"{caller}: a refused call changed something")
    assert not wrong, f"{route_name}:\n" + "\n".join(wrong)


async def test_manager_configures_only_their_own_team(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    await setup_other_team(api)
    # Another team's configuration and staff, and a brand-new team, are not the manager's to set.
    for path, body in (
        ("/v1/teams/westside", CHICAGO_TEAM),
        ("/v1/teams/brand-new", CHICAGO_TEAM),
        ("/v1/teams/westside/staff/chw-w", {"name": "W", "role": "chw"}),
        ("/v1/teams/westside/members/mem-w", {"owner_id": "lead-other"}),
    ):
        r = await api.put(path, json=body, headers=MANAGER)
        assert r.status_code == 403, (path, r.text)
    assert (await api.get("/v1/teams/brand-new", headers=SYSTEM)).status_code == 404
    r = await api.get("/v1/teams/westside/staff", headers=SYSTEM)
    assert [s["id"] for s in r.json()["items"]] == ["lead-other"]


async def test_staff_see_only_their_team(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    await setup_other_team(api)
    await create(api, external_id="east-1")
    r = await api.put("/v1/teams/westside/members/mem-w", json={"owner_id": "lead-other"}, headers=SYSTEM)
    assert r.status_code == 200, r.text
    west = await create(api, team_id="westside", external_id="west-1", member_id="mem-w")

    r = await api.get("/v1/interactions", headers=OTHER_LEAD)
    assert [i["external_id"] for i in r.json()["items"]] == ["west-1"]
    r = await api.get("/v1/interactions", params={"team_id": "eastside"}, headers=OTHER_LEAD)
    assert r.status_code == 403
    r = await api.get("/v1/interactions", headers=LEAD)
    assert [i["external_id"] for i in r.json()["items"]] == ["east-1"]
    r = await api.get(f"/v1/interactions/{west['id']}", headers=ANA)
    assert r.status_code == 403
    for token in (SYSTEM, OPS):
        r = await api.get("/v1/interactions", headers=token)
        assert sorted(i["external_id"] for i in r.json()["items"]) == ["east-1", "west-1"]

    # Notifications: a CHW reads their own; a lead their team's (not another team's staff).
    async def leads_notified() -> bool:
        r = await api.get("/v1/notifications", headers=SYSTEM)
        return {"chw-ana", "lead-other"} <= {n["recipient_id"] for n in r.json()["items"]}

    await eventually(leads_notified)
    r = await api.get("/v1/notifications", headers=ANA)
    assert {n["recipient_id"] for n in r.json()["items"]} == {"chw-ana"}
    r = await api.get("/v1/notifications", headers=LEAD)
    assert {n["team_id"] for n in r.json()["items"]} == {"eastside"}
    r = await api.get("/v1/notifications", params={"recipient_id": "lead-other"}, headers=LEAD)
    assert r.status_code == 403, r.text
    r = await api.get("/v1/notifications", params={"recipient_id": "lead-other"}, headers=OTHER_LEAD)
    assert r.status_code == 200
    assert {n["interaction_id"] for n in r.json()["items"]} == {west["id"]}


async def test_bad_tokens_are_401_everywhere(api: httpx.AsyncClient) -> None:
    for headers in (
        {"Authorization": "Bearer nope"},
        {"Authorization": "Basic dC1zeXN0ZW0="},
        {"Authorization": "Bearer "},
    ):
        for route in ROUTES.values():
            r = await api.request(
                route.method,
                route.path.format(iid="x", eid="x", aid="x"),
                json=route.body,
                params=route.params,
                headers=headers,
            )
            assert r.status_code == 401, (route.path, headers, r.text)
            assert r.json()["error"]["code"] == "unauthorized"
            assert r.headers.get("www-authenticate") == "Bearer"


def test_every_route_is_in_the_role_matrix() -> None:
    """A new route cannot ship without its row in the matrix above."""
    app = create_app(Settings(database_url="sqlite:///:memory:"))
    served = {
        (method.upper(), re.sub(r"\{[a-z_]+\}", "{}", path))
        for path, ops in app.openapi()["paths"].items()
        if path.startswith("/v1/")
        for method in ops
    }
    covered = {
        (
            r.method,
            re.sub(r"\{[a-z]+\}", "{}", r.path)
            .replace("/eastside", "/{}")
            .replace("/chw-new", "/{}")
            .replace("/mem-new", "/{}")
            .replace("/mem-1", "/{}"),
        )
        for r in ROUTES.values()
    }
    missing = served - covered - SIGNED_BY_THE_PHONE_SYSTEM
    assert missing == set(), f"routes without a role-matrix row: {sorted(missing)}"
