"""The workflows' decision code on its own, without a Temporal server: which timer comes next and
what it says, the case's status, the retry held for the member's rules, the continue-as-new and
patch decisions, the read-model columns, the validators' error types. The workflow tests check
the same through a server; these are fast enough for the mutation run (``make mutate``).

A workflow object is made without its ``__init__`` (which asks Temporal for the workflow id) and
given the state a run would hold."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, RetryState

from activities.interactions import PROJECTION_REFUSED
from domain.calendar import BusinessCalendar
from domain.errors import Conflict, Forbidden, Invalid, from_type
from domain.messages import (
    AttemptInput,
    AttemptRecord,
    EscalationInput,
    EscalationNotice,
    EscalationRef,
    EscalationState,
    InteractionState,
    MemberContact,
)
from domain.models import EscalationLevel, EscalationRule, TeamConfig
from tests.conftest import CHICAGO_TEAM
from tests.workflows.support import interaction_input
from workflows import common
from workflows.common import (
    CAN_SUGGESTED_PATCH,
    HISTORY_LIMIT,
    KEEP_TIMER_PATCH,
    PATCHES_AT_START_IMPLIES,
    conflict,
    denied,
    invalid,
    rejection,
)
from workflows.escalation import EscalationWorkflow, _describe
from workflows.interaction import ANSWER_ATTEMPTS, InteractionWorkflow
from workflows.interaction_contact import (
    CONTACT_WINDOW_PATCH,
    NO_WINDOW_PATCH,
    contact_marks,
    hold_for_contact,
    retry_wait_reason,
)
from workflows.interaction_escalations import open_escalation
from workflows.interaction_projection import _differs, _failure, _refused, state_columns, whole_state_delta
from workflows.interaction_timers import timer_summary

CHICAGO = ZoneInfo("America/Chicago")
NEW_YORK = ZoneInfo("America/New_York")
# Open 07:00-21:00 every day: business hours never hide the member's window.
LATE = TeamConfig.model_validate(
    {
        **CHICAGO_TEAM,
        "calendar": {
            **CHICAGO_TEAM["calendar"],
            "hours": {d: [["07:00", "21:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
            "holiday_country": None,
        },
    }
)
# A Wednesday, 10:00 in Chicago.
WEDNESDAY = datetime(2026, 3, 4, 10, 0, tzinfo=CHICAGO)


def chicago(hour: int, minute: int = 0, *, day: int = 0) -> datetime:
    return datetime(2026, 3, 4 + day, hour, minute, tzinfo=CHICAGO)


def attempt(seq: int, outcome: str = "no_answer", **marks: bool) -> AttemptRecord:
    return AttemptRecord.model_validate(
        {"attempt_id": f"a{seq}", "seq": seq, "outcome": outcome, "staff_id": "chw-ana", "at": chicago(11)}
        | marks
    )


def interaction(cfg: TeamConfig = LATE, *, patches_at_start: bool | None = True, **state: Any) -> Any:
    """An InteractionWorkflow holding ``state`` (over a case received Wednesday 10:00, due 17:00)."""
    inp = interaction_input(cfg, WEDNESDAY)
    wf: Any = object.__new__(InteractionWorkflow)
    wf._inp = inp
    wf._cal = BusinessCalendar(inp.calendar)
    wf._patches_at_start = patches_at_start
    wf._s = InteractionState.model_validate(
        {
            "interaction_id": inp.interaction_id,
            "team_id": inp.team_id,
            "channel": "call",
            "received_at": WEDNESDAY,
            "due_at": chicago(17),
            **state,
        }
    )
    return wf


def summary(wf: Any, kind: str, at: datetime) -> str:
    return timer_summary(wf._s, wf._cal, kind, at)  # type: ignore[arg-type]


def reason(wf: Any, at: datetime) -> str:
    return retry_wait_reason(wf._s, at)


def noting(asked: list[str], answer: bool) -> Callable[[str], bool]:
    """A stand-in for ``workflow.patched`` that notes each patch it is asked about in ``asked``."""

    def patched(patch: str) -> bool:
        asked.append(patch)
        return answer

    return patched


def hold(wf: Any, contact: MemberContact | None) -> dict[str, Any]:
    """``hold_for_contact`` as the workflow calls it: its state, calendar and patch check."""
    return hold_for_contact(wf._s, contact, calendar=wf._cal, patched=wf._patched)


# ---------------------------------------------------------------- which timer comes next
def test_a_new_case_wakes_first_for_the_due_soon_reminder_an_hour_before_its_deadline() -> None:
    assert interaction()._next_wake() == (chicago(16), "due_soon")


def test_once_the_reminder_went_out_for_this_deadline_the_next_wake_is_the_deadline() -> None:
    assert interaction(due_soon_sent_for=chicago(17))._next_wake() == (chicago(17), "overdue")
    # A reminder sent for an earlier deadline does not count for a moved one.
    assert interaction(due_soon_sent_for=chicago(15))._next_wake() == (chicago(16), "due_soon")


def test_no_due_soon_reminder_when_it_would_fall_on_the_deadline() -> None:
    cfg = LATE.model_copy(update={"policy": LATE.policy.model_copy(update={"due_soon_minutes": 0})})
    assert interaction(cfg)._next_wake() == (chicago(17), "overdue")


def test_an_answered_or_overdue_case_waits_only_for_its_retry_reminder() -> None:
    retry: dict[str, Any] = {"attempts": [attempt(1)], "next_retry_at": chicago(13)}
    assert interaction(first_response_at=chicago(11), **retry)._next_wake() == (chicago(13), "retry_due")
    assert interaction(overdue=True, **retry)._next_wake() == (chicago(13), "retry_due")
    assert interaction(first_response_at=chicago(11))._next_wake() is None
    assert interaction(overdue=True)._next_wake() is None
    # The reminder for the latest attempt went out: nothing more to wait for.
    reminded: dict[str, Any] = {**retry, "retry_reminded_seq": 1}
    assert interaction(overdue=True, **reminded)._next_wake() is None
    # A later attempt wants its own reminder.
    later: dict[str, Any] = {
        "attempts": [attempt(1), attempt(2)],
        "next_retry_at": chicago(14),
        "retry_reminded_seq": 1,
    }
    assert interaction(overdue=True, **later)._next_wake() == (chicago(14), "retry_due")


def test_the_earliest_wake_wins_and_at_the_same_instant_the_deadline_goes_first() -> None:
    early_retry: dict[str, Any] = {"attempts": [attempt(1)], "next_retry_at": chicago(12)}
    assert interaction(**early_retry)._next_wake() == (chicago(12), "retry_due")
    same: dict[str, Any] = {
        "attempts": [attempt(1)],
        "next_retry_at": chicago(17),
        "due_soon_sent_for": chicago(17),
    }
    assert interaction(**same)._next_wake() == (chicago(17), "overdue")
    at_soon: dict[str, Any] = {"attempts": [attempt(1)], "next_retry_at": chicago(16)}
    assert interaction(**at_soon)._next_wake() == (chicago(16), "due_soon")


# ---------------------------------------------------------------- what the timer says
def test_timer_summaries_name_the_deadline_kind_and_the_teams_local_time() -> None:
    wf = interaction()
    assert summary(wf, "due_soon", chicago(16)) == "due-soon reminder, Wed 04 Mar 16:00 America/Chicago"
    assert summary(wf, "overdue", chicago(17)) == "same-day deadline, Wed 04 Mar 17:00 America/Chicago"
    # In UTC it is told in the team's zone all the same.
    assert summary(wf, "overdue", chicago(17).astimezone(UTC)).endswith("Wed 04 Mar 17:00 America/Chicago")
    voicemail = interaction(channel="voicemail")
    assert summary(voicemail, "overdue", chicago(17)).startswith("same-day deadline, ")
    text = interaction(channel="text")
    assert summary(text, "overdue", chicago(17)).startswith("one-business-day deadline, ")
    referral = interaction(channel="referral")
    assert summary(referral, "overdue", chicago(17)) == "referral deadline, Wed 04 Mar 17:00 America/Chicago"
    urgent = interaction(channel="text", urgent=True)
    assert summary(urgent, "overdue", chicago(12)).startswith("urgent deadline, ")
    retry = interaction(attempts=[attempt(1), attempt(2)])
    assert summary(retry, "retry_due", chicago(13)) == (
        "retry reminder (attempt 3), Wed 04 Mar 13:00 America/Chicago"
    )


def test_a_held_retry_says_what_it_waits_for_in_the_members_zone() -> None:
    opens = datetime(2026, 3, 5, 8, 0, tzinfo=NEW_YORK)
    window = interaction(attempts=[attempt(1)], retry_held_by="contact_window", retry_zone="America/New_York")
    assert summary(window, "retry_due", opens) == (
        "retry reminder (attempt 2), waiting for the member's window, opens 08:00 America/New_York, "
        "Thu 05 Mar 07:00 America/Chicago"
    )
    cap = interaction(attempts=[attempt(1)], retry_held_by="daily_cap", retry_zone="America/New_York")
    assert reason(cap, opens) == "waiting for the member's daily cap, clears 08:00 America/New_York, "
    never = interaction(retry_held_by="no_overlap", retry_zone="America/New_York")
    assert reason(never, opens) == "the member's window never meets business hours, "
    assert reason(interaction(), opens) == ""
    # Held, but with no zone known (a state from before the zone was kept): nothing said.
    assert reason(interaction(retry_held_by="contact_window"), opens) == ""


# ---------------------------------------------------------------- the case's status
def ref(status: str = "open", trigger: str = "complaint") -> EscalationRef:
    return EscalationRef.model_validate(
        {"escalation_id": f"e-{trigger}-{status}", "workflow_id": "w", "trigger": trigger, "status": status}
    )


def test_status_resolved_before_escalated_before_attempting_before_open() -> None:
    assert interaction()._status() == "open"
    assert interaction(attempts=[attempt(1)])._status() == "attempting"
    assert interaction(attempts=[attempt(1)], escalations=[ref("acknowledged")])._status() == "escalated"
    assert interaction(escalations=[ref("resolved")])._status() == "open"
    resolved = interaction(escalations=[ref("open")], attempts=[attempt(1)], resolved_at=chicago(12))
    assert resolved._status() == "resolved"


def test_the_open_escalation_of_a_trigger() -> None:
    wf = interaction(escalations=[ref("resolved", "safety"), ref("open", "complaint"), ref("open", "safety")])
    complaint, safety = open_escalation(wf._s), open_escalation(wf._s, "safety")
    assert complaint is not None and complaint.escalation_id == "e-complaint-open"
    assert safety is not None and safety.escalation_id == "e-safety-open"
    assert open_escalation(wf._s, "sensitive") is None


def test_an_update_answers_only_the_latest_attempts() -> None:
    attempts = [attempt(n) for n in range(1, ANSWER_ATTEMPTS + 3)]
    wf = interaction(attempts=attempts, applied_updates=["u1"])
    answer = wf._answer()
    assert [a.seq for a in answer.attempts] == [a.seq for a in attempts[-ANSWER_ATTEMPTS:]]
    assert answer.applied_updates == []
    assert len(wf._s.attempts) == len(attempts) and wf._s.applied_updates == ["u1"]  # state untouched
    few = interaction(attempts=attempts[:ANSWER_ATTEMPTS])._answer()
    assert [a.seq for a in few.attempts] == [a.seq for a in attempts[:ANSWER_ATTEMPTS]]


# ---------------------------------------------------------------- the retry held for the member
NY_WINDOW = MemberContact(zone="America/New_York", window_start=8 * 60, window_end=21 * 60)


def test_a_retry_inside_the_window_and_under_the_cap_is_not_held() -> None:
    wf = interaction(next_retry_at=chicago(13))
    assert hold(wf, NY_WINDOW.model_copy(update={"text_refused": True})) == {}
    assert (wf._s.next_retry_at, wf._s.retry_held_by) == (chicago(13), None)
    assert (wf._s.retry_zone, wf._s.retry_text_refused) == ("America/New_York", True)


def test_a_retry_past_the_members_evening_waits_for_their_morning() -> None:
    wf = interaction(next_retry_at=chicago(20, 30), retry_held_by="daily_cap", retry_text_refused=True)
    details = hold(wf, NY_WINDOW)
    opens = datetime(2026, 3, 5, 8, 0, tzinfo=NEW_YORK)
    assert wf._s.next_retry_at == opens
    assert (wf._s.retry_held_by, wf._s.retry_zone, wf._s.retry_text_refused) == (
        "contact_window",
        "America/New_York",
        False,
    )
    assert details == {
        "held_by": "contact_window",
        "member_zone": "America/New_York",
        "window_opens": "08:00",
        "unheld_retry_at": chicago(20, 30).isoformat(),
    }


def test_a_retry_over_the_cap_waits_until_it_clears() -> None:
    clears = chicago(9, 30, day=1)
    wf = interaction(next_retry_at=chicago(13))
    details = hold(wf, NY_WINDOW.model_copy(update={"cap_clears_at": clears}))
    assert wf._s.next_retry_at == clears
    assert wf._s.retry_held_by == "daily_cap"
    assert details["held_by"] == "daily_cap" and details["unheld_retry_at"] == chicago(13).isoformat()
    # A cap that clears before the retry is due holds nothing.
    early = interaction(next_retry_at=chicago(13))
    assert hold(early, NY_WINDOW.model_copy(update={"cap_clears_at": chicago(12)})) == {}
    assert early._s.next_retry_at == chicago(13)
    # The cap clears at night for the member: the window holds it further, until 08:00 there.
    night = interaction(next_retry_at=chicago(13))
    hold(night, NY_WINDOW.model_copy(update={"cap_clears_at": chicago(21, 30)}))
    assert night._s.next_retry_at == datetime(2026, 3, 5, 8, 0, tzinfo=NEW_YORK)
    assert night._s.retry_held_by == "daily_cap"


def test_a_window_that_never_meets_business_hours_keeps_the_retry_where_it_was() -> None:
    # 05:00-06:00 in New York is 04:00-05:00 in Chicago, before the team opens at 07:00.
    never = MemberContact(zone="America/New_York", window_start=5 * 60, window_end=6 * 60)
    wf = interaction(next_retry_at=chicago(13))
    assert hold(wf, never) == {"held_by": "no_overlap", "member_zone": "America/New_York"}
    assert (wf._s.next_retry_at, wf._s.retry_held_by) == (chicago(13), "no_overlap")


@pytest.mark.parametrize("zone", ["Asia/Tokyo", "Etc/GMT-10", "America/New_York"])
def test_no_window_in_force_keeps_the_retry_to_business_hours(
    zone: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A member whose own window never meets the legal one has none in force: the attempt carries
    ``(0, 0)``. In Tokyo the member's midnight is 09:00 in Chicago, inside the team's hours, and
    the retry used to be held to it (``contact_window``): a call at the member's midnight."""
    asked: list[str] = []
    monkeypatch.setattr(workflow, "patched", noting(asked, True))
    none = MemberContact(zone=zone, window_start=0, window_end=0)
    wf = interaction(next_retry_at=chicago(13))
    assert hold(wf, none) == {"held_by": "no_overlap", "member_zone": zone}
    assert (wf._s.next_retry_at, wf._s.retry_held_by) == (chicago(13), "no_overlap")
    assert NO_WINDOW_PATCH in asked
    # A run from before the patch keeps what it did (the empty window's "midnight").
    monkeypatch.setattr(workflow, "patched", lambda patch: patch != NO_WINDOW_PATCH)
    old = interaction(next_retry_at=chicago(13))
    hold(old, none)
    assert old._s.retry_held_by != "no_overlap" or zone == "America/New_York"


