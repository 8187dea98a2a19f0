"""engine snapshot setup column

The session's set-up (protocol, times, rule set: most of a stored state's bytes) is stored
once, and again only when it changes; the periodic saves write the rest.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Rows stored before this revision keep their set-up inside ``state`` (setup NULL); the
    # engine reads either form and stores the new one at its next save.
    with op.batch_alter_table("engine_snapshot", schema=None) as batch_op:
        batch_op.add_column(sa.Column("setup", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("engine_snapshot", schema=None) as batch_op:
        batch_op.drop_column("setup")
