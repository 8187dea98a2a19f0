"""discharge: the clinician's signed discharge checklist of a session

At most one per session (the signature ends the session); the checklist is kept as it was
signed: each item as Chairside judged it and whether the clinician confirmed it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "discharge",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("signed_by", sa.Integer(), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checklist", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["treatment_session.id"],
            name=op.f("fk_discharge_session_id_treatment_session"),
        ),
        sa.ForeignKeyConstraint(
            ["signed_by"], ["user_account.id"], name=op.f("fk_discharge_signed_by_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_discharge")),
        sa.UniqueConstraint("session_id", name=op.f("uq_discharge_session_id")),
    )


def downgrade() -> None:
    op.drop_table("discharge")
