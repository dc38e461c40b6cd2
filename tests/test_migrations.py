"""The Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL,
and move stored data along where the meaning of a stored value changed."""

from __future__ import annotations

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
