"""Queries and writes of the read model. Repositories never commit: the caller's unit of work does."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar, get_args

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    String,
    and_,
    bindparam,
    exists,
    false,
    func,
    literal,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.orm import InstrumentedAttribute, Session

from domain.messages import (
    ACTIVE_INTERACTION_STATUSES,
    PENDING_ABSENCE_STATUSES,
    UNRESOLVED_ESCALATION_STATUSES,
)
from domain.notices import OnRoll, Roster
from store.models import (
    Absence,
    Attempt,
    Escalation,
    Interaction,
    InteractionContact,
    Member,
    Notification,
    Staff,
    Team,
    TimelineEvent,
)

UNASSIGNED = "unassigned"
T = TypeVar("T")


class BadCursor(ValueError):
    pass


def encode_cursor(*parts: str) -> str:
    return base64.urlsafe_b64encode("\x1f".join(parts).encode()).decode()


def decode_cursor(cursor: str, n: int) -> list[str]:
    try:
        parts = base64.urlsafe_b64decode(cursor.encode()).decode().split("\x1f")
    except Exception as err:
        raise BadCursor("cursor is not valid") from err
    if len(parts) != n:
        raise BadCursor("cursor is not valid")
    return parts


def _digits(value: str) -> int:
    if not value.isdigit():
        raise ValueError(value)
    return int(value)


def _cursor_part(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _after(
    q: Select[Any],
    columns: Sequence[Any],
    parsers: Sequence[Callable[[str], Any]],
    cursor: str | None,
    descending: bool | Sequence[bool],
) -> Select[Any]:
    """``q`` limited to the rows lexicographically after ``cursor`` on ``columns``."""
    if not cursor:
        return q
    down = [descending] * len(columns) if isinstance(descending, bool) else list(descending)
    parts = decode_cursor(cursor, len(columns))
    try:
        values = [parse(part) for parse, part in zip(parsers, parts, strict=True)]
    except ValueError as err:
        raise BadCursor("cursor is not valid") from err
    # Lexicographically after the cursor: (a > x) or (a = x and b > y) or ... (< descending)
    return q.where(
        or_(
            *(
                and_(
                    *(columns[j] == values[j] for j in range(i)),
                    columns[i] < values[i] if down[i] else columns[i] > values[i],
                )
                for i in range(len(columns))
            )
        )
    )


def keyset_page(
    session: Session,
    q: Select[T],
    keys: Sequence[tuple[InstrumentedAttribute[Any], Callable[[str], Any]]],
    *,
    cursor: str | None,
    limit: int,
    descending: bool | Sequence[bool] = False,
) -> tuple[list[T], str | None]:
    """One page of ``q`` ordered by ``keys`` (the last one unique), after ``cursor``.

    ``keys`` pairs each ordering column with the parser of its cursor text; the cursor of the
    next page holds the last row's key values. ``descending`` orders every key the other way,
    or, as one flag per key, those it marks.
    """
    columns = [column for column, _ in keys]
    down = [descending] * len(keys) if isinstance(descending, bool) else list(descending)
    if len(down) != len(keys):
        raise ValueError("one 'descending' flag per key")
    q = _after(q, columns, [parse for _, parse in keys], cursor, down)
    order = [c.desc() if d else c for c, d in zip(columns, down, strict=True)]
    rows = list(session.scalars(q.order_by(*order).limit(limit + 1)))
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor(*(_cursor_part(getattr(rows[-1], c.key)) for c in columns))


# ---------------------------------------------------------------- teams, staff, members
def get_team(session: Session, team_id: str) -> Team | None:
    return session.get(Team, team_id)


_TEAM_STAMP = select(Team.version, Team.updated_at).where(Team.id == bindparam("team_id"))
_TEAM_CONFIG = select(Team.version, Team.updated_at, Team.config).where(Team.id == bindparam("team_id"))


class KeptByTeamConfig(Generic[T]):
    """What a worker derives from a team's stored config (``derive``), kept by (team, version,
    updated_at), which every change of the config bumps (``upsert_team``): the config's JSON is
    read and decoded only when it changed, not for every activity that asks (at 17:00 every
    overdue case of a team asks for the same). At most ``kept`` teams, then it starts again."""

    def __init__(self, derive: Callable[[dict[str, Any]], T], *, kept: int) -> None:
        self._derive = derive
        self._kept_at_most = kept
        self._kept: dict[tuple[str, int, datetime], T] = {}
        self._lock = threading.Lock()

    def get(self, session: Session, team_id: str) -> tuple[T, int] | None:
        """What the team's config in force gives, and the config's version (None: no team)."""
        found = session.execute(_TEAM_STAMP, {"team_id": team_id}).first()
        if found is None:
            return None
        key = (team_id, found.version, found.updated_at)
        with self._lock:
            if key in self._kept:
                return self._kept[key], found.version
        whole = session.execute(_TEAM_CONFIG, {"team_id": team_id}).one()  # the version again, with it
        value = self._derive(whole.config)
        with self._lock:
            if len(self._kept) > self._kept_at_most:
                self._kept.clear()
            self._kept[(team_id, whole.version, whole.updated_at)] = value
        return value, whole.version


def upsert_team(session: Session, team_id: str, name: str, config: dict[str, Any]) -> Team:
    now = datetime.now(UTC)
    team = session.get(Team, team_id, with_for_update=True)
    if team is None:
        team = Team(id=team_id, name=name, config=config, version=1, updated_at=now)
        session.add(team)
    else:
        team.name = name
        team.config = config
        team.version += 1
        team.updated_at = now
    session.flush()
    return team


def get_staff(session: Session, staff_id: str) -> Staff | None:
    return session.get(Staff, staff_id)


def team_staff(session: Session, team_id: str, role: str | None = None) -> list[Staff]:
    q = select(Staff).where(Staff.team_id == team_id)
    if role is not None:
        q = q.where(Staff.role == role)
    return list(session.scalars(q.order_by(Staff.id)))


def get_member(session: Session, team_id: str, member_id: str) -> Member | None:
    return session.get(Member, (team_id, member_id))


def lock_member(session: Session, team_id: str, member_id: str) -> None:
    """Hold the member's row until the caller's transaction ends, so that what is decided for the
    member after it (does the member have an open case? then join it, else open one) is decided
    by one request at a time: two contacts of one member arriving at once make one case.

    PostgreSQL: ``SELECT … FOR NO KEY UPDATE`` (foreign-key checks of rows that refer to the
    member are not blocked). SQLite has no row locks: a write that changes nothing takes the
    database's write lock, and the transaction reads what was committed before it from then on.
    A member that does not exist locks nothing.
    """
    where = (Member.team_id == team_id, Member.id == member_id)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(Member.id).where(*where).with_for_update(key_share=True))
    else:
        session.execute(
            update(Member).where(*where).values(zone=Member.zone).execution_options(synchronize_session=False)
        )


def members_of(session: Session, team_id: str, member_ids: Collection[str]) -> list[Member]:
    if not member_ids:
        return []
    return list(session.scalars(select(Member).where(Member.team_id == team_id, Member.id.in_(member_ids))))


# ---------------------------------------------------------------- absences


def get_absence(session: Session, absence_id: str) -> Absence | None:
    return session.get(Absence, absence_id)


def overlapping_absences(
    session: Session, staff_id: str, starts_at: datetime, ends_at: datetime, *, exclude_id: str | None = None
) -> list[Absence]:
    """The staff member's scheduled or active absences that share time with ``[starts_at, ends_at)``.

    The time test is the SQL form of ``domain.absences.overlaps`` (half-open windows).
    """
    q = select(Absence).where(
        Absence.staff_id == staff_id,
        Absence.status.in_(PENDING_ABSENCE_STATUSES),
        Absence.starts_at < ends_at,
        Absence.ends_at > starts_at,
    )
    if exclude_id is not None:
        q = q.where(Absence.id != exclude_id)
    return list(session.scalars(q.order_by(Absence.starts_at)))


def current_absence(session: Session, staff_id: str, now: datetime) -> Absence | None:
    """The absence that has the staff member away right now, for routing new cases.

    Active per its workflow, or scheduled with a start already past (the workflow is about to
    activate it), and in both cases not yet at its end: the edges of a window never depend on
    how quickly the workflow projects its status.
    """
    return session.scalar(
        select(Absence)
        .where(
            Absence.staff_id == staff_id,
            Absence.ends_at > now,
            or_(Absence.status == "active", and_(Absence.status == "scheduled", Absence.starts_at <= now)),
        )
        .order_by(Absence.starts_at)
        .limit(1)
    )


def absent_staff_at(session: Session, team_id: str, at: datetime) -> set[str]:
    """Who of the team is away at ``at`` (cancelled absences never count)."""
    return set(
        session.scalars(
            select(Absence.staff_id).where(
                Absence.team_id == team_id,
                Absence.status != "cancelled",
                Absence.starts_at <= at,
                Absence.ends_at > at,
            )
        )
    )


def team_roster(session: Session, team_id: str, at: datetime) -> Roster:
    """The team's staff by id, and who of them is away at ``at``: what a notice's recipients
    are drawn from (``domain.notices.recipients``)."""
    # Two columns, not the staff's rows: a notice reads the whole roster of its team.
    found = session.execute(select(Staff.id, Staff.role).where(Staff.team_id == team_id).order_by(Staff.id))
    staff = tuple(OnRoll(id=s.id, role=s.role) for s in found)
    return Roster(staff=staff, away=frozenset(absent_staff_at(session, team_id, at)))


@dataclass(frozen=True)
class AbsenceFilter:
    team_id: str | None = None
    team_ids: Sequence[str] | None = None
    staff_id: str | None = None
    statuses: Sequence[str] | None = None


def list_absences(
    session: Session, f: AbsenceFilter, *, cursor: str | None, limit: int
) -> tuple[list[Absence], str | None]:
    """Absences ordered by ``starts_at`` then id, cursor-paginated."""
    q = select(Absence)
    if f.team_id is not None:
        q = q.where(Absence.team_id == f.team_id)
    if f.team_ids is not None:
        q = q.where(Absence.team_id.in_(list(f.team_ids)))
    if f.staff_id is not None:
        q = q.where(Absence.staff_id == f.staff_id)
    if f.statuses:
        q = q.where(Absence.status.in_(list(f.statuses)))
    return keyset_page(
        session,
        q,
        [(Absence.starts_at, datetime.fromisoformat), (Absence.id, str)],
        cursor=cursor,
        limit=limit,
    )


def absence_timeline(session: Session, absence_id: str) -> list[TimelineEvent]:
    return list(
        session.scalars(
            select(TimelineEvent)
            .where(TimelineEvent.absence_id == absence_id)
            .order_by(TimelineEvent.at, TimelineEvent.id)
        )
    )


# ---------------------------------------------------------------- interactions
def get_interaction(session: Session, interaction_id: str) -> Interaction | None:
    return session.get(Interaction, interaction_id)


def get_interaction_by_external(session: Session, team_id: str, external_id: str) -> Interaction | None:
    return session.scalar(
        select(Interaction).where(Interaction.team_id == team_id, Interaction.external_id == external_id)
    )


def overdue_clause(now: datetime) -> ColumnElement[bool]:
    """The SQL form of ``domain.deadlines.is_overdue``: true for exactly the rows it calls overdue.

    Overdue: not answered, not resolved, and the deadline has come (``due_at <= now``).
    A property test checks the clause and the domain function agree on random rows.
    """
    return and_(
        Interaction.first_response_at.is_(None),
        Interaction.resolved_at.is_(None),
        Interaction.due_at <= now,
    )


@dataclass(frozen=True)
class InteractionFilter:
    team_id: str | None = None
    team_ids: Sequence[str] | None = None
    assignee_id: str | None = None
    statuses: Sequence[str] | None = None
    overdue: bool | None = None
    now: datetime | None = None
    member_id: str | None = None


# The queue's order, for every front end (the API, the CLI, the console's queues, which keep it
# among cases that tie on their own ranking): the earliest deadline first; at the same deadline
# the member who contacted most (repeat contacts merged, docs/rules.md §2.10), then the id.
QUEUE_ORDER: list[tuple[InstrumentedAttribute[Any], Callable[[str], Any]]] = [
    (Interaction.due_at, datetime.fromisoformat),
    (Interaction.contacts, _digits),
    (Interaction.id, str),
]
QUEUE_DESCENDING = (False, True, False)


def list_interactions(
    session: Session, f: InteractionFilter, *, cursor: str | None, limit: int
) -> tuple[list[Interaction], str | None]:
    """The queue (``QUEUE_ORDER``), cursor-paginated."""
    q = select(Interaction)
    if f.team_id is not None:
        q = q.where(Interaction.team_id == f.team_id)
    if f.team_ids is not None:
        q = q.where(Interaction.team_id.in_(list(f.team_ids)))
    if f.assignee_id == UNASSIGNED:
        q = q.where(Interaction.assignee_id.is_(None))
    elif f.assignee_id is not None:
        q = q.where(Interaction.assignee_id == f.assignee_id)
    if f.statuses:
        q = q.where(Interaction.status.in_(list(f.statuses)))
    if f.member_id is not None:
        q = q.where(Interaction.member_id == f.member_id)
    if f.overdue is not None:
        late = overdue_clause(f.now or datetime.now(UTC))
        q = q.where(late if f.overdue else ~late)
    return keyset_page(session, q, QUEUE_ORDER, cursor=cursor, limit=limit, descending=QUEUE_DESCENDING)


# What every case's presentation reads (each list, the detail page, every action's answer), built
# once: building a statement costs about as much CPU as running it on SQLite.
_ATTEMPTS_OF = (
    select(Attempt).where(Attempt.interaction_id.in_(bindparam("ids", expanding=True))).order_by(Attempt.seq)
)
_TIMELINE_OF = (
    select(TimelineEvent)
    .where(TimelineEvent.interaction_id == bindparam("interaction_id"))
    .order_by(TimelineEvent.at, TimelineEvent.id)
)


def attempts_of(session: Session, interaction_ids: Sequence[str]) -> dict[str, list[Attempt]]:
    out: dict[str, list[Attempt]] = {i: [] for i in interaction_ids}
    if not interaction_ids:
        return out
    for a in session.scalars(_ATTEMPTS_OF, {"ids": list(interaction_ids)}):
        out[a.interaction_id].append(a)
    return out


def timeline_of(session: Session, interaction_id: str) -> list[TimelineEvent]:
    return list(session.scalars(_TIMELINE_OF, {"interaction_id": interaction_id}))


def add_note(
    session: Session,
    *,
    key: str,
    interaction_id: str,
    kind: str,
    actor_id: str | None,
    note: str,
    details: dict[str, Any] | None = None,
    escalation_id: str | None = None,
) -> None:
    """Member text goes into the timeline from the API, never through a workflow."""
    session.add(
        TimelineEvent(
            key=key,
            interaction_id=interaction_id,
            escalation_id=escalation_id,
            kind=kind,
            actor_id=actor_id,
            at=datetime.now(UTC),
            details=details or {},
            note=note,
        )
    )


def referrals_by_identifier_value(session: Session, value: str) -> list[Interaction]:
    """Referral cases whose referrer's identifier has this value (any system, any team)."""
    kept = Interaction.referral["identifier"]["value"].as_string()
    return list(
        session.scalars(
            select(Interaction).where(Interaction.channel == "referral", kept == value).limit(100)
        )
    )


