"""observations: the nurse's sedation, dissociation and respiratory findings

Each observation of a session keeps when it was made, by whom and when it was entered; at
least one of MOAA/S, dissociation and respiratory status is present.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "observation",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("chair_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("moaas", sa.Integer(), nullable=True),
        sa.Column("dissociation", sa.String(length=16), nullable=True),
        sa.Column("respiratory", sa.String(length=16), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "moaas IS NOT NULL OR dissociation IS NOT NULL OR respiratory IS NOT NULL",
            name=op.f("ck_observation_something_observed"),
        ),
        sa.ForeignKeyConstraint(
            ["chair_id"], ["chair.id"], name=op.f("fk_observation_chair_id_chair")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["treatment_session.id"],
            name=op.f("fk_observation_session_id_treatment_session"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_observation_user_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_observation")),
    )
    with op.batch_alter_table("observation", schema=None) as batch_op:
        batch_op.create_index("ix_observation_session_at", ["session_id", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("observation", schema=None) as batch_op:
        batch_op.drop_index("ix_observation_session_at")
    op.drop_table("observation")
