"""Team rights (issue 23): membership is checked on every action, a move between teams hands the
mover's open cases back to routing, team config names only the team's own staff, and no answer
tells a caller which staff ids exist in other teams."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from domain.errors import Conflict
from domain.models import TeamConfig
from services.teams import StaffEntry, TeamFile, load_team_file
from store.db import unit_of_work
from store.models import Member, Staff
from tests.api.support import (
    ANA,
    BEN,
    LEAD,
    MANAGER,
    OTHER_LEAD,
    SYSTEM,
    create,
    detail,
    setup_other_team,
    setup_team,
)
from tests.conftest import CHICAGO_TEAM


def _absence(**over: Any) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    body: dict[str, Any] = {
        "staff_id": "chw-ana",
        "backup_id": None,
        "starts_at": (now + timedelta(days=10)).isoformat(),
        "ends_at": (now + timedelta(days=11)).isoformat(),
    }
    body.update(over)
    return body


def _named_matrix(staff_id: str) -> dict[str, Any]:
    return {
        **CHICAGO_TEAM,
        "escalation_matrix": {
            "complaint": {
                "levels": [
                    {"staff_id": staff_id, "ack_within_minutes": 30},
                    {"role": "lead", "ack_within_minutes": 30},
                ],
                "resolve_within_minutes": 480,
            }
        },
    }


# ---------------------------------------------------------------- membership on every action
async def test_a_chw_moved_to_another_team_cannot_act_on_the_old_teams_cases(
    api: httpx.AsyncClient, sessions: sessionmaker[Session]
) -> None:
    """The staff record moved (a team file, or the hand-back still under way): the case is still
    assigned to chw-ana, but she is no longer on its team, so every action is refused, as a GET
    is, and no answer carries the member's text."""
    await setup_team(api)
    await setup_other_team(api)
    case = await create(api, member_id="mem-1")
    assert case["assignee_id"] == "chw-ana"
    r = await api.post("/v1/absences", json=_absence(), headers=ANA)
    assert r.status_code == 201, r.text
    absence_id = r.json()["id"]

    with unit_of_work(sessions) as s:
        staff = s.get(Staff, "chw-ana")
        assert staff is not None
        staff.team_id = "westside"

    assert (await api.get(f"/v1/interactions/{case['id']}", headers=ANA)).status_code == 403
    iid = case["id"]
    for path, body in (
        (f"/v1/interactions/{iid}/attempts", {"outcome": "reached", "note": "called"}),
        (f"/v1/interactions/{iid}/flags", {"flag": "sensitive"}),
        (f"/v1/interactions/{iid}/resolve", {"resolution": "done"}),
    ):
        r = await api.post(path, json=body, headers=ANA)
        assert r.status_code == 403, f"{path}: {r.status_code} {r.text}"
        assert "CANARY" not in r.text
    # Nor does she manage the absence she planned in her old team; its leads do.
    r = await api.post(f"/v1/absences/{absence_id}/cancel", headers=ANA)
    assert r.status_code == 403, r.text
    r = await api.patch(
        f"/v1/absences/{absence_id}",
        json={"ends_at": (datetime.now(UTC) + timedelta(days=12)).isoformat()},
        headers=ANA,
    )
    assert r.status_code == 403, r.text
    after = await detail(api, iid)
    assert after["attempts"] == [] and after["status"] == "open"


# ---------------------------------------------------------------- a move hands cases back
async def test_moving_staff_to_another_team_hands_their_open_cases_back_to_routing(
    api: httpx.AsyncClient, sessions: sessionmaker[Session]
) -> None:
    await setup_team(api)
    await setup_other_team(api)
    own = await create(api, member_id="mem-1")  # chw-ana owns mem-1
    covered = await create(api, member_id="mem-2")  # chw-ben's member, reassigned to ana
    r = await api.post(
        f"/v1/interactions/{covered['id']}/assign",
        json={"assignee_id": "chw-ana", "reason": "ben is busy"},
        headers=LEAD,
    )
    assert r.status_code == 200, r.text

    # A manager cannot take another team's staff (and is not told which team holds the id).
    r = await api.put(
        "/v1/teams/eastside/staff/lead-other", json={"name": "x", "role": "lead"}, headers=MANAGER
    )
    assert r.status_code == 409, r.text
    assert "westside" not in r.text

    r = await api.put("/v1/teams/westside/staff/chw-ana", json={"name": "Ana", "role": "chw"}, headers=SYSTEM)
    assert r.status_code == 200, r.text
    assert r.json()["team_id"] == "westside"

    # In the same save: her own member's case goes to the unassigned queue (her caseload there is
    # nobody's now); the case she covered goes back to its member's owner.
    mine, theirs = await detail(api, own["id"]), await detail(api, covered["id"])
    assert mine["assignee_id"] is None and theirs["assignee_id"] == "chw-ben"
    for case, to in ((mine, None), (theirs, "chw-ben")):
        moved = [
            t for t in case["timeline"] if t["kind"] == "assigned" and t["details"].get("from") == "chw-ana"
        ]
        assert [t["details"]["to"] for t in moved] == [to], case["timeline"]
        notes = [t["note"] for t in case["timeline"] if t["kind"] == "assign_reason"]
        assert any("chw-ana moved to team westside" in (n or "") for n in notes), case["timeline"]
    with unit_of_work(sessions) as s:
        member = s.get(Member, ("eastside", "mem-1"))
        assert member is not None and member.owner_id is None
    # New cases of her old members no longer route to her.
    assert (await create(api, member_id="mem-1"))["assignee_id"] is None
    # She works her new team; the old one's leads keep their queue.
    unassigned = await api.get("/v1/interactions", params={"assignee_id": "unassigned"}, headers=LEAD)
    assert own["id"] in {i["id"] for i in unassigned.json()["items"]}

    # Repeating the PUT finds nothing more to hand back.
    timeline = (await detail(api, covered["id"]))["timeline"]
    r = await api.put("/v1/teams/westside/staff/chw-ana", json={"name": "Ana", "role": "chw"}, headers=SYSTEM)
    assert r.status_code == 200, r.text
    assert (await detail(api, covered["id"]))["timeline"] == timeline


