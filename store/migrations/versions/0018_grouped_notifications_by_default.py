"""staff notifications grouped by default (issue 21): stored teams saved without a
``notifications`` block get the documented defaults

Until this revision a team without the block kept one delivery per notice, and every team saved
without it was stored with ``"notifications": null`` (the model's default, dumped). From this
revision an absent block means the defaults and an explicit ``null`` means grouping off, so the
stored ``null`` of an older team would read as "off". The stored ``null`` could not be told apart
from one a team sent on purpose (both meant "no grouping" then), so every stored ``null`` is
removed: a team upgrading gets the documented default, as one created now does. A team that wants
one delivery per notice says ``notifications: null`` again (docs/rules.md §2.8).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bind = op.get_bind()
    teams = sa.table("teams", sa.column("id", sa.String), sa.column("config", sa.JSON))
    for team_id, config in bind.execute(sa.select(teams.c.id, teams.c.config)):
        if isinstance(config, dict) and "notifications" in config and config["notifications"] is None:
            kept = {k: v for k, v in config.items() if k != "notifications"}
            bind.execute(teams.update().where(teams.c.id == team_id).values(config=kept))


def downgrade() -> None:
    # Nothing to undo: older code reads a configuration without the key as it read the removed
    # ``null`` (one delivery per notice). Teams saved since keep what they were saved with.
    pass