# ---------------------------------------------------------------- searches by last update
# What the FHIR facade (services/fhir.py) searches: cases, attempts and escalations by who,
# what stage and when last changed, in the order of that change, keyset-paged.
UpdatedBound = tuple[Literal["gt", "ge", "lt", "le"], datetime]
# The attempt outcomes that mean the member was heard (the workflow stops retrying on them).
CONTACT_OUTCOMES: tuple[str, ...] = ("reached", "replied")
CaseStage = Literal["new", "working", "contacted", "unreachable", "closed"]
CASE_STAGES: tuple[CaseStage, ...] = get_args(CaseStage)


def case_stage(row: Interaction, *, contacted: bool) -> CaseStage:
    """Where a case stands for outside readers: ``new`` (open, no attempt yet), ``working``
    (attempted or escalated, not resolved); once resolved, ``contacted`` (an attempt reached the
    member), ``unreachable`` (closed without contact, the member found unreachable) or ``closed``
    (closed without contact otherwise). ``stage_clause`` is its SQL form (a test keeps them equal)."""
    if row.status != "resolved":
        return "new" if row.status == "open" and row.attempt_count == 0 else "working"
    if contacted:
        return "contacted"
    return "unreachable" if row.unreachable else "closed"


def contacted_clause() -> ColumnElement[bool]:
    """The case has an attempt that reached the member."""
    return exists().where(Attempt.interaction_id == Interaction.id, Attempt.outcome.in_(CONTACT_OUTCOMES))