async def test_staff_named_in_the_old_teams_matrix_are_not_moved(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    await setup_other_team(api)
    r = await api.put("/v1/teams/eastside", json=_named_matrix("chw-ben"), headers=SYSTEM)
    assert r.status_code == 200, r.text
    r = await api.put("/v1/teams/westside/staff/chw-ben", json={"name": "Ben", "role": "chw"}, headers=SYSTEM)
    assert r.status_code == 409, r.text
    assert "escalation matrix" in r.json()["error"]["message"]
    staff = (await api.get("/v1/teams/eastside/staff", headers=SYSTEM)).json()["items"]
    assert "chw-ben" in {s["id"] for s in staff}


# ---------------------------------------------------------------- config names its own staff
async def test_team_config_names_only_its_own_staff(api: httpx.AsyncClient) -> None:
    """A manager cannot route this team's safety or complaint notices to another team's lead (nor
    to an id that does not exist yet, which could later be created in another team)."""
    await setup_team(api)
    await setup_other_team(api)
    before = (await api.get("/v1/teams/eastside", headers=MANAGER)).json()
    for named in ("lead-other", "nobody-yet"):
        r = await api.put("/v1/teams/eastside", json=_named_matrix(named), headers=MANAGER)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "invalid"
        message = r.json()["error"]["message"]
        assert named in message and "westside" not in message
    assert (await api.get("/v1/teams/eastside", headers=MANAGER)).json() == before
    r = await api.put("/v1/teams/eastside", json=_named_matrix("chw-ben"), headers=MANAGER)
    assert r.status_code == 200, r.text


# ---------------------------------------------------------------- no oracle of other teams' ids
async def test_answers_do_not_tell_which_staff_ids_exist_in_other_teams(api: httpx.AsyncClient) -> None:
    """An id of another team and an id that exists nowhere get the same answer."""
    await setup_team(api)
    await setup_other_team(api)
    for headers in (BEN, LEAD, MANAGER):
        answers = []
        for staff_id in ("lead-other", "no-such-staff"):
            r = await api.post("/v1/absences", json=_absence(staff_id=staff_id), headers=headers)
            answers.append((r.status_code, r.json()["error"]["message"]))
        assert answers[0] == answers[1], answers
        assert answers[0][0] == 403
    answers = []
    for recipient in ("lead-other", "no-such-staff"):
        r = await api.get("/v1/notifications", params={"recipient_id": recipient}, headers=LEAD)
        answers.append((r.status_code, r.text))
    assert answers[0] == answers[1] and answers[0][0] == 403, answers
    answers = []
    for team in ("westside", "no-such-team"):
        r = await api.get(f"/v1/teams/{team}", headers=LEAD)
        answers.append((r.status_code, r.text))
    assert answers[0] == answers[1] and answers[0][0] == 403, answers
    # The system still learns what is wrong with its input.
    r = await api.post("/v1/absences", json=_absence(staff_id="no-such-staff"), headers=SYSTEM)
    assert r.status_code == 422, r.text
    # And the lead's own team still works.
    r = await api.post("/v1/absences", json=_absence(staff_id="chw-ben"), headers=LEAD)
    assert r.status_code == 201, r.text
    r = await api.get("/v1/teams/westside", headers=OTHER_LEAD)
    assert r.status_code == 200, r.text


async def test_a_team_file_moves_only_staff_who_left_no_open_case_behind(
    api: httpx.AsyncClient, sessions: sessionmaker[Session]
) -> None:
    """``followthrough load-config`` has no Temporal to hand cases back: it refuses to move someone
    with open cases in their old team (the API's move does that), and clears the caseload of whom
    it moves."""
    await setup_team(api)
    await setup_other_team(api)
    await create(api, member_id="mem-1")  # an open case of chw-ana
    westside = TeamConfig.model_validate({**CHICAGO_TEAM, "name": "Westside"})

    def file_with(staff_id: str) -> TeamFile:
        return TeamFile(
            team_id="westside",
            config=westside,
            staff=[
                StaffEntry(id="lead-other", name="Other lead", role="lead"),
                StaffEntry(id=staff_id, name="x", role="chw"),
            ],
        )

    with pytest.raises(Conflict, match="open case"):
        load_team_file(sessions, file_with("chw-ana"))
    with unit_of_work(sessions) as s:
        ana = s.get(Staff, "chw-ana")
        assert ana is not None and ana.team_id == "eastside"
    load_team_file(sessions, file_with("chw-ben"))  # no open case: moved, caseload cleared
    with unit_of_work(sessions) as s:
        ben, member = s.get(Staff, "chw-ben"), s.get(Member, ("eastside", "mem-2"))
        assert ben is not None and ben.team_id == "westside"
        assert member is not None and member.owner_id is None
