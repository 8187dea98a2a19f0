"""REST shapes of the discharge checklist (read, sign) — the contract the browser's discharge
dialog is built on."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from app.models.schemas import Strict
from app.services.discharge import ITEM_IDS

ITEMS_HELP = f"the checklist's items: {', '.join(ITEM_IDS)}"
ItemId = Annotated[str, Field(min_length=1, max_length=64)]


class ChecklistItem(BaseModel):
    id: str = Field(description=ITEMS_HELP)
    label: str
    ok: bool | None = Field(
        description="as Chairside judged it from the data: true met, false not met, null "
        "Chairside cannot tell"
    )
    detail: str = Field(description="what the data shows, e.g. 'SBP 142 → 136 → 131 mmHg ...'")


class SignedItem(ChecklistItem):
    confirmed: bool = Field(description="the clinician named it in `confirm` when signing")


class DischargeSigned(BaseModel):
    by: str = Field(description="the clinician who signed")
    at: datetime
    note: str | None
    items: list[SignedItem] = Field(description="the checklist as it was when signed")


class DischargeRead(BaseModel):
    session_id: int
    items: list[ChecklistItem] = Field(
        description="as the data shows them now, or as signed once the discharge is signed"
    )
    can_sign: bool = Field(
        description="the session is open and unsigned and this user's role may sign "
        "(clinician, admin)"
    )
    signed: DischargeSigned | None


class DischargeSign(Strict):
    confirm: list[ItemId] = Field(
        default_factory=list,
        max_length=32,
        description="ids of the items the clinician confirms; every item Chairside did not find "
        f"met (ok false or null) must be named here to sign ({ITEMS_HELP})",
    )
    note: str | None = Field(default=None, max_length=500, pattern=r"^[^\x00]*$")