def stage_clause(stage: CaseStage) -> ColumnElement[bool]:
    """The SQL form of ``case_stage``: true for exactly the cases in ``stage``."""
    resolved = Interaction.status == "resolved"
    new = and_(Interaction.status == "open", Interaction.attempt_count == 0)
    if stage == "new":
        return new
    if stage == "working":
        return and_(~resolved, ~new)
    if stage == "contacted":
        return and_(resolved, contacted_clause())
    without_contact = and_(resolved, ~contacted_clause())
    if stage == "unreachable":
        return and_(without_contact, Interaction.unreachable.is_(True))
    return and_(without_contact, Interaction.unreachable.is_(False))


def contacted_cases(session: Session, interaction_ids: Sequence[str]) -> set[str]:
    """Which of these cases have an attempt that reached the member."""
    if not interaction_ids:
        return set()
    return set(
        session.scalars(
            select(Attempt.interaction_id)
            .where(Attempt.interaction_id.in_(list(interaction_ids)), Attempt.outcome.in_(CONTACT_OUTCOMES))
            .distinct()
        )
    )


def interactions_by_id(session: Session, interaction_ids: Collection[str]) -> dict[str, Interaction]:
    if not interaction_ids:
        return {}
    rows = session.scalars(select(Interaction).where(Interaction.id.in_(list(interaction_ids))))
    return {r.id: r for r in rows}


