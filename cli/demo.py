"""The demo cases `followthrough dev` opens, so that the first run shows the product: one case in
each state the console shows (due, due soon, breached, waiting to retry, unreachable, resolved), a
safety escalation, an absence with a backup, and a caller the team does not know.

Every step is a service command (``services.*``) as the system, recorded as done by the demo's
CHW where a person would act. Idempotent: a case is started under a fixed external id (a repeat
answers the stored case, and its steps are not run again) and the absence under a fixed key, so a
second `make run` adds nothing. The members' names and numbers are in ``config/demo_team.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from domain.calendar import BusinessCalendar
from domain.deadlines import due_at
from domain.errors import NotFound
from domain.models import Flag, Outcome, PhoneChannel, TeamConfig
from services.absences import Absences
from services.access import Principal
from services.common import operation_id
from services.context import Context
from services.interactions import Interactions
from services.operations import Operation
from services.public import AttemptCreate, FlagCreate, ResolveCreate
from services.schemas import AbsenceCreate, CaseStart

ABSENCE_KEY = "demo:absence:chw-ben"
# How far back the "due soon" case's receipt is looked for (5-minute steps).
_SEARCH = timedelta(days=3)
_STEP = timedelta(minutes=5)


@dataclass(frozen=True)
class DemoCase:
    external_id: str
    member_id: str | None
    channel: PhoneChannel
    summary: str
    received: str  # "now", "due soon" or "a week ago"
    urgent: bool = False
    # What the CHW does next, in this order: an attempt, a flag, resolving.
    attempt: Outcome | None = None
    flag: Flag | None = None
    resolution: str | None = None
    caller_phone: str | None = None


CASES: tuple[DemoCase, ...] = (
    DemoCase("demo-due", "mem-1001", "text", "Asked when the food pantry opens", "now"),
    DemoCase("demo-due-soon", "mem-1002", "text", "Needs a ride to dialysis", "due soon", urgent=True),
    # mem-1003 belongs to Ben, who is away: the case goes to his backup, Ana.
    DemoCase("demo-absence", "mem-1003", "voicemail", "Question about a prescription refill", "now"),
    DemoCase("demo-unassigned", "mem-1004", "call", "Wants help with a utility bill", "now"),
    DemoCase("demo-breached", "mem-1009", "call", "Missed appointment, wants to rebook", "a week ago"),
    DemoCase("demo-retry", "mem-1005", "call", "Housing application follow-up", "now", attempt="no_answer"),
    DemoCase(
        "demo-unreachable",
        "mem-1006",
        "voicemail",
        "Asked about a food voucher",
        "now",
        attempt="wrong_number",
    ),
    DemoCase(
        "demo-resolved",
        "mem-1007",
        "call",
        "Needed the clinic's new address",
        "now",
        attempt="reached",
        resolution="Gave her the clinic's new address",
    ),
    DemoCase("demo-safety", "mem-1008", "call", "Partner threatened her", "now", flag="safety"),
    DemoCase(
        "demo-unknown",
        None,
        "call",
        "Missed call from a number the team does not know",
        "now",
        caller_phone="+13125550199",
    ),
)


@dataclass
class Seeded:
    """What one run of ``seed`` did: the cases it opened (external ids) and whether it planned
    the absence; both empty on a repeat."""

    created: list[str] = field(default_factory=list)
    absence: bool = False


def due_soon_receipt(cfg: TeamConfig, now: datetime) -> datetime:
    """When an urgent text must have come in to be due within the team's due-soon time from
    ``now``: the latest such moment of the last days. When the team's calendar allows none (it
    is closed for the coming hour), ``now``: the case is then the one due soonest."""
    calendar = BusinessCalendar.from_config(cfg.calendar, around=now.date())
    soon = timedelta(minutes=cfg.policy.due_soon_minutes)
    at = now.replace(second=0, microsecond=0)
    while now - at <= _SEARCH:
        due = due_at(at, "text", urgent=True, calendar=calendar, policy=cfg.policy)
        if now + timedelta(minutes=5) < due <= now + soon - timedelta(minutes=5):
            return at
        at -= _STEP
    return now


def _received(case: DemoCase, cfg: TeamConfig, now: datetime) -> datetime:
    if case.received == "due soon":
        return due_soon_receipt(cfg, now)
    if case.received == "a week ago":
        return now - timedelta(days=7)
    return now


async def seed(
    ctx: Context, team_id: str, cfg: TeamConfig, *, chw_id: str, away_id: str, now: datetime | None = None
) -> Seeded:
    """Open the demo cases of ``team_id`` (once): ``chw_id`` acts on them, ``away_id`` is away
    (backed up by ``chw_id``) from now for three days."""
    now = now or datetime.now(UTC)
    system = Principal(role="system")
    chw = Principal(role="chw", staff_id=chw_id, team_id=team_id)
    done = Seeded()
    absences = Absences(ctx)
    try:
        await absences.get(system, operation_id("absence", ABSENCE_KEY))
    except NotFound:
        body = AbsenceCreate(
            staff_id=away_id,
            backup_id=chw_id,
            starts_at=now - timedelta(minutes=1),
            ends_at=now + timedelta(days=3),
            reason="Training (demo)",
        )
        await absences.create(system, body, Operation(ABSENCE_KEY))
        done.absence = True
    cases = Interactions(ctx)
    for case in CASES:
        start = CaseStart(
            team_id=team_id,
            external_id=case.external_id,
            member_id=case.member_id,
            channel=case.channel,
            received_at=_received(case, cfg, now),
            urgent=case.urgent,
            summary=case.summary,
            caller_phone=case.caller_phone,
        )
        started = await cases.start(system, start)
        if started.status != 201:
            continue  # there already: its steps ran when it was opened
        done.created.append(case.external_id)
        iid = started.value.id
        key = f"demo:{case.external_id}"
        if case.attempt is not None:
            await cases.record_attempt(
                chw, iid, AttemptCreate(outcome=case.attempt), Operation(f"{key}:attempt")
            )
        if case.flag is not None:
            await cases.flag(chw, iid, FlagCreate(flag=case.flag), Operation(f"{key}:flag"))
        if case.resolution is not None:
            await cases.resolve(
                chw, iid, ResolveCreate(resolution=case.resolution), Operation(f"{key}:resolve")
            )
    return done