def test_without_the_members_rules_or_a_retry_nothing_is_held(monkeypatch: pytest.MonkeyPatch) -> None:
    wf = interaction(
        next_retry_at=chicago(20, 30), retry_held_by="contact_window", retry_zone="X", retry_text_refused=True
    )
    assert hold(wf, None) == {}
    assert (wf._s.next_retry_at, wf._s.retry_held_by, wf._s.retry_zone) == (chicago(20, 30), None, None)
    assert wf._s.retry_text_refused is False
    no_retry = interaction()
    assert hold(no_retry, NY_WINDOW) == {} and no_retry._s.next_retry_at is None
    # A run from before the contact-window patch keeps business hours.
    asked: list[str] = []
    monkeypatch.setattr(workflow, "patched", noting(asked, False))
    old = interaction(next_retry_at=chicago(20, 30), patches_at_start=False)
    assert hold(old, NY_WINDOW) == {}
    assert old._s.next_retry_at == chicago(20, 30) and asked == [CONTACT_WINDOW_PATCH]


def test_the_timeline_carries_only_the_marks_that_are_set() -> None:
    def marks(**set_: bool | str) -> dict[str, bool | str]:
        return contact_marks(AttemptInput.model_validate({"attempt_id": "a", "outcome": "busy", **set_}))

    assert marks() == {}
    assert marks(over_daily_cap=True) == {"over_daily_cap": True}
    assert marks(outside_contact_window=True) == {"outside_contact_window": True}
    assert marks(outside_contact_window=True, over_daily_cap=True) == {
        "outside_contact_window": True,
        "over_daily_cap": True,
    }
    assert marks(channel="text", consent_refused=True) == {"channel": "text", "consent_refused": True}


