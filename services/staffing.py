"""Staff moving between teams: their open cases go back to routing in the same save.

``PUT /v1/teams/{team_id}/staff/{staff_id}`` by the system may name someone of another team: the
staff row moves and their caseload in the old team is cleared in one transaction
(``services.teams.put_staff``), then every open case still assigned to them in the old team is
reassigned through the interaction workflows' ``assign`` update
(``services.interactions.Interactions.reassign``) before the answer: to the member's owner (or
the owner's absence backup) when that person is on the old team, else to the unassigned queue,
whose leads are notified. Each reassignment is a line in the case's timeline, with a note saying
why.

If Temporal does not answer, the PUT fails (503) with the move saved; a retry of the same PUT hands
back whatever is still stranded, so it converges. Meanwhile the mover cannot act on those cases:
``services.access`` checks team membership on every action.
"""

from __future__ import annotations

import asyncio

import structlog
from sqlalchemy.orm import Session

from domain.errors import Conflict, Invalid
from domain.models import StaffRole
from services import interactions, teams
from services.access import Principal
from services.context import Context
from services.routing import route_new
from store import repositories as repo
from store.models import Interaction, Staff

log = structlog.get_logger(__name__)

# Reassignments in flight at once when someone with a large queue moves.
HAND_BACK_CONCURRENCY = 8


async def put_staff(
    ctx: Context,
    principal: Principal,
    team_id: str,
    staff_id: str,
    *,
    name: str,
    role: StaffRole,
) -> Staff:
    """Save the staff member (a move only by the system), then hand back what they left behind."""
    staff = await ctx.db.run(
        teams.put_staff, team_id, staff_id, name=name, role=role, may_move=principal.role == "system"
    )
    await hand_back_cases(ctx, staff_id, actor_id=principal.actor_id)
    return staff


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


async def hand_back_cases(ctx: Context, staff_id: str, *, actor_id: str | None) -> int:
    """Reassign every open case assigned to ``staff_id`` outside their team; answers how many."""
    db = ctx.db
    cases = interactions.Interactions(ctx)
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
