"""Teams: the configuration, staff and members a call center runs on (``Teams``).

Every front end calls ``Teams``: each command checks who may act and each query who may read;
the rows themselves are saved by ``services.teams``. A PUT is repeat-safe by itself (the same body
leaves the same state), so these commands take no operation key.

``put`` saves the team's configuration, then hands the team's ``CheckinWorkflow`` the new
calendar. Temporal is reached only then (``services.context.TemporalLink``): when it cannot be
reached the PUT answers 503 with the configuration saved, and a repeat brings the check-ins up to
date.

``put_staff`` by the system may name someone of another team (a move): the staff row moves and
their caseload in the old team is cleared in one transaction (``services.teams.put_staff``), then
every open case still assigned to them in the old team is reassigned through the interaction
workflows' ``assign`` update (``services.interactions.Interactions.reassign``) before the answer:
to the member's owner (or the owner's absence backup) when that person is on the old team, else
to the unassigned queue, whose leads are notified. Each reassignment is a line in the case's
timeline, with a note saying why. If Temporal does not answer, the PUT fails (503) with the move
saved; a retry of the same PUT hands back whatever is still stranded, so it converges. Meanwhile
the mover cannot act on those cases: ``services.access`` checks team membership on every action.
"""

from __future__ import annotations

import asyncio

import structlog
from sqlalchemy.orm import Session

from domain.errors import Conflict, Invalid
from domain.models import TeamConfig
from services import access, presenters, teams
from services.access import Principal
from services.checkins import refresh_checkins
from services.context import Service
from services.interactions import Interactions
from services.members import MemberProfile
from services.public import MemberPublic, MemberPut, Page, StaffPublic, StaffPut, TeamPublic
from services.routing import route_new
from store import repositories as repo
from store.models import Interaction, Team

log = structlog.get_logger(__name__)

# Reassignments in flight at once when someone with a large queue moves.
HAND_BACK_CONCURRENCY = 8


def _public(team: Team) -> TeamPublic:
    return TeamPublic.model_validate({"id": team.id, "version": team.version, **team.config})


class Teams(Service):
    """Teams for every front end: their configuration, staff and members."""

    # ------------------------------------------------------------ queries
    async def get(self, principal: Principal, team_id: str) -> TeamPublic:
        # Access first: another team's id answers 403 whether or not it exists.
        principal.require(principal.can_read_team(team_id), "not a member of this team")
        return await self.db.run(lambda s: _public(teams.require_team(s, team_id)))

    async def list_staff(self, principal: Principal, team_id: str) -> Page[StaffPublic]:
        principal.require(principal.can_read_team(team_id), "not a member of this team")
        staff = await self.db.run(repo.team_staff, team_id)
        return Page(items=[presenters.staff(s) for s in staff], next_cursor=None)

    async def get_member(self, principal: Principal, team_id: str, member_id: str) -> MemberPublic:
        """The member as ``put_member`` answers them, profile and consent included (readers of the
        team: its staff, ops, the system)."""
        principal.require(principal.can_read_team(team_id), "not a member of this team")
        member, window = await self.db.run(teams.get_member, team_id, member_id)
        return presenters.member(member, window)

    async def timezone(self, team_id: str | None) -> str:
        """The team's time zone, in which pages show its times (UTC when there is no such team)."""

        def zone(session: Session) -> str:
            team = repo.get_team(session, team_id) if team_id else None
            return "UTC" if team is None else teams.team_config(team).calendar.timezone

        return await self.db.run(zone)

    # ------------------------------------------------------------ commands
    async def put(self, principal: Principal, team_id: str, body: TeamConfig) -> TeamPublic:
        """Store the team's calendar, policy and escalation matrix (the system, or the team's
        manager), then have its check-ins follow the calendar.

        The row is committed first: the check-in workflow reads the calendar from SQL, so a signal
        sent before the commit could be overridden by the old row. If Temporal cannot be reached
        the call fails (503) with the configuration saved; the PUT is idempotent, so a retry
        converges."""
        access.require_team_manager(principal, team_id, "configure a team")
        team = await self.db.run(teams.save_team, team_id, body)
        await refresh_checkins(await self.ctx.client(), self.settings, team_id, body)
        saved = {"id": team_id, "version": team.version, **body.model_dump(mode="json")}
        return TeamPublic.model_validate(saved)

    async def put_staff(
        self, principal: Principal, team_id: str, staff_id: str, body: StaffPut
    ) -> StaffPublic:
        """Add or change a staff member (the system, or the team's manager). Only the system moves
        someone from another team: their open cases there go back to routing before this
        answers."""
        access.require_team_manager(principal, team_id, "manage staff")
        staff = await self.db.run(
            teams.put_staff,
            team_id,
            staff_id,
            name=body.name,
            role=body.role,
            may_move=principal.role == "system",
        )
        await self.hand_back_cases(staff_id, actor_id=principal.actor_id)
        return presenters.staff(staff)

    async def put_member(
        self, principal: Principal, team_id: str, member_id: str, body: MemberPut
    ) -> MemberPublic:
        """Set a member's owning CHW (caseload) and contact profile (the system, or a lead or
        manager of the team); an omitted profile field is cleared."""
        access.require_caseload_editor(principal, team_id)
        profile = MemberProfile.model_validate(body.model_dump(exclude={"owner_id"}))
        member, window = await self.db.run(
            teams.put_member, team_id, member_id, owner_id=body.owner_id, profile=profile
        )
        return presenters.member(member, window)

    async def hand_back_cases(self, staff_id: str, *, actor_id: str | None) -> int:
        """Reassign every open case assigned to ``staff_id`` outside their team; answers how many."""
        db = self.db
        cases = Interactions(self.ctx)
        stranded = await db.run(_stranded, staff_id)
        if not stranded:
            return 0
        staff = await db.run(repo.get_staff, staff_id)
        now_in = staff.team_id if staff is not None else None
        gate = asyncio.Semaphore(HAND_BACK_CONCURRENCY)

        async def hand_back(row: Interaction, to: str | None) -> None:
            async with gate:
                try:
                    await cases.reassign(
                        row,
                        assignee_id=to,
                        reason=f"{staff_id} moved to team {now_in}: handed back to routing",
                        actor_id=actor_id,
                        # A new key per state of the case: a retry attaches to the same update, a
                        # later move (after the case changed) is a new one.
                        key=f"staff-move:{staff_id}:{now_in}:{row.version}",
                    )
                except Conflict:
                    # Resolved meanwhile, or already with ``to``: nothing left to hand back.
                    log.info("staff_move.case_not_moved", interaction_id=row.id)

        await asyncio.gather(*(hand_back(row, to) for row, to in stranded))
        log.info("staff_move.handed_back", staff_id=staff_id, team_id=now_in, cases=len(stranded))
        return len(stranded)


def _route_back(session: Session, row: Interaction, leaving: str) -> str | None:
    """Who takes a case its assignee left behind: routed as a new case of the member would be,
    if that lands on staff of the case's team other than the leaver; else the unassigned queue."""
    if row.member_id is None:
        return None
    try:
        assignee, _source = route_new(session, row.team_id, row.member_id)
    except Invalid:
        return None
    if assignee is None or assignee == leaving:
        return None
    staff = repo.get_staff(session, assignee)
    return assignee if staff is not None and staff.team_id == row.team_id else None


def _stranded(session: Session, staff_id: str) -> list[tuple[Interaction, str | None]]:
    rows = teams.open_cases_elsewhere(session, staff_id)
    return [(row, _route_back(session, row, staff_id)) for row in rows]
