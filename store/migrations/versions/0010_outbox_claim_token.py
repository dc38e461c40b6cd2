"""outbox claim tokens: every claim of a notice or grouped delivery writes a random token, and
a try's outcome is written only under it (fenced leases; lease times from the database's clock)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Rows claimed before the upgrade have no token: their holders (old code) finish by their
    # lease as before, and the next claim writes one.
    for table in ("notifications", "deliveries"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("claim_token", sa.String(length=32), nullable=True))


def downgrade() -> None:
    for table in ("deliveries", "notifications"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("claim_token")
