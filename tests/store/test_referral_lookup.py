"""``If-None-Exist`` finds a referral by its referrer's identifier value, kept in the case's
JSON ``referral`` column: the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from store.db import unit_of_work
from store.models import Interaction
from store.repositories import referrals_by_identifier_value


def _referral(cid: str, value: str, channel: str = "referral") -> Interaction:
    now = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    return Interaction(
        id=cid,
        workflow_id=f"interaction:eastside:{cid}",
        team_id="eastside",
        external_id=cid,
        member_id="mem-1",
        channel=channel,
        received_at=now,
        due_at=now,
        referral={"identifier": {"system": "https://plan.example.org", "value": value}, "requester": None},
        created_at=now,
        updated_at=now,
    )


def test_a_referral_is_found_by_its_identifiers_value(sessions: sessionmaker[Session]) -> None:
    with unit_of_work(sessions) as s:
        s.add_all([_referral("r1", "R-1"), _referral("r2", "R-2"), _referral("c1", "R-1", channel="call")])
    with sessions() as s:
        assert [r.id for r in referrals_by_identifier_value(s, "R-1")] == ["r1"]
        assert referrals_by_identifier_value(s, "R-3") == []