# ---------------------------------------------------------------- the read model's columns
def test_state_columns_are_the_states_columns_json_ready() -> None:
    wf = interaction()
    assert state_columns(wf._s) == {
        "status": "open",
        "assignee_id": None,
        "assignment_source": "owner",
        "due_at": chicago(17).isoformat(),
        "urgent": False,
        "flags": [],
        "first_response_at": None,
        "next_retry_at": None,
        "overdue": False,
        "unreachable": False,
        "triggers": [],
        "attempt_count": 0,
        "first_attempt_outcome": None,
        "resolved_at": None,
        "resolved_by": None,
        "contacts": 1,
        "last_contact_at": None,
        "first_due_at": chicago(17).isoformat(),  # no repeat contact: the case's deadline
    }
    done = interaction(
        status="resolved",
        assignee_id="chw-ana",
        assignment_source="lead:lead-1",
        urgent=True,
        flags=["urgent", "complaint"],
        first_response_at=chicago(11),
        next_retry_at=chicago(13),
        overdue=True,
        unreachable=True,
        triggers=["complaint"],
        attempts=[attempt(1, "busy"), attempt(2, "reached")],
        resolved_at=chicago(14),
        resolved_by="chw-ana",
        contacts=2,
        last_contact_at=chicago(12),
        first_due_at=chicago(16),
    )
    columns = state_columns(done._s)
    assert columns == {
        "status": "resolved",
        "assignee_id": "chw-ana",
        "assignment_source": "lead:lead-1",
        "due_at": chicago(17).isoformat(),
        "urgent": True,
        "flags": ["urgent", "complaint"],
        "first_response_at": chicago(11).isoformat(),
        "next_retry_at": chicago(13).isoformat(),
        "overdue": True,
        "unreachable": True,
        "triggers": ["complaint"],
        "attempt_count": 2,
        "first_attempt_outcome": "busy",
        "resolved_at": chicago(14).isoformat(),
        "resolved_by": "chw-ana",
        "contacts": 2,
        "last_contact_at": chicago(12).isoformat(),
        "first_due_at": chicago(16).isoformat(),
    }
    # Lists are copies: a later change of the state does not reach a delta already built.
    done._s.flags.append("safety")
    done._s.triggers.append("safety")
    assert columns["flags"] == ["urgent", "complaint"] and columns["triggers"] == ["complaint"]


