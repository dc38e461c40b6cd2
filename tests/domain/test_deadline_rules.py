"""The small deadline rules every layer shares: kind, urgency, overdue and SLA met."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from domain.deadlines import (
    CHANNEL_DEADLINE_KIND,
    DEADLINE_KINDS,
    DEADLINE_LABELS,
    deadline_kind,
    due_at,
    due_when_flagged_urgent,
    earliest,
    is_overdue,
    is_urgent,
    sla_met,
)
from domain.models import CHANNELS
from tests.domain.support import ALL_DAYS, CHICAGO, POLICY, at, business_calendar

MON_10 = at(CHICAGO, 2026, 11, 16, 10, 0)


def test_every_channel_has_a_deadline_kind_and_every_kind_a_label() -> None:
    assert set(CHANNEL_DEADLINE_KIND) == set(CHANNELS)
    assert set(DEADLINE_LABELS) == set(DEADLINE_KINDS)
    assert deadline_kind("call", urgent=False) == "same_day"
    assert deadline_kind("voicemail", urgent=False) == "same_day"
    assert deadline_kind("text", urgent=False) == "one_business_day"
    assert deadline_kind("text", urgent=True) == "urgent"
    with pytest.raises(ValueError, match="unknown channel"):
        deadline_kind("fax", urgent=False)


def test_urgency_comes_from_the_field_or_the_flag() -> None:
    assert not is_urgent([])
    assert is_urgent(["safety", "urgent"])
    assert is_urgent([], urgent=True)


def test_earliest_compares_instants_not_wall_clocks() -> None:
    # 01:30 CST (second pass, 07:30 UTC) is later than 01:45 CDT (06:45 UTC) on 2026-11-01.
    cdt = datetime(2026, 11, 1, 1, 45, tzinfo=CHICAGO, fold=0)
    cst = datetime(2026, 11, 1, 1, 30, tzinfo=CHICAGO, fold=1)
    assert earliest(cst, cdt) is cdt
    assert earliest(MON_10) is MON_10


def test_flagging_urgent_later_only_moves_the_deadline_earlier() -> None:
    cal = business_calendar()
    call_due = due_at(MON_10, "call", urgent=False, calendar=cal, policy=POLICY)
    urgent_due = due_at(MON_10, "call", urgent=True, calendar=cal, policy=POLICY)
    assert urgent_due < call_due
    flagged = due_when_flagged_urgent(call_due, MON_10, "call", calendar=cal, policy=POLICY)
    assert flagged == urgent_due
    # A deadline already earlier than the urgent one (moved by hand, say) stays.
    early = MON_10 + timedelta(minutes=30)
    assert due_when_flagged_urgent(early, MON_10, "call", calendar=cal, policy=POLICY) == early


def test_flagging_urgent_compares_as_the_workflow_always_has() -> None:
    """Pinned, not endorsed: in a DST fold the rule compares wall clocks, as the workflow's
    ``min`` did before it used this function; changing it changes running cases (needs a patch)."""
    cal = business_calendar(around=date(2026, 11, 1), hours={d: [["00:00", "24:00"]] for d in ALL_DAYS})
    received = at(CHICAGO, 2026, 10, 31, 23, 40)
    urgent_due = due_at(received, "text", urgent=True, calendar=cal, policy=POLICY)
    assert urgent_due.astimezone(UTC) == datetime(2026, 11, 1, 6, 40, tzinfo=UTC)  # 01:40 CDT
    later = datetime(2026, 11, 1, 1, 10, tzinfo=CHICAGO, fold=1)  # 01:10 CST, 07:10 UTC
    assert due_when_flagged_urgent(later, received, "text", calendar=cal, policy=POLICY) is later
    assert earliest(later, urgent_due) == urgent_due


def test_overdue_from_the_deadline_instant_until_answered_or_resolved() -> None:
    due = datetime(2026, 11, 16, 23, 0, tzinfo=UTC)
    assert not is_overdue(due, None, due - timedelta(microseconds=1))
    assert is_overdue(due, None, due)
    assert is_overdue(due.astimezone(CHICAGO), None, due + timedelta(days=3))
    assert not is_overdue(due, due - timedelta(hours=1), due + timedelta(hours=1))
    assert not is_overdue(due, None, due + timedelta(hours=1), resolved_at=due)


def test_sla_met_is_answered_by_the_deadline() -> None:
    due = datetime(2026, 11, 16, 23, 0, tzinfo=UTC)
    assert sla_met(None, due) is None
    assert sla_met(due, due) is True
    assert sla_met(due.astimezone(CHICAGO) - timedelta(seconds=1), due) is True
    assert sla_met(due + timedelta(microseconds=1), due) is False