def _updated(
    column: InstrumentedAttribute[datetime], bounds: Sequence[UpdatedBound]
) -> list[ColumnElement[bool]]:
    compare: dict[str, Callable[[datetime], ColumnElement[bool]]] = {
        "gt": column.__gt__,
        "ge": column.__ge__,
        "lt": column.__lt__,
        "le": column.__le__,
    }
    return [compare[op](at) for op, at in bounds]


@dataclass(frozen=True)
class CaseSearch:
    """Each filter None: any; an empty list: none. ``owners``: the assignee (``"staff"``), the
    team while the case is unassigned (``"team"``), or either (``"any"``)."""

    team_ids: Sequence[str] | None = None
    member_ids: Sequence[str] | None = None
    owners: Sequence[tuple[Literal["staff", "team", "any"], str]] | None = None
    stages: Sequence[CaseStage] | None = None
    updated: Sequence[UpdatedBound] = ()
    newest_first: bool = False


def _owner_clause(kind: Literal["staff", "team", "any"], owner: str) -> ColumnElement[bool]:
    staff = Interaction.assignee_id == owner
    team = and_(Interaction.assignee_id.is_(None), Interaction.team_id == owner)
    return {"staff": staff, "team": team, "any": or_(staff, team)}[kind]


def _case_query(f: CaseSearch) -> Select[Interaction]:
    q = select(Interaction)
    if f.team_ids is not None:
        q = q.where(Interaction.team_id.in_(list(f.team_ids)))
    if f.member_ids is not None:
        q = q.where(Interaction.member_id.in_(list(f.member_ids)))
    if f.owners is not None:
        q = q.where(or_(false(), *(_owner_clause(kind, owner) for kind, owner in f.owners)))
    if f.stages is not None:
        q = q.where(or_(false(), *(stage_clause(s) for s in f.stages)))
    return q.where(*_updated(Interaction.updated_at, f.updated))