def test_the_whole_state_delta_carries_every_column_and_attempt() -> None:
    wf = interaction(version=7, attempts=[attempt(1), attempt(2)], channel="text")
    delta = whole_state_delta(wf._s)
    assert delta.full is True
    assert delta.base_version == 0
    assert (delta.interaction_id, delta.team_id, delta.channel) == (wf._s.interaction_id, "eastside", "text")
    assert (delta.received_at, delta.version) == (WEDNESDAY, 7)
    assert delta.columns == state_columns(wf._s)
    assert [a.attempt_id for a in delta.new_attempts] == ["a1", "a2"]
    wf._s.attempts.append(attempt(3))
    assert len(delta.new_attempts) == 2


# ---------------------------------------------------------------- projection failures, search attributes
def test_a_refused_projection_is_told_apart_from_other_failures() -> None:
    refused = ApplicationError("row not at base", type=PROJECTION_REFUSED, non_retryable=True)
    wrapped = ActivityError(
        "activity failed",
        scheduled_event_id=1,
        started_event_id=2,
        identity="w",
        activity_type="sync_interaction",
        activity_id="1",
        retry_state=RetryState.NON_RETRYABLE_FAILURE,
    )
    wrapped.__cause__ = refused
    assert _failure(wrapped) is refused
    assert _failure(refused) is refused
    assert _refused(wrapped) and _refused(refused)
    assert not _refused(ApplicationError("db away", type="OperationalError"))
    assert not _refused(RuntimeError(PROJECTION_REFUSED))


