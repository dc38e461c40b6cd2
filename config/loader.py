"""Load a team file (``config/demo_team.yaml``): team config, staff, caseloads, dev tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session, sessionmaker

from config.settings import TokenGrant
from domain.models import StaffRole, TeamConfig
from store import repositories as repo
from store.db import unit_of_work
from store.models import Member, Staff

DEMO_TEAM = Path(__file__).parent / "demo_team.yaml"


class StaffEntry(BaseModel):
    id: str
    name: str
    role: StaffRole


class MemberEntry(BaseModel):
    id: str
    owner_id: str | None = None


class TeamFile(BaseModel):
    team_id: str
    config: TeamConfig
    staff: list[StaffEntry] = Field(default_factory=list)
    members: list[MemberEntry] = Field(default_factory=list)
    tokens: dict[str, TokenGrant] = Field(default_factory=dict)


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
                staff.team_id, staff.name, staff.role = tf.team_id, s.name, s.role
        session.flush()
        for m in tf.members:
            member = session.get(Member, (tf.team_id, m.id))
            if member is None:
                session.add(Member(team_id=tf.team_id, id=m.id, owner_id=m.owner_id))
            else:
                member.owner_id = m.owner_id
