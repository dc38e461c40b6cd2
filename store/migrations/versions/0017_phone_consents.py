"""the last text keyword (STOP, START, …) each number sent a team: a STOP from a number no member
has yet is honoured for the member who gets that number (issue 21, docs/channels.md)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from store.models import UTCDateTime

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "phone_consents",
        sa.Column("team_id", sa.String(length=64), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_phone_consents_team_id_teams")),
        sa.PrimaryKeyConstraint("team_id", "phone", name=op.f("pk_phone_consents")),
    )


def downgrade() -> None:
    op.drop_table("phone_consents")