def test_a_search_attribute_is_upserted_only_when_it_differs() -> None:
    assert _differs(None, "open")
    assert not _differs(None, None) and not _differs(None, [])
    assert _differs(None, ["complaint"])
    noon = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
    assert not _differs(noon, noon.astimezone(CHICAGO))  # the same instant in another zone
    assert _differs(noon, noon + timedelta(seconds=1))
    assert not _differs(("a", "b"), ["a", "b"]) and not _differs(["a"], ("a",))
    assert _differs(["a", "b"], ["b", "a"])
    assert not _differs("open", "open") and _differs("open", "resolved")
    assert _differs(["a"], "a") and _differs("a", ["a"])  # a list is never its string
    assert _differs("2026-03-04", noon)


# ---------------------------------------------------------------- validators' errors
def test_a_validators_refusal_carries_its_domain_error_type_and_is_not_retried() -> None:
    for make, cls in ((conflict, Conflict), (denied, Forbidden), (invalid, Invalid)):
        err = make("no way")
        assert isinstance(err, ApplicationError)
        assert (err.message, err.type, err.non_retryable) == ("no way", cls.__name__, True)
        assert isinstance(from_type(err.type, err.message), cls)
    err = rejection(Invalid, "bad")
    assert (err.message, err.type, err.non_retryable) == ("bad", "Invalid", True)


