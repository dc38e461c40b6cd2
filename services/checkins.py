"""Check-in digests: one long-lived ``CheckinWorkflow`` per team, following its calendar."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from config.settings import Settings
from domain.ids import checkin_workflow_id
from domain.messages import CheckinInput
from domain.models import TeamConfig
from services.common import now_utc, with_deadline
from workflows.checkin import CheckinWorkflow
from workflows.search_attributes import FT_TEAM


def checkin_input(team_id: str, cfg: TeamConfig, *, around: datetime | None = None) -> CheckinInput:
    year = (around or now_utc()).year
    return CheckinInput(team_id=team_id, calendar=cfg.calendar.snapshot(year - 1, year + 2))


async def refresh_checkins(client: Client, settings: Settings, team_id: str, cfg: TeamConfig) -> None:
    """Start the team's CheckinWorkflow, or hand the running one the new calendar (signal-with-start)."""
    inp = checkin_input(team_id, cfg)
    seconds = settings.temporal_rpc_timeout_seconds
    call = client.start_workflow(
        CheckinWorkflow.run,
        inp,
        id=checkin_workflow_id(team_id),
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=TypedSearchAttributes([SearchAttributePair(FT_TEAM, team_id)]),
        static_summary=f"check-in digests of team {team_id}",
        start_signal="calendar_changed",
        start_signal_args=[inp.calendar],
        rpc_timeout=timedelta(seconds=seconds),
    )
    try:
        await with_deadline(call, seconds=seconds, what="refreshing the team's check-ins")
    except WorkflowAlreadyStartedError:
        # Two saves of the team at once: the other's signal-with-start won. Hand it this calendar.
        handle = client.get_workflow_handle(checkin_workflow_id(team_id))
        signal = handle.signal(
            CheckinWorkflow.calendar_changed, inp.calendar, rpc_timeout=timedelta(seconds=seconds)
        )
        await with_deadline(signal, seconds=seconds, what="refreshing the team's check-ins")
