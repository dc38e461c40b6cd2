"""Issue 21: the member a CHW is about to contact — ``GET /v1/teams/{id}/members/{member_id}``
with the profile's ``display_name`` and consent, and an attempt's ``channel`` marked
``consent_refused`` when texts are refused (docs/channels.md, docs/rules.md §2.7)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.support import ANA, BEN, OPS, OTHER_LEAD, SYSTEM, setup_other_team, setup_team

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