def search_interactions(
    session: Session, f: CaseSearch, *, cursor: str | None, limit: int
) -> tuple[list[Interaction], str | None]:
    """Cases by last change (``updated_at``, then id; newest first if asked), keyset-paged."""
    keys: list[tuple[InstrumentedAttribute[Any], Callable[[str], Any]]] = [
        (Interaction.updated_at, datetime.fromisoformat),
        (Interaction.id, str),
    ]
    return keyset_page(session, _case_query(f), keys, cursor=cursor, limit=limit, descending=f.newest_first)


def count_interactions(session: Session, f: CaseSearch) -> int:
    return int(session.scalar(select(func.count()).select_from(_case_query(f).subquery())) or 0)


@dataclass(frozen=True)
class AttemptSearch:
    team_ids: Sequence[str] | None = None
    interaction_ids: Sequence[str] | None = None
    member_ids: Sequence[str] | None = None
    updated: Sequence[UpdatedBound] = ()
    newest_first: bool = False


def _scoped(q: Any, f: AttemptSearch, at: Any) -> Any:
    """``q`` (joined to its ``Interaction``) narrowed to the search's teams, cases and members,
    and to when it changed by ``at``."""
    if f.team_ids is not None:
        q = q.where(Interaction.team_id.in_(list(f.team_ids)))
    if f.interaction_ids is not None:
        q = q.where(Interaction.id.in_(list(f.interaction_ids)))
    if f.member_ids is not None:
        q = q.where(Interaction.member_id.in_(list(f.member_ids)))
    return q.where(*_updated(at, f.updated))


