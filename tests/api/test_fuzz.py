"""No input produces a 500 (docs/api.md §4.3): every writing route gets a few hundred mutated bodies.

Each body starts from a valid one and is bent the way real clients get things wrong: a field
dropped, a field of the wrong type, an out-of-range or naive time, NUL bytes, huge numbers,
unknown fields, or no object at all. Every answer must be a 2xx or a 4xx with the error body.
The generator is seeded, so a failure is reproducible; explore with FOLLOWTHROUGH_FUZZ_SEED=<n>.
"""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.api.support import LEAD, MANAGER, SYSTEM, create, setup_team
from tests.conftest import CHICAGO_TEAM
from tests.workflows.support import eventually

CASES_PER_ROUTE = 80

ODD_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    2**63,
    10**400,
    1.5,
    1e308,
    "",
    " ",
    "\x00",
    "x" * 20_000,
    "🙂",
    "2026-11-24T10:00:00",  # naive
    "2026-11-24T10:00:00+25:00",
    "9999-12-31T23:59:59+00:00",
    "0001-01-01T00:00:00+00:00",
    "not-a-date",
    "America/Nowhere",
    [],
    [None],
    {},
    {"nested": {"deep": [1, 2, 3]}},
]


def mutate(rng: random.Random, body: Any) -> Any:
    """One bent version of ``body``."""
    choice = rng.randrange(6)
    if choice == 0 or not isinstance(body, dict) or not body:
        return rng.choice(ODD_VALUES)
    out = dict(body)
    key = rng.choice(sorted(out))
    if choice == 1:
        del out[key]
    elif choice == 2:
        out[key] = rng.choice(ODD_VALUES)
    elif choice == 3:
        out[f"unknown_{rng.randrange(100)}"] = rng.choice(ODD_VALUES)
    elif choice == 4 and isinstance(out[key], dict):
        out[key] = mutate(rng, out[key])
    else:
        for k in rng.sample(sorted(out), k=min(len(out), 2)):
            out[k] = rng.choice(ODD_VALUES)
    return out


async def test_no_body_gets_a_500(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    now = datetime.now(UTC)
    interaction = await create(api, member_id="mem-1", flags=["complaint"])
    iid = interaction["id"]

    async def escalation_id() -> str | None:
        found = (await api.get(f"/v1/interactions/{iid}", headers=LEAD)).json()["escalations"]
        return found[0]["id"] if found else None

    eid = await eventually(escalation_id)
    r = await api.post(
        "/v1/absences",
        json={
            "staff_id": "chw-ana",
            "backup_id": "chw-ben",
            "starts_at": (now + timedelta(days=30)).isoformat(),
            "ends_at": (now + timedelta(days=31)).isoformat(),
        },
        headers=SYSTEM,
    )
    assert r.status_code == 201, r.text
    aid = r.json()["id"]
    day = (now + timedelta(days=60)).isoformat()

    routes: list[tuple[str, str, Any, dict[str, str]]] = [
        ("PUT", "/v1/teams/eastside", CHICAGO_TEAM, SYSTEM),
        ("PUT", "/v1/teams/eastside/staff/chw-new", {"name": "New", "role": "chw"}, SYSTEM),
        ("PUT", "/v1/teams/eastside/members/mem-new", {"owner_id": "chw-ana"}, SYSTEM),
        (
            "POST",
            "/v1/interactions",
            {
                "team_id": "eastside",
                "external_id": "fuzz",
                "member_id": "mem-1",
                "channel": "text",
                "received_at": now.isoformat(),
                "urgent": False,
                "flags": ["sensitive"],
                "summary": "asked about rides",
            },
            SYSTEM,
        ),
        ("POST", f"/v1/interactions/{iid}/attempts", {"outcome": "no_answer", "note": "n"}, LEAD),
        ("POST", f"/v1/interactions/{iid}/flags", {"flag": "complaint", "note": "n"}, LEAD),
        ("POST", f"/v1/interactions/{iid}/assign", {"assignee_id": "chw-ben", "reason": "r"}, LEAD),
        ("POST", f"/v1/interactions/{iid}/resolve", {"resolution": "done"}, LEAD),
        ("POST", f"/v1/escalations/{eid}/acknowledge", {"note": "n"}, LEAD),
        ("POST", f"/v1/escalations/{eid}/assign", {"owner_id": "chw-ben", "reason": "r"}, LEAD),
        ("POST", f"/v1/escalations/{eid}/resolve", {"action_taken": "a", "outcome": "o"}, LEAD),
        (
            "POST",
            "/v1/absences",
            {"staff_id": "chw-ben", "backup_id": None, "starts_at": day, "ends_at": day, "reason": "r"},
            MANAGER,
        ),
        ("PATCH", f"/v1/absences/{aid}", {"ends_at": (now + timedelta(days=32)).isoformat()}, MANAGER),
    ]
    rng = random.Random(int(os.environ.get("FOLLOWTHROUGH_FUZZ_SEED", "20261124")))
    bad: list[str] = []
    for method, path, valid, headers in routes:
        for n in range(CASES_PER_ROUTE):
            body = mutate(rng, valid)
            if method == "POST" and path == "/v1/interactions" and isinstance(body, dict):
                body = {**body, "external_id": f"fuzz-{n}"} if "external_id" in body else body
            r = await api.request(method, path, json=body, headers=headers)
            if r.status_code >= 500:
                bad.append(f"{method} {path} {body!r:.300} → {r.status_code} {r.text[:200]}")
            elif r.status_code >= 400:
                error = r.json().get("error", {})
                if not error.get("code") or not error.get("message"):
                    bad.append(f"{method} {path} {body!r:.300} → {r.status_code} without an error body")
    # Query strings too: filters, cursors and limits of every list.
    for path in (
        "/v1/interactions",
        "/v1/escalations",
        "/v1/absences",
        "/v1/notifications",
        "/v1/reports/sla",
    ):
        for value in ("", "\x00", "x" * 5000, "-1", "0", "99999999999999999999", "2026-11-24T10:00:00", "🙂"):
            for param in ("team_id", "status", "cursor", "limit", "from", "to", "assignee_id", "overdue"):
                r = await api.get(path, params={param: value, "team_id": "eastside"}, headers=MANAGER)
                if r.status_code >= 500:
                    bad.append(f"GET {path}?{param}={value[:40]!r} → {r.status_code} {r.text[:200]}")
    assert not bad, f"{len(bad)} answers were 5xx or lacked an error body:\n" + "\n".join(bad[:20])
