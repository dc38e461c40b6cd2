"""Edges of the domain rules that the mutation run (``make mutate``, docs/testing.md) found
unchecked: each test here failed against a surviving mutant (named in its docstring) and passes
on the code. Boundaries (the instant a window opens, ``24:00``, a group flushing as the next
notice arrives), the messages a refusal gives, and the helpers' small promises."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from domain.absences import resolve_cover, window_error
from domain.calendar import MAX_GAP_DAYS, BusinessCalendar
from domain.checkins import checkins_on, next_checkin
from domain.contact import in_window, intersect, next_window_opening
from domain.deadlines import due_at, due_soon_at, due_when_flagged_urgent, response_due, retry_due_at
from domain.errors import Conflict, DomainError, Unavailable
from domain.escalations import ladder_deadline, level_of, resolve_overdue_target
from domain.grouping import Notice, NotificationPolicy, flush_at, plan_deliveries
from domain.ids import (
    absence_workflow_id,
    checkin_workflow_id,
    escalation_workflow_id,
    group_workflow_id,
    interaction_workflow_id,
)
from domain.models import (
    CHANNELS,
    CalendarSnapshot,
    EscalationLevel,
    EscalationRule,
    Policy,
    TeamConfig,
    hhmm_to_minutes,
)
from domain.windows import parse_hhmm, parse_window
from tests.conftest import CHICAGO_TEAM

CHICAGO = ZoneInfo("America/Chicago")
NEW_YORK = ZoneInfo("America/New_York")
AROUND = date(2026, 3, 4)
CAL = BusinessCalendar.from_config(TeamConfig.model_validate(CHICAGO_TEAM).calendar, around=AROUND)
NAIVE = datetime(2026, 3, 4, 10, 0)
AWARE = datetime(2026, 3, 4, 10, 0, tzinfo=CHICAGO)
POLICY = Policy()


def refused(call: Callable[[], Any], message: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        call()


# ---------------------------------------------------------------- naive datetimes are refused by name
@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: CAL.add_open_minutes(NAIVE, 10), "start"),
        (lambda: CAL.day_of_receipt(NAIVE), "at"),
        (lambda: CAL.is_open(NAIVE), "at"),
        (lambda: CAL.next_open_instant(NAIVE), "at"),
        (lambda: CAL.open_minutes_between(NAIVE, AWARE), "start"),
        (lambda: CAL.open_minutes_between(AWARE, NAIVE), "end"),
        (lambda: due_at(NAIVE, "call", urgent=False, calendar=CAL, policy=POLICY), "received_at"),
        (lambda: due_soon_at(NAIVE, policy=POLICY), "due"),
        (
            lambda: due_when_flagged_urgent(NAIVE, AWARE, "call", calendar=CAL, policy=POLICY),
            "current_due",
        ),
        (
            lambda: response_due(NAIVE, "call", urgent=False, team=TeamConfig.model_validate(CHICAGO_TEAM)),
            "received_at",
        ),
        (lambda: retry_due_at(NAIVE, calendar=CAL, policy=POLICY), "after"),
        (lambda: next_checkin(CAL, NAIVE), "after"),
        (lambda: ladder_deadline(NAIVE, 10, clock="wall", calendar=CAL), "start"),
    ],
)
def test_a_naive_datetime_is_refused_naming_the_argument(call: Callable[[], Any], name: str) -> None:
    """Mutants: every ``_require_aware(x, "name")`` with the name changed or None."""
    refused(call, f"{name} must be timezone-aware")


def test_the_other_refusals_say_what_is_wrong() -> None:
    refused(lambda: ladder_deadline(AWARE, -1, clock="wall", calendar=CAL), "minutes must not be negative")
    rule = EscalationRule(
        levels=[EscalationLevel(role="lead", ack_within_minutes=5)], resolve_within_minutes=5
    )
    refused(lambda: level_of(rule, 0), "levels start at 1")
    refused(
        lambda: next_window_opening(NAIVE, "America/New_York", (480, 1260)), "'at' must carry a time zone"
    )
    refused(lambda: parse_window(["08:00"]), "a contact window is two times of day, [start, end]")
    refused(
        lambda: parse_window(["10:00", "09:00"]),
        "a contact window must start before it ends (got 10:00-09:00)",
    )
    refused(lambda: CAL.close_instant_of(date(2026, 3, 7)), "2026-03-07 is not a business day")
    refused(
        lambda: hhmm_to_minutes("24:00", is_end=False), "'24:00' is only allowed as the end of an interval"
    )
    assert window_error(AWARE, NAIVE) == "ends_at must be timezone-aware"
    assert window_error(NAIVE, AWARE) == "starts_at must be timezone-aware"
    refused(
        lambda: due_at(AWARE, "fax", urgent=False, calendar=CAL, policy=POLICY),
        f"unknown channel 'fax': expected one of {', '.join(CHANNELS)}",
    )


def test_team_config_refuses_localtime_and_a_week_without_hours() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'localtime'"):
        TeamConfig.model_validate(
            {**CHICAGO_TEAM, "calendar": {**CHICAGO_TEAM["calendar"], "timezone": "localtime"}}
        )
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        TeamConfig.model_validate(
            {**CHICAGO_TEAM, "calendar": {**CHICAGO_TEAM["calendar"], "timezone": "Mars/Olympus"}}
        )
    with pytest.raises(
        ValueError, match=r"Value error, the week has no open hours: give at least one interval \["
    ):
        TeamConfig.model_validate({**CHICAGO_TEAM, "calendar": {**CHICAGO_TEAM["calendar"], "hours": {}}})


# ---------------------------------------------------------------- times of day
def test_times_of_day_at_their_limits() -> None:
    """Mutants: ``hours > 23`` and ``minutes > 59`` moved by one either way; ``24`` accepted for
    a start; ``hours * 60 - minutes``."""
    assert hhmm_to_minutes("23:00", is_end=False) == 23 * 60
    assert hhmm_to_minutes("00:59", is_end=False) == 59
    assert hhmm_to_minutes("24:00", is_end=True) == 24 * 60
    for bad in ("24:30", "00:60"):
        with pytest.raises(ValueError, match=f"^invalid time '{bad}'"):
            hhmm_to_minutes(bad, is_end=True)
    assert parse_hhmm("08:30") == 8 * 60 + 30
    assert parse_hhmm("24:00") == 24 * 60
    for bad in ("10:30:00", "24:01", "09:60"):
        with pytest.raises(ValueError, match=bad):
            parse_hhmm(bad)
    assert parse_hhmm("23:59") == 23 * 60 + 59
    with pytest.raises(ValueError, match="must start before it ends"):
        parse_window(["10:00", "10:00"])


def test_the_contact_window_opens_on_the_minute_and_counts_seconds() -> None:
    """Mutants: the seconds of the minute subtracted, or scaled wrongly."""
    window = (8 * 60, 21 * 60)
    assert in_window(datetime(2026, 3, 4, 8, 0, 0, 500_000, tzinfo=NEW_YORK), "America/New_York", window)
    assert in_window(datetime(2026, 3, 4, 8, 0, 30, tzinfo=NEW_YORK), "America/New_York", window)
    assert in_window(datetime(2026, 3, 4, 20, 59, 59, 999_999, tzinfo=NEW_YORK), "America/New_York", window)
    assert not in_window(datetime(2026, 3, 4, 21, 0, tzinfo=NEW_YORK), "America/New_York", window)
    assert not in_window(
        datetime(2026, 3, 4, 7, 59, 59, 999_999, tzinfo=NEW_YORK), "America/New_York", window
    )
    opening = datetime(2026, 3, 4, 8, 0, tzinfo=NEW_YORK)
    assert next_window_opening(opening, "America/New_York", window) == opening
    assert next_window_opening(opening - timedelta(microseconds=1), "America/New_York", window) == opening


# ---------------------------------------------------------------- calendar
def test_overlapping_and_touching_intervals_of_a_day_merge() -> None:
    """Mutants: the merge of ``_utc_day`` (its indices, ``<=`` as ``<``, ``max``)."""
    cfg = TeamConfig.model_validate(
        {
            **CHICAGO_TEAM,
            "calendar": {
                **CHICAGO_TEAM["calendar"],
                "hours": {"wed": [["09:00", "12:00"], ["12:00", "13:00"], ["14:00", "17:00"]]},
                "holiday_country": None,
            },
        }
    )
    cal = BusinessCalendar.from_config(cfg.calendar, around=AROUND)
    day = date(2026, 3, 4)
    assert cal.intervals_on(day) == [
        (datetime(2026, 3, 4, 9, 0, tzinfo=CHICAGO), datetime(2026, 3, 4, 13, 0, tzinfo=CHICAGO)),
        (datetime(2026, 3, 4, 14, 0, tzinfo=CHICAGO), datetime(2026, 3, 4, 17, 0, tzinfo=CHICAGO)),
    ]
    # Asked twice (the second from the day cache), the same.
    assert cal.intervals_on(day) == cal.intervals_on(day)
    assert (
        cal.open_minutes_between(
            datetime(2026, 3, 4, 8, tzinfo=CHICAGO), datetime(2026, 3, 4, 18, tzinfo=CHICAGO)
        )
        == 420
    )
    assert cal.is_open(datetime(2026, 3, 4, 12, 0, tzinfo=CHICAGO))
    assert not cal.is_open(datetime(2026, 3, 4, 13, 0, tzinfo=CHICAGO))
    assert cal.opening_of(day) == datetime(2026, 3, 4, 9, 0, tzinfo=CHICAGO)
    assert cal.opening_of(day).tzinfo == CHICAGO  # type: ignore[union-attr]


def test_is_open_at_the_instant_an_interval_ends_and_ends_next() -> None:
    """Mutants: ``is_open``'s one-microsecond probe widened or dropped."""
    close = datetime(2026, 3, 4, 17, 0, tzinfo=CHICAGO)
    assert CAL.is_open(close - timedelta(microseconds=1))
    assert not CAL.is_open(close)
    assert not CAL.is_open(datetime(2026, 3, 4, 8, 59, 59, 999_999, tzinfo=CHICAGO))
    assert CAL.is_open(datetime(2026, 3, 4, 9, 0, tzinfo=CHICAGO))


