"""A nurse's observation of a patient in a session: sedation (MOAA/S), dissociation and
respiratory status, as the Spravato REMS asks the clinic to watch for them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, utcnow

# The Modified Observer's Assessment of Alertness/Sedation scale, 5 (awake) to 0 (no response).
MOAAS_MIN, MOAAS_MAX = 0, 5
# What each level means, in the words a nurse chooses it by.
MOAAS_WORDS = {
    5: "Responds readily to name spoken in normal tone",
    4: "Lethargic response to name spoken in normal tone",
    3: "Responds only after name is called loudly and/or repeatedly",
    2: "Responds only after mild prodding or shaking",
    1: "Responds only after painful trapezius squeeze",
    0: "No response after painful trapezius squeeze",
}
DISSOCIATION_LEVELS = ("none", "mild", "moderate", "severe")
RESPIRATORY_STATES = ("normal", "depressed")
NOTE_MAX = 500


class Observation(Base):
    """What the nurse saw at ``at``; ``recorded_at`` is when it was entered (later when the
    nurse writes it down after the fact). At least one of the three findings is present."""

    __tablename__ = "observation"
    __table_args__ = (
        Index("ix_observation_session_at", "session_id", "at"),
        CheckConstraint(
            "moaas IS NOT NULL OR dissociation IS NOT NULL OR respiratory IS NOT NULL",
            name="something_observed",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("treatment_session.id"))
    chair_id: Mapped[int] = mapped_column(ForeignKey("chair.id"))
    at: Mapped[datetime]
    moaas: Mapped[int | None]
    dissociation: Mapped[str | None] = mapped_column(String(16))
    respiratory: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