def _attempt_query(f: AttemptSearch) -> Select[Attempt]:
    # An attempt is a fact: it changes when it is made (its note follows within the request).
    q: Select[Attempt] = _scoped(
        select(Attempt).join(Interaction, Interaction.id == Attempt.interaction_id), f, Attempt.at
    )
    return q


def search_attempts(
    session: Session, f: AttemptSearch, *, cursor: str | None, limit: int
) -> tuple[list[Attempt], str | None]:
    keys: list[tuple[InstrumentedAttribute[Any], Callable[[str], Any]]] = [
        (Attempt.at, datetime.fromisoformat),
        (Attempt.id, str),
    ]
    return keyset_page(
        session, _attempt_query(f), keys, cursor=cursor, limit=limit, descending=f.newest_first
    )


def count_attempts(session: Session, f: AttemptSearch) -> int:
    return int(session.scalar(select(func.count()).select_from(_attempt_query(f).subquery())) or 0)


# Communications: the attempts, and the inbound contacts from the member (a case's first
# contact, unless it is a referral, and each repeat contact merged into it). An inbound
# contact's id is ``in-`` and the case's id (the first) or the merged contact's id.
INBOUND_PREFIX = "in-"
CommunicationKind = Literal["attempt", "received", "contact"]


@dataclass(frozen=True)
class CommunicationRef:
    """One Communication a search found: what it is, the id of its row, and its FHIR id."""

    kind: CommunicationKind
    ref: str
    fhir_id: str
    at: datetime


def _communications(f: AttemptSearch) -> Any:
    def scoped(q: Any, at: Any) -> Any:
        return _scoped(q, f, at)

    prefix = literal(INBOUND_PREFIX, String)
    attempts = scoped(
        select(
            literal("attempt", String).label("kind"),
            Attempt.id.label("ref"),
            Attempt.id.label("fhir_id"),
            Attempt.at.label("at"),
        ).join(Interaction, Interaction.id == Attempt.interaction_id),
        Attempt.at,
    )
    received = scoped(
        select(
            literal("received", String),
            Interaction.id,
            prefix + Interaction.id,
            Interaction.received_at,
        ).where(Interaction.channel != "referral"),
        Interaction.received_at,
    )
    contacts = scoped(
        select(
            literal("contact", String),
            InteractionContact.id,
            prefix + InteractionContact.id,
            InteractionContact.at,
        ).join(Interaction, Interaction.id == InteractionContact.interaction_id),
        InteractionContact.at,
    )
    return union_all(attempts, received, contacts).subquery("communications")


def search_communications(
    session: Session, f: AttemptSearch, *, cursor: str | None, limit: int
) -> tuple[list[CommunicationRef], str | None]:
    """Attempts and inbound contacts by when they happened (then FHIR id), keyset-paged."""
    sub = _communications(f)
    columns = [sub.c.at, sub.c.fhir_id]
    q = _after(select(sub), columns, [datetime.fromisoformat, str], cursor, f.newest_first)
    order = [c.desc() for c in columns] if f.newest_first else columns
    rows: list[Row[Any]] = list(session.execute(q.order_by(*order).limit(limit + 1)))
    found = [CommunicationRef(kind=r.kind, ref=r.ref, fhir_id=r.fhir_id, at=r.at) for r in rows[:limit]]
    if len(rows) <= limit:
        return found, None
    return found, encode_cursor(_cursor_part(found[-1].at), found[-1].fhir_id)


def count_communications(session: Session, f: AttemptSearch) -> int:
    return int(session.scalar(select(func.count()).select_from(_communications(f))) or 0)


def contacts_by_id(session: Session, contact_ids: Collection[str]) -> dict[str, InteractionContact]:
    if not contact_ids:
        return {}
    rows = session.scalars(select(InteractionContact).where(InteractionContact.id.in_(list(contact_ids))))
    return {r.id: r for r in rows}


@dataclass(frozen=True)
class EscalationSearch:
    team_ids: Sequence[str] | None = None
    member_ids: Sequence[str] | None = None
    statuses: Sequence[str] | None = None
    updated: Sequence[UpdatedBound] = ()
    newest_first: bool = False


