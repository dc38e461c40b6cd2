"""Team rows: looking up teams and staff, saving a team, its staff and members, and team files.

Every service looks teams and staff up here; the ``Teams`` service that front ends call (access
checks, check-ins, handing back a mover's cases) is ``services.staffing.Teams``.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

import config
from config.settings import TokenGrant
from domain.calendar import BusinessCalendar
from domain.contact import format_hhmm
from domain.errors import Conflict, Invalid, NotFound
from domain.messages import ACTIVE_INTERACTION_STATUSES
from domain.models import StaffRole, TeamConfig
from services import members, presenters
from services.members import MemberProfile
from services.public import MemberPublic
from store import phones, repositories as repo
from store.db import committing, unit_of_work
from store.models import Interaction, Member, Staff, Team

DEMO_TEAM = Path(config.__file__).parent / "demo_team.yaml"


def team_config(team: Team) -> TeamConfig:
    return TeamConfig.model_validate(team.config)


def calendar_for(cfg: TeamConfig, around: Any) -> BusinessCalendar:
    return BusinessCalendar.from_config(cfg.calendar, around=around.date())


def require_team(session: Session, team_id: str, *, as_input: bool = False) -> Team:
    """The team; unknown is NotFound (in a path) or Invalid (named in a request body)."""
    team = repo.get_team(session, team_id)
    if team is None:
        raise (Invalid if as_input else NotFound)(f"unknown team '{team_id}'")
    return team


def require_staff(session: Session, staff_id: str, *, team_id: str | None = None) -> Staff:
    """A staff member named in input (of ``team_id`` when given); unknown is Invalid."""
    staff = repo.get_staff(session, staff_id)
    if staff is None or (team_id is not None and staff.team_id != team_id):
        where = f" in team '{team_id}'" if team_id is not None else ""
        raise Invalid(f"unknown staff '{staff_id}'{where}")
    return staff


def _require_existing_team(session: Session, team_id: str) -> None:
    if repo.get_team(session, team_id) is None:
        raise NotFound(f"team '{team_id}' not found")


def named_staff(cfg: TeamConfig) -> set[str]:
    """The staff ids a team's configuration names (escalation levels given by ``staff_id``)."""
    return {
        level.staff_id
        for rule in cfg.escalation_matrix.values()
        for level in rule.levels
        if level.staff_id is not None
    }


def require_own_staff(session: Session, team_id: str, cfg: TeamConfig) -> None:
    """Everyone the configuration names is staff of this team (Invalid otherwise).

    Unknown ids are refused like another team's: otherwise a matrix could name an id that is
    later created in another team, and that person would receive this team's notices; and the
    answer is the same for both, so it tells nobody which ids exist elsewhere. Add the staff
    member first, then name them.
    """
    for staff_id in sorted(named_staff(cfg)):
        staff = repo.get_staff(session, staff_id)
        if staff is None or staff.team_id != team_id:
            raise Invalid(
                f"the escalation matrix names '{staff_id}', who is not staff of team '{team_id}' "
                "(add them to the team first)"
            )


def save_team(session: Session, team_id: str, cfg: TeamConfig) -> Team:
    """Store the team's configuration and claim its phone numbers (committed); its version grows.

    Check-ins follow the new calendar once the caller refreshes them
    (``services.staffing.Teams.put``): they read the calendar from SQL, so the row comes first.
    """
    with committing(session):
        require_own_staff(session, team_id, cfg)
        team = repo.upsert_team(session, team_id, cfg.name, cfg.model_dump(mode="json"))
        claim_phone_numbers(session, team_id, cfg)
        return team


def claim_phone_numbers(session: Session, team_id: str, cfg: TeamConfig) -> None:
    """The team answers exactly ``cfg.phone_numbers``; one another team answers is 409 (without
    that team's name), and nothing of the save is kept (docs/channels.md)."""
    try:
        phones.claim_numbers(session, team_id, cfg.phone_numbers)
    except phones.NumberTaken as err:
        raise Conflict(
            f"phone number {err.number} is answered by another team: a number belongs to one team "
            "(remove it from that team's phone_numbers first)"
        ) from err


def put_staff(
    session: Session, team_id: str, staff_id: str, *, name: str, role: StaffRole, may_move: bool = False
) -> Staff:
    """Add or change a staff member; with ``may_move`` (the system) also move one from another team.

    A move leaves the old team in the same transaction: the person's caseload there goes back to
    nobody (their members' new cases route to the unassigned queue). Their open cases there are
    handed back to routing by ``services.staffing`` right after. Anyone else naming a staff id
    that another team holds gets 409, without that team's name.
    """
    _require_existing_team(session, team_id)
    with committing(session):
        staff = session.get(Staff, staff_id)
        if staff is None:
            staff = Staff(id=staff_id, team_id=team_id, name=name, role=role)
            session.add(staff)
        elif staff.team_id != team_id:
            if not may_move:
                raise Conflict(
                    f"staff id '{staff_id}' is taken by another team; only the system moves "
                    "staff between teams"
                )
            leave_team(session, staff)
            staff.team_id, staff.name, staff.role = team_id, name, role
        else:
            staff.name = name
            staff.role = role
    return staff


def leave_team(session: Session, staff: Staff) -> None:
    """``staff`` leaves their team: refused (409) while the team's escalation matrix names them;
    otherwise the members they own there are owned by nobody from now on."""
    old = repo.get_team(session, staff.team_id)
    if old is not None and staff.id in named_staff(team_config(old)):
        raise Conflict(
            f"staff '{staff.id}' is named in team '{staff.team_id}''s escalation matrix: "
            "change that matrix before moving them"
        )
    session.execute(
        update(Member)
        .where(Member.team_id == staff.team_id, Member.owner_id == staff.id)
        .values(owner_id=None)
    )


