"""Activities of CheckinWorkflow: count each on-duty staff member's queue and send the digests.

Counts are read from the SQL read model as of the check-in instant (not the machine clock),
and each digest goes through the outbox under ``{workflow id}:{instant}:digest:{recipient}``,
so a retried activity never sends a digest twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from activities.notifications import NotificationActivities
from domain.messages import ACTIVE_INTERACTION_STATUSES, DigestInput, NotificationRequest, TeamCalendarInput
from domain.models import CalendarSnapshot, TeamConfig
from store import repositories as repo
from store.models import Interaction

log = structlog.get_logger(__name__)

# The unassigned queue's ids travel in the leads' digest up to this many (the count is exact).
UNASSIGNED_IDS_IN_DIGEST = 50


@dataclass(frozen=True)
class QueueCounts:
    open: int = 0
    due_today: int = 0
    overdue: int = 0
    retries_due: int = 0

    def as_details(self) -> dict[str, int]:
        return {
            "open": self.open,
            "due_today": self.due_today,
            "overdue": self.overdue,
            "retries_due": self.retries_due,
        }


def queue_counts(
    session: Session, team_id: str, at: datetime, day_end: datetime
) -> dict[str | None, QueueCounts]:
    """Per assignee (None = the unassigned queue): open, due today, overdue, retries due.

    *Due today* is still unanswered and due after ``at``, by the end of the local day;
    *overdue* is ``domain.deadlines.is_overdue`` at ``at`` (its SQL form); *retries due* has its
    next attempt due by the end of the day.
    """
    unanswered = Interaction.first_response_at.is_(None)
    rows = session.execute(
        select(
            Interaction.assignee_id,
            func.count(),
            func.sum(
                case((and_(unanswered, Interaction.due_at > at, Interaction.due_at < day_end), 1), else_=0)
            ),
            func.sum(case((repo.overdue_clause(at), 1), else_=0)),
            func.sum(
                case(
                    (and_(Interaction.next_retry_at.is_not(None), Interaction.next_retry_at < day_end), 1),
                    else_=0,
                )
            ),
        )
        .where(Interaction.team_id == team_id, Interaction.status.in_(ACTIVE_INTERACTION_STATUSES))
        .group_by(Interaction.assignee_id)
    )
    return {
        assignee: QueueCounts(int(n), int(today or 0), int(late or 0), int(retries or 0))
        for assignee, n, today, late, retries in rows
    }


class CheckinActivities:
    """Reads the queue and staff, and writes digests through the notification outbox."""

    def __init__(self, sessions: sessionmaker[Session], notifications: NotificationActivities) -> None:
        self._sessions = sessions
        self._notifications = notifications

    @activity.defn(name="send_digests")
    def send_digests(self, inp: DigestInput) -> int:
        """One digest per on-duty CHW and lead; leads also get the unassigned queue. Returns how many."""
        requests = self._digests(inp)
        for req in requests:
            self._notifications.notify(req)
        log.info("checkin.digests_sent", team_id=inp.team_id, moment=inp.moment, recipients=len(requests))
        return len(requests)

    def _digests(self, inp: DigestInput) -> list[NotificationRequest]:
        with self._sessions() as session:
            staff = repo.team_staff(session, inp.team_id)
            away = repo.absent_staff_at(session, inp.team_id, inp.at)
            counts = queue_counts(session, inp.team_id, inp.at, inp.day_end)
            on_duty = [s for s in staff if s.id not in away]
            chws = [s.id for s in on_duty if s.role == "chw"]
            # No lead on duty: the unassigned queue goes to the managers on duty instead.
            leads = [s.id for s in on_duty if s.role == "lead"] or [
                s.id for s in on_duty if s.role == "manager"
            ]
            unassigned: list[str] = []
            if leads:
                unassigned = list(
                    session.scalars(
                        select(Interaction.id)
                        .where(
                            Interaction.team_id == inp.team_id,
                            Interaction.status.in_(ACTIVE_INTERACTION_STATUSES),
                            Interaction.assignee_id.is_(None),
                        )
                        .order_by(Interaction.due_at, Interaction.id)
                        .limit(UNASSIGNED_IDS_IN_DIGEST)
                    )
                )
        base: dict[str, Any] = {"moment": inp.moment, "at": inp.at.isoformat()}
        requests = []
        for staff_id in [*chws, *leads]:
            details = {**base, **counts.get(staff_id, QueueCounts()).as_details()}
            if staff_id in leads:
                details["unassigned"] = counts.get(None, QueueCounts()).open
                details["unassigned_ids"] = unassigned
            requests.append(
                NotificationRequest(
                    key=f"{inp.workflow_id}:{inp.at.isoformat()}:digest",
                    team_id=inp.team_id,
                    kind="digest",
                    recipient_id=staff_id,
                    details=details,
                )
            )
        return requests

    @activity.defn(name="team_calendar")
    def team_calendar(self, inp: TeamCalendarInput) -> CalendarSnapshot | None:
        """The team's calendar with holidays resolved around ``around`` (None if the team is gone)."""
        with self._sessions() as session:
            team = repo.get_team(session, inp.team_id)
            if team is None:
                return None
            cfg = TeamConfig.model_validate(team.config)
        year = inp.around.year
        return cfg.calendar.snapshot(year - 1, year + 2)