def test_the_default_calendar_window_is_a_year_back_and_two_ahead() -> None:
    """Mutants: ``from_config``'s ``years_before``/``years_after`` defaults (built in the test:
    the mutation run forks after the module's constants were made)."""
    cal = BusinessCalendar.from_config(TeamConfig.model_validate(CHICAGO_TEAM).calendar, around=AROUND)
    closed = set(cal.snapshot.closed_dates)
    assert date(2025, 1, 1) in closed and date(2028, 12, 25) in closed
    assert date(2024, 12, 25) not in closed and date(2029, 1, 1) not in closed


EVERY_DAY = {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def closed_for(first: date, days: int) -> BusinessCalendar:
    """Open 09:00-17:00 every day, but closed ``days`` days from ``first`` on."""
    return BusinessCalendar(
        CalendarSnapshot(
            timezone="America/Chicago",
            hours=EVERY_DAY,
            closed_dates=[first + timedelta(days=i) for i in range(days)],
        )
    )


def test_a_closed_stretch_of_max_gap_days_is_crossed_and_one_day_more_is_refused() -> None:
    """Mutants: ``_iter_open``'s idle-day count (its start, its reset, its step, ``>`` as ``>=``),
    the refusal's local time; ``is_open`` scanning without its stop."""
    d = date(2026, 3, 4)
    # Closed from the day before ``start`` on: that day counts too.
    start = datetime(2026, 3, 4, 12, 0, tzinfo=CHICAGO)
    reopens = datetime.combine(d + timedelta(days=MAX_GAP_DAYS - 1), time(9), tzinfo=CHICAGO)
    assert closed_for(d - timedelta(days=1), MAX_GAP_DAYS).next_open_instant(start) == reopens
    refused(
        lambda: closed_for(d - timedelta(days=1), MAX_GAP_DAYS + 1).next_open_instant(start),
        f"no open time within {MAX_GAP_DAYS} days after 2026-03-04T12:00:00-06:00",
    )
    # Open on the start's day (after hours), then closed: the count starts again from nothing.
    evening = datetime(2026, 3, 4, 18, 0, tzinfo=CHICAGO)
    after_gap = datetime.combine(d + timedelta(days=MAX_GAP_DAYS + 1), time(9), tzinfo=CHICAGO)
    assert closed_for(d + timedelta(days=1), MAX_GAP_DAYS).next_open_instant(evening) == after_gap
    # Asking whether it is open now never runs into the limit.
    assert not closed_for(d, MAX_GAP_DAYS + 5).is_open(start)


def test_the_next_checkin_looks_max_gap_days_ahead_and_no_further() -> None:
    """Mutants: ``next_checkin``'s ``range(MAX_GAP_DAYS + 2)`` as ``- 2`` or ``+ 3``."""
    d = date(2026, 3, 4)
    evening = datetime(2026, 3, 4, 18, 0, tzinfo=CHICAGO)
    found = next_checkin(closed_for(d + timedelta(days=1), MAX_GAP_DAYS - 1), evening)
    assert (found.day, found.kind) == (d + timedelta(days=MAX_GAP_DAYS), "opening")
    with pytest.raises(ValueError, match=f"^no business day within {MAX_GAP_DAYS} days after "):
        next_checkin(closed_for(d + timedelta(days=1), MAX_GAP_DAYS), evening)


# ---------------------------------------------------------------- check-ins
def test_the_next_checkin_can_be_later_today() -> None:
    """Mutants: the search starting a day later (``+ 1`` day, ``- 2``), ``day=None``."""
    early = datetime(2026, 3, 4, 8, 0, tzinfo=CHICAGO)
    moment = next_checkin(CAL, early)
    assert (moment.at, moment.kind, moment.day) == (
        datetime(2026, 3, 4, 9, 0, tzinfo=CHICAGO),
        "opening",
        date(2026, 3, 4),
    )
    assert moment.day_end == datetime(2026, 3, 5, 0, 0, tzinfo=CHICAGO)
    assert [m.day for m in checkins_on(CAL, date(2026, 3, 4))] == [date(2026, 3, 4)] * 3


def test_a_day_exactly_as_long_as_the_before_close_lead_has_it_at_the_opening() -> None:
    """Mutant: ``c - BEFORE_CLOSE >= o`` as ``>``: a one-hour day's check-ins."""
    from domain.checkins import BEFORE_CLOSE

    minutes = int(BEFORE_CLOSE.total_seconds() // 60)
    end = f"{9 + minutes // 60:02d}:{minutes % 60:02d}"
    cfg = TeamConfig.model_validate(
        {
            **CHICAGO_TEAM,
            "calendar": {
                **CHICAGO_TEAM["calendar"],
                "hours": {"wed": [["09:00", end]]},
                "holiday_country": None,
            },
        }
    )
    cal = BusinessCalendar.from_config(cfg.calendar, around=AROUND)
    moments = checkins_on(cal, date(2026, 3, 4))
    assert [m.kind for m in moments] == ["opening", "midday"]
    assert moments[0].at == datetime(2026, 3, 4, 9, 0, tzinfo=CHICAGO)


# ---------------------------------------------------------------- escalations, absences
def test_a_missed_resolve_at_the_last_level_goes_to_the_manager_on_the_last_levels_clock() -> None:
    """Mutants: ``rule.levels[-1]`` as ``[+1]`` or ``[-2]`` (with two levels ``[1]`` is the last)."""
    rule = EscalationRule(
        levels=[
            EscalationLevel(role="lead", ack_within_minutes=10),
            EscalationLevel(role="lead", ack_within_minutes=20),
            EscalationLevel(staff_id="mgr-1", ack_within_minutes=30),
        ],
        resolve_within_minutes=60,
    )
    assert resolve_overdue_target(rule, 3) == (4, EscalationLevel(role="manager", ack_within_minutes=30))
    assert resolve_overdue_target(rule, 1) == (2, rule.levels[1])


def test_a_chain_of_backups_is_followed_five_hops_and_never_round_a_loop() -> None:
    """Mutants: ``max_hops`` 6; ``current is None and current in seen``; ``seen.add(None)``."""
    backups = {"s0": "s1", "s1": "s2", "s2": "s3", "s3": "s4", "s4": "s5", "s5": "s6", "s6": None}

    def absent(
        chain: dict[str, str | None], present: set[str]
    ) -> Callable[[str], tuple[str, str | None] | None]:
        return lambda staff: None if staff in present else (f"abs-{staff}", chain[staff])

    # s6 is present but six hops away: beyond the chain's limit, the case is unassigned.
    assert resolve_cover("s0", absent(backups, {"s6"})) == (None, "abs-s0")
    assert resolve_cover("s0", absent(backups, {"s5"})) == ("s5", "abs-s0")
    loop = {"a": "b", "b": "c", "c": "b"}
    calls: list[str] = []

    def absent_loop(staff: str) -> tuple[str, str | None] | None:
        calls.append(staff)
        return (f"abs-{staff}", loop[staff])

    assert resolve_cover("a", absent_loop) == (None, "abs-a")
    assert calls == ["a", "b", "c"]  # the loop is seen at b again, not walked round


# ---------------------------------------------------------------- grouping
T0 = datetime(2026, 11, 17, 23, 0, tzinfo=UTC)


def notice(i: int, at: datetime, **over: object) -> Notice:
    return Notice.model_validate(
        {
            "id": f"n{i}",
            "at": at,
            "recipient_id": "lead-1",
            "kind": "escalation",
            "trigger": "deadline_missed",
        }
        | over
    )


def test_a_group_due_as_the_next_notice_arrives_goes_without_it() -> None:
    """Mutants: ``d[0][0] <= until`` as ``<``; ``flush_at``'s ``>=`` as ``>``."""
    policy = NotificationPolicy(group_wait_seconds=30, group_interval_minutes=5)
    first, second = notice(1, T0), notice(2, T0 + timedelta(seconds=30))
    deliveries, _ = plan_deliveries(policy, [first, second])
    assert [(d.notice_ids, d.at - T0, d.reason) for d in deliveries] == [
        (["n1"], timedelta(seconds=30), "group_wait"),
        (["n2"], timedelta(minutes=5, seconds=30), "group_interval"),
    ]
    # A group that starts exactly group_interval after the last delivery waits only group_wait.
    last = T0
    assert flush_at(policy, last + timedelta(minutes=5), last) == (
        last + timedelta(minutes=5, seconds=30),
        "group_wait",
    )


def test_overflow_deliveries_say_so_and_a_kind_can_bypass() -> None:
    """Mutants: every chunk given the group's reason; ``is_bypass`` not given the notice's kind."""
    policy = NotificationPolicy(max_items_per_delivery=2, bypass=["retry_due"])
    notices = [notice(i, T0) for i in range(5)] + [notice(9, T0, kind="retry_due", trigger=None)]
    deliveries, _ = plan_deliveries(policy, notices)
    assert [(len(d.notice_ids), d.reason) for d in deliveries] == [
        (1, "bypass"),
        (2, "group_wait"),
        (2, "overflow"),
        (1, "overflow"),
    ]


# ---------------------------------------------------------------- errors
def test_domain_errors_carry_their_message_and_retry_after() -> None:
    """Mutants: ``super().__init__(None)``; ``retry_after`` default 6 or dropped."""
    err: DomainError = Conflict("already resolved")
    assert str(err) == "already resolved" and err.args == ("already resolved",)
    busy = Unavailable("busy")
    assert busy.retry_after == 5 and str(busy) == "busy"
    assert Unavailable("busy", retry_after=1).retry_after == 1


# ---------------------------------------------------------------- DST gaps, result zones
def test_an_interval_wholly_inside_the_spring_forward_gap_is_no_open_time() -> None:
    """Mutants: ``_utc_day``'s ``end <= start`` as ``<`` (an empty interval kept) and its
    ``continue`` as ``break`` (the day's later intervals dropped). On Sunday 8 March 2026 Chicago
    skips 02:00-03:00: 02:30 (read before the change) and 03:30 (after it) are one instant."""

    def cal(hours: list[list[str]]) -> BusinessCalendar:
        return BusinessCalendar(CalendarSnapshot(timezone="America/Chicago", hours={"sun": hours}))

    sunday = date(2026, 3, 8)
    assert not cal([["02:30", "03:30"]]).is_business_day(sunday)
    assert cal([["02:30", "03:30"], ["09:00", "17:00"]]).intervals_on(sunday) == [
        (datetime(2026, 3, 8, 9, 0, tzinfo=CHICAGO), datetime(2026, 3, 8, 17, 0, tzinfo=CHICAGO))
    ]


def test_results_keep_the_zone_they_are_given_in() -> None:
    """Mutants: ``astimezone(None)`` (the machine's zone) for the zone a result is handed back in."""
    assert due_soon_at(AWARE, policy=POLICY).tzinfo is CHICAGO
    assert ladder_deadline(AWARE, 30, clock="wall", calendar=CAL).tzinfo is CHICAGO
    at = datetime(2026, 3, 4, 22, 0, tzinfo=CHICAGO)  # 23:00 in New York: the window is shut
    opens = next_window_opening(at, "America/New_York", (8 * 60, 21 * 60))
    assert opens == datetime(2026, 3, 5, 8, 0, tzinfo=NEW_YORK)
    assert opens.tzinfo == NEW_YORK
    # The member's date, not the machine's: at 19:00 in New York it is already tomorrow in Asia
    # (the mutation run's machine zone), and the window still opens today.
    evening = datetime(2026, 3, 4, 19, 0, tzinfo=NEW_YORK)
    assert next_window_opening(evening, "America/New_York", (20 * 60, 21 * 60)) == evening + timedelta(
        hours=1
    )


def test_the_common_part_of_windows_starts_from_the_whole_day() -> None:
    """Mutants: ``intersect``'s starting bounds (``1``, ``25 * 60``, ``24 * 61``)."""
    assert intersect([(0, 24 * 60)]) == (0, 24 * 60)
    assert intersect([]) == (0, 24 * 60)
    assert intersect([(0, 600), (300, 24 * 60)]) == (300, 600)
    assert intersect([(0, 300), (300, 600)]) is None


def test_workflow_ids_are_readable_and_an_escalation_raised_again_gets_its_own() -> None:
    """Mutants: ``escalation_workflow_id`` (no test of ``tests/domain`` called it)."""
    assert interaction_workflow_id("east", "ext-1") == "interaction:east:ext-1"
    assert escalation_workflow_id("east", "ext-1", "safety") == "escalation:east:ext-1:safety"
    assert escalation_workflow_id("east", "ext-1", "safety", 1) == "escalation:east:ext-1:safety"
    assert escalation_workflow_id("east", "ext-1", "safety", 2) == "escalation:east:ext-1:safety:2"
    assert absence_workflow_id("a-1") == "absence:a-1"
    assert checkin_workflow_id("east") == "checkin:east"
    assert group_workflow_id("east", "lead-1") == "notify:east:lead-1"


def test_a_one_second_recording_is_a_voicemail() -> None:
    """Mutant: ``seconds > 0`` as ``> 1`` in ``voice_contact``."""
    from domain.inbound import voice_contact

    for seconds in ("1", "14"):
        got = voice_contact(
            call_status="completed",
            dial_call_status=None,
            recording_url="https://r/RE1",
            recording_duration=seconds,
        )
        assert got == "voicemail", seconds


def test_referral_and_repeat_contact_deadlines_refuse_naive_times_by_name() -> None:
    """Mutants: the names in ``referral_due``'s and ``deadline_after_contact``'s refusals, the
    refusal of a requested deadline not after the receipt, ``<=`` as ``<`` for equal deadlines."""
    from domain.deadlines import referral_due
    from domain.repeat_contacts import deadline_after_contact

    def referral(received: datetime, requested: datetime | None) -> datetime:
        return referral_due(received, requested=requested, urgent=False, calendar=CAL, policy=POLICY)

    refused(lambda: referral(NAIVE, None), "received_at must be timezone-aware")
    refused(lambda: referral(AWARE, NAIVE), "requested must be timezone-aware")
    refused(lambda: referral(AWARE, AWARE), "the requested deadline is not after the referral's receipt")
    assert referral(AWARE, AWARE + timedelta(days=2)) == AWARE + timedelta(days=2)
    refused(lambda: deadline_after_contact(NAIVE, AWARE, responded=False), "current must be timezone-aware")
    refused(
        lambda: deadline_after_contact(AWARE, NAIVE, responded=False), "contact_due must be timezone-aware"
    )
    # Equal instants: the case keeps its own deadline (and so its zone).
    same = deadline_after_contact(AWARE, AWARE.astimezone(NEW_YORK), responded=False)
    assert same == AWARE and same.tzinfo is CHICAGO
