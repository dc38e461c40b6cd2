"""member contact profile, resolved zone; attempts marked against the contact window and cap

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from store.models import UTCDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("members") as batch:
        batch.add_column(sa.Column("profile", sa.JSON(), nullable=False, server_default="{}"))
        batch.add_column(sa.Column("zone", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("zone_source", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("state", sa.String(length=2), nullable=True))
    with op.batch_alter_table("attempts") as batch:
        batch.add_column(
            sa.Column("outside_contact_window", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("over_daily_cap", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("override_reason", sa.Text(), nullable=True))
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("group_id", sa.String(length=300), nullable=True))
        batch.add_column(sa.Column("delivery_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("inhibited_by", sa.String(length=64), nullable=True))
        batch.create_index("ix_notifications_delivery_id", ["delivery_id"])
    op.create_table(
        "deliveries",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("team_id", sa.String(length=64), nullable=False),
        sa.Column("recipient_id", sa.String(length=64), nullable=False),
        sa.Column("notification_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("delivery_attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_deliveries_team_id", "deliveries", ["team_id"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_team_id", table_name="deliveries")
    op.drop_table("deliveries")
    with op.batch_alter_table("notifications") as batch:
        batch.drop_index("ix_notifications_delivery_id")
        batch.drop_column("inhibited_by")
        batch.drop_column("delivery_id")
        batch.drop_column("group_id")
    with op.batch_alter_table("attempts") as batch:
        batch.drop_column("override_reason")
        batch.drop_column("over_daily_cap")
        batch.drop_column("outside_contact_window")
    with op.batch_alter_table("members") as batch:
        batch.drop_column("state")
        batch.drop_column("zone_source")
        batch.drop_column("zone")
        batch.drop_column("profile")
