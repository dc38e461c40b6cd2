"""inbound contacts from the phone system: the numbers each team answers, members found by phone,
and cases of callers the team does not know yet (member_id NULL, caller_phone set)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 10:00:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _e164(value: Any) -> str | None:
    from domain.inbound import e164

    return e164(value) if isinstance(value, str) else None


def upgrade() -> None:
    op.create_table(
        "team_phone_numbers",
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("team_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_team_phone_numbers_team_id_teams")),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_team_phone_numbers")),
    )
    with op.batch_alter_table("team_phone_numbers") as batch:
        batch.create_index(batch.f("ix_team_phone_numbers_team_id"), ["team_id"], unique=False)
    with op.batch_alter_table("members") as batch:
        batch.add_column(sa.Column("phone", sa.String(length=20), nullable=True))
        batch.create_index("ix_members_phone", ["team_id", "phone"], unique=False)
    with op.batch_alter_table("interactions") as batch:
        batch.add_column(sa.Column("caller_phone", sa.String(length=20), nullable=True))
        batch.alter_column("member_id", existing_type=sa.String(length=64), nullable=True)
    # Members stored before this revision: their profile's phone, in E.164, in the new column.
    bind = op.get_bind()
    members = sa.table(
        "members",
        sa.column("team_id", sa.String),
        sa.column("id", sa.String),
        sa.column("profile", sa.JSON),
        sa.column("phone", sa.String),
    )
    for team_id, member_id, profile in bind.execute(
        sa.select(members.c.team_id, members.c.id, members.c.profile)
    ):
        phone = _e164((profile or {}).get("phone"))
        if phone is not None:
            bind.execute(
                members.update()
                .where(members.c.team_id == team_id, members.c.id == member_id)
                .values(phone=phone)
            )


def downgrade() -> None:
    # Cases of callers nobody linked keep their row, with an empty member id (older code reads
    # it as a member it does not know; nothing is deleted).
    interactions = sa.table("interactions", sa.column("member_id", sa.String))
    op.get_bind().execute(
        interactions.update().where(interactions.c.member_id.is_(None)).values(member_id="")
    )
    with op.batch_alter_table("interactions") as batch:
        batch.alter_column("member_id", existing_type=sa.String(length=64), nullable=False)
        batch.drop_column("caller_phone")
    with op.batch_alter_table("members") as batch:
        batch.drop_index("ix_members_phone")
        batch.drop_column("phone")
    with op.batch_alter_table("team_phone_numbers") as batch:
        batch.drop_index(batch.f("ix_team_phone_numbers_team_id"))
    op.drop_table("team_phone_numbers")
