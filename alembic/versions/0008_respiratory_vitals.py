"""respiratory vitals: a capnograph's respiration rate and end-tidal CO2 on each reading

Both optional, as every vital is: a chair without a capnograph sends neither, and the readings
stored before keep them null.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-09
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("reading", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rr", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("etco2", sa.Double(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reading", schema=None) as batch_op:
        batch_op.drop_column("etco2")
        batch_op.drop_column("rr")
