"""The status and enum tuples are derived from the domain Literals, so the two never drift."""

from __future__ import annotations

from typing import get_args

from domain import messages, models


def test_status_vocabularies_follow_the_literals() -> None:
    assert get_args(messages.InteractionStatus) == messages.INTERACTION_STATUSES
    assert messages.ACTIVE_INTERACTION_STATUSES == ("open", "attempting", "escalated")
    assert get_args(messages.EscalationStatus) == messages.ESCALATION_STATUSES
    assert messages.UNRESOLVED_ESCALATION_STATUSES == ("open", "acknowledged")
    assert get_args(messages.AbsenceStatus) == messages.ABSENCE_STATUSES
    assert messages.PENDING_ABSENCE_STATUSES == ("scheduled", "active")
    assert messages.FINISHED_ABSENCE_STATUSES == ("ended", "cancelled")
    assert get_args(messages.NotificationKind) == messages.NOTIFICATION_KINDS


def test_subsets_stay_inside_their_vocabulary() -> None:
    assert set(messages.PENDING_ABSENCE_STATUSES) <= set(messages.ABSENCE_STATUSES)
    assert set(models.TRIGGERS) - {"unreachable", "deadline_missed"} < set(models.FLAGS)
    assert get_args(models.StaffRole) == models.STAFF_ROLES
    assert set(models.STAFF_ROLES) < set(models.ROLES)
