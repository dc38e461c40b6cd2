"""The Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL,
and move stored data along where the meaning of a stored value changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from domain.grouping import NotificationPolicy, stored_policy
from domain.models import TeamConfig
from store.db import make_engine, make_sessionmaker, unit_of_work
from store.migrate import alembic_config, upgrade
from store.models import Base, Team
from store.repositories import upsert_team
from tests.conftest import CHICAGO_TEAM


def test_migrations_match_the_models(db_url: str) -> None:
    """``db_url`` is migrated to head; autogenerate finds nothing left to do."""
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert diff == [], f"models and migrations differ; add a migration: {diff}"


def test_a_team_stored_before_grouping_was_the_default_gets_the_defaults(db_url: str) -> None:
    """Before 0018 a team saved without a ``notifications`` block was stored with ``null`` (one
    delivery per notice); after it, that team's notices are grouped with the documented defaults,
    while a team saved since with ``null`` on purpose stays ungrouped."""
    command.downgrade(alembic_config(db_url), "0017")
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    try:
        old = TeamConfig.model_validate({**CHICAGO_TEAM, "notifications": None}).model_dump(mode="json")
        assert old["notifications"] is None  # what the code before 0018 stored for such a team
        with unit_of_work(sessions) as s:
            upsert_team(s, "eastside", "Eastside CHWs", old)
        upgrade(db_url)
        with unit_of_work(sessions) as s:
            upsert_team(s, "westside", "Westside", old)  # saved after the upgrade: off on purpose
        with sessions() as s:
            stored = {t.id: t.config for t in s.scalars(select(Team))}
    finally:
        engine.dispose()
    assert stored_policy(stored["eastside"]) == NotificationPolicy()
    assert TeamConfig.model_validate(stored["eastside"]).notifications == NotificationPolicy()
    assert stored_policy(stored["westside"]) is None
    assert TeamConfig.model_validate(stored["westside"]).notifications is None


def test_first_due_at_is_backfilled_from_due_at(tmp_path: Path) -> None:
    """Cases stored before migration 0019 keep their SLA verdicts: their first contact's deadline
    is the deadline they had (repeat contacts merged before it cannot be told apart)."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0018")
    engine = make_engine(url)
    due = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    try:
        with engine.begin() as conn:
            teams = sa.Table("teams", sa.MetaData(), autoload_with=conn)
            conn.execute(teams.insert().values(id="t", name="t", config={}, version=1, updated_at=due))
            table = sa.Table("interactions", sa.MetaData(), autoload_with=conn)
            row: dict[str, Any] = {"team_id": "t", "due_at": due, "received_at": due - timedelta(hours=7)}
            for column in table.columns:
                if column.name in row or column.nullable or column.server_default is not None:
                    continue
                row[column.name] = _filler(column.type)
            conn.execute(table.insert().values(**row))
        upgrade(url)
        with engine.connect() as conn:
            got = conn.execute(sa.text("SELECT due_at, first_due_at FROM interactions")).one()
        assert got[1] == got[0]
    finally:
        engine.dispose()


def _filler(kind: Any) -> Any:
    """A value of a column's type for a row the test does not care about otherwise."""
    if isinstance(kind, sa.Boolean):
        return False
    if isinstance(kind, sa.Integer):
        return 0
    if isinstance(kind, sa.JSON):
        return []
    if isinstance(kind, sa.DateTime):
        return datetime(2026, 11, 30, tzinfo=UTC)
    return "x"
