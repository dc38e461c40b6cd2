"""The repeat-contact deadline rule (docs/rules.md §2.10, ``domain.repeat_contacts``)."""

from __future__ import annotations

import doctest
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, strategies as st

import domain.repeat_contacts
from domain.repeat_contacts import deadline_after_contact


def test_the_worked_examples_hold() -> None:
    result = doctest.testmod(domain.repeat_contacts)
    assert result.attempted >= 6 and result.failed == 0


INSTANTS = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
)
OFFSETS = st.integers(min_value=-12 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))


@given(INSTANTS, INSTANTS, OFFSETS, OFFSETS)
def test_before_a_response_the_deadline_only_moves_earlier(
    current: datetime, contact_due: datetime, tz1: timezone, tz2: timezone
) -> None:
    a, b = current.astimezone(tz1), contact_due.astimezone(tz2)
    new = deadline_after_contact(a, b, responded=False)
    assert new <= a and new <= b
    assert new in (a, b) and new.tzinfo in (tz1, tz2)
    # Contacting again with the same deadline, or a later one, changes nothing.
    assert deadline_after_contact(new, b, responded=False) == new


@given(INSTANTS, INSTANTS)
def test_after_a_response_the_new_contact_sets_the_deadline(current: datetime, contact_due: datetime) -> None:
    assert deadline_after_contact(current, contact_due, responded=True) == contact_due


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        deadline_after_contact(
            datetime(2026, 12, 7, 17), datetime(2026, 12, 7, 17, tzinfo=UTC), responded=False
        )
