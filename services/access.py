"""Who may do what: the caller (``Principal``) and the access rules every entry point applies.

Reading: any staff member reads their own team; ops and system read everything. Acting: a CHW
acts on their own team's interactions assigned to them; leads and managers act on their team's;
only the system starts interactions. Team membership comes from the staff record on every
request, so a person moved to another team loses the old team's cases at once. The rules raise
``domain.errors.Forbidden``.
"""

from __future__ import annotations

from dataclasses import dataclass

from config.settings import TokenRole
from domain.errors import Forbidden
from domain.escalations import level_of, may_act_on_escalation
from domain.models import EscalationRule
from store.models import Absence, Escalation, Interaction


@dataclass(frozen=True)
class Principal:
    """Who is calling: a role, and for staff their id and team."""

    role: TokenRole
    staff_id: str | None = None
    team_id: str | None = None

    @property
    def actor_id(self) -> str | None:
        return self.staff_id

    def is_team_lead(self, team_id: str) -> bool:
        return self.role in ("lead", "manager") and self.team_id == team_id

    def is_team_staff(self, team_id: str) -> bool:
        return self.role in ("chw", "lead", "manager") and self.team_id == team_id

    def can_read_team(self, team_id: str) -> bool:
        return self.role in ("system", "ops") or self.is_team_staff(team_id)

    def require(self, allowed: bool, message: str) -> None:
        if not allowed:
            raise Forbidden(message)

    def team_scope(self, team_id: str | None) -> list[str] | None:
        """The teams a list may show this caller: staff see their own team (asking for another
        is forbidden); ops and system see all (None)."""
        if self.role not in ("chw", "lead", "manager"):
            return None
        if team_id is not None and team_id != self.team_id:
            raise Forbidden("not a member of this team")
        return [self.team_id or ""]


# ---------------------------------------------------------------- teams
def require_team_manager(principal: Principal, team_id: str, what: str) -> None:
    """The system, or the team's own manager (a manager never creates or changes another team)."""
    principal.require(
        principal.role == "system" or (principal.role == "manager" and principal.team_id == team_id),
        f"only the system or the team's manager may {what}",
    )


def require_caseload_editor(principal: Principal, team_id: str) -> None:
    principal.require(
        principal.role == "system" or principal.is_team_lead(team_id),
        "only the system or a lead/manager of the team may set caseloads",
    )


def require_report_reader(principal: Principal, team_id: str) -> None:
    principal.require(
        principal.role in ("system", "ops") or principal.is_team_lead(team_id),
        "only leads and managers of the team, ops or the system read reports",
    )


# ---------------------------------------------------------------- interactions
def require_interaction_starter(principal: Principal) -> None:
    principal.require(principal.role == "system", "only backend systems start interactions")


def require_interaction_actor(principal: Principal, row: Interaction) -> None:
    """CHWs act only on their team's interactions assigned to them; leads and managers on their team's."""
    if principal.is_team_lead(row.team_id):
        return
    if principal.is_team_staff(row.team_id) and principal.role == "chw":
        if principal.staff_id is not None and principal.staff_id == row.assignee_id:
            return
        raise Forbidden("a CHW acts only on interactions assigned to them")
    if principal.role == "chw":
        # Still the assignee of a case of a team they have left (a move hands cases back, but
        # the hand-back may still be under way): team membership comes first, as for a read.
        raise Forbidden("a CHW acts only on their own team's interactions assigned to them")
    if principal.role in ("lead", "manager"):
        raise Forbidden("leads and managers act only on their own team's interactions")
    raise Forbidden(f"role '{principal.role}' may not act on interactions")


def require_assigner(principal: Principal, team_id: str) -> None:
    principal.require(principal.is_team_lead(team_id), "only a lead or manager of the team may assign")


# ---------------------------------------------------------------- escalations
def require_escalation_actor(principal: Principal, row: Escalation, *, owner_may: bool) -> None:
    """Staff of the escalation's team whom ``domain.escalations.may_act_on_escalation`` lets
    acknowledge it (or, ``owner_may``, resolve it): leads and managers, the staff member named at
    its current level, for resolve its owner. Ops and the system are refused over HTTP."""
    on_team = principal.is_team_staff(row.team_id)
    if on_team and may_act_on_escalation(
        "resolve" if owner_may else "acknowledge",
        role=principal.role,
        actor_id=principal.staff_id,
        level=level_of(EscalationRule.model_validate(row.rule), row.level),
        owner_id=row.owner_id,
    ):
        return
    if on_team and principal.staff_id is not None:
        raise Forbidden(
            "only a lead, a manager or the staff member named at the escalation's current level may act on it"
        )
    raise Forbidden(f"role '{principal.role}' may not act on this escalation")


def require_escalation_assigner(principal: Principal, team_id: str) -> None:
    principal.require(
        principal.is_team_staff(team_id)
        and may_act_on_escalation("assign", role=principal.role, actor_id=principal.staff_id),
        "only a lead or manager of the team may reassign",
    )


# ---------------------------------------------------------------- absences
def may_manage_absence(principal: Principal, *, team_id: str, staff_id: str) -> bool:
    """The system; a lead or manager of the team; a CHW for their own absences in their team (an
    absence planned before they moved to another team stays with the old team's leads)."""
    if principal.role == "system" or principal.is_team_lead(team_id):
        return True
    return principal.role == "chw" and principal.team_id == team_id and principal.staff_id == staff_id


def require_absence_planner(principal: Principal, *, team_id: str, staff_id: str) -> None:
    """Checked once the absent staff member is known (ops are refused before that)."""
    principal.require(principal.role != "ops", "ops read absences but do not plan them")
    principal.require(
        may_manage_absence(principal, team_id=team_id, staff_id=staff_id),
        "a CHW plans only their own absences; leads and managers those of their own team",
    )


def require_absence_manager(principal: Principal, row: Absence) -> None:
    principal.require(
        may_manage_absence(principal, team_id=row.team_id, staff_id=row.staff_id),
        "only the absent CHW, or a lead or manager of their team, may change this absence",
    )
