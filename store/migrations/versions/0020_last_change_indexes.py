"""cases by last change, per assignee and per team: the FHIR Task search and polling
(``GET /fhir/r4/Task?owner=…``, ``_lastUpdated``) page by (updated_at, id) (issue 22, P9)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05 18:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_interactions_assignee_updated", "interactions", ["assignee_id", "updated_at", "id"])
    op.create_index("ix_interactions_team_updated", "interactions", ["team_id", "updated_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_interactions_team_updated", table_name="interactions")
    op.drop_index("ix_interactions_assignee_updated", table_name="interactions")
