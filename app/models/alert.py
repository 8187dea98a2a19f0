"""Alerts raised by the alert engine for a session, every transition of each, and what the
engine was told about the chair's monitor (connected, disconnected, a reading rejected)."""

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
    # The measurement time of the reading that raised it (None: no reading did). Earlier than
    # raised_at when the reading arrived late, e.g. in a monitor's catch-up batch.
    measured_at: Mapped[datetime | None]
    # When it escalated (not acknowledged in time); cleared when it re-alarms after an
    # acknowledgement, which starts the wait again.
    escalated_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    ack_note: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[datetime | None]
    # The hospital Alert Manager's latest delivery status for it (PCD-05, e.g. "Delivered").
    forward_status: Mapped[str | None] = mapped_column(String(64))
    forward_status_at: Mapped[datetime | None]


class AlertEvent(Base):
    """One transition of an alert (raised, escalated, acknowledged, ...), with its reason.

    ``at`` is the engine's clock; ``measured_at`` the measurement time of the reading that
    caused the transition (None: a tick, an acknowledgement, the dose caused it). An
    acknowledgement keeps who (``user_id``) and the note.
    """

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
    measured_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(Text)


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


class MonitorEvent(Base):
    """What the alert engine was told about the session's monitor, at the engine's time:
    ``connected``, ``disconnected``, or a reading ``rejected`` (with its error ``code``).

    Readings are stored anyway; these are not, yet they change what the engine raises (a lost
    link, repeated rejections), so an exported session needs them to replay as it ran.
    ``last_reading_id`` is the newest reading the engine had been fed then: it places the
    event exactly among the session's readings. Stored with the engine state that saw it.
    """

    __tablename__ = "monitor_event"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("treatment_session.id"), index=True)
    at: Mapped[datetime]
    event: Mapped[str] = mapped_column(String(16))
    code: Mapped[str | None] = mapped_column(String(64))
    last_reading_id: Mapped[int] = mapped_column(BigInteger)
