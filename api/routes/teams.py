"""Teams, staff and members: the configuration a call center runs on.

Each route parses, calls one method of ``services.staffing.Teams`` and answers.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from api.deps import PrincipalDep, TeamsDep
from domain.models import TeamConfig
from services.public import MemberPublic, MemberPut, Page, StaffPublic, StaffPut, TeamPublic

router = APIRouter(prefix="/v1/teams", tags=["teams"])

# Ids are stored as VARCHAR(64): a longer one is invalid input, never a database error.
TeamId = Annotated[str, Path(max_length=64)]
StaffId = Annotated[str, Path(max_length=64)]
MemberId = Annotated[str, Path(max_length=64)]


@router.put("/{team_id}")
async def put_team(team_id: TeamId, body: TeamConfig, principal: PrincipalDep, teams: TeamsDep) -> TeamPublic:
    """Store the team's calendar, policy and escalation matrix (manager of the team, or system)."""
    return await teams.put(principal, team_id, body)


@router.get("/{team_id}")
async def get_team(team_id: TeamId, principal: PrincipalDep, teams: TeamsDep) -> TeamPublic:
    return await teams.get(principal, team_id)


@router.put("/{team_id}/staff/{staff_id}")
async def put_staff(
    team_id: TeamId, staff_id: StaffId, body: StaffPut, principal: PrincipalDep, teams: TeamsDep
) -> StaffPublic:
    """Add or change a staff member (manager of the team, or system). The system may move someone
    from another team: their open cases there go back to routing before this answers."""
    return await teams.put_staff(principal, team_id, staff_id, body)


@router.get("/{team_id}/staff")
async def list_staff(team_id: TeamId, principal: PrincipalDep, teams: TeamsDep) -> Page[StaffPublic]:
    return await teams.list_staff(principal, team_id)


@router.put("/{team_id}/members/{member_id}")
async def put_member(
    team_id: TeamId, member_id: MemberId, body: MemberPut, principal: PrincipalDep, teams: TeamsDep
) -> MemberPublic:
    """Set a member's owning CHW (caseload) and contact profile; system, or a lead/manager of the team."""
    return await teams.put_member(principal, team_id, member_id, body)


@router.get("/{team_id}/members/{member_id}")
async def get_member(
    team_id: TeamId, member_id: MemberId, principal: PrincipalDep, teams: TeamsDep
) -> MemberPublic:
    """The member, their contact profile (consent included) and window in force; readers of the team."""
    return await teams.get_member(principal, team_id, member_id)