def open_cases_elsewhere(session: Session, staff_id: str) -> list[Interaction]:
    """Open cases assigned to ``staff_id`` in teams other than theirs (left behind by a move)."""
    staff = repo.get_staff(session, staff_id)
    q = select(Interaction).where(
        Interaction.assignee_id == staff_id,
        Interaction.status.in_(ACTIVE_INTERACTION_STATUSES),
    )
    if staff is not None:
        q = q.where(Interaction.team_id != staff.team_id)
    return list(session.scalars(q.order_by(Interaction.received_at, Interaction.id)))


def put_member(
    session: Session,
    team_id: str,
    member_id: str,
    *,
    owner_id: str | None,
    profile: MemberProfile | None = None,
) -> tuple[Member, list[str] | None]:
    """Set a member's owning CHW (caseload) and contact profile (a PUT: an omitted profile field is
    cleared); ``None`` routes their cases to the unassigned queue. Answers the member and the
    contact window in force (member-local, None when the rules never meet)."""
    team = require_team(session, team_id)
    cfg = team_config(team)
    if owner_id is not None:
        require_staff(session, owner_id, team_id=team_id)
    with committing(session):
        member = repo.get_member(session, team_id, member_id)
        if member is None:
            member = Member(team_id=team_id, id=member_id, owner_id=owner_id)
            session.add(member)
        else:
            member.owner_id = owner_id
        members.put_profile(session, member, profile or members.MemberProfile(), cfg.calendar.timezone)
    return member, _window_in_force(member, cfg)


def get_member(session: Session, team_id: str, member_id: str) -> tuple[Member, list[str] | None]:
    """The member with the contact window in force, as ``put_member`` answers them (NotFound)."""
    cfg = team_config(require_team(session, team_id))
    member = repo.get_member(session, team_id, member_id)
    if member is None:
        raise NotFound(f"member {member_id} not found in team {team_id}")
    return member, _window_in_force(member, cfg)


def members_answered(
    session: Session, team_id: str, cfg: TeamConfig | None, member_ids: Collection[str]
) -> dict[str, MemberPublic]:
    """The members of ``member_ids`` that exist, by id, each as ``get_member`` answers them (what
    a page shows of a case's member; none without a team)."""
    if cfg is None:
        return {}
    found = repo.members_of(session, team_id, member_ids)
    return {m.id: presenters.member(m, _window_in_force(m, cfg)) for m in found}


def _window_in_force(member: Member, cfg: TeamConfig) -> list[str] | None:
    """The member's contact window in force (member-local), None when the rules never meet."""
    _zone, window = members.window_of(member, cfg)
    return None if window is None else [format_hhmm(window[0]), format_hhmm(window[1])]


# ---------------------------------------------------------------- team files
class StaffEntry(BaseModel):
    id: str
    name: str
    role: StaffRole


class MemberEntry(MemberProfile):
    id: str
    owner_id: str | None = None


class TeamFile(BaseModel):
    """A team file (``config/demo_team.yaml``): team config, staff, caseloads, dev tokens."""

    team_id: str
    config: TeamConfig
    staff: list[StaffEntry] = Field(default_factory=list)
    members: list[MemberEntry] = Field(default_factory=list)
    tokens: dict[str, TokenGrant] = Field(default_factory=dict)


def _move_in_file(session: Session, staff: Staff) -> None:
    """A team file may move someone who holds no open case in their old team (no Temporal here to
    hand cases back): otherwise 409, pointing to the API, whose move hands them back."""
    cases = session.scalars(
        select(Interaction.id).where(
            Interaction.assignee_id == staff.id,
            Interaction.team_id == staff.team_id,
            Interaction.status.in_(ACTIVE_INTERACTION_STATUSES),
        )
    ).all()
    if cases:
        raise Conflict(
            f"staff '{staff.id}' still has {len(cases)} open case(s) in team '{staff.team_id}': "
            f"move them with PUT /v1/teams/{{team_id}}/staff/{staff.id} (system token), which "
            "hands their open cases back to routing"
        )
    leave_team(session, staff)


def read_team_file(path: Path) -> TeamFile:
    data: Any = yaml.safe_load(path.read_text())
    return TeamFile.model_validate(data)


def load_team_file(sessions: sessionmaker[Session], tf: TeamFile) -> None:
    """Upsert everything in the file in one transaction."""
    with unit_of_work(sessions) as session:
        repo.upsert_team(session, tf.team_id, tf.config.name, tf.config.model_dump(mode="json"))
        for s in tf.staff:
            staff = session.get(Staff, s.id)
            if staff is None:
                session.add(Staff(id=s.id, team_id=tf.team_id, name=s.name, role=s.role))
            else:
                if staff.team_id != tf.team_id:
                    _move_in_file(session, staff)
                staff.team_id, staff.name, staff.role = tf.team_id, s.name, s.role
        session.flush()
        require_own_staff(session, tf.team_id, tf.config)
        claim_phone_numbers(session, tf.team_id, tf.config)
        for m in tf.members:
            member = session.get(Member, (tf.team_id, m.id))
            if member is None:
                member = Member(team_id=tf.team_id, id=m.id, owner_id=m.owner_id)
                session.add(member)
            else:
                member.owner_id = m.owner_id
            profile = MemberProfile.model_validate(m.model_dump(exclude={"id", "owner_id"}))
            members.put_profile(session, member, profile, tf.config.calendar.timezone)