def _escalation_query(f: EscalationSearch) -> Select[Escalation]:
    q = select(Escalation)
    if f.team_ids is not None:
        q = q.where(Escalation.team_id.in_(list(f.team_ids)))
    if f.member_ids is not None:
        q = q.join(Interaction, Interaction.id == Escalation.interaction_id).where(
            Interaction.member_id.in_(list(f.member_ids))
        )
    if f.statuses is not None:
        q = q.where(Escalation.status.in_(list(f.statuses)))
    return q.where(*_updated(Escalation.updated_at, f.updated))


def search_escalations(
    session: Session, f: EscalationSearch, *, cursor: str | None, limit: int
) -> tuple[list[Escalation], str | None]:
    keys: list[tuple[InstrumentedAttribute[Any], Callable[[str], Any]]] = [
        (Escalation.updated_at, datetime.fromisoformat),
        (Escalation.id, str),
    ]
    return keyset_page(
        session, _escalation_query(f), keys, cursor=cursor, limit=limit, descending=f.newest_first
    )


def count_escalations(session: Session, f: EscalationSearch) -> int:
    return int(session.scalar(select(func.count()).select_from(_escalation_query(f).subquery())) or 0)


# ---------------------------------------------------------------- notifications
def list_notifications(
    session: Session,
    *,
    recipient_id: str | None,
    team_ids: Sequence[str] | None,
    interaction_id: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[Notification], str | None]:
    q = select(Notification)
    if recipient_id is not None:
        q = q.where(Notification.recipient_id == recipient_id)
    if team_ids is not None:
        q = q.where(Notification.team_id.in_(list(team_ids)))
    if interaction_id is not None:
        q = q.where(Notification.interaction_id == interaction_id)
    return keyset_page(session, q, [(Notification.id, _digits)], cursor=cursor, limit=limit)


def count_notifications(session: Session, **where: Any) -> int:
    q = select(func.count()).select_from(Notification)
    for k, v in where.items():
        q = q.where(getattr(Notification, k) == v)
    return int(session.scalar(q) or 0)


def interactions_received(
    session: Session, team_id: str, start: datetime, end: datetime
) -> list[Interaction]:
    return list(
        session.scalars(
            select(Interaction).where(
                Interaction.team_id == team_id,
                Interaction.received_at >= start,
                Interaction.received_at < end,
            )
        )
    )


# ---------------------------------------------------------------- escalations
@dataclass(frozen=True)
class EscalationFilter:
    team_id: str | None = None
    team_ids: Sequence[str] | None = None
    statuses: Sequence[str] | None = None
    trigger: str | None = None
    interaction_id: str | None = None


def get_escalation(session: Session, escalation_id: str) -> Escalation | None:
    return session.get(Escalation, escalation_id)


def list_escalations(
    session: Session, f: EscalationFilter, *, cursor: str | None, limit: int
) -> tuple[list[Escalation], str | None]:
    """Most severe first, then oldest first; cursor-paginated."""
    q = select(Escalation)
    if f.team_id is not None:
        q = q.where(Escalation.team_id == f.team_id)
    if f.team_ids is not None:
        q = q.where(Escalation.team_id.in_(list(f.team_ids)))
    if f.statuses:
        q = q.where(Escalation.status.in_(list(f.statuses)))
    if f.trigger is not None:
        q = q.where(Escalation.trigger == f.trigger)
    if f.interaction_id is not None:
        q = q.where(Escalation.interaction_id == f.interaction_id)
    # Most severe first (lowest number), then oldest.
    keys: list[tuple[InstrumentedAttribute[Any], Callable[[str], Any]]] = [
        (Escalation.severity, int),
        (Escalation.started_at, datetime.fromisoformat),
        (Escalation.id, str),
    ]
    return keyset_page(session, q, keys, cursor=cursor, limit=limit)


_ESCALATIONS_OF = (
    select(Escalation)
    .where(Escalation.interaction_id.in_(bindparam("ids", expanding=True)))
    .order_by(Escalation.started_at, Escalation.id)
)
_RECIPIENTS_OF = (
    select(Notification.escalation_id, Notification.key, Notification.recipient_id)
    .where(
        Notification.escalation_id.in_(bindparam("ids", expanding=True)), Notification.kind == "escalation"
    )
    .order_by(Notification.id)
)


def escalations_of_interactions(
    session: Session, interaction_ids: Sequence[str]
) -> dict[str, list[Escalation]]:
    out: dict[str, list[Escalation]] = {i: [] for i in interaction_ids}
    if not interaction_ids:
        return out
    for e in session.scalars(_ESCALATIONS_OF, {"ids": list(interaction_ids)}):
        out[e.interaction_id].append(e)
    return out


