"""The access rules (``services.access``) on their own, without the API (the escalation rule in
depth: ``test_access.py``): who reads a team, who acts
on a case, an escalation, an absence. The API tests check the same rules through the routes; these
are fast enough for the mutation run (``make mutate``) and name every refusal's message."""

from __future__ import annotations

from typing import Any

import pytest

from config.settings import TokenRole
from domain.errors import Forbidden
from services.access import (
    Principal,
    may_manage_absence,
    require_absence_manager,
    require_absence_planner,
    require_assigner,
    require_caseload_editor,
    require_escalation_actor,
    require_escalation_assigner,
    require_interaction_actor,
    require_interaction_starter,
    require_report_reader,
    require_team_manager,
)
from store.models import Absence, Escalation, Interaction

SYSTEM = Principal(role="system")
OPS = Principal(role="ops")
ANA = Principal(role="chw", staff_id="chw-ana", team_id="east")
BEN = Principal(role="chw", staff_id="chw-ben", team_id="east")
LEAD = Principal(role="lead", staff_id="lead-1", team_id="east")
MANAGER = Principal(role="manager", staff_id="mgr-1", team_id="east")
OTHER_LEAD = Principal(role="lead", staff_id="lead-9", team_id="west")
OTHER_MANAGER = Principal(role="manager", staff_id="mgr-9", team_id="west")
OTHER_CHW = Principal(role="chw", staff_id="chw-ana", team_id="west")  # Ana, moved to another team


def case(assignee_id: str | None = "chw-ana", team_id: str = "east") -> Interaction:
    return Interaction(team_id=team_id, assignee_id=assignee_id)


def escalation(
    level: int = 1, owner_id: str | None = None, levels: list[dict[str, Any]] | None = None
) -> Escalation:
    named = [{"staff_id": "chw-ben"}, {"staff_id": "lead-1"}] if levels is None else levels
    rule = {"levels": [{**lv, "ack_within_minutes": 15} for lv in named], "resolve_within_minutes": 240}
    return Escalation(team_id="east", level=level, owner_id=owner_id, rule=rule)


def refused(call: Any, message: str) -> None:
    with pytest.raises(Forbidden) as err:
        call()
    assert err.value.message == message


def test_a_principal_is_its_staff_id_and_its_team() -> None:
    assert ANA.actor_id == "chw-ana"
    assert SYSTEM.actor_id is None
    assert [p.is_team_lead("east") for p in (LEAD, MANAGER, ANA, SYSTEM, OPS, OTHER_LEAD)] == [
        True,
        True,
        False,
        False,
        False,
        False,
    ]
    assert [p.is_team_staff("east") for p in (LEAD, MANAGER, ANA, SYSTEM, OPS, OTHER_CHW)] == [
        True,
        True,
        True,
        False,
        False,
        False,
    ]


def test_staff_read_their_own_team_ops_and_the_system_read_every_team() -> None:
    for p in (SYSTEM, OPS):
        assert p.can_read_team("east") and p.can_read_team("west")
    for p in (ANA, LEAD, MANAGER):
        assert p.can_read_team("east")
        assert not p.can_read_team("west")


def test_require_raises_forbidden_with_the_message_only_when_not_allowed() -> None:
    ANA.require(True, "never")
    refused(lambda: ANA.require(False, "not yours"), "not yours")


def test_a_list_shows_staff_their_own_team_and_everyone_else_all_teams() -> None:
    assert ANA.team_scope(None) == ["east"]
    assert LEAD.team_scope("east") == ["east"]
    assert MANAGER.team_scope(None) == ["east"]
    refused(lambda: LEAD.team_scope("west"), "not a member of this team")
    assert Principal(role="chw", staff_id="x").team_scope(None) == [""]
    assert SYSTEM.team_scope("west") is None
    assert OPS.team_scope(None) is None


@pytest.mark.parametrize(
    ("who", "allowed"),
    [(SYSTEM, True), (MANAGER, True), (OTHER_MANAGER, False), (LEAD, False), (ANA, False), (OPS, False)],
)
def test_only_the_system_or_the_teams_manager_changes_the_team(who: Principal, allowed: bool) -> None:
    if allowed:
        require_team_manager(who, "east", "change the team")
    else:
        refused(
            lambda: require_team_manager(who, "east", "change the team"),
            "only the system or the team's manager may change the team",
        )


@pytest.mark.parametrize(
    ("who", "allowed"),
    [(SYSTEM, True), (LEAD, True), (MANAGER, True), (OTHER_LEAD, False), (ANA, False), (OPS, False)],
)
def test_caseloads_are_set_by_the_system_or_the_teams_leads(who: Principal, allowed: bool) -> None:
    if allowed:
        require_caseload_editor(who, "east")
    else:
        refused(
            lambda: require_caseload_editor(who, "east"),
            "only the system or a lead/manager of the team may set caseloads",
        )


@pytest.mark.parametrize(
    ("who", "allowed"),
    [(SYSTEM, True), (OPS, True), (LEAD, True), (MANAGER, True), (OTHER_MANAGER, False), (ANA, False)],
)
def test_reports_are_read_by_the_teams_leads_ops_and_the_system(who: Principal, allowed: bool) -> None:
    if allowed:
        require_report_reader(who, "east")
    else:
        refused(
            lambda: require_report_reader(who, "east"),
            "only leads and managers of the team, ops or the system read reports",
        )


def test_only_the_system_starts_interactions() -> None:
    require_interaction_starter(SYSTEM)
    for who in (OPS, MANAGER, LEAD, ANA):
        refused(lambda who=who: require_interaction_starter(who), "only backend systems start interactions")


