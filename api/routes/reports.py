"""SLA report (SPEC 4.3): what a lead needs to see whether the promises are kept."""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime
from sqlalchemy.orm import Session

from api import errors, service
from api.deps import PrincipalDep, SessionDep
from api.schemas import ChannelReport, SlaReport
from domain.calendar import BusinessCalendar
from domain.models import CHANNELS
from store import repositories as repo
from store.models import Team

router = APIRouter(prefix="/v1/reports", tags=["reports"])


def _rate(num: int, den: int) -> float | None:
    return None if den == 0 else num / den


@router.get("/sla", response_model_by_alias=True)
def sla_report(
    principal: PrincipalDep,
    session: SessionDep,
    team_id: str,
    from_: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    to: AwareDatetime | None = None,
) -> SlaReport:
    """Counts interactions with ``from <= received_at < to`` (default: the last 30 days)."""
    principal.require(
        principal.role in ("system", "ops") or principal.is_team_lead(team_id),
        "only leads and managers of the team, ops or the system read reports",
    )
    team = service.require_team(session, team_id)
    try:
        end = (to or service.now_utc()).astimezone(UTC)
        start = from_.astimezone(UTC) if from_ is not None else end - timedelta(days=30)
    except OverflowError as err:
        raise errors.invalid("'from' and 'to' must be within years 1 to 9999 in UTC") from err
    if end <= start:
        raise errors.invalid("'to' must be after 'from'")
    return compute_sla(session, team, start, end)


def compute_sla(session: Session, team: Team, start: datetime, end: datetime) -> SlaReport:
    """The SLA figures of ``team`` for interactions received in ``[start, end)`` (UTC)."""
    team_id = team.id
    cfg = service.team_config(team)
    rows = repo.interactions_received(session, team_id, start, end)
    # Holidays for every year the counted interactions were received or answered in.
    years = [r.received_at.year for r in rows] + [
        r.first_response_at.year for r in rows if r.first_response_at is not None
    ]
    cal = BusinessCalendar(cfg.calendar.snapshot(min(years) - 1, max(years) + 1)) if years else None
    now = service.now_utc()
    channels: dict[str, ChannelReport] = {}
    for channel in CHANNELS:
        mine = [r for r in rows if r.channel == channel]
        answered = [r for r in mine if r.first_response_at is not None]
        on_time = sum(
            1 for r in answered if r.first_response_at is not None and r.first_response_at <= r.due_at
        )
        minutes = [
            cal.open_minutes_between(r.received_at, r.first_response_at)
            for r in answered
            if r.first_response_at is not None and cal is not None
        ]
        resolved = [r for r in mine if r.resolved_at is not None]
        fcr = sum(1 for r in resolved if r.first_attempt_outcome in ("reached", "replied"))
        channels[channel] = ChannelReport(
            received=len(mine),
            answered_on_time=on_time,
            answered_late=len(answered) - on_time,
            open_overdue=sum(
                1 for r in mine if r.first_response_at is None and r.resolved_at is None and r.due_at < now
            ),
            median_first_response_business_minutes=statistics.median(minutes) if minutes else None,
            first_contact_resolution_rate=_rate(fcr, len(resolved)),
        )
    # Every escalation started for the counted interactions (a trigger raised again after its
    # escalation was resolved counts twice).
    escalations = repo.escalations_of_interactions(session, [r.id for r in rows])
    by_trigger = Counter(e.trigger for found in escalations.values() for e in found)
    attempted = [r for r in rows if r.attempt_count > 0]
    unreachable = sum(1 for r in attempted if "unreachable" in r.triggers)
    return SlaReport(
        team_id=team_id,
        from_=start,
        to=end,
        channels=channels,
        escalations_by_trigger=dict(by_trigger),
        unreachable_rate=_rate(unreachable, len(attempted)),
    )
