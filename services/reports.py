"""The SLA report: what a lead needs to see whether the promises are kept (``Reports``)."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from domain.calendar import BusinessCalendar
from domain.contact import next_contact_instant
from domain.deadlines import is_overdue, sla_met
from domain.errors import Invalid
from domain.models import CHANNELS, PHONE_CHANNELS
from services import access, members
from services.access import Principal
from services.common import now_utc
from services.context import Service
from services.public import ReportDaysPublic
from services.schemas import ChannelReport, SlaReport
from services.teams import require_team, team_config
from store import repositories as repo
from store.models import Interaction, Team

DEFAULT_RANGE = timedelta(days=30)


def _rate(num: int, den: int) -> float | None:
    return None if den == 0 else num / den


def report_range(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    """``[from, to)`` in UTC; ``to`` defaults to now and ``from`` to 30 days before ``to``."""
    try:
        to = (end or now_utc()).astimezone(UTC)
        since = start.astimezone(UTC) if start is not None else to - DEFAULT_RANGE
    except OverflowError as err:
        raise Invalid("'from' and 'to' must be within years 1 to 9999 in UTC") from err
    if to <= since:
        raise Invalid("'to' must be after 'from'")
    return since, to


def sla_report(session: Session, team_id: str, start: datetime | None, end: datetime | None) -> SlaReport:
    """The SLA figures of a team for interactions with ``from <= received_at < to``."""
    team = require_team(session, team_id)
    since, to = report_range(start, end)
    return compute_sla(session, team, since, to)


def compute_sla(session: Session, team: Team, start: datetime, end: datetime) -> SlaReport:
    """The SLA figures of ``team`` for interactions received in ``[start, end)`` (UTC)."""
    team_id = team.id
    cfg = team_config(team)
    rows = repo.interactions_received(session, team_id, start, end)
    # Holidays for every year the counted interactions were received or answered in.
    years = [r.received_at.year for r in rows] + [
        r.first_response_at.year for r in rows if r.first_response_at is not None
    ]
    cal = BusinessCalendar(cfg.calendar.snapshot(min(years) - 1, max(years) + 1)) if years else None
    now = now_utc()
    channels: dict[str, ChannelReport] = {}
    for channel in CHANNELS:
        mine = [r for r in rows if r.channel == channel]
        if channel not in PHONE_CHANNELS and not mine:
            continue  # the contract's three channels always; referrals once there are some
        channels[channel] = channel_figures(mine, cal, now)
    # Every escalation started for the counted interactions (a trigger raised again after its
    # escalation was resolved counts twice).
    escalations = repo.escalations_of_interactions(session, [r.id for r in rows])
    by_trigger = Counter(e.trigger for found in escalations.values() for e in found)
    attempted = [r for r in rows if r.attempt_count > 0]
    unreachable = sum(1 for r in attempted if "unreachable" in r.triggers)
    marked = [a for found in repo.attempts_of(session, [r.id for r in attempted]).values() for a in found]
    return SlaReport(
        team_id=team_id,
        from_=start,
        to=end,
        channels=channels,
        escalations_by_trigger=dict(by_trigger),
        unreachable_rate=_rate(unreachable, len(attempted)),
        attempts_outside_contact_window=sum(1 for a in marked if a.outside_contact_window),
        attempts_over_daily_cap=sum(1 for a in marked if a.over_daily_cap),
        blocked_by_contact_window=_blocked_by_window(session, team, rows, cal, now) if cal else 0,
    )


def answered_on_time(row: Interaction) -> bool | None:
    """Whether the case's first response kept the deadline its *first* contact had (None while
    unanswered): repeat contacts move ``due_at``, never ``first_due_at`` (docs/rules.md §2.10)."""
    return sla_met(row.first_response_at, row.first_due_at)


def _open_overdue(row: Interaction, now: datetime) -> bool:
    """Unanswered, unresolved, and past the first contact's deadline."""
    return is_overdue(row.first_due_at, row.first_response_at, now, resolved_at=row.resolved_at)


def channel_figures(
    rows: Sequence[Interaction], cal: BusinessCalendar | None, now: datetime
) -> ChannelReport:
    """The SLA figures of one channel's cases (``cal``: the team's calendar over their years;
    None only without rows). The first response is judged against the first contact's
    deadline; ``repeat_contacts`` counts the contacts merged into these cases beyond their first."""
    answered = [r for r in rows if r.first_response_at is not None]
    on_time = sum(1 for r in answered if answered_on_time(r))
    minutes = [
        cal.open_minutes_between(r.received_at, r.first_response_at)
        for r in answered
        if r.first_response_at is not None and cal is not None
    ]
    resolved = [r for r in rows if r.resolved_at is not None]
    fcr = sum(1 for r in resolved if r.first_attempt_outcome in ("reached", "replied"))
    return ChannelReport(
        received=len(rows),
        answered_on_time=on_time,
        answered_late=len(answered) - on_time,
        open_overdue=sum(1 for r in rows if _open_overdue(r, now)),
        median_first_response_business_minutes=statistics.median(minutes) if minutes else None,
        first_contact_resolution_rate=_rate(fcr, len(resolved)),
        repeat_contacts=sum(max(r.contacts - 1, 0) for r in rows),
    )


