"""Phone numbers in SQL: the numbers each team answers, and members found by their phone.

Both are member or team data the inbound webhooks read (docs/channels.md); numbers are stored
in E.164 (``domain.inbound.e164``). Also the last text keyword each number sent a team
(``remember_keyword``), for the member who gets that number later. Repositories never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store.models import Member, PhoneConsent, TeamPhoneNumber


class NumberTaken(Exception):
    """Another team answers this number (the message never names that team)."""

    def __init__(self, number: str) -> None:
        super().__init__(number)
        self.number = number


def claim_numbers(session: Session, team_id: str, numbers: Sequence[str]) -> None:
    """Make ``numbers`` exactly the numbers ``team_id`` answers; ``NumberTaken`` when another team
    holds one (also when it claims it at the same moment: the number is the primary key)."""
    wanted = set(numbers)
    if wanted:
        taken = session.scalar(
            select(TeamPhoneNumber.number)
            .where(TeamPhoneNumber.number.in_(sorted(wanted)), TeamPhoneNumber.team_id != team_id)
            .order_by(TeamPhoneNumber.number)
            .limit(1)
        )
        if taken is not None:
            raise NumberTaken(taken)
    session.execute(
        delete(TeamPhoneNumber).where(
            TeamPhoneNumber.team_id == team_id, TeamPhoneNumber.number.not_in(sorted(wanted))
        )
    )
    held = set(session.scalars(select(TeamPhoneNumber.number).where(TeamPhoneNumber.team_id == team_id)))
    new = sorted(wanted - held)
    session.add_all(TeamPhoneNumber(number=number, team_id=team_id) for number in new)
    try:
        session.flush()
    except IntegrityError as err:  # another team claimed one of them since the check above
        raise NumberTaken(" or ".join(new)) from err


def team_of_number(session: Session, number: str) -> str | None:
    """The team that answers ``number`` (E.164), if any."""
    found: str | None = session.scalar(
        select(TeamPhoneNumber.team_id).where(TeamPhoneNumber.number == number)
    )
    return found


def members_with_phone(session: Session, team_id: str, phone: str) -> list[Member]:
    """The team's members whose profile phone is ``phone`` (E.164), by id: usually one; a
    household sharing a phone gives several."""
    return list(
        session.scalars(
            select(Member).where(Member.team_id == team_id, Member.phone == phone).order_by(Member.id)
        )
    )


def remember_keyword(
    session: Session,
    team_id: str,
    phone: str,
    status: Literal["refused", "granted"],
    at: datetime,
    source: str,
) -> None:
    """Remember that ``phone`` sent ``team_id`` a text keyword at ``at``: ``refused`` (STOP, …)
    or ``granted`` (START, UNSTOP: the refusal is cleared). A keyword older than the one
    remembered changes nothing (texts can arrive out of order), also when two arrive at once (an
    upsert: the database orders the writers)."""
    name = session.get_bind().dialect.name
    insert = postgresql.insert if name == "postgresql" else sqlite.insert
    stmt = insert(PhoneConsent).values(
        team_id=team_id, phone=phone, status=status, at=at, source=source, updated_at=datetime.now(UTC)
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=[PhoneConsent.team_id, PhoneConsent.phone],
            set_={
                "status": stmt.excluded.status,
                "at": stmt.excluded.at,
                "source": stmt.excluded.source,
                "updated_at": stmt.excluded.updated_at,
            },
            where=PhoneConsent.at <= stmt.excluded.at,
        )
    )


def refused_by_number(session: Session, team_id: str, phone: str) -> PhoneConsent | None:
    """The STOP ``phone`` sent the team, unless a START from it cleared it since."""
    found = session.get(PhoneConsent, (team_id, phone))
    return found if found is not None and found.status == "refused" else None
