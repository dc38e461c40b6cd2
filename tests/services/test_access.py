"""The API's escalation checks (``services.access``): the domain rule, for the team's own staff
only; ops, the system and other teams' staff get 403 over HTTP (docs/rules.md §2.4)."""

from __future__ import annotations

import pytest

from domain.errors import Forbidden
from domain.models import EscalationRule
from services.access import Principal, require_escalation_actor, require_escalation_assigner
from store.models import Escalation

RULE = EscalationRule.model_validate(
    {
        "levels": [
            {"role": "lead", "ack_within_minutes": 15},
            {"staff_id": "chw-ben", "ack_within_minutes": 15},
        ],
        "resolve_within_minutes": 240,
    }
)


def escalation(level: int, owner_id: str | None = None) -> Escalation:
    return Escalation(
        id="esc-1", team_id="eastside", rule=RULE.model_dump(mode="json"), level=level, owner_id=owner_id
    )


def staff(role: str, staff_id: str | None, team_id: str | None = "eastside") -> Principal:
    return Principal(role=role, staff_id=staff_id, team_id=team_id)  # type: ignore[arg-type]


def allowed(principal: Principal, row: Escalation, *, owner_may: bool) -> bool:
    try:
        require_escalation_actor(principal, row, owner_may=owner_may)
    except Forbidden:
        return False
    return True


@pytest.mark.parametrize("owner_may", [False, True])
def test_leads_and_managers_of_the_team_act_at_any_level(owner_may: bool) -> None:
    for level in (1, 2, 5):
        assert allowed(staff("lead", "lead-1"), escalation(level), owner_may=owner_may)
        assert allowed(staff("manager", "mgr-1"), escalation(level), owner_may=owner_may)


def test_a_chw_acts_when_named_at_the_current_level_and_resolves_as_the_owner() -> None:
    ben, ana = staff("chw", "chw-ben"), staff("chw", "chw-ana")
    assert allowed(ben, escalation(2), owner_may=False)
    assert allowed(ben, escalation(3), owner_may=False)  # past the last level: the last
    assert not allowed(ben, escalation(1), owner_may=False)
    assert allowed(ana, escalation(1, owner_id="chw-ana"), owner_may=True)
    with pytest.raises(Forbidden, match="named at the escalation's current level"):
        require_escalation_actor(ana, escalation(1, owner_id="chw-ana"), owner_may=False)


@pytest.mark.parametrize(
    "principal",
    [
        staff("system", None, None),
        staff("ops", None, None),
        staff("lead", "lead-9", "westside"),
        staff("chw", "chw-ben", "westside"),
    ],
)
def test_ops_the_system_and_other_teams_are_refused(principal: Principal) -> None:
    with pytest.raises(Forbidden, match="may not act on this escalation"):
        require_escalation_actor(principal, escalation(2, owner_id="chw-ben"), owner_may=True)


def test_only_leads_and_managers_of_the_team_reassign() -> None:
    require_escalation_assigner(staff("lead", "lead-1"), "eastside")
    require_escalation_assigner(staff("manager", "mgr-1"), "eastside")
    for principal in (
        staff("chw", "chw-ben"),
        staff("lead", "lead-9", "westside"),
        staff("system", None, None),
        staff("ops", None, None),
    ):
        with pytest.raises(Forbidden, match="only a lead or manager of the team may reassign"):
            require_escalation_assigner(principal, "eastside")
