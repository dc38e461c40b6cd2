"""What each console page shows: the services' answers (``services.public``) turned into what the
templates show (local times, a case's state, attempts out of the most allowed).

The queues and the case page read through ``services.queues.Queues``, the escalations and
absences pages through ``services.escalations.Escalations`` and ``services.absences.Absences``
(their own drawing is in ``api.console.escalations`` and ``api.console.absences``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import phonenumbers

from api.console.labels import WORDS, People, duration, label
from domain.calendar import BusinessCalendar
from domain.contact import in_window, next_window_opening
from domain.models import TeamConfig
from domain.windows import parse_window
from services.members import MemberProfile, refuses
from services.public import (
    CasePublic,
    EscalationPublic,
    InteractionPublic,
    MemberPublic,
    QueuePublic,
    StaffPublic,
)

QUEUE_LIMIT = 200


SAFETY_OPEN = "open"  # an unacknowledged safety escalation (or a safety flag whose escalation is starting)
SAFETY_TAKEN = "acknowledged"  # acknowledged, not yet resolved


@dataclass
class Situation:
    """A case's one state, in words: what happened and what is next.

    ``state`` is the short word (due, due soon, breached, waiting to retry, retry due,
    unreachable, met, resolved); ``summary`` says it in a sentence; ``clock_at`` is what the
    countdown counts to (the deadline, or the next try after a no-answer), None when nothing
    is counting down (answered, unreachable, resolved)."""

    state: str
    summary: str
    clock_label: str
    clock_at: datetime | None


@dataclass
class Card:
    """The member a CHW is about to contact (issue 21), as a queue row and the case page show
    them: member data, for the page only (never logged, never in a URL)."""

    name: str  # the display name, else the member id, else "Unknown caller"
    tab_name: str  # what the tab title says: "Maria G.", the member id, "Unknown caller"
    known: bool  # False: a caller the team does not know yet (no member id)
    phone: str = ""  # E.164, for tel: and sms: ("" when none is known)
    phone_shown: str = ""  # "+1 312-555-0111"
    texts_allowed: bool = True  # an sms: link (the member's text consent is not refused)
    zone: str = ""  # the member's zone ("" when not known)
    local_time: str = ""  # the member's clock now ("14:05")
    window_open: bool = False
    window_note: str = ""  # "open until 21:00", "closed · opens 08:00", "never opens"
    language: str = ""
    prefers: str = ""  # the preferred channel's words
    consent: list[str] = field(default_factory=list)  # "calls given", "texts refused (STOP …)"
    text_refused: bool = False
    call_refused: bool = False  # the member's call consent is refused (shown; no rule acts on it)
    contacts: int = 1
    received_local: str = ""  # the first contact, in the team's zone
    last_contact_local: str = ""  # the latest, when repeat contacts merged into the case


def _tab_name(name: str) -> str:
    """A display name shortened for the tab title and browser history: "Maria G."."""
    words = name.split()
    return f"{words[0]} {words[-1][0]}." if len(words) > 1 else name


def _phone_shown(phone: str) -> str:
    try:
        number = phonenumbers.parse(phone)
    except phonenumbers.NumberParseException:
        return phone
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def _language(tag: str | None) -> str:
    """ "Spanish (es-MX)", "Spanish" for "es"; a language without words shows as its tag."""
    if not tag:
        return ""
    primary = tag.split("-", 1)[0].lower()
    name = WORDS["language"].get(primary)
    if name is None:
        return tag
    return name if tag.lower() == primary else f"{name} ({tag})"


def _consent(profile: MemberProfile) -> list[str]:
    out = []
    for channel, words in (("call", "calls"), ("text", "texts")):
        given = getattr(profile.consent, channel, None) if profile.consent else None
        if given is not None:
            out.append(f"{words} {label(given.status, 'consent')} ({given.source})")
    return out


def card_of(item: InteractionPublic, member: MemberPublic | None, tz: str, now: datetime) -> Card:
    """The card of ``item``'s member (``member``: as ``GET /v1/teams/{id}/members/{id}``
    answers them; None for an unknown caller or a member without a profile)."""
    received = local(item.received_at, tz)
    last = local(item.last_contact_at, tz) if item.contacts > 1 else ""
    if item.member_id is None:
        phone = item.caller_phone or ""
        return Card(
            name="Unknown caller",
            tab_name="Unknown caller",
            known=False,
            phone=phone,
            phone_shown=_phone_shown(phone) if phone else "",
            contacts=item.contacts,
            received_local=received,
            last_contact_local=last,
        )
    profile = MemberProfile.model_validate(member.profile) if member else MemberProfile()
    name = profile.display_name or item.member_id
    phone = profile.phone or item.caller_phone or ""
    card = Card(
        name=name,
        tab_name=_tab_name(name) if profile.display_name else name,
        known=True,
        phone=phone,
        phone_shown=_phone_shown(phone) if phone else "",
        texts_allowed=not refuses(profile, "text"),
        language=_language(profile.preferred_language),
        prefers=label(profile.preferred_channel, "channel") if profile.preferred_channel else "",
        consent=_consent(profile),
        text_refused=refuses(profile, "text"),
        call_refused=refuses(profile, "call"),
        contacts=item.contacts,
        received_local=received,
        last_contact_local=last,
    )
    if member is not None and member.timezone:
        card.zone, card.local_time = member.timezone, clock(now, member.timezone)
        if member.contact_window is None:
            card.window_note = "never opens (the member's rules do not overlap)"
        else:
            window = parse_window(member.contact_window)
            card.window_open = in_window(now, member.timezone, window)
            if card.window_open:
                card.window_note = f"open until {member.contact_window[1]}"
            else:
                opens = next_window_opening(now, member.timezone, window)
                card.window_note = f"closed · opens {clock(opens, member.timezone)}"
    return card


@dataclass
class Row:
    """One line of a queue."""

    item: InteractionPublic
    state: str  # Situation.state
    due_local: str
    attempts: str
    safety: str = ""  # SAFETY_OPEN, SAFETY_TAKEN or ""
    situation: Situation | None = None
    clock_local: str = ""
    card: Card | None = None


@dataclass
class Queue:
    rows: list[Row]
    timezone: str
    staff: list[StaffPublic] = field(default_factory=list)


def local(at: datetime | None, tz: str) -> str:
    if at is None:
        return ""
    return at.astimezone(ZoneInfo(tz)).strftime("%a %d %b %H:%M %Z")


def short(at: datetime | None, tz: str) -> str:
    """A time this week, short, for a list's line ("Mon 10:00")."""
    return "" if at is None else at.astimezone(ZoneInfo(tz)).strftime("%a %H:%M")