def test_who_acts_on_a_case() -> None:
    mine, bens, unassigned = case("chw-ana"), case("chw-ben"), case(None)
    for row in (mine, bens, unassigned):
        require_interaction_actor(LEAD, row)
        require_interaction_actor(MANAGER, row)
    require_interaction_actor(ANA, mine)
    for row in (bens, unassigned):
        refused(
            lambda row=row: require_interaction_actor(ANA, row),
            "a CHW acts only on interactions assigned to them",
        )
    # A CHW without a staff id is nobody's assignee, even of an unassigned case.
    refused(
        lambda: require_interaction_actor(Principal(role="chw", team_id="east"), unassigned),
        "a CHW acts only on interactions assigned to them",
    )
    # Ana moved to another team: still the assignee of her old team's case, she acts on it no more.
    refused(
        lambda: require_interaction_actor(OTHER_CHW, mine),
        "a CHW acts only on their own team's interactions assigned to them",
    )
    for who in (OTHER_LEAD, OTHER_MANAGER):
        refused(
            lambda who=who: require_interaction_actor(who, mine),
            "leads and managers act only on their own team's interactions",
        )
    for who in (SYSTEM, OPS):
        refused(
            lambda who=who: require_interaction_actor(who, mine),
            f"role '{who.role}' may not act on interactions",
        )


def test_only_the_teams_leads_assign_and_reassign() -> None:
    for check, message in (
        (require_assigner, "only a lead or manager of the team may assign"),
        (require_escalation_assigner, "only a lead or manager of the team may reassign"),
    ):
        check(LEAD, "east")
        check(MANAGER, "east")
        for who in (OTHER_LEAD, ANA, SYSTEM, OPS):
            refused(lambda who=who, check=check: check(who, "east"), message)


def test_who_acts_on_an_escalation() -> None:
    at_ben = escalation(1, owner_id="chw-ana")
    for owner_may in (False, True):
        require_escalation_actor(LEAD, at_ben, owner_may=owner_may)
        require_escalation_actor(MANAGER, at_ben, owner_may=owner_may)
        require_escalation_actor(BEN, at_ben, owner_may=owner_may)  # named at the current level
    # The owner resolves (owner_may), but does not acknowledge.
    require_escalation_actor(ANA, at_ben, owner_may=True)
    staff_message = (
        "only a lead, a manager or the staff member named at the escalation's current level may act on it"
    )
    refused(lambda: require_escalation_actor(ANA, at_ben, owner_may=False), staff_message)
    # One level up the ladder Ben is no longer named.
    refused(
        lambda: require_escalation_actor(BEN, escalation(2, owner_id="chw-ana"), owner_may=True),
        staff_message,
    )
    # A CHW with no staff id is neither named nor the owner of an ownerless escalation.
    nobody = Principal(role="chw", team_id="east")
    no_names = escalation(1, levels=[{"role": "lead"}])
    refused(
        lambda: require_escalation_actor(nobody, no_names, owner_may=True),
        "role 'chw' may not act on this escalation",
    )
    for who in (OTHER_LEAD, SYSTEM, OPS):
        refused(
            lambda who=who: require_escalation_actor(who, at_ben, owner_may=True),
            f"role '{who.role}' may not act on this escalation",
        )
    # A CHW of another team named at the level (the same id) is refused all the same.
    moved_ben = Principal(role="chw", staff_id="chw-ben", team_id="west")
    refused(
        lambda: require_escalation_actor(moved_ben, at_ben, owner_may=True),
        "role 'chw' may not act on this escalation",
    )


def test_who_manages_an_absence() -> None:
    assert may_manage_absence(SYSTEM, team_id="east", staff_id="chw-ana")
    assert may_manage_absence(LEAD, team_id="east", staff_id="chw-ana")
    assert may_manage_absence(MANAGER, team_id="east", staff_id="chw-ana")
    assert may_manage_absence(ANA, team_id="east", staff_id="chw-ana")
    assert not may_manage_absence(ANA, team_id="east", staff_id="chw-ben")
    assert not may_manage_absence(OTHER_CHW, team_id="east", staff_id="chw-ana")
    assert not may_manage_absence(OTHER_LEAD, team_id="east", staff_id="chw-ana")
    assert not may_manage_absence(OPS, team_id="east", staff_id="chw-ana")
    # Only a CHW plans their own: ops with a staff id in the team do not.
    assert not may_manage_absence(
        Principal(role="ops", staff_id="x", team_id="east"), team_id="east", staff_id="x"
    )


def test_planning_and_changing_an_absence() -> None:
    require_absence_planner(ANA, team_id="east", staff_id="chw-ana")
    require_absence_planner(LEAD, team_id="east", staff_id="chw-ben")
    require_absence_planner(SYSTEM, team_id="east", staff_id="chw-ben")
    refused(
        lambda: require_absence_planner(OPS, team_id="east", staff_id="chw-ana"),
        "ops read absences but do not plan them",
    )
    refused(
        lambda: require_absence_planner(BEN, team_id="east", staff_id="chw-ana"),
        "a CHW plans only their own absences; leads and managers those of their own team",
    )
    anas = Absence(team_id="east", staff_id="chw-ana")
    require_absence_manager(ANA, anas)
    require_absence_manager(MANAGER, anas)
    for who in (BEN, OTHER_CHW, OTHER_MANAGER, OPS):
        refused(
            lambda who=who: require_absence_manager(who, anas),
            "only the absent CHW, or a lead or manager of their team, may change this absence",
        )


def test_every_role_is_covered() -> None:
    """The tables above name every role the settings know."""
    from typing import get_args

    roles: tuple[TokenRole, ...] = get_args(TokenRole)
    assert {p.role for p in (SYSTEM, OPS, ANA, LEAD, MANAGER)} == set(roles)
