"""A case flagged at creation answers once it shows its escalations: the row reads ``escalated``
and has an escalation per trigger. The escalation workflow writes its own row and may land
before the case's projection; an answer sent then said ``open`` beside an open escalation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from services.interactions import _escalations_shown
from store.db import unit_of_work
from store.models import Escalation, Interaction


def case(session: Session, status: str) -> None:
    now = datetime.now(UTC)
    session.add(
        Interaction(
            id="i-1",
            workflow_id="interaction:eastside:e-1",
            team_id="eastside",
            external_id="e-1",
            member_id="m",
            channel="call",
            status=status,
            flags=["safety"],
            received_at=now,
            due_at=now + timedelta(hours=2),
            version=1,
            created_at=now,
            updated_at=now,
        )
    )
    session.flush()


def escalation(session: Session, trigger: str) -> None:
    now = datetime.now(UTC)
    session.add(
        Escalation(
            id=f"esc-{trigger}",
            workflow_id=f"escalation:eastside:e-1:{trigger}",
            interaction_id="i-1",
            team_id="eastside",
            trigger=trigger,
            severity=9,
            status="open",
            level=1,
            clock="wall",
            rule={"levels": [{"role": "lead"}]},
            matrix_version=1,
            started_at=now,
            updated_at=now,
        )
    )


def test_the_escalation_row_alone_is_not_shown_until_the_case_reads_escalated(
    sessions: sessionmaker[Session],
) -> None:
    with unit_of_work(sessions) as s:
        case(s, "open")
        assert not _escalations_shown(s, "i-1", {"safety"})  # neither landed yet
        escalation(s, "safety")  # the escalation workflow's projection came first
        s.flush()
        assert not _escalations_shown(s, "i-1", {"safety"})
        s.get_one(Interaction, "i-1").status = "escalated"  # then the case's
        s.flush()
        assert _escalations_shown(s, "i-1", {"safety"})
        assert not _escalations_shown(s, "i-1", {"safety", "out_of_scope"})  # one still to come