def clock(at: datetime, tz: str) -> str:
    """A time of day in the zone ("12:02"), for sentences about today's next step."""
    return at.astimezone(ZoneInfo(tz)).strftime("%H:%M")


def safety_of(item: InteractionPublic) -> str:
    """Whether the case has an unresolved safety escalation, and whether someone has taken it."""
    safety = [e for e in item.escalations if e.trigger == "safety"]
    unresolved = [e for e in safety if e.status != "resolved"]
    if any(e.status == "open" for e in unresolved):
        return SAFETY_OPEN
    if unresolved:
        return SAFETY_TAKEN
    if "safety" in item.flags and not safety and item.status != "resolved":
        return SAFETY_OPEN  # flagged; its escalation is being started
    return ""


def situation_of(
    item: InteractionPublic, cfg: TeamConfig | None, now: datetime, tz: str, people: People | None = None
) -> Situation:
    who = people or People()
    if item.status == "resolved":
        by = f" by {who(item.resolved_by)}" if item.resolved_by else ""
        return Situation("resolved", f"Resolved {local(item.resolved_at, tz)}{by}".strip(), "Deadline", None)
    last = item.attempts[-1] if item.attempts else None

    def awaiting(what: str, late: str, due: str) -> Situation:
        # Waiting for a reply by ``due_at``: breached past it, due soon within the team's
        # due-soon minutes, else due.
        if item.due_at <= now:
            return Situation(
                "breached",
                f"{what} · {late}{duration(now - item.due_at)} past the deadline",
                "Deadline",
                item.due_at,
            )
        soon = timedelta(minutes=cfg.policy.due_soon_minutes if cfg else 60)
        state = "due soon" if item.due_at - now <= soon else "due"
        return Situation(state, f"{what} · {due} {local(item.due_at, tz)}", "Deadline", item.due_at)

    if item.first_response_at is None:
        return awaiting("No response yet", "", "due")
    if waiting_again(item):
        # After the first response the member contacted the team again (docs/rules.md §2.10):
        # the case waits for a reply to the new contact, by the deadline it moved to.
        again = f"Contacted again {clock(item.last_contact_at, tz)}" if item.last_contact_at else ""
        return awaiting(again, "reply ", "reply due by")
    happened = "Answered"
    if last is not None:
        happened = f"{label(last.outcome, 'outcome').capitalize()} at {clock(last.at, tz)}"
    if item.next_retry_at is not None:
        state = "retry due" if item.next_retry_at <= now else "waiting to retry"
        summary = f"{happened} · next try after {local(item.next_retry_at, tz)}"
        return Situation(state, summary, "Next try", item.next_retry_at)
    if item.unreachable:
        n = len(item.attempts)
        gave_up = f"{happened} · unreachable after {n} attempt{'' if n == 1 else 's'}"
        return Situation("unreachable", gave_up, "", None)
    state = "met" if item.sla_met else "breached"
    timing = "first response in time" if item.sla_met else "first response late"
    return Situation(state, f"{happened} · {timing}", "", None)


