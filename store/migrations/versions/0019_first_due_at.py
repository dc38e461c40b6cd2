"""an interaction's first_due_at: the deadline its first contact had, which repeat contacts do
not move; the SLA report judges the first response against it (issue 21, docs/rules.md §2.10).
Existing rows take their due_at.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-08 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from store.models import UTCDateTime

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("interactions") as batch:
        batch.add_column(sa.Column("first_due_at", UTCDateTime(timezone=True), nullable=True))
    op.execute("UPDATE interactions SET first_due_at = due_at")
    with op.batch_alter_table("interactions") as batch:
        batch.alter_column("first_due_at", existing_type=UTCDateTime(timezone=True), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("interactions") as batch:
        batch.drop_column("first_due_at")
