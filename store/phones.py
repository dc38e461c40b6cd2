"""Phone numbers in SQL: the numbers each team answers, and members found by their phone.

Both are member or team data the inbound webhooks read (docs/channels.md); numbers are stored
in E.164 (``domain.inbound.e164``). Repositories never commit.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store.models import Member, TeamPhoneNumber


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
