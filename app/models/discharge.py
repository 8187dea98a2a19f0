"""A session's signed discharge checklist: who signed the patient out, when, and on what.

One row per session at most (the signature ends the session). ``checklist`` keeps each item as
Chairside judged it at the moment of signing and whether the clinician confirmed it, so the
record shows what the data said beside what the clinician decided."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class Discharge(Base):
    __tablename__ = "discharge"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("treatment_session.id"), unique=True)
    signed_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    signed_at: Mapped[datetime]
    # [{"id", "label", "ok": true | false | null, "detail", "confirmed": bool}, ...]
    checklist: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)
