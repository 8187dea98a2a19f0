"""device hl7 source: the identity a monitor's HL7 (PCD-01) messages carry

Nullable: a monitor that streams over /ws/ingest has none. Unique: a message belongs to one
device only.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("device", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hl7_source", sa.String(length=200), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_device_hl7_source"), ["hl7_source"])


def downgrade() -> None:
    with op.batch_alter_table("device", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_device_hl7_source"), type_="unique")
        batch_op.drop_column("hl7_source")
