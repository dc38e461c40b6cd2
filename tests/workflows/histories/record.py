"""Record the committed histories the replay test checks against the current workflow code.

Run after a deliberate, versioned change to the workflows (never to hide a replay failure):

    .venv/bin/python -m tests.workflows.histories.record            # every scenario
    .venv/bin/python -m tests.workflows.histories.record checkins   # only the ones named

Each scenario plays finished cases on its own time-skipping server and database and writes
``<name>.<VERSION>.json`` for each workflow run it keeps, plus the run's workflow id in
``index.json`` (the replay test reads it). Files of an older VERSION stay: they are what runs
started before a patched change look like, and they must keep replaying.

Scenarios (see ``SCENARIOS``):

- ``ladder``: a safety concern flagged on a Saturday at 02:00, the lead silent, the manager
  notified at 02:15 and again at 02:30 and 02:45, acknowledged at 02:50, resolved with
  documentation at 03:10, then the interaction resolved (the escalation and its interaction);
- ``happy_path``: a call, a no-answer, the retry reminder, a reached attempt, resolved;
- ``coverage``: an absence moves a case to the backup at 09:00 and hands it back at 14:00
  (the absence and the covered interaction);
- ``absence_changes``: an absence extended before it starts, shortened while active, then
  cancelled (the hand-back runs inside the cancel);
- ``absence_continue_as_new``, ``interaction_continue_as_new``: small history limits, so the
  workflow continues as new (its first run, ending in continue-as-new, and its last run);
- ``contact_window`` (v4): a no-answer at 16:00 in Chicago for a member in Honolulu; the retry
  waits for 08:00 in Honolulu (the contact-window-retry patch), then reached and resolved;
- ``grouping`` (v4): three overdue notices to a lead grouped into one delivery, then the
  recipient's grouping workflow ends when idle;
- ``checkins``: a team's check-ins over a few days with a new calendar signalled, up to the
  first continue-as-new;
- ``end_after_escalations``, ``settle_race``, ``continue_as_new_suggested``: the races that
  record end-after-escalations, settle-before-run-ends and perf-continue-as-new-suggested (a
  channel that holds notices; a dev server that suggests continue-as-new). Each is recorded on
  the commit that introduced its patch: ``git worktree add /tmp/rec <commit>``, copy this file
  in, and run it there with ``PYTHONPATH=/tmp/rec`` (docs/adr/patching.md);
- ``escalation_paths`` (v6): overdue → deadline_missed, a flag, the same flag again
  (trigger_repeated), a wrong number (unreachable); the complaint escalation reassigned, the
  deadline_missed one acknowledged and past its resolve deadline (resolve_overdue);
- ``escalation_continue_as_new`` (v6): an unacknowledged escalation past a small history limit;
- ``grouping_paths`` (v6): a safety notice bypassing grouping, then a grouping workflow that
  delivers one notice at a time until it continues as new.

v7 (``ladder``, ``happy_path``, ``coverage``): runs that record ``patches-at-start`` first and no
other patch marker.

v8 (``repeat_contact``): a text, the member calling again (``contact_again``: the deadline moves
earlier), a no-answer, the member texting again after that first response (a new deadline, the
ladder starting over), a reached attempt, resolved: records ``merge-repeat-contacts``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.notifications import LogChannel
from domain.ids import absence_workflow_id, checkin_workflow_id
from domain.messages import (
    AbsenceCancelInput,
    AbsenceChangeInput,
    AbsenceInput,
    AcknowledgeInput,
    AssignInput,
    AttemptInput,
    CheckinInput,
    ContactAgainInput,
    EscalationAssignInput,
    EscalationRef,
    EscalationResolveInput,
    FlagInput,
    InteractionInput,
    InteractionState,
    ResolveInput,
)
from domain.models import TeamConfig
from store.db import make_engine, make_sessionmaker, unit_of_work
from store.migrate import upgrade
from store.models import Escalation, Staff
from store.repositories import upsert_team
from tests.conftest import CHICAGO_TEAM, advance_to, binary
from tests.workflows.support import (
    assign_update,
    at,
    eventually,
    interaction_input,
    next_weekday_at,
    resolve_update,
    settled_history_length,
    start,
    state_of,
    team,
)
from workers.client import ensure_search_attributes
from workers.main import build_worker
from workflows.absence import AbsenceWorkflow
from workflows.checkin import CheckinWorkflow
from workflows.escalation import EscalationWorkflow
from workflows.interaction import InteractionWorkflow

HERE = Path(__file__).parent
# Bump when a deliberate, patched change alters the commands; keep the older files: they are
# what runs started before the change look like, and they must still replay.
# v2: keep-unchanged-timer; v3: escalation-own-id; v4: contact-window-retry; v5: perf-lean-history
# (and the race-only patches of that line, recorded at their own commits); v6: the paths no
# older fixture covered, on the code of issue 19 (reproject signal, applied_updates); v7:
# patches-at-start; v8: merge-repeat-contacts (issue 21's repeat contacts); v9: overdue-lean
# (issue 24: an overdue case reads its rule locally, one projection with its escalation).
VERSION = "v9"
INDEX = HERE / "index.json"  # file name -> workflow id
TASK_QUEUE = "record"
Handle = WorkflowHandle[Any, Any]


@dataclass
class World:
    env: WorkflowEnvironment
    client: Client
    sessions: sessionmaker[Session]
    channel: Any = None


class HeldNotices:
    """A channel that holds every delivery while ``hold`` is set (up to a minute), so a scenario
    can keep a workflow's notice activity running: the races some patches are recorded in."""

    def __init__(self, kinds: tuple[str, ...] | None = None) -> None:
        self.kinds = kinds
        self.hold = threading.Event()
        self.released = threading.Event()

    def deliver(self, body: dict[str, Any]) -> None:
        if not self.hold.is_set():
            return
        notices = body.get("notifications", [body])
        if self.kinds is None or any(n.get("kind") in self.kinds for n in notices):
            self.released.wait(timeout=60)


