"""Stored vital-sign readings, one row per reading a device sent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId


class Reading(Base):
    __tablename__ = "reading"
    __table_args__ = (
        # A device's seq is stored at most once: the ingest relies on it for duplicates.
        UniqueConstraint("device_id", "seq"),
        Index("ix_reading_session_measured", "session_id", "measured_at"),
        Index("ix_reading_chair_measured", "chair_id", "measured_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    chair_id: Mapped[int] = mapped_column(ForeignKey("chair.id"))
    session_id: Mapped[int | None] = mapped_column(ForeignKey("treatment_session.id"))
    device_id: Mapped[int] = mapped_column(ForeignKey("device.id"))
    seq: Mapped[int] = mapped_column(BigInteger)
    measured_at: Mapped[datetime]
    received_at: Mapped[datetime]
    sbp: Mapped[float | None]
    dbp: Mapped[float | None]
    map: Mapped[float | None]
    hr: Mapped[float | None]
    spo2: Mapped[float | None]
    # A capnograph's respiration rate (breaths/min) and end-tidal CO2 (mmHg).
    rr: Mapped[float | None]
    etco2: Mapped[float | None]
