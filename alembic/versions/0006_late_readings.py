"""late readings: measurement times on alerts, acknowledgement notes, monitor events

An alert and each of its transitions keep the measurement time of the reading that caused
them beside the engine's time (they differ when a reading arrives late); an acknowledgement
keeps its note; what the engine was told about the monitor (connected, disconnected, a
reading rejected) is stored, so an exported session replays as it ran live.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.add_column(sa.Column("measured_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("alert_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("measured_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("note", sa.Text(), nullable=True))
    op.create_table(
        "monitor_event",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=True),
        sa.Column("last_reading_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["treatment_session.id"],
            name=op.f("fk_monitor_event_session_id_treatment_session"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_event")),
    )
    with op.batch_alter_table("monitor_event", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_monitor_event_session_id"), ["session_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("monitor_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_monitor_event_session_id"))
    op.drop_table("monitor_event")
    with op.batch_alter_table("alert_event", schema=None) as batch_op:
        batch_op.drop_column("note")
        batch_op.drop_column("measured_at")
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_column("measured_at")