@asynccontextmanager
async def world(channel: Any = None, *, dev_server_args: list[str] | None = None) -> AsyncIterator[World]:
    """A fresh database with team ``eastside`` and a time-skipping server with a worker (or, given
    ``dev_server_args``, a real-time dev server started with them)."""
    tmp = Path(tempfile.mkdtemp())
    url = f"sqlite:///{tmp / 'record.db'}"
    upgrade(url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    with unit_of_work(sessions) as s:
        cfg = TeamConfig.model_validate(CHICAGO_TEAM)
        upsert_team(s, "eastside", cfg.name, cfg.model_dump(mode="json"))
        for staff_id, role in (
            ("mgr-1", "manager"),
            ("lead-1", "lead"),
            ("chw-ana", "chw"),
            ("chw-ben", "chw"),
        ):
            s.add(Staff(id=staff_id, team_id="eastside", name=staff_id, role=role))
    channel = channel or LogChannel()
    if dev_server_args is None:
        started = WorkflowEnvironment.start_time_skipping(
            data_converter=pydantic_data_converter, test_server_existing_path=binary("temporal-test-server")
        )
    else:
        started = WorkflowEnvironment.start_local(
            data_converter=pydantic_data_converter,
            dev_server_existing_path=binary("temporal"),
            dev_server_extra_args=dev_server_args,
        )
    try:
        async with await started as env:
            await ensure_search_attributes(env.client)
            async with build_worker(env.client, task_queue=TASK_QUEUE, sessions=sessions, channel=channel):
                yield World(env, env.client, sessions, channel)
    finally:
        engine.dispose()


# ---------------------------------------------------------------- helpers
async def open_case(
    w: World, received_at: datetime, external_id: str, **over: Any
) -> tuple[InteractionInput, Handle]:
    inp = interaction_input(team(), received_at, channel="call", external_id=external_id)
    if over:
        inp = inp.model_copy(update=over)
    started = await start(w.client, inp, TASK_QUEUE)
    handle = w.client.get_workflow_handle(started.id)  # no run id: follows continue-as-new
    await eventually(lambda: state_of(handle))
    return inp, handle


async def assignee_becomes(handle: Handle, assignee: str | None) -> InteractionState:
    async def check() -> InteractionState | None:
        st = await state_of(handle)
        return st if st.assignee_id == assignee else None

    return await eventually(check)


async def resolve(handle: Handle, actor: str = "chw-ana") -> None:
    await handle.execute_update(resolve_update, ResolveInput(actor_id=actor))
    await handle.result()


async def start_absence(
    w: World, absence_id: str, starts_at: datetime, ends_at: datetime, *, history_limit: int = 2000
) -> Handle:
    started = await w.client.start_workflow(
        AbsenceWorkflow.run,
        AbsenceInput(
            absence_id=absence_id,
            team_id="eastside",
            staff_id="chw-ana",
            backup_id="chw-ben",
            starts_at=starts_at,
            ends_at=ends_at,
            history_limit=history_limit,
        ),
        id=absence_workflow_id(absence_id),
        task_queue=TASK_QUEUE,
    )
    return started


async def run_changed(handle: Handle, first_run: str) -> bool:
    return (await handle.describe()).run_id != first_run


def first_run_of(w: World, handle: Handle, run_id: str) -> Handle:
    return w.client.get_workflow_handle(handle.id, run_id=run_id)


# ---------------------------------------------------------------- scenarios
async def ladder(w: World) -> dict[str, Handle]:
    saturday = next_weekday_at(await w.env.get_current_time(), 5, 2)
    await advance_to(w.env, saturday)
    inp = interaction_input(team(), saturday, channel="voicemail", flags=["safety"], external_id="vm-rec")
    parent = await start(w.client, inp, TASK_QUEUE)

    async def found() -> Escalation | None:
        with w.sessions() as s:
            return s.query(Escalation).filter_by(interaction_id=inp.interaction_id).first()

    esc = await eventually(found)
    handle = w.client.get_workflow_handle(esc.workflow_id)
    await advance_to(w.env, saturday + timedelta(minutes=50))
    await asyncio.sleep(1)
    await handle.execute_update(
        EscalationWorkflow.acknowledge,
        AcknowledgeInput(escalation_id=esc.id, actor_id="mgr-1", actor_role="manager"),
    )
    await advance_to(w.env, saturday + timedelta(minutes=70))
    await handle.execute_update(
        EscalationWorkflow.resolve,
        EscalationResolveInput(
            escalation_id=esc.id,
            actor_id="mgr-1",
            actor_role="manager",
            action_taken_given=True,
            outcome_given=True,
        ),
    )
    await handle.result()
    await resolve(parent)
    return {"escalation_safety_night": handle, "interaction_with_escalation": parent}


async def happy_path(w: World) -> dict[str, Handle]:
    tuesday = next_weekday_at(await w.env.get_current_time(), 1, 10)
    await advance_to(w.env, tuesday)
    _, handle = await open_case(w, tuesday, "call-happy")
    await advance_to(w.env, at(tuesday, 10, 30))
    st: InteractionState = await handle.execute_update(
        InteractionWorkflow.record_attempt,
        AttemptInput(attempt_id="a-1", outcome="no_answer", staff_id="chw-ana"),
    )
    assert st.next_retry_at is not None
    await advance_to(w.env, st.next_retry_at + timedelta(minutes=1))

    async def reminded() -> bool:
        return (await state_of(handle)).retry_reminded_seq == 1

    await eventually(reminded)
    await advance_to(w.env, st.next_retry_at + timedelta(minutes=7))
    await handle.execute_update(
        InteractionWorkflow.record_attempt,
        AttemptInput(attempt_id="a-2", outcome="reached", staff_id="chw-ana"),
    )
    await resolve(handle)
    return {"interaction_happy_path": handle}


async def repeat_contact(w: World) -> dict[str, Handle]:
    monday = next_weekday_at(await w.env.get_current_time(), 0, 10)
    await advance_to(w.env, monday)
    _, handle = await open_case(w, monday, "text-repeat", channel="text")

    async def again(contact_id: str, channel: str, when: datetime) -> InteractionState:
        st: InteractionState = await handle.execute_update(
            InteractionWorkflow.contact_again,
            ContactAgainInput(contact_id=contact_id, channel=channel, at=when),
            id=f"contact_again-{contact_id}",
        )
        return st

    await advance_to(w.env, at(monday, 11))
    assert (await again("call-repeat-1", "call", at(monday, 11))).due_at == at(monday, 17)
    await advance_to(w.env, at(monday, 11, 30))
    await handle.execute_update(
        InteractionWorkflow.record_attempt,
        AttemptInput(attempt_id="a-1", outcome="no_answer", staff_id="chw-ana"),
    )
    await advance_to(w.env, at(monday, 12))
    st = await again("text-repeat-2", "text", at(monday, 12))
    assert st.awaiting_response and st.unsuccessful_attempts == 0
    await advance_to(w.env, at(monday, 12, 30))
    await handle.execute_update(
        InteractionWorkflow.record_attempt,
        AttemptInput(attempt_id="a-2", outcome="reached", staff_id="chw-ana"),
    )
    await resolve(handle)
    return {"interaction_repeat_contact": handle}


async def contact_window(w: World) -> dict[str, Handle]:
    tuesday = next_weekday_at(await w.env.get_current_time(), 1, 10)
    await advance_to(w.env, tuesday)
    _, handle = await open_case(w, tuesday, "call-contact")
    await advance_to(w.env, at(tuesday, 16))
    from domain.messages import MemberContact  # here: older commits' messages lack it

    honolulu = MemberContact(zone="Pacific/Honolulu", window_start=8 * 60, window_end=21 * 60)
    st: InteractionState = await handle.execute_update(
        InteractionWorkflow.record_attempt,
        AttemptInput(attempt_id="a-1", outcome="no_answer", staff_id="chw-ana", contact=honolulu),
    )
    assert st.retry_held_by == "contact_window" and st.next_retry_at is not None
    await advance_to(w.env, st.next_retry_at + timedelta(minutes=1))

    async def reminded() -> bool:
        return (await state_of(handle)).retry_reminded_seq == 1

    await eventually(reminded)
    await handle.execute_update(
        InteractionWorkflow.record_attempt,
        AttemptInput(attempt_id="a-2", outcome="reached", staff_id="chw-ana", contact=honolulu),
    )
    await resolve(handle)
    return {"interaction_contact_window": handle}


async def grouping(w: World) -> dict[str, Handle]:
    """Three overdue notices to lead-1 grouped into one delivery after the group wait, then the
    recipient's grouping workflow ends after an idle repeat interval."""
    import dataclasses

    from temporalio.testing import ActivityEnvironment

    from activities.notifications import NotificationActivities
    from domain.ids import group_workflow_id
    from domain.messages import NotificationRequest

    with unit_of_work(w.sessions) as s:
        cfg = TeamConfig.model_validate({**CHICAGO_TEAM, "notifications": {}})
        upsert_team(s, "eastside", cfg.name, cfg.model_dump(mode="json"))
    acts = NotificationActivities(w.sessions, LogChannel(), client=w.client)
    act_env = ActivityEnvironment()
    act_env.info = dataclasses.replace(act_env.info, task_queue=TASK_QUEUE)
    for n in range(3):
        req = NotificationRequest(
            key=f"interaction:eastside:call-{n}:deadline_missed",
            team_id="eastside",
            kind="escalation",
            recipient_id="lead-1",
            trigger="deadline_missed",
        )
        await asyncio.to_thread(act_env.run, acts.notify, req)
    handle = w.client.get_workflow_handle(group_workflow_id("eastside", "lead-1"))
    await w.env.sleep(timedelta(seconds=40))
    await w.env.sleep(timedelta(minutes=70))
    await handle.result()
    return {"notification_group": handle}


async def coverage(w: World) -> dict[str, Handle]:
    monday = next_weekday_at(await w.env.get_current_time(), 0, 8)
    await advance_to(w.env, monday)
    _, case = await open_case(w, monday, "call-covered")
    absence = await start_absence(w, "abs-coverage", at(monday, 9), at(monday, 14))
    await advance_to(w.env, at(monday, 9, 1))
    await assignee_becomes(case, "chw-ben")
    await advance_to(w.env, at(monday, 14, 1))
    await assignee_becomes(case, "chw-ana")
    await absence.result()
    await resolve(case)
    return {"absence_coverage": absence, "interaction_covered": case}


async def absence_changes(w: World) -> dict[str, Handle]:
    monday = next_weekday_at(await w.env.get_current_time(), 0, 8)
    await advance_to(w.env, monday)
    _, case = await open_case(w, monday, "call-cancel")
    absence = await start_absence(w, "abs-changes", at(monday, 9), at(monday, 12))
    await absence.execute_update(
        AbsenceWorkflow.change_end, AbsenceChangeInput(ends_at=at(monday, 12, plus_days=1), actor_id="lead-1")
    )
    await advance_to(w.env, at(monday, 9, 1))
    await assignee_becomes(case, "chw-ben")
    await advance_to(w.env, at(monday, 10, 7))
    await absence.execute_update(
        AbsenceWorkflow.change_end, AbsenceChangeInput(ends_at=at(monday, 15), actor_id="lead-1")
    )
    await advance_to(w.env, at(monday, 11, 17))
    await absence.execute_update(AbsenceWorkflow.cancel, AbsenceCancelInput(actor_id="lead-1"))
    await absence.result()
    await assignee_becomes(case, "chw-ana")
    await resolve(case)
    return {"absence_extend_cancel": absence}


async def absence_continue_as_new(w: World) -> dict[str, Handle]:
    monday = next_weekday_at(await w.env.get_current_time(), 0, 8)
    await advance_to(w.env, monday)
    absence = await start_absence(w, "abs-long", at(monday, 9), at(monday, 10), history_limit=12)
    first = (await absence.describe()).run_id
    for minutes in (11, 12, 13):  # each change adds history: the absence continues as new
        await absence.execute_update(
            AbsenceWorkflow.change_end, AbsenceChangeInput(ends_at=at(monday, minutes))
        )
    latest = w.client.get_workflow_handle(absence.id)
    await eventually(lambda: run_changed(latest, first))
    await advance_to(w.env, at(monday, 13, 1))
    await latest.result()
    return {
        "absence_continued_first_run": first_run_of(w, absence, first),
        "absence_continued_last_run": latest,
    }


async def interaction_continue_as_new(w: World) -> dict[str, Handle]:
    monday = next_weekday_at(await w.env.get_current_time(), 0, 8)
    await advance_to(w.env, monday)
    _, case = await open_case(w, monday, "call-long", history_limit=15)
    first = (await case.describe()).run_id
    for n in range(8):  # reassignments add history until the case continues as new
        if await run_changed(case, first):
            break
        await case.execute_update(
            assign_update,
            AssignInput(assignee_id="chw-ben" if n % 2 == 0 else "chw-ana", actor_id="lead-1"),
        )
        # Let the run settle (its notices finish) before the next change, so no update lands
        # while a run is handing over to the next.
        await settled_history_length(case)
    await eventually(lambda: run_changed(case, first))
    await resolve(case, actor="lead-1")
    return {
        "interaction_continued_first_run": first_run_of(w, case, first),
        "interaction_continued_last_run": case,
    }


async def checkins(w: World) -> dict[str, Handle]:
    tuesday = next_weekday_at(await w.env.get_current_time(), 1, 6)
    await advance_to(w.env, tuesday)
    calendar = team().calendar.snapshot(tuesday.year - 1, tuesday.year + 2)
    started = await w.client.start_workflow(
        CheckinWorkflow.run,
        CheckinInput(team_id="eastside", calendar=calendar, history_limit=20),
        id=checkin_workflow_id("eastside"),
        task_queue=TASK_QUEUE,
    )
    first = (await started.describe()).run_id
    handle = w.client.get_workflow_handle(started.id)
    await advance_to(w.env, at(tuesday, 9, 1))
    await eventually(lambda: _next_checkin_after(handle, at(tuesday, 9, 1)))
    later = calendar.model_copy(
        update={"hours": {d: [("10:00", "18:00")] for d in ("mon", "tue", "wed", "thu", "fri")}}
    )
    await handle.signal(CheckinWorkflow.calendar_changed, later)
    for _ in range(20):
        if await run_changed(handle, first):
            break
        nxt = await eventually(
            lambda: _next_checkin_after(handle, datetime.min.replace(tzinfo=tuesday.tzinfo))
        )
        await advance_to(w.env, nxt + timedelta(minutes=1))
        await eventually(lambda n=nxt: _next_checkin_after(handle, n))  # type: ignore[misc]
    await eventually(lambda: run_changed(handle, first))
    await handle.terminate("recorded")  # check-ins never finish on their own
    return {"checkin_continued_first_run": first_run_of(w, started, first)}


async def _next_checkin_after(handle: Handle, after: datetime) -> datetime | None:
    nxt: datetime | None = await handle.query(CheckinWorkflow.next_checkin_at)
    return nxt if nxt is not None and nxt > after else None


# ---------------------------------------------------------------- v6: paths in no older fixture
def _resolved_by(escalation_id: str, actor_id: str, role: str) -> EscalationResolveInput:
    return EscalationResolveInput(
        escalation_id=escalation_id,
        actor_id=actor_id,
        actor_role=role,
        action_taken_given=True,
        outcome_given=True,
    )


async def _escalation(handle: Handle, trigger: str) -> EscalationRef:
    async def found() -> EscalationRef | None:
        st = await state_of(handle)
        return next((e for e in st.escalations if e.trigger == trigger), None)

    return await eventually(found)


async def escalation_paths(w: World) -> dict[str, Handle]:
    """A case missing its deadline (overdue: a deadline_missed escalation), flagged (a complaint
    escalation), flagged again while that one is open (trigger_repeated), a wrong number
    (unreachable: a third escalation). The complaint is reassigned by a lead (escalation assign);
    the deadline_missed one is acknowledged and passes its resolve deadline (resolve_overdue)."""
    tuesday = next_weekday_at(await w.env.get_current_time(), 1, 10)
    await advance_to(w.env, tuesday)
    _, case = await open_case(w, tuesday, "call-paths")
    due = (await state_of(case)).due_at
    await advance_to(w.env, due + timedelta(minutes=1))
    missed = await _escalation(case, "deadline_missed")
    await case.execute_update(
        InteractionWorkflow.flag, FlagInput(flag="complaint", flag_id="f-1", staff_id="chw-ana")
    )
    complaint = await _escalation(case, "complaint")
    await case.execute_update(
        InteractionWorkflow.flag, FlagInput(flag="complaint", flag_id="f-2", staff_id="chw-ana")
    )
    await case.execute_update(
        InteractionWorkflow.record_attempt,
        AttemptInput(attempt_id="a-1", outcome="wrong_number", staff_id="chw-ana"),
    )
    unreachable = await _escalation(case, "unreachable")
    complaint_wf = w.client.get_workflow_handle(complaint.workflow_id)
    await complaint_wf.execute_update(
        EscalationWorkflow.assign,
        EscalationAssignInput(
            escalation_id=complaint.escalation_id, owner_id="mgr-1", actor_id="lead-1", actor_role="lead"
        ),
    )
    missed_wf = w.client.get_workflow_handle(missed.workflow_id)
    await missed_wf.execute_update(
        EscalationWorkflow.acknowledge,
        AcknowledgeInput(escalation_id=missed.escalation_id, actor_id="lead-1", actor_role="lead"),
    )
    await advance_to(w.env, at(tuesday, 16, plus_days=2))  # past the business-hours resolve deadline

    async def resolve_overdue_sent() -> bool:
        return bool((await missed_wf.query(EscalationWorkflow.state)).resolve_overdue_notified)

    await eventually(resolve_overdue_sent)
    await missed_wf.execute_update(
        EscalationWorkflow.resolve, _resolved_by(missed.escalation_id, "lead-1", "lead")
    )
    await complaint_wf.execute_update(
        EscalationWorkflow.resolve, _resolved_by(complaint.escalation_id, "mgr-1", "manager")
    )
    unreachable_wf = w.client.get_workflow_handle(unreachable.workflow_id)
    await unreachable_wf.execute_update(
        EscalationWorkflow.resolve, _resolved_by(unreachable.escalation_id, "lead-1", "lead")
    )
    for handle in (missed_wf, complaint_wf, unreachable_wf):
        await handle.result()
    await resolve(case)
    return {
        "interaction_escalation_paths": case,
        "escalation_resolve_overdue": missed_wf,
        "escalation_assigned": complaint_wf,
        "escalation_unreachable": unreachable_wf,
    }


async def escalation_continue_as_new(w: World) -> dict[str, Handle]:
    """A complaint nobody acknowledges: level 2, then repeats, until the escalation (small history
    limit, from its case) continues as new; then acknowledged and resolved on its new run."""
    tuesday = next_weekday_at(await w.env.get_current_time(), 1, 9)
    await advance_to(w.env, tuesday)
    _, case = await open_case(w, tuesday, "call-esc-long", flags=["complaint"], history_limit=30)
    ref = await _escalation(case, "complaint")
    esc = w.client.get_workflow_handle(ref.workflow_id)
    first = (await esc.describe()).run_id
    for hour in range(10, 17):
        if await run_changed(esc, first):
            break
        await advance_to(w.env, at(tuesday, hour, 1))
        await settled_history_length(esc)
    await eventually(lambda: run_changed(esc, first))
    await esc.execute_update(
        EscalationWorkflow.acknowledge,
        AcknowledgeInput(escalation_id=ref.escalation_id, actor_id="mgr-1", actor_role="manager"),
    )
    await esc.execute_update(EscalationWorkflow.resolve, _resolved_by(ref.escalation_id, "mgr-1", "manager"))
    await esc.result()
    await resolve(case)
    return {
        "escalation_continued_first_run": first_run_of(w, esc, first),
        "escalation_continued_last_run": esc,
    }


async def grouping_paths(w: World) -> dict[str, Handle]:
    """A team with a notification policy: a safety notice bypasses grouping (delivered at once,
    alone, never reaching the grouping workflow), then enough grouped notices, one per delivery,
    that the recipient's grouping workflow passes its history limit and continues as new; the
    last run ends when idle."""
    import dataclasses

    from temporalio.testing import ActivityEnvironment

    from activities.notifications import NotificationActivities
    from domain.ids import group_workflow_id
    from domain.messages import NotificationRequest
    from workflows.notification_group import HISTORY_LIMIT

    with unit_of_work(w.sessions) as s:
        cfg = TeamConfig.model_validate(
            {**CHICAGO_TEAM, "notifications": {"max_items_per_delivery": 1, "group_wait_seconds": 30}}
        )
        upsert_team(s, "eastside", cfg.name, cfg.model_dump(mode="json"))
    acts = NotificationActivities(w.sessions, LogChannel(), client=w.client)
    act_env = ActivityEnvironment()
    act_env.info = dataclasses.replace(act_env.info, task_queue=TASK_QUEUE)

    def notice(n: int, trigger: str) -> NotificationRequest:
        return NotificationRequest(
            key=f"interaction:eastside:call-g{n}:{trigger}",
            team_id="eastside",
            kind="escalation",
            recipient_id="lead-1",
            trigger=trigger,
        )

    await asyncio.to_thread(act_env.run, acts.notify, notice(0, "safety"))  # bypass
    handle = w.client.get_workflow_handle(group_workflow_id("eastside", "lead-1"))
    # Each delivery adds about six events: this many carry the run past its limit in one group.
    count = HISTORY_LIMIT // 6 + 20

    def many() -> None:
        for n in range(1, count + 1):
            act_env.run(acts.notify, notice(n, "deadline_missed"))

    await asyncio.to_thread(many)
    first = (await handle.describe()).run_id
    await w.env.sleep(timedelta(seconds=40))
    await eventually(lambda: run_changed(handle, first), within=120)
    await w.env.sleep(timedelta(minutes=70))
    await handle.result()
    return {"notification_group_continued_first_run": first_run_of(w, handle, first)}


# ---------------------------------------------------------------- patches recorded only in a race
# Each is recorded on the commit that introduced its patch (a git worktree of it, running this
# recorder copied in with VERSION set to that commit's), see docs/adr/patching.md.
async def end_after_escalations(w: World) -> dict[str, Handle]:
    """end-after-escalations (b1c0191): a lead resolves the escalation and the CHW the case at
    once, while the escalation's workflow still drains its notice (held by the channel), so the
    case's run records the patch and ends only after the escalation's."""
    assert isinstance(w.channel, HeldNotices)
    tuesday = next_weekday_at(await w.env.get_current_time(), 1, 10)
    await advance_to(w.env, tuesday)
    w.channel.hold.set()
    inp, case = await open_case(w, tuesday, "call-ends-after", flags=["complaint"])

    async def found() -> Escalation | None:
        with w.sessions() as s:
            return s.query(Escalation).filter_by(interaction_id=inp.interaction_id).first()

    esc = await eventually(found)
    child = w.client.get_workflow_handle(esc.workflow_id)
    await child.execute_update(
        EscalationWorkflow.resolve,
        EscalationResolveInput(
            escalation_id=esc.id,
            actor_id="lead-1",
            actor_role="lead",
            action_taken_given=True,
            outcome_given=True,
        ),
    )
    await case.execute_update(resolve_update, ResolveInput(actor_id="chw-ana"))
    await asyncio.sleep(1.0)  # the case's run would have ended by now without the patch
    w.channel.released.set()
    await child.result()
    await case.result()
    return {"interaction_ends_after_escalation": case}


async def settle_race(w: World) -> dict[str, Handle]:
    """settle-before-run-ends (97080a6): a case past its history limit is draining its notices
    (held by the channel) before it continues as new when a lead reassigns it; the new notice
    makes the run record the patch and wait for it before continuing as new."""
    assert isinstance(w.channel, HeldNotices)
    tuesday = next_weekday_at(await w.env.get_current_time(), 1, 10)
    await advance_to(w.env, tuesday)
    w.channel.hold.set()
    limit = 15
    _, case = await open_case(w, tuesday, "call-settle", history_limit=limit)
    first = (await case.describe()).run_id
    run = first_run_of(w, case, first)
    assignees = iter(["chw-ben", "chw-ana"] * 20)

    async def reassign() -> None:
        await case.execute_update(assign_update, AssignInput(assignee_id=next(assignees), actor_id="lead-1"))

    while len((await run.fetch_history()).events) <= limit:
        await reassign()
    await reassign()  # wakes the loop past its limit: it starts draining the held notices
    await asyncio.sleep(1.0)
    assert not await run_changed(case, first)
    await reassign()  # accepted while the run drains; its notice is sent after the drain began
    w.channel.released.set()
    await eventually(lambda: run_changed(case, first))
    await resolve(case, actor="lead-1")
    return {"interaction_settle_race_first_run": run}


async def continue_as_new_suggested(w: World) -> dict[str, Handle]:
    """perf-continue-as-new-suggested (d33924a): on a dev server that suggests continue-as-new
    past a few events (``limit.historyCount.suggestContinueAsNew``), a case far below its own
    history limit continues as new on the server's suggestion."""
    now = await w.env.get_current_time()
    _, case = await open_case(w, now, "call-suggested")
    first = (await case.describe()).run_id
    for n in range(20):
        if await run_changed(case, first):
            break
        await case.execute_update(
            assign_update,
            AssignInput(assignee_id="chw-ben" if n % 2 == 0 else "chw-ana", actor_id="lead-1"),
        )
        await settled_history_length(case)
    await eventually(lambda: run_changed(case, first))
    return {"interaction_suggested_first_run": first_run_of(w, case, first)}


SCENARIOS: dict[str, Callable[[World], Awaitable[dict[str, Handle]]]] = {
    "ladder": ladder,
    "happy_path": happy_path,
    "coverage": coverage,
    "absence_changes": absence_changes,
    "absence_continue_as_new": absence_continue_as_new,
    "interaction_continue_as_new": interaction_continue_as_new,
    "checkins": checkins,
    "contact_window": contact_window,
    "grouping": grouping,
    "end_after_escalations": end_after_escalations,
    "settle_race": settle_race,
    "continue_as_new_suggested": continue_as_new_suggested,
    "escalation_paths": escalation_paths,
    "escalation_continue_as_new": escalation_continue_as_new,
    "grouping_paths": grouping_paths,
    "repeat_contact": repeat_contact,
}
# Scenarios that need a world of their own (a channel that holds notices, a dev server).
SUGGEST_AFTER_EVENTS = 30
WORLDS: dict[str, Callable[[], AbstractAsyncContextManager[World]]] = {
    "end_after_escalations": lambda: world(HeldNotices(kinds=("escalation",))),
    "settle_race": lambda: world(HeldNotices()),
    "continue_as_new_suggested": lambda: world(
        dev_server_args=[
            "--dynamic-config-value",
            f"limit.historyCount.suggestContinueAsNew={SUGGEST_AFTER_EVENTS}",
        ]
    ),
}


async def main(names: list[str]) -> None:
    unknown = sorted(set(names) - set(SCENARIOS))
    if unknown:
        raise SystemExit(f"unknown scenario(s) {unknown}; known: {sorted(SCENARIOS)}")
    index: dict[str, str] = json.loads(INDEX.read_text()) if INDEX.exists() else {}
    for name in names or list(SCENARIOS):
        async with WORLDS.get(name, world)() as w:
            runs = await SCENARIOS[name](w)
            for stem, handle in runs.items():
                path = HERE / f"{stem}.{VERSION}.json"
                path.write_text((await handle.fetch_history()).to_json())
                index[path.name] = handle.id
                print(f"{name}: wrote {path.name}")
        INDEX.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