def _blocked_by_window(
    session: Session, team: Team, rows: list[Interaction], cal: BusinessCalendar, now: datetime
) -> int:
    """Cases that missed their first-response deadline while the member's contact window allowed
    no contact in business hours between receipt and the deadline (docs/rules.md §2.7): the
    deadline does not move, but these are counted apart."""
    cfg = team_config(team)
    late = [r for r in rows if answered_on_time(r) is False or _open_overdue(r, now)]
    ids = {r.member_id for r in late if r.member_id is not None}
    found = {m.id: m for m in repo.members_of(session, team.id, ids)}
    blocked = 0
    for r in late:
        zone, window = members.window_of(found.get(r.member_id or ""), cfg)
        first = (
            None
            if window is None
            else next_contact_instant(r.received_at, calendar=cal, zone=zone, window=window)
        )
        if first is None or first >= r.first_due_at:
            blocked += 1
    return blocked


FIRST_RESPONSE_BUCKETS: tuple[tuple[str, float], ...] = (
    ("under 15 min", 15),
    ("15-60 min", 60),
    ("1-4 h", 240),
    ("4-8 h", 480),
    ("over 8 h", float("inf")),
)


def first_response_distribution(
    session: Session, team_id: str, start: datetime | None, end: datetime | None
) -> dict[str, int]:
    """How many first responses took how long, in the team's open (business) minutes, for the
    interactions of the report's range; ``no response yet`` counts those still unanswered."""
    team = require_team(session, team_id)
    since, to = report_range(start, end)
    rows = repo.interactions_received(session, team_id, since, to)
    out = dict.fromkeys([name for name, _ in FIRST_RESPONSE_BUCKETS] + ["no response yet"], 0)
    years = [r.received_at.year for r in rows] + [
        r.first_response_at.year for r in rows if r.first_response_at is not None
    ]
    if not years:
        return out
    cal = BusinessCalendar(team_config(team).calendar.snapshot(min(years) - 1, max(years) + 1))
    for r in rows:
        if r.first_response_at is None:
            out["no response yet"] += 1
            continue
        minutes = cal.open_minutes_between(r.received_at, r.first_response_at)
        name = next(n for n, limit in FIRST_RESPONSE_BUCKETS if minutes < limit)
        out[name] += 1
    return out


# ---------------------------------------------------------------- the service
def _day(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{name}: expected a date such as 2026-11-01") from None


class Reports(Service):
    """Reports for every front end: leads and managers of the team, ops and the system read them."""

    async def sla(
        self, principal: Principal, team_id: str, start: datetime | None, end: datetime | None
    ) -> SlaReport:
        """The SLA figures for interactions with ``start <= received_at < end`` (default: the
        last 30 days)."""
        access.require_report_reader(principal, team_id)
        return await self.db.read(sla_report, team_id, start, end)

    async def zone(self, team_id: str) -> str:
        """The team's time zone (IANA), for showing its report's times; UTC for an unknown team."""

        def read(session: Session) -> str:
            team = repo.get_team(session, team_id)
            return team_config(team).calendar.timezone if team is not None else "UTC"

        return await self.db.read(read)

    async def days(
        self, principal: Principal, team_id: str, *, first: str | None = None, last: str | None = None
    ) -> ReportDaysPublic:
        """The report over whole days as the team reads them, ``first`` to ``last`` included, as a
        form sends them (``2026-11-01``; default: the 30 days up to today in the team's zone).
        Who may read it is checked before the days are."""
        access.require_report_reader(principal, team_id)
        from_day, to_day = _day(first, "From"), _day(last, "To")

        def read(session: Session) -> ReportDaysPublic:
            team = repo.get_team(session, team_id)
            zone = ZoneInfo("UTC" if team is None else team_config(team).calendar.timezone)
            today = self.ctx.clock().astimezone(zone).date()
            since = from_day or today - timedelta(days=29)
            until = to_day or today
            if until < since:
                raise Invalid("To: must not be before From")
            start = datetime.combine(since, time(0), tzinfo=zone)
            end = datetime.combine(until + timedelta(days=1), time(0), tzinfo=zone)
            return ReportDaysPublic(
                first=since,
                last=until,
                sla=sla_report(session, team_id, start, end),
                first_responses=first_response_distribution(session, team_id, start, end),
            )

        return await self.db.read(read)
