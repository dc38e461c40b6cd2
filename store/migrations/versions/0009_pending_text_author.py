"""pending member text records its author (texts are kept per action, placed by the winner)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("pending_texts") as batch:
        batch.add_column(sa.Column("author_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pending_texts") as batch:
        batch.drop_column("author_id")
