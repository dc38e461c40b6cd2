"""outbox backoff: next_attempt_at and last_error on notifications

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 01:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from store.models import UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_attempt_at", UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_error", sa.String(length=200), nullable=True))
        batch_op.create_index(
            "ix_notifications_undelivered", ["delivered_at", "next_attempt_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_undelivered")
        batch_op.drop_column("last_error")
        batch_op.drop_column("next_attempt_at")