def waiting_again(item: InteractionPublic) -> bool:
    """The member contacted the team again after the first response, and no attempt has
    answered that contact yet (docs/rules.md §2.10: the case's deadline is the new contact's)."""
    if item.first_response_at is None or item.contacts < 2 or item.last_contact_at is None:
        return False
    answered = max([item.first_response_at, *(a.at for a in item.attempts)])
    return item.last_contact_at > answered


def state_of(item: InteractionPublic, cfg: TeamConfig | None, now: datetime) -> str:
    return situation_of(item, cfg, now, zone_of(cfg)).state


def _rank(row: Row) -> tuple[int, datetime]:
    """The order a lead works in: an unacknowledged safety escalation, then an acknowledged but
    unresolved one, then cases breached without a response, then whatever needs someone soonest
    (its deadline, or its next try after a no-answer). Cases that tie keep the queue's own order
    (``store.repositories.QUEUE_ORDER``: at the same deadline, the member who contacted most
    first), as ``sorted`` is stable: the tie-break is written once, there."""
    safety = {SAFETY_OPEN: 0, SAFETY_TAKEN: 1}.get(row.safety, 3)
    waiting = row.item.first_response_at is None or waiting_again(row.item)
    if safety == 3 and row.state == "breached" and waiting:
        safety = 2
    at = row.situation.clock_at if row.situation and row.situation.clock_at else row.item.due_at
    return safety, at


def _rows(
    items: Sequence[InteractionPublic],
    cfg: TeamConfig | None,
    tz: str,
    people: People | None = None,
    members: dict[str, MemberPublic] | None = None,
) -> list[Row]:
    now = datetime.now(UTC)
    most = cfg.policy.max_attempts if cfg else 3
    rows = []
    for i in items:
        s = situation_of(i, cfg, now, tz, people)
        rows.append(
            Row(
                item=i,
                state=s.state,
                due_local=local(i.due_at, tz),
                attempts=f"{len(i.attempts)}/{most}",
                safety=safety_of(i),
                situation=s,
                clock_local=local(s.clock_at, tz),
                card=card_of(i, (members or {}).get(i.member_id or ""), tz, now),
            )
        )
    rows.sort(key=_rank)
    return rows


def zone_of(cfg: TeamConfig | None) -> str:
    """The zone a team's times are shown in (UTC without a team)."""
    return cfg.calendar.timezone if cfg else "UTC"


def queue(data: QueuePublic) -> Queue:
    tz = zone_of(data.team)
    rows = _rows(data.items, data.team, tz, People(data.staff), data.members)
    return Queue(rows=rows, timezone=tz, staff=data.staff)


