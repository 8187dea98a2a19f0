"""Alerts raised by the alert engine for a session, and every transition of each."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId

ALERT_STATES = ("active", "acknowledged", "resolved")


class Alert(Base):
    __tablename__ = "alert"
    __table_args__ = (
        UniqueConstraint("session_id", "alert_no"),
        Index("ix_alert_state_chair", "state", "chair_id"),
        Index("ix_alert_chair_raised", "chair_id", "raised_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("treatment_session.id"))
    chair_id: Mapped[int] = mapped_column(ForeignKey("chair.id"))
    alert_no: Mapped[int]
    rule: Mapped[str] = mapped_column(String(64))
    vital: Mapped[str | None] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(16))
    value: Mapped[float | None]
    message: Mapped[str] = mapped_column(Text)
    raised_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    ack_note: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[datetime | None]


class AlertEvent(Base):
    """One transition of an alert (raised, escalated, acknowledged, ...), with its reason."""

    __tablename__ = "alert_event"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alert.id"), index=True)
    at: Mapped[datetime]
    event: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(8))
    value: Mapped[float | None]
    message: Mapped[str] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))


class EngineSnapshot(Base):
    """The alert engine's state for an open session, so a restart resumes it exactly.

    Written in the same transaction as the alert events it led to; ``last_reading_id`` says
    which readings it has seen (later ones are replayed on restore). ``setup`` (the session's
    protocol, times and rule set) is written when it is new or changed, ``state`` (the rest) at
    every save; NULL in a row stored before it had its own column (``state`` holds it then).
    """

    __tablename__ = "engine_snapshot"

    session_id: Mapped[int] = mapped_column(ForeignKey("treatment_session.id"), primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    setup: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    last_reading_id: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime]
