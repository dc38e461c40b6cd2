"""Teams, staff and members: the configuration a call center runs on."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from api import coverage, errors
from api.deps import PrincipalDep, SessionDep, SettingsDep, TemporalDep
from api.schemas import MemberPublic, MemberPut, StaffPublic, StaffPut
from domain.models import TeamConfig
from store import repositories as repo
from store.db import committing
from store.models import Member, Staff

router = APIRouter(prefix="/v1/teams", tags=["teams"])

# Ids are stored as VARCHAR(64): a longer one is invalid input, never a database error.
TeamId = Annotated[str, Path(max_length=64)]
StaffId = Annotated[str, Path(max_length=64)]
MemberId = Annotated[str, Path(max_length=64)]


def _team_public(team_id: str, cfg: dict[str, Any], version: int) -> dict[str, Any]:
    return {"id": team_id, "version": version, **cfg}


@router.put("/{team_id}")
async def put_team(
    team_id: TeamId,
    body: TeamConfig,
    principal: PrincipalDep,
    session: SessionDep,
    client: TemporalDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Store the team's calendar, policy and escalation matrix (manager of the team, or system)."""
    # A manager belongs to one team: they configure it, but never create or change another.
    principal.require(
        principal.role == "system" or (principal.role == "manager" and principal.team_id == team_id),
        "only the system or the team's manager may configure a team",
    )
    cfg = body.model_dump(mode="json")
    # Check-ins follow the new calendar. Temporal first: if it is unreachable the PUT fails
    # whole (503) instead of saving a calendar the check-ins never hear of.
    await coverage.refresh_checkins(client, settings, team_id, body)
    with committing(session):
        team = repo.upsert_team(session, team_id, body.name, cfg)
        version = team.version
    return _team_public(team_id, cfg, version)


@router.get("/{team_id}")
def get_team(team_id: TeamId, principal: PrincipalDep, session: SessionDep) -> dict[str, Any]:
    team = repo.get_team(session, team_id)
    if team is None:
        raise errors.not_found(f"team '{team_id}' not found")
    principal.require(principal.can_read_team(team_id), "not a member of this team")
    return _team_public(team.id, team.config, team.version)


@router.put("/{team_id}/staff/{staff_id}")
def put_staff(
    team_id: TeamId, staff_id: StaffId, body: StaffPut, principal: PrincipalDep, session: SessionDep
) -> StaffPublic:
    principal.require(
        principal.role == "system" or (principal.role == "manager" and principal.team_id == team_id),
        "only the system or the team's manager may manage staff",
    )
    if repo.get_team(session, team_id) is None:
        raise errors.not_found(f"team '{team_id}' not found")
    with committing(session):
        staff = session.get(Staff, staff_id)
        if staff is None:
            staff = Staff(id=staff_id, team_id=team_id, name=body.name, role=body.role)
            session.add(staff)
        elif staff.team_id != team_id:
            raise errors.conflict(f"staff '{staff_id}' belongs to team '{staff.team_id}'")
        else:
            staff.name = body.name
            staff.role = body.role
    return StaffPublic(id=staff_id, team_id=team_id, name=body.name, role=body.role)


@router.get("/{team_id}/staff")
def list_staff(team_id: TeamId, principal: PrincipalDep, session: SessionDep) -> dict[str, Any]:
    principal.require(principal.can_read_team(team_id), "not a member of this team")
    items = [
        StaffPublic(id=s.id, team_id=s.team_id, name=s.name, role=s.role)  # type: ignore[arg-type]
        for s in repo.team_staff(session, team_id)
    ]
    return {"items": items, "next_cursor": None}


@router.put("/{team_id}/members/{member_id}")
def put_member(
    team_id: TeamId, member_id: MemberId, body: MemberPut, principal: PrincipalDep, session: SessionDep
) -> MemberPublic:
    """Set a member's owning CHW (caseload); system, or a lead/manager of the team."""
    principal.require(
        principal.role == "system" or principal.is_team_lead(team_id),
        "only the system or a lead/manager of the team may set caseloads",
    )
    if repo.get_team(session, team_id) is None:
        raise errors.not_found(f"team '{team_id}' not found")
    if body.owner_id is not None:
        owner = repo.get_staff(session, body.owner_id)
        if owner is None or owner.team_id != team_id:
            raise errors.invalid(f"unknown staff '{body.owner_id}' in team '{team_id}'")
    with committing(session):
        member = repo.get_member(session, team_id, member_id)
        if member is None:
            session.add(Member(team_id=team_id, id=member_id, owner_id=body.owner_id))
        else:
            member.owner_id = body.owner_id
    return MemberPublic(id=member_id, team_id=team_id, owner_id=body.owner_id)
