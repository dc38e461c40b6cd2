"""a member's cases in a team: the safety inhibitor of every escalation notice, the repeat-contact
merge of every inbound contact, the member's attempts of every contact advice and attempt read
them by (team_id, member_id); without this index each of those scanned the team's cases
(issue 24: at the 17:00 herd every overdue notice scanned them all)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 04:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_interactions_member", "interactions", ["team_id", "member_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_interactions_member", table_name="interactions")
