"""session NIBP interval

The cuff cycle is the session's: a clinic sets it when the session starts (hourly cuffs, a
10-minute cycle during IV infusions). NULL means not set: the engine uses the protocol's
default from the rule set.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("treatment_session", schema=None) as batch_op:
        batch_op.add_column(sa.Column("nibp_interval_s", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("treatment_session", schema=None) as batch_op:
        batch_op.drop_column("nibp_interval_s")
