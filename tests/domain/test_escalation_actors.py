"""Who may acknowledge, resolve or assign an escalation (docs/rules.md §2.4, acting on an
escalation): the one rule the API's access check and the workflow's updates both apply."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from domain.escalations import EscalationAction, level_of, may_act_on_escalation
from domain.models import EscalationLevel, EscalationRule

# lead, then chw-ben by name, then manager
RULE = EscalationRule.model_validate(
    {
        "levels": [
            {"role": "lead", "ack_within_minutes": 15},
            {"staff_id": "chw-ben", "ack_within_minutes": 15},
            {"role": "manager", "ack_within_minutes": 15},
        ],
        "resolve_within_minutes": 240,
    }
)
ACTIONS: tuple[EscalationAction, ...] = ("acknowledge", "resolve", "assign")


def may(
    action: EscalationAction, role: str, actor_id: str | None, *, at: int = 1, owner: str | None = None
) -> bool:
    return may_act_on_escalation(
        action, role=role, actor_id=actor_id, level=level_of(RULE, at), owner_id=owner
    )


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("role", ["lead", "manager", "system"])
def test_leads_managers_and_the_system_may_do_anything_at_any_level(
    action: EscalationAction, role: str
) -> None:
    for at in (1, 2, 3, 7):
        assert may(action, role, f"{role}-1", at=at)
    assert may(action, role, None)


def test_a_chw_named_at_the_current_level_may_acknowledge_and_resolve_but_not_assign() -> None:
    assert may("acknowledge", "chw", "chw-ben", at=2)
    assert may("resolve", "chw", "chw-ben", at=2)
    assert not may("assign", "chw", "chw-ben", at=2)


def test_being_named_at_another_level_is_not_enough() -> None:
    assert not may("acknowledge", "chw", "chw-ben", at=1)
    assert not may("acknowledge", "chw", "chw-ben", at=3)
    assert not may("acknowledge", "chw", "chw-ana", at=2)


def test_past_the_last_level_the_last_level_is_current() -> None:
    last_named = RULE.model_copy(update={"levels": RULE.levels[:2]})
    assert may_act_on_escalation("acknowledge", role="chw", actor_id="chw-ben", level=level_of(last_named, 5))


def test_the_owner_may_resolve_but_not_acknowledge_or_assign() -> None:
    assert may("resolve", "chw", "chw-ana", owner="chw-ana")
    assert not may("acknowledge", "chw", "chw-ana", owner="chw-ana")
    assert not may("assign", "chw", "chw-ana", owner="chw-ana")
    assert not may("resolve", "chw", "chw-ana", owner="chw-ben")


def test_ops_and_an_actor_without_an_id_are_refused() -> None:
    assert not may("acknowledge", "ops", "ops-1")
    assert not may("resolve", "chw", None, at=2)
    # No one is named when nobody is: an escalation without an owner is not everyone's.
    assert not may("resolve", "chw", None, owner=None)


def test_assign_needs_no_level() -> None:
    assert may_act_on_escalation("assign", role="lead", actor_id="lead-1")
    assert not may_act_on_escalation("assign", role="chw", actor_id="chw-ben")


# ---------------------------------------------------------------- properties

roles = st.sampled_from(["system", "chw", "lead", "manager", "ops"])
staff_ids = st.one_of(st.none(), st.sampled_from(["chw-ana", "chw-ben", "lead-1", "mgr-1"]))
levels = st.one_of(
    st.none(),
    st.builds(EscalationLevel, role=st.sampled_from(["lead", "manager"]), ack_within_minutes=st.just(15)),
    st.builds(
        EscalationLevel, staff_id=st.sampled_from(["chw-ana", "chw-ben"]), ack_within_minutes=st.just(15)
    ),
)


@given(role=roles, actor_id=staff_ids, level=levels, owner_id=staff_ids)
def test_whoever_may_acknowledge_may_resolve_and_whoever_may_assign_may_do_both(
    role: str, actor_id: str | None, level: EscalationLevel | None, owner_id: str | None
) -> None:
    def can(action: EscalationAction) -> bool:
        return may_act_on_escalation(action, role=role, actor_id=actor_id, level=level, owner_id=owner_id)

    assert not can("acknowledge") or can("resolve")
    assert not can("assign") or (can("acknowledge") and can("resolve"))


@given(action=st.sampled_from(ACTIONS), role=roles, actor_id=staff_ids, level=levels, owner_id=staff_ids)
def test_anyone_else_acts_only_by_name_or_ownership(
    action: EscalationAction,
    role: str,
    actor_id: str | None,
    level: EscalationLevel | None,
    owner_id: str | None,
) -> None:
    allowed = may_act_on_escalation(action, role=role, actor_id=actor_id, level=level, owner_id=owner_id)
    if role in ("lead", "manager", "system"):
        assert allowed
        return
    named = actor_id is not None and level is not None and level.staff_id == actor_id
    owns = actor_id is not None and actor_id == owner_id
    assert allowed == (action != "assign" and (named or (action == "resolve" and owns)))