@dataclass
class Detail:
    item: InteractionPublic
    state: str
    timezone: str
    due_local: str
    attempts: str
    staff: list[StaffPublic]
    situation: Situation
    safety: list[EscalationPublic]  # the unresolved safety escalations, stated at the top
    clock_local: str = ""
    card: Card | None = None
    others: list[Row] = field(default_factory=list)  # the member's other open cases

    @property
    def title(self) -> str:
        """The tab title: who and why ("Maria G. · missed call")."""
        who = self.card.tab_name if self.card else "Interaction"
        return f"{who} · {label(self.item.channel, 'received')}"

    @property
    def heading(self) -> str:
        """The page's heading: the member and the reason ("Rosa Delgado · Asked about her ride"),
        the way they reached the team when no reason was given."""
        who = self.card.name if self.card else (self.item.member_id or "Unknown caller")
        return f"{who} · {self.item.summary or label(self.item.channel, 'received')}"


def detail(data: CasePublic) -> Detail:
    cfg, item = data.team, data.item
    tz = zone_of(cfg)
    most = cfg.policy.max_attempts if cfg else 3
    now = datetime.now(UTC)
    situation = situation_of(item, cfg, now, tz, People(data.staff))
    return Detail(
        item=item,
        state=situation.state,
        timezone=tz,
        due_local=local(item.due_at, tz),
        attempts=f"{len(item.attempts)}/{most}",
        staff=data.staff,
        situation=situation,
        safety=[e for e in item.escalations if e.trigger == "safety" and e.status != "resolved"],
        clock_local=local(situation.clock_at, tz),
        card=card_of(item, data.member, tz, now),
        others=_rows(data.other_cases, cfg, tz, People(data.staff)),
    )


# ---------------------------------------------------------------- the lead's overview
STATES = ("breached", "due soon", "due", "retry due", "waiting to retry", "unreachable", "met")


@dataclass
class Workload:
    """One CHW's open cases as the Team page counts them (``staff_id`` None: Unassigned)."""

    staff_id: str | None
    name: str
    open: int = 0
    breached: int = 0
    due_before_close: int = 0
    unreachable: int = 0


@dataclass
class Overview:
    loads: list[Workload]
    total: Workload
    close_at: datetime | None  # today's close on the team calendar (None: closed today)
    timezone: str
    close_clock: str = ""  # "17:00"


def close_today(cfg: TeamConfig | None, now: datetime) -> datetime | None:
    """Today's close on the team calendar (in the team's zone), None on a closed day."""
    if cfg is None:
        return None
    today = now.astimezone(ZoneInfo(cfg.calendar.timezone)).date()
    return BusinessCalendar.from_config(cfg.calendar, around=today).close_of(today)


def due_before(row: Row, now: datetime, close: datetime | None) -> bool:
    """Still to do before today's close: a deadline or a next try between now and the close."""
    at = row.situation.clock_at if row.situation else None
    if close is None or at is None or row.state in ("breached", "unreachable"):
        return False
    return now <= at <= close


def overview(data: QueuePublic) -> Overview:
    """Per CHW (then Unassigned): open, breached, due before close today, unreachable."""
    now = datetime.now(UTC)
    tz = zone_of(data.team)
    people = People(data.staff)
    rows = _rows(data.items, data.team, tz, people, data.members)
    close = close_today(data.team, now)
    chws = [s.id for s in data.staff if s.role == "chw"]
    others = sorted(
        {r.item.assignee_id for r in rows if r.item.assignee_id and r.item.assignee_id not in chws}
    )
    loads: dict[str | None, Workload] = {sid: Workload(sid, people(sid)) for sid in [*chws, *others]}
    loads[None] = Workload(None, "Unassigned")
    total = Workload(None, "Team")
    for r in rows:
        for w in (loads[r.item.assignee_id], total):
            w.open += 1
            w.breached += r.state == "breached"
            w.due_before_close += due_before(r, now, close)
            w.unreachable += r.state == "unreachable"
    return Overview(list(loads.values()), total, close, tz, clock(close, tz) if close else "")


def filtered(rows: list[Row], assignee: str | None, state: str | None) -> list[Row]:
    """The rows of one CHW (``unassigned``: nobody's) and of one state (``safety``: an open
    safety escalation)."""
    out = rows
    if assignee == "unassigned":
        out = [r for r in out if r.item.assignee_id is None]
    elif assignee:
        out = [r for r in out if r.item.assignee_id == assignee]
    if state == "safety":
        out = [r for r in out if r.safety]
    elif state:
        out = [r for r in out if r.state == state]
    return out
