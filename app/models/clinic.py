"""Chairs, the monitors (devices) bound to them, and treatment sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow

PROTOCOLS = ("spravato", "iv-ketamine")
# "wall": the alert engine's clock is the server's (live monitoring). "readings": it follows the
# readings' own timestamps, so a recorded session replayed at any speed raises what it raised.
ENGINE_CLOCKS = ("wall", "readings")
# The NIBP cuff cycles a session may be set to: a minute (the fastest monitors cycle) to four
# hours (an hourly cuff, or slower, in a long observation).
NIBP_INTERVAL_MIN_S, NIBP_INTERVAL_MAX_S = 60, 4 * 3600
# An HL7 identifier: EI-1 and HD-2 are 199 characters at most in v2.6; a PV1-3 as sent may be
# longer, and is refused at binding rather than cut.
HL7_SOURCE_MAX = 200


class Chair(Base):
    __tablename__ = "chair"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Device(Base):
    """A monitor at a chair; it authenticates with a token of which only the hash is kept."""

    __tablename__ = "device"

    id: Mapped[int] = mapped_column(primary_key=True)
    chair_id: Mapped[int] = mapped_column(ForeignKey("chair.id"), index=True)
    label: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    # The identity its HL7 messages carry (OBX-18 equipment id, MSH-3 sender or PV1-3 bed), for
    # a monitor that reports PCD-01 over MLLP rather than over /ws/ingest; None: it does not.
    hl7_source: Mapped[str | None] = mapped_column(String(HL7_SOURCE_MAX), unique=True)


class TreatmentSession(Base):
    """One patient's visit in a chair, from start to discharge."""

    __tablename__ = "treatment_session"
    __table_args__ = (
        # At most one open session per chair.
        Index(
            "uq_treatment_session_open_chair",
            "chair_id",
            unique=True,
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
        Index("ix_treatment_session_chair_started", "chair_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    chair_id: Mapped[int] = mapped_column(ForeignKey("chair.id"))
    protocol: Mapped[str] = mapped_column(String(16))
    patient_label: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    dose_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    limit_overrides: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    started_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    engine_clock: Mapped[str] = mapped_column(String(8), default="wall", server_default="wall")
    # The NIBP cuff's cycle for this session, in seconds; None: not set (the engine uses the
    # protocol's default from the rule set).
    nibp_interval_s: Mapped[int | None]