# ---------------------------------------------------------------- patches and continue-as-new
def loop(patches_at_start: bool | None) -> Any:
    wf: Any = object.__new__(InteractionWorkflow)
    wf._patches_at_start = patches_at_start
    wf._move_requested = False
    return wf


def test_a_run_that_recorded_patches_at_start_takes_the_implied_patches_without_asking(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[str] = []

    def patched(patch: str) -> bool:
        asked.append(patch)
        return patch == "later-patch"

    monkeypatch.setattr(workflow, "patched", patched)
    assert loop(True)._patched(KEEP_TIMER_PATCH) is True
    assert all(loop(True)._patched(p) for p in PATCHES_AT_START_IMPLIES)
    assert asked == []
    # A patch it does not imply is asked like in any run.
    assert loop(True)._patched("later-patch") is True
    assert loop(True)._patched("other-patch") is False
    assert asked == ["later-patch", "other-patch"]
    # A run without it asks for every patch.
    asked.clear()
    assert loop(False)._patched(KEEP_TIMER_PATCH) is False
    assert loop(None)._patched(CONTACT_WINDOW_PATCH) is False
    assert asked == [KEEP_TIMER_PATCH, CONTACT_WINDOW_PATCH]


def fake_info(length: int, suggested: bool) -> Any:
    return SimpleNamespace(
        get_current_history_length=lambda: length, is_continue_as_new_suggested=lambda: suggested
    )


def test_a_run_continues_as_new_past_its_history_limit_when_asked_or_when_suggested(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[str] = []
    monkeypatch.setattr(workflow, "patched", noting(asked, True))

    def full(length: int, limit: int | None, *, suggested: bool = False, moved: bool = False) -> bool:
        monkeypatch.setattr(workflow, "info", lambda: fake_info(length, suggested))
        wf = loop(False)
        wf._move_requested = moved
        result: bool = wf._history_full(limit)
        return result

    assert not full(HISTORY_LIMIT, None)
    assert full(HISTORY_LIMIT + 1, None)
    assert not full(50, 50) and full(51, 50)
    assert full(10, None, moved=True)
    assert asked == []
    assert full(10, None, suggested=True)
    assert asked == [CAN_SUGGESTED_PATCH]
    monkeypatch.setattr(workflow, "patched", lambda patch: False)
    assert not full(10, None, suggested=True)  # a run from before the patch ignores the suggestion


def test_the_loop_module_keeps_its_limits() -> None:
    assert HISTORY_LIMIT == 2000
    assert common.PATCHES_AT_START_PATCH not in PATCHES_AT_START_IMPLIES


# ---------------------------------------------------------------- the escalation ladder's timer
RULE = EscalationRule(
    levels=[
        EscalationLevel(role="lead", ack_within_minutes=30),
        EscalationLevel(staff_id="mgr-1", ack_within_minutes=60),
    ],
    resolve_within_minutes=120,
    clock="business",
)


def escalation(rule: EscalationRule = RULE, **state: Any) -> Any:
    cfg = TeamConfig.model_validate(CHICAGO_TEAM)  # open 09:00-17:00 on weekdays
    inp = EscalationInput(
        escalation_id="esc-1",
        interaction_id="i-1",
        interaction_workflow_id="w-1",
        team_id="eastside",
        trigger="complaint",
        rule=rule,
        matrix_version=1,
        calendar=cfg.calendar.snapshot(2025, 2028),
    )
    wf: Any = object.__new__(EscalationWorkflow)
    wf._inp, wf._rule, wf._cal = inp, rule, BusinessCalendar(inp.calendar)
    wf._s = EscalationState.model_validate(
        {
            "escalation_id": "esc-1",
            "interaction_id": "i-1",
            "team_id": "eastside",
            "trigger": "complaint",
            "level_notified_at": chicago(16, 45),
            "started_at": chicago(16, 45),
            "matrix_version": 1,
            **state,
        }
    )
    return wf


def test_an_open_escalation_wakes_to_climb_when_its_level_is_not_acknowledged_in_time() -> None:
    # 16:45 + 30 business minutes: 15 today, 15 tomorrow from 09:00.
    at = chicago(9, 15, day=1)
    assert escalation()._wake() == (
        at,
        "complaint: escalate to level 2 unless acknowledged, "
        "Thu 05 Mar 09:15 America/Chicago (business clock)",
    )


def test_at_the_last_level_the_notice_repeats_on_that_levels_clock() -> None:
    wf = escalation(level=2, level_notified_at=chicago(10))
    assert wf._wake() == (
        chicago(11),
        "complaint: repeat notice to 2 unless acknowledged, "
        "Wed 04 Mar 11:00 America/Chicago (business clock)",
    )
    wall = escalation(RULE.model_copy(update={"clock": "wall"}), level=2, level_notified_at=chicago(16, 45))
    assert wall._wake()[0] == chicago(17, 45)
    assert wall._wake()[1].endswith("Wed 04 Mar 17:45 America/Chicago (wall clock)")


def test_an_acknowledged_escalation_wakes_once_for_its_resolve_deadline() -> None:
    acked: dict[str, Any] = {"status": "acknowledged", "acknowledged_at": chicago(10)}
    assert escalation(**acked)._wake() == (
        chicago(12),
        "complaint: resolve deadline, Wed 04 Mar 12:00 America/Chicago (business clock)",
    )
    assert escalation(**acked, resolve_overdue_notified=True)._wake() is None
    assert escalation(status="acknowledged")._wake() is None  # no acknowledgement time: nothing to count from
    assert escalation(status="resolved", acknowledged_at=chicago(10))._wake() is None


def test_the_ladder_helpers_read_the_rule() -> None:
    wf = escalation()
    assert (
        wf._level(1).role == "lead" and wf._level(2).staff_id == "mgr-1" and wf._level(3).staff_id == "mgr-1"
    )
    assert wf._after(chicago(10), 90) == chicago(11, 30)
    assert wf._when(chicago(10).astimezone(UTC)) == "Wed 04 Mar 10:00 America/Chicago (business clock)"


def test_a_notice_is_described_by_its_level_recipient_and_reason() -> None:
    to_role = EscalationNotice(level=1, recipient_role="lead", at=chicago(10))
    assert _describe(to_role) == {"level": 1, "recipient": "lead", "reason": "level"}
    to_staff = EscalationNotice(
        level=2, recipient_id="mgr-1", recipient_role="manager", at=chicago(10), reason="repeat"
    )
    assert _describe(to_staff) == {"level": 2, "recipient": "mgr-1", "reason": "repeat"}
