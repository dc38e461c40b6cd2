"""What a team's pages read (``Queues``): its queues, a case with what the caller may do on it,
and a mark that moves whenever anything those pages show changes.

Each query reads in one database snapshot and answers the public models (``services.public``),
scoped to the caller's own team; a front end only turns them into what it shows.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from domain.errors import Forbidden
from domain.messages import ACTIVE_INTERACTION_STATUSES, UNRESOLVED_ESCALATION_STATUSES
from domain.models import TeamConfig
from services import access, members, presenters, teams
from services.access import Principal
from services.context import Service
from services.interactions import Interactions
from services.public import CasePublic, EscalationBoardPublic, QueuePublic, StaffPublic
from services.teams import team_config
from store import repositories as repo
from store.models import Absence, Escalation, Interaction

# The most cases a queue shows (the earliest due first).
QUEUE_LIMIT = 200
# The most of a member's other open cases a case page lists (the earliest due first).
OTHER_CASES_LIMIT = 20

Which = Literal["mine", "unassigned", "team"]


def _team(session: Session, team_id: str) -> tuple[TeamConfig | None, list[StaffPublic]]:
    team = repo.get_team(session, team_id)
    staff = [presenters.staff(s) for s in repo.team_staff(session, team_id)]
    return (None if team is None else team_config(team)), staff


class Queues(Service):
    """The queues and case pages of the caller's team, for every front end."""

    async def queue(self, principal: Principal, which: Which) -> QueuePublic:
        """The open cases of the caller's team, by ``due_at`` then most contacts (at most
        ``QUEUE_LIMIT``): ``mine`` those assigned to the caller, ``unassigned`` the unassigned
        queue, ``team`` all."""
        team_id = principal.team_id or ""
        assignee = {"mine": principal.staff_id or "-", "unassigned": repo.UNASSIGNED, "team": None}[which]
        where = repo.InteractionFilter(
            team_ids=[team_id], assignee_id=assignee, statuses=list(ACTIVE_INTERACTION_STATUSES)
        )

        def read(session: Session) -> QueuePublic:
            rows, _ = repo.list_interactions(session, where, cursor=None, limit=QUEUE_LIMIT)
            cfg, staff = _team(session, team_id)
            ids = {r.member_id for r in rows if r.member_id is not None}
            return QueuePublic(
                items=presenters.interactions(session, rows),
                team=cfg,
                staff=staff,
                members=teams.members_answered(session, team_id, cfg, ids),
            )

        return await self.db.read(read)

    async def escalations(self, principal: Principal, *, limit: int = QUEUE_LIMIT) -> EscalationBoardPublic:
        """The unresolved escalations of the caller's team (most severe, then oldest first, at
        most ``limit``) with the cases they are about, as the Escalations page lists them."""
        team_id = principal.team_id or ""
        where = repo.EscalationFilter(
            team_id=team_id,
            team_ids=principal.team_scope(team_id),
            statuses=list(UNRESOLVED_ESCALATION_STATUSES),
        )

        def read(session: Session) -> EscalationBoardPublic:
            rows, _ = repo.list_escalations(session, where, cursor=None, limit=limit)
            found = repo.interactions_by_id(session, {r.interaction_id for r in rows})
            cases = presenters.interactions(session, list(found.values()))
            cfg, staff = _team(session, team_id)
            ids = {c.member_id for c in cases if c.member_id is not None}
            return EscalationBoardPublic(
                items=presenters.escalations(session, rows),
                cases={c.id: c for c in cases},
                team=cfg,
                staff=staff,
                members=teams.members_answered(session, team_id, cfg, ids),
            )

        return await self.db.read(read)

    async def case(self, principal: Principal, interaction_id: str, *, advice: bool = False) -> CasePublic:
        """The case when ``principal`` may read its team (404, then 403), with what they may do on
        it; with ``advice``, and when they may act on an open case, the contact advice before an
        attempt now (docs/rules.md §2.7)."""
        row = await Interactions(self.ctx).readable(principal, interaction_id)
        try:
            access.require_interaction_actor(principal, row)
            can_act = True
        except Forbidden:
            can_act = False
        now = self.ctx.clock()

        def read(session: Session) -> CasePublic:
            item = presenters.interaction(session, row)
            cfg, staff = _team(session, row.team_id)
            tips: list[str] = []
            if advice and can_act and cfg is not None and row.status != "resolved":
                tips = members.contact_advice(session, cfg, row.team_id, row.member_id, now)
            member = None
            others: list[Interaction] = []
            if row.member_id is not None:
                member = teams.members_answered(session, row.team_id, cfg, {row.member_id}).get(row.member_id)
                where = repo.InteractionFilter(
                    team_id=row.team_id,
                    member_id=row.member_id,
                    statuses=list(ACTIVE_INTERACTION_STATUSES),
                )
                found, _ = repo.list_interactions(session, where, cursor=None, limit=OTHER_CASES_LIMIT + 1)
                others = [r for r in found if r.id != row.id][:OTHER_CASES_LIMIT]
            return CasePublic(
                item=item,
                team=cfg,
                staff=staff,
                can_act=can_act,
                can_assign=principal.is_team_lead(row.team_id),
                contact_advice=tips,
                member=member,
                other_cases=presenters.interactions(session, others),
            )

        return await self.db.read(read)

    async def counts(self, principal: Principal) -> dict[str, int]:
        """What the navigation counts for the caller: their open cases (``mine``) and, for leads
        and managers, the team's unassigned open cases and unresolved escalations; ``safety``: the
        open safety escalations on cases the caller works (their own, a lead's whole team)."""
        team_id = principal.team_id or ""
        lead = principal.is_team_lead(team_id)

        def read(session: Session) -> dict[str, int]:
            def cases(*where: ColumnElement[bool]) -> int:
                q = select(func.count()).where(
                    Interaction.team_id == team_id,
                    Interaction.status.in_(list(ACTIVE_INTERACTION_STATUSES)),
                    *where,
                )
                return int(session.execute(q).scalar_one())

            out = {"mine": cases(Interaction.assignee_id == (principal.staff_id or "-"))}
            if lead:
                out["unassigned"] = cases(Interaction.assignee_id.is_(None))
                q = select(func.count()).where(
                    Escalation.team_id == team_id,
                    Escalation.status.in_(list(UNRESOLVED_ESCALATION_STATUSES)),
                )
                out["escalations"] = int(session.execute(q).scalar_one())
            # Open (unacknowledged) safety escalations on cases the caller works: a lead's whole
            # team, a CHW's own cases. Every console page puts them in its title and navigation.
            q = (
                select(func.count())
                .select_from(Escalation)
                .join(Interaction, Interaction.id == Escalation.interaction_id)
                .where(
                    Escalation.team_id == team_id, Escalation.trigger == "safety", Escalation.status == "open"
                )
            )
            if not lead:
                q = q.where(Interaction.assignee_id == (principal.staff_id or "-"))
            out["safety"] = int(session.execute(q).scalar_one())
            return out

        return await self.db.read(read)

    async def change_mark(self, team_id: str) -> str:
        """A mark that changes whenever any case, escalation or absence of the team changes."""

        def read(session: Session) -> str:
            parts = []
            for model in (Interaction, Escalation, Absence):
                count, latest = session.execute(
                    select(func.count(), func.max(model.updated_at)).where(model.team_id == team_id)
                ).one()
                parts.append(f"{count}:{latest}")
            return "|".join(parts)

        return await self.db.run(read)
