"""CheckinWorkflow: one per team, sends the check-in digests (docs/rules.md §2.5).

Sleeps to the next check-in computed by ``domain.checkins`` from the calendar snapshot in its
input (opening, midday, 90 minutes before close, on business days only), has an activity
count and send the digests, and continues as new before its history grows large. A new team
configuration arrives as the ``calendar_changed`` signal (signal-with-start from the API).
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.checkins import CheckinActivities
    from domain.calendar import BusinessCalendar
    from domain.checkins import CheckinMoment, next_checkin
    from domain.messages import CheckinInput, DigestInput, TeamCalendarInput
    from domain.models import CalendarSnapshot

from workflows.common import NOTIFY_OPTIONS, PROJECTION_OPTIONS


@workflow.defn
class CheckinWorkflow:
    @workflow.init
    def __init__(self, inp: CheckinInput) -> None:
        self._inp = inp
        self._cal = BusinessCalendar(inp.calendar)
        self._last_sent_at: datetime | None = inp.last_sent_at
        self._next: CheckinMoment | None = None
        self._changed = False
        # The newest calendar a ``calendar_changed`` signal brought during this run, if any.
        self._signalled: CalendarSnapshot | None = None

    @workflow.run
    async def run(self, inp: CheckinInput) -> None:
        wid = workflow.info().workflow_id
        while True:
            if workflow.info().get_current_history_length() > inp.history_limit:
                await self._continue_as_new()
            # Never the same moment twice, and never one that a new calendar put in the past.
            after = workflow.now()
            if self._last_sent_at is not None and self._last_sent_at > after:
                after = self._last_sent_at
            moment = next_checkin(self._cal, after)
            self._next = moment
            self._changed = False
            try:
                await workflow.wait_condition(
                    lambda: self._changed,
                    timeout=(moment.at - workflow.now()).total_seconds(),
                    timeout_summary=f"{moment.kind.replace('_', ' ')} check-in, "
                    f"{moment.at:%a %d %b %H:%M} {self._cal.tz.key}",
                )
                continue  # the calendar changed: work out the next check-in again
            except TimeoutError:
                pass
            await workflow.execute_activity_method(
                CheckinActivities.send_digests,
                DigestInput(
                    workflow_id=wid,
                    team_id=inp.team_id,
                    moment=moment.kind,
                    at=moment.at,
                    day_end=moment.day_end,
                ),
                summary=f"{moment.kind.replace('_', ' ')} digests",
                **NOTIFY_OPTIONS,
            )
            self._last_sent_at = moment.at

    async def _continue_as_new(self) -> None:
        """Carry the calendar and the last moment into the next run.

        The calendar is refreshed from SQL, so holidays roll over the years, unless a
        ``calendar_changed`` signal arrived during this run: the newest signalled calendar wins.
        The API signals before it commits the team, so SQL can still hold the old calendar
        after the signal arrived (even while this very refresh runs); the next run refreshes
        from SQL again. Only the carried input differs, not the commands, so no patch is needed.
        """
        snapshot = await workflow.execute_activity_method(
            CheckinActivities.team_calendar,
            TeamCalendarInput(team_id=self._inp.team_id, around=workflow.now()),
            summary="refresh the team calendar",
            **PROJECTION_OPTIONS,
        )
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(
            self._inp.model_copy(
                update={
                    "calendar": self._signalled or snapshot or self._cal.snapshot,
                    "last_sent_at": self._last_sent_at,
                }
            )
        )

    @workflow.signal
    def calendar_changed(self, snapshot: CalendarSnapshot) -> None:
        """The team's configuration was saved: follow its new hours and closures from now on."""
        self._cal = BusinessCalendar(snapshot)
        self._signalled = snapshot
        self._changed = True

    @workflow.query
    def next_checkin_at(self) -> datetime | None:
        return None if self._next is None else self._next.at