def open_safety_escalation(session: Session, interaction_id: str) -> str | None:
    """An unresolved safety escalation of the case's member (on any of their cases in the team),
    or None: what inhibits the member's other escalation notices (``domain.notices.inhibited_by``)."""
    # The two columns it needs, not the whole row (every escalation notice asks, 17:00 included).
    case = session.execute(
        select(Interaction.team_id, Interaction.member_id).where(Interaction.id == interaction_id)
    ).first()
    if case is None:
        return None
    # A caller nobody has linked to a member yet (member_id NULL) is only this case's caller.
    same = (
        Interaction.member_id == case.member_id
        if case.member_id is not None
        else Interaction.id == interaction_id
    )
    found: str | None = session.scalar(
        select(Escalation.id)
        .join(Interaction, Interaction.id == Escalation.interaction_id)
        .where(
            Interaction.team_id == case.team_id,
            same,
            Escalation.trigger == "safety",
            Escalation.status != "resolved",
        )
        .limit(1)
    )
    return found


def escalation_recipients(session: Session, escalation_ids: Sequence[str]) -> dict[str, dict[int, list[str]]]:
    """Who each escalation notice reached: {escalation id: {notice number (1-based): staff ids}}.

    The outbox key of an escalation notice is ``escalation:{id}:notice:{n}:{recipient}``.
    """
    out: dict[str, dict[int, list[str]]] = {e: {} for e in escalation_ids}
    if not escalation_ids:
        return out
    rows = session.execute(_RECIPIENTS_OF, {"ids": list(escalation_ids)})
    for escalation_id, key, recipient in rows:
        parts = key.split(":")
        if escalation_id in out and len(parts) >= 5 and parts[2] == "notice" and parts[3].isdigit():
            out[escalation_id].setdefault(int(parts[3]), []).append(recipient)
    return out


def escalation_timeline(session: Session, escalation_id: str) -> list[TimelineEvent]:
    return list(
        session.scalars(
            select(TimelineEvent)
            .where(TimelineEvent.escalation_id == escalation_id)
            .order_by(TimelineEvent.at, TimelineEvent.id)
        )
    )


# ---------------------------------------------------------------- ops figures (metrics)
# Kept for existing importers: the vocabulary is domain.messages.ACTIVE_INTERACTION_STATUSES.


@dataclass(frozen=True)
class QueueFigures:
    """Counts per team for the ops dashboards; every known team appears, with zeros."""

    team_ids: list[str]
    open_by_status: dict[tuple[str, str], int]
    overdue: dict[str, int]
    unassigned: dict[str, int]
    undelivered_notifications: dict[str, int]
    # (team, trigger, status) → escalations not resolved yet
    escalations_open: dict[tuple[str, str, str], int]


def queue_figures(session: Session, now: datetime) -> QueueFigures:
    active = Interaction.status.in_(ACTIVE_INTERACTION_STATUSES)

    def per_team(*where: ColumnElement[bool]) -> dict[str, int]:
        q = select(Interaction.team_id, func.count()).where(active, *where).group_by(Interaction.team_id)
        return {team: int(n) for team, n in session.execute(q)}

    by_status = select(Interaction.team_id, Interaction.status, func.count()).where(active)
    undelivered = (
        select(Notification.team_id, func.count())
        .where(Notification.delivered_at.is_(None))
        .group_by(Notification.team_id)
    )
    return QueueFigures(
        team_ids=list(session.scalars(select(Team.id).order_by(Team.id))),
        open_by_status={
            (team, status): int(n)
            for team, status, n in session.execute(
                by_status.group_by(Interaction.team_id, Interaction.status)
            )
        },
        overdue=per_team(overdue_clause(now)),
        unassigned=per_team(Interaction.assignee_id.is_(None)),
        undelivered_notifications={team: int(n) for team, n in session.execute(undelivered)},
        escalations_open={
            (team, trigger, status): int(n)
            for team, trigger, status, n in session.execute(
                select(Escalation.team_id, Escalation.trigger, Escalation.status, func.count())
                .where(Escalation.status.in_(UNRESOLVED_ESCALATION_STATUSES))
                .group_by(Escalation.team_id, Escalation.trigger, Escalation.status)
            )
        },
    )
