"""Issue 21: the member a CHW is about to contact — ``GET /v1/teams/{id}/members/{member_id}``
with the profile's ``display_name`` and consent, and an attempt's ``channel`` marked
``consent_refused`` when texts are refused (docs/channels.md, docs/rules.md §2.7)."""

from __future__ import annotations

from typing import Any

import httpx
from temporalio.client import Client

from tests.api.support import (
    ANA,
    BEN,
    OPS,
    OTHER_LEAD,
    SYSTEM,
    attempt,
    create,
    detail,
    setup_other_team,
    setup_team,
)
from tests.workflows.support import history_text

NAME = "CANARY-NAME Rosa Delgado"
PROFILE: dict[str, Any] = {
    "owner_id": "chw-ana",
    "display_name": NAME,
    "phone": "+13125550111",
    "consent": {
        "call": {"status": "granted", "at": "2026-01-05", "source": "intake form"},
        "text": {
            "status": "refused",
            "at": "2026-01-06T10:30:00-06:00",
            "source": "STOP (twilio message SM1)",
        },
    },
}


async def test_get_member_answers_as_the_put_does(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    await setup_other_team(api)
    put = await api.put("/v1/teams/eastside/members/mem-1", json=PROFILE, headers=SYSTEM)
    assert put.status_code == 200, put.text
    assert put.json()["profile"]["display_name"] == NAME

    for headers in (ANA, BEN, OPS, SYSTEM):
        r = await api.get("/v1/teams/eastside/members/mem-1", headers=headers)
        assert r.status_code == 200, r.text
        assert r.json() == put.json()
    got = r.json()
    assert got["profile"]["display_name"] == NAME
    assert got["profile"]["consent"] == PROFILE["consent"]
    assert (got["owner_id"], got["timezone"], got["contact_window"]) == (
        "chw-ana",
        "America/Chicago",
        ["08:00", "21:00"],
    )

    assert (await api.get("/v1/teams/eastside/members/mem-1", headers=OTHER_LEAD)).status_code == 403
    assert (await api.get("/v1/teams/eastside/members/mem-nobody", headers=ANA)).status_code == 404
    assert (await api.get("/v1/teams/eastside/members/mem-1")).status_code == 401
    # A display name is a name, not blank.
    r = await api.put(
        "/v1/teams/eastside/members/mem-1", json={**PROFILE, "display_name": ""}, headers=SYSTEM
    )
    assert r.status_code == 422


async def test_a_text_attempt_to_a_member_who_refused_texts_is_marked(
    api: httpx.AsyncClient, client: Client
) -> None:
    await setup_team(api)
    r = await api.put("/v1/teams/eastside/members/mem-1", json=PROFILE, headers=SYSTEM)
    assert r.status_code == 200, r.text
    case = await create(api, external_id="consent-1", member_id="mem-1")
    iid = case["id"]
    await attempt(api, iid, channel="text")
    await attempt(api, iid, channel="call")
    got = await attempt(api, iid)
    marks = [(a["seq"], a["channel"], a["consent_refused"]) for a in got["attempts"]]
    assert marks == [(1, "text", True), (2, "call", False), (3, None, False)]
    lines = [e["details"] for e in (await detail(api, iid))["timeline"] if e["kind"] == "attempt"]
    assert [(d.get("channel"), d.get("consent_refused", False)) for d in lines] == [
        ("text", True),
        ("call", False),
        (None, False),
    ]
    # Granted again (START): a text is no longer marked.
    granted = {"text": {"status": "granted", "at": "2026-02-01", "source": "START"}}
    r = await api.put(
        "/v1/teams/eastside/members/mem-1", json={**PROFILE, "consent": granted}, headers=SYSTEM
    )
    assert r.status_code == 200, r.text
    got = await attempt(api, iid, channel="text")
    assert got["attempts"][-1]["consent_refused"] is False
    # A channel outside the vocabulary is refused.
    r = await api.post(
        f"/v1/interactions/{iid}/attempts", json={"outcome": "no_answer", "channel": "fax"}, headers=ANA
    )
    assert r.status_code == 422
    # The member's name never reaches the workflow.
    assert "CANARY-NAME" not in await history_text(client.get_workflow_handle(case["workflow_id"]))
