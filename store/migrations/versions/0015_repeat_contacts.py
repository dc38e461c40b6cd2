"""repeat contacts merged into an open case: the case counts its contacts and the latest's time;
each merged contact's external id answers that case again (docs/rules.md §2.10)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from store.models import UTCDateTime

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("interactions") as batch:
        batch.add_column(sa.Column("contacts", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("last_contact_at", UTCDateTime(timezone=True), nullable=True))
    op.create_table(
        "interaction_contacts",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("team_id", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("interaction_id", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["interactions.id"],
            name=op.f("fk_interaction_contacts_interaction_id_interactions"),
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_interaction_contacts_team_id_teams")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interaction_contacts")),
        sa.UniqueConstraint(
            "team_id", "external_id", name=op.f("uq_interaction_contacts_team_id_external_id")
        ),
    )
    with op.batch_alter_table("interaction_contacts") as batch:
        batch.create_index(
            batch.f("ix_interaction_contacts_interaction_id"), ["interaction_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("interaction_contacts") as batch:
        batch.drop_index(batch.f("ix_interaction_contacts_interaction_id"))
    op.drop_table("interaction_contacts")
    with op.batch_alter_table("interactions") as batch:
        batch.drop_column("last_contact_at")
        batch.drop_column("contacts")
