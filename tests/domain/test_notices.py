"""Who a notice reaches (docs/rules.md §2.6) and safety inhibition (§2.8), as the pure rule says."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from domain.grouping import INHIBITED_TRIGGERS
from domain.models import TRIGGERS
from domain.notices import OnRoll, Roster, inhibitable, inhibited_by, on_duty, recipients, roster_needed

EASTSIDE = (
    OnRoll("chw-ana", "chw"),
    OnRoll("chw-ben", "chw"),
    OnRoll("lead-1", "lead"),
    OnRoll("lead-2", "lead"),
    OnRoll("mgr-1", "manager"),
)
KINDS = ("assigned", "unassigned", "due_soon", "retry_due", "escalation", "digest")


def team(*away: str) -> Roster:
    return Roster(staff=EASTSIDE, away=frozenset(away))


def to_role(role: str | None, roster: Roster, kind: str = "unassigned") -> list[str]:
    return recipients(kind, None, role, roster)


# ---------------------------------------------------------------- worked examples, §2.6


def test_a_role_notice_reaches_everyone_of_the_role_on_duty() -> None:
    assert to_role("lead", team()) == ["lead-1", "lead-2"]
    assert to_role("lead", team("lead-1")) == ["lead-2"]
    assert to_role("manager", team()) == ["mgr-1"]


def test_a_notice_without_a_role_goes_to_the_leads() -> None:
    assert to_role(None, team()) == ["lead-1", "lead-2"]


def test_with_no_lead_on_duty_the_managers_on_duty_are_told() -> None:
    assert to_role("lead", team("lead-1", "lead-2")) == ["mgr-1"]


def test_with_everyone_of_both_roles_away_they_are_all_told() -> None:
    assert to_role("lead", team("lead-1", "lead-2", "mgr-1")) == ["lead-1", "lead-2", "mgr-1"]
    assert to_role("manager", team("mgr-1")) == ["mgr-1"]


def test_a_manager_notice_never_falls_back_to_the_leads() -> None:
    lone_leads = Roster(staff=(OnRoll("lead-1", "lead"),))
    assert to_role("manager", lone_leads) == []


def test_a_team_without_staff_of_the_role_addresses_nobody() -> None:
    assert to_role("lead", Roster(staff=(OnRoll("chw-ana", "chw"),))) == []


def test_role_notices_list_staff_in_roster_order() -> None:
    """The roster comes ordered by id from the store; the rule keeps that order."""
    roster = Roster(staff=(OnRoll("lead-b", "lead"), OnRoll("lead-a", "lead")))
    assert to_role("lead", roster) == ["lead-b", "lead-a"]


def test_a_named_notice_goes_to_that_person_alone_even_when_they_are_away() -> None:
    assert recipients("assigned", "chw-ben", None, team("chw-ben")) == ["chw-ben"]
    assert not roster_needed("assigned", "chw-ben")


def test_an_escalation_naming_someone_on_duty_reaches_them_alone() -> None:
    assert recipients("escalation", "chw-ben", None, team()) == ["chw-ben"]


def test_an_escalation_naming_someone_away_also_reaches_the_leads_on_duty() -> None:
    assert recipients("escalation", "chw-ben", None, team("chw-ben")) == ["chw-ben", "lead-1", "lead-2"]
    assert recipients("escalation", "chw-ben", None, team("chw-ben", "lead-1")) == ["chw-ben", "lead-2"]
    # No lead on duty: the managers on duty, who can acknowledge it as well.
    assert recipients("escalation", "chw-ben", None, team("chw-ben", "lead-1", "lead-2")) == [
        "chw-ben",
        "mgr-1",
    ]


def test_a_named_lead_away_with_everyone_else_away_is_listed_once() -> None:
    everyone = ("lead-1", "lead-2", "mgr-1")
    assert recipients("escalation", "lead-1", None, team(*everyone)) == ["lead-1", "lead-2", "mgr-1"]


# ---------------------------------------------------------------- worked examples, §2.8


def test_deadline_and_unreachable_escalation_notices_are_held_by_an_open_safety_escalation() -> None:
    """rules §2.8 example 4: mem-9 has an open safety escalation; their case misses its deadline."""
    assert inhibited_by("escalation", "deadline_missed", "esc-safety") == "esc-safety"
    assert inhibited_by("escalation", "unreachable", "esc-safety") == "esc-safety"


def test_nothing_is_held_without_an_open_safety_escalation() -> None:
    """After the safety escalation is resolved, the next such notice is delivered."""
    assert inhibited_by("escalation", "deadline_missed", None) is None


def test_safety_never_holds_back_other_triggers_or_other_kinds() -> None:
    for trigger in ("safety", "complaint", "outside_role", "sensitive"):
        assert inhibited_by("escalation", trigger, "esc-safety") is None
    assert inhibited_by("due_soon", None, "esc-safety") is None
    assert inhibited_by("digest", "deadline_missed", "esc-safety") is None


# ---------------------------------------------------------------- properties

STAFF_IDS = [f"{role}-{i}" for role in ("chw", "lead", "manager") for i in range(3)]


@st.composite
def rosters(draw: st.DrawFn) -> Roster:
    ids = draw(st.lists(st.sampled_from(STAFF_IDS), unique=True, max_size=len(STAFF_IDS)))
    staff = tuple(OnRoll(i, i.rsplit("-", 1)[0]) for i in ids)
    away = draw(st.sets(st.sampled_from(STAFF_IDS)))
    return Roster(staff=staff, away=frozenset(away))


roles = st.sampled_from(["lead", "manager", None])
named = st.one_of(st.none(), st.sampled_from([*STAFF_IDS, "someone-else"]))
kinds = st.sampled_from(KINDS)


def ids_of(roster: Roster, *roles: str) -> list[str]:
    return [s.id for s in roster.staff if s.role in roles]


@settings(max_examples=300)
@given(roster=rosters(), kind=kinds, recipient_id=named, role=roles)
def test_only_a_named_recipient_or_staff_of_the_fallback_roles_is_told_each_once(
    roster: Roster, kind: str, recipient_id: str | None, role: str | None
) -> None:
    got = recipients(kind, recipient_id, role, roster)
    assert len(got) == len(set(got))
    allowed = set(ids_of(roster, role or "lead", "manager"))
    if recipient_id is not None:
        assert got[0] == recipient_id
        allowed = {recipient_id, *ids_of(roster, "lead", "manager")}
    assert set(got) <= allowed


@settings(max_examples=300)
@given(roster=rosters(), kind=kinds, recipient_id=named, role=roles)
def test_nobody_away_is_told_while_someone_of_the_roles_is_on_duty(
    roster: Roster, kind: str, recipient_id: str | None, role: str | None
) -> None:
    """Except the named person: an escalation level naming them still reaches them."""
    got = recipients(kind, recipient_id, role, roster)
    fallback = (role or "lead") if recipient_id is None else "lead"
    roles = [fallback, "manager"] if fallback == "lead" else [fallback]
    someone_present = any(s not in roster.away for s in ids_of(roster, *roles))
    if someone_present:
        assert not {g for g in got if g != recipient_id} & roster.away


@settings(max_examples=300)
@given(roster=rosters(), kind=kinds, role=roles)
def test_a_role_notice_is_never_addressed_to_nobody_while_the_team_has_staff_of_its_roles(
    roster: Roster, kind: str, role: str | None
) -> None:
    got = recipients(kind, None, role, roster)
    role = role or "lead"
    fallback = [role, "manager"] if role == "lead" else [role]
    assert bool(got) == bool(ids_of(roster, *fallback))


@settings(max_examples=300)
@given(roster=rosters(), kind=kinds)
def test_a_lead_notice_reaches_the_leads_on_duty_else_the_managers_on_duty(roster: Roster, kind: str) -> None:
    leads = [i for i in ids_of(roster, "lead") if i not in roster.away]
    managers = [i for i in ids_of(roster, "manager") if i not in roster.away]
    got = recipients(kind, None, "lead", roster)
    if leads:
        assert got == leads
    elif managers:
        assert got == managers
    else:
        assert got == ids_of(roster, "lead") + ids_of(roster, "manager")


@settings(max_examples=300)
@given(roster=rosters(), kind=kinds, recipient_id=named)
def test_a_named_escalation_adds_the_leads_on_duty_only_when_its_person_is_away(
    roster: Roster, kind: str, recipient_id: str | None
) -> None:
    if recipient_id is None:
        return
    got = recipients(kind, recipient_id, None, roster)
    if kind == "escalation" and recipient_id in roster.away:
        assert got == [recipient_id, *[i for i in on_duty(roster, "lead") if i != recipient_id]]
    else:
        assert got == [recipient_id]


@settings(max_examples=300)
@given(a=rosters(), b=rosters(), kind=kinds, recipient_id=named, role=roles)
def test_the_roster_is_read_only_when_it_can_change_the_recipients(
    a: Roster, b: Roster, kind: str, recipient_id: str | None, role: str | None
) -> None:
    """The activity skips the staff and absence reads when ``roster_needed`` is False."""
    if not roster_needed(kind, recipient_id):
        assert recipients(kind, recipient_id, role, a) == recipients(kind, recipient_id, role, b)
        assert recipients(kind, recipient_id, role, a) == recipients(kind, recipient_id, role, Roster())


@given(
    kind=kinds,
    trigger=st.one_of(st.none(), st.sampled_from(TRIGGERS)),
    open_safety=st.one_of(st.none(), st.text(min_size=1, max_size=8)),
)
def test_a_notice_is_held_exactly_when_it_is_an_inhibitable_escalation_and_safety_is_open(
    kind: str, trigger: str | None, open_safety: str | None
) -> None:
    held = inhibited_by(kind, trigger, open_safety)
    expected = kind == "escalation" and trigger in INHIBITED_TRIGGERS and open_safety is not None
    assert (held is not None) == expected
    assert held is None or held == open_safety
    assert inhibitable(kind, trigger) == (kind == "escalation" and trigger in INHIBITED_TRIGGERS)
