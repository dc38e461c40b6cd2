"""Teams, staff and members: the configuration a call center runs on."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from api.deps import ContextDep, DbDep, PrincipalDep, SettingsDep, TemporalDep
from domain.models import TeamConfig
from services import access, presenters, staffing, teams as service
from services.members import MemberProfile
from services.public import MemberPublic, MemberPut, StaffPublic, StaffPut
from store import repositories as repo

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
    db: DbDep,
    client: TemporalDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Store the team's calendar, policy and escalation matrix (manager of the team, or system)."""
    access.require_team_manager(principal, team_id, "configure a team")
    team = await service.put_team(db, client, settings, team_id, body)
    return _team_public(team_id, body.model_dump(mode="json"), team.version)


@router.get("/{team_id}")
async def get_team(team_id: TeamId, principal: PrincipalDep, db: DbDep) -> dict[str, Any]:
    # Access first: another team's id answers 403 whether or not it exists.
    principal.require(principal.can_read_team(team_id), "not a member of this team")
    team = await db.run(service.require_team, team_id)
    return _team_public(team.id, team.config, team.version)


@router.put("/{team_id}/staff/{staff_id}")
async def put_staff(
    team_id: TeamId,
    staff_id: StaffId,
    body: StaffPut,
    principal: PrincipalDep,
    ctx: ContextDep,
) -> StaffPublic:
    """Add or change a staff member (manager of the team, or system). The system may move someone
    from another team: their open cases there go back to routing before this answers."""
    access.require_team_manager(principal, team_id, "manage staff")
    staff = await staffing.put_staff(ctx, principal, team_id, staff_id, name=body.name, role=body.role)
    return presenters.staff(staff)


@router.get("/{team_id}/staff")
async def list_staff(team_id: TeamId, principal: PrincipalDep, db: DbDep) -> dict[str, Any]:
    principal.require(principal.can_read_team(team_id), "not a member of this team")
    staff = await db.run(repo.team_staff, team_id)
    return {"items": [presenters.staff(s) for s in staff], "next_cursor": None}


@router.put("/{team_id}/members/{member_id}")
async def put_member(
    team_id: TeamId, member_id: MemberId, body: MemberPut, principal: PrincipalDep, db: DbDep
) -> MemberPublic:
    """Set a member's owning CHW (caseload) and contact profile; system, or a lead/manager of the team."""
    access.require_caseload_editor(principal, team_id)
    profile = MemberProfile.model_validate(body.model_dump(exclude={"owner_id"}))
    member, window = await db.run(
        service.put_member, team_id, member_id, owner_id=body.owner_id, profile=profile
    )
    return presenters.member(member, window)
