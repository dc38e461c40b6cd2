"""The SLA report's per-channel figures of merged cases (``services.reports.channel_figures``,
docs/rules.md §2.10): repeat contacts move a case's deadline, never whether its first response
kept the first contact's promise."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings, strategies as st

from domain.calendar import BusinessCalendar
from domain.deadlines import due_at
from domain.models import TeamConfig
from domain.repeat_contacts import deadline_after_contact, first_deadline
from services.reports import channel_figures
from store.models import Interaction
from tests.conftest import CHICAGO_TEAM

CFG = TeamConfig.model_validate(CHICAGO_TEAM)
CAL = BusinessCalendar(CFG.calendar.snapshot(2025, 2028))
MONDAY = datetime(2026, 11, 30, 0, 0, tzinfo=ZoneInfo("America/Chicago"))
WEEK = 7 * 24 * 60
CHANNELS = st.sampled_from(("call", "voicemail", "text"))


def case(
    received: datetime, due: datetime, first_due: datetime, responded: datetime | None, contacts: int
) -> Interaction:
    """A read-model row as the projection writes it (not stored)."""
    return Interaction(
        id="case",
        channel="call",
        received_at=received,
        due_at=due,
        first_due_at=first_due,
        first_response_at=responded,
        contacts=contacts,
        attempt_count=0 if responded is None else 1,
    )


@settings(max_examples=300, deadline=None)
@given(
    start=st.integers(0, WEEK),
    channel=CHANNELS,
    urgent=st.booleans(),
    response_after=st.none() | st.integers(0, WEEK),
    repeats=st.lists(st.tuples(st.integers(1, WEEK), CHANNELS), max_size=4),
    now_after=st.integers(0, 3 * WEEK),
)
def test_merging_contacts_never_changes_whether_the_first_response_was_on_time(
    start: int,
    channel: str,
    urgent: bool,
    response_after: int | None,
    repeats: list[tuple[int, str]],
    now_after: int,
) -> None:
    """A case of one contact, and the same case with repeat contacts merged before or after its
    first response (the deadline moving as the workflow's ``contact_again`` moves it): the same
    on-time, late and open-overdue counts; ``repeat_contacts`` counts the merged ones."""
    received = MONDAY + timedelta(minutes=start)
    due = due_at(received, channel, urgent=urgent, calendar=CAL, policy=CFG.policy)
    responded = None if response_after is None else received + timedelta(minutes=response_after)
    alone = case(received, due, due, responded, 1)

    # contact_again, contact by contact in time order; ``awaiting``: a contact came after the
    # first response and no attempt has answered it since (only one attempt here).
    current, kept, awaiting = due, None, False
    for offset, again in sorted(repeats):
        at = received + timedelta(minutes=offset)
        answered = responded is not None and responded <= at and not awaiting
        kept = first_deadline(current, kept)
        contact_due = due_at(at, again, urgent=urgent, calendar=CAL, policy=CFG.policy)
        current = deadline_after_contact(current, contact_due, responded=answered)
        awaiting = awaiting or answered
    merged = case(received, current, kept or current, responded, 1 + len(repeats))

    now = received + timedelta(minutes=now_after)
    a, m = channel_figures([alone], CAL, now), channel_figures([merged], CAL, now)
    assert (m.answered_on_time, m.answered_late, m.open_overdue) == (
        a.answered_on_time,
        a.answered_late,
        a.open_overdue,
    )
    assert m.median_first_response_business_minutes == a.median_first_response_business_minutes
    assert (a.repeat_contacts, m.repeat_contacts) == (0, len(repeats))
