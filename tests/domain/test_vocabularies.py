"""The status and enum vocabularies: the values the rules and API docs name (docs/rules.md,
docs/api.md), pinned here literally, so a status added to, dropped from or renamed in a Literal
fails a test (the tuples are derived from the Literals, so comparing the two proves nothing)."""

from __future__ import annotations

from domain import messages, models


def test_status_vocabularies_are_the_documented_ones() -> None:
    assert messages.INTERACTION_STATUSES == ("open", "attempting", "escalated", "resolved")
    assert messages.ACTIVE_INTERACTION_STATUSES == ("open", "attempting", "escalated")
    assert messages.ESCALATION_STATUSES == ("open", "acknowledged", "resolved")
    assert messages.UNRESOLVED_ESCALATION_STATUSES == ("open", "acknowledged")
    assert messages.ABSENCE_STATUSES == ("scheduled", "active", "ended", "cancelled")
    assert messages.PENDING_ABSENCE_STATUSES == ("scheduled", "active")
    assert messages.FINISHED_ABSENCE_STATUSES == ("ended", "cancelled")
    assert messages.NOTIFICATION_KINDS == (
        "due_soon", "retry_due", "escalation", "assigned", "unassigned", "digest", "contacted_again",
        "task_updated",
    )  # fmt: skip
    assert messages.ACTOR_ROLES == ("system", "chw", "lead", "manager", "ops")


def test_enum_vocabularies_are_the_documented_ones() -> None:
    assert models.CHANNELS == ("call", "voicemail", "text", "referral")
    assert models.FLAGS == ("urgent", "safety", "outside_role", "complaint", "sensitive")
    assert models.TRIGGERS == (
        "safety", "outside_role", "complaint", "sensitive", "unreachable", "deadline_missed",
    )  # fmt: skip
    assert models.OUTCOMES == ("reached", "replied", "no_answer", "left_voicemail", "busy", "wrong_number")
    assert models.UNSUCCESSFUL_OUTCOMES == ("no_answer", "left_voicemail", "busy")
    assert models.STAFF_ROLES == ("chw", "lead", "manager")
    assert models.ROLES == ("system", "chw", "lead", "manager", "ops")
    assert models.CLOCKS == ("business", "wall")
    assert set(models.TRIGGER_SEVERITY) == set(models.TRIGGERS)


def test_subsets_stay_inside_their_vocabulary() -> None:
    assert set(messages.PENDING_ABSENCE_STATUSES) <= set(messages.ABSENCE_STATUSES)
    assert set(models.TRIGGERS) - {"unreachable", "deadline_missed"} < set(models.FLAGS)
    assert set(models.STAFF_ROLES) < set(models.ROLES)
    assert set(messages.ACTOR_ROLES) == set(models.ROLES)
