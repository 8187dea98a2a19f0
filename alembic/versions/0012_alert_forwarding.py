"""alert forwarding: what the hospital's Alert Manager reported about each alert

The latest delivery status of the alert's dissemination (PCD-05, e.g. "Delivered") and when
it came, so the alert card can say "sent to pager — delivered 10:42:05". NULL: never reported
(no Alert Manager, or it has said nothing yet).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alert") as batch:
        batch.add_column(sa.Column("forward_status", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("forward_status_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alert") as batch:
        batch.drop_column("forward_status_at")
        batch.drop_column("forward_status")
