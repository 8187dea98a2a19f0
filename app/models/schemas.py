"""Pydantic schemas of the REST API: the public contract, kept apart from the tables."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.models.clinic import NIBP_INTERVAL_MAX_S, NIBP_INTERVAL_MIN_S

Protocol = Literal["spravato", "iv-ketamine"]
Role = Literal["nurse", "clinician", "admin"]


class Strict(BaseModel):
    """Request bodies: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class Read(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class LoginRequest(Strict):
    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class UserCreate(Strict):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    role: Role
    password: str = Field(min_length=8, max_length=256)


class UserRead(Read):
    id: int
    name: str
    role: Role
    created_at: datetime


class ChairCreate(Strict):
    name: str = Field(min_length=1, max_length=64)


class ChairRead(Read):
    id: int
    name: str


class DeviceCreate(Strict):
    chair: str = Field(min_length=1, max_length=64, description="chair name; created if new")
    label: str | None = Field(default=None, max_length=64)


class DeviceRead(Read):
    id: int
    chair_id: int
    label: str
    created_at: datetime
    last_seen_at: datetime | None
    revoked_at: datetime | None


class DeviceCreated(DeviceRead):
    token: str = Field(description="shown once; only its hash is stored")


NIBP_INTERVAL_HELP = (
    f"the NIBP cuff's cycle in seconds ({NIBP_INTERVAL_MIN_S}-{NIBP_INTERVAL_MAX_S}); null: "
    "not set, the alert engine expects the protocol's default cycle"
)
NibpInterval = Annotated[int | None, Field(ge=NIBP_INTERVAL_MIN_S, le=NIBP_INTERVAL_MAX_S)]


class SessionCreate(Strict):
    chair_id: int
    protocol: Protocol
    patient_label: str = Field(
        min_length=1, max_length=64, description="initials or a pseudonymous id, never a full name"
    )
    limit_overrides: dict[str, dict[str, float]] = Field(default_factory=dict)
    started_at: datetime | None = Field(
        default=None,
        description="when the patient sat down, if the session is opened late; now when omitted",
    )
    engine_clock: Literal["wall", "readings"] = Field(
        default="wall",
        description="'readings' makes the alert engine follow the readings' own timestamps "
        "(for a replay of a recorded session); live monitoring uses 'wall'",
    )
    nibp_interval_s: NibpInterval = Field(default=None, description=NIBP_INTERVAL_HELP)

    @field_validator("started_at")
    @classmethod
    def _aware_start(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("started_at needs a time zone")
        return value

    @field_validator("patient_label")
    @classmethod
    def _strip(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("patient label must not be blank")
        return value


class DoseMark(Strict):
    at: datetime | None = Field(default=None, description="dose time; now when omitted")

    @field_validator("at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("dose time needs a time zone")
        return value


class LimitsUpdate(Strict):
    limit_overrides: dict[str, dict[str, float]]


class NibpIntervalUpdate(Strict):
    nibp_interval_s: NibpInterval = Field(description=NIBP_INTERVAL_HELP)


class SessionRead(Read):
    id: int
    chair_id: int
    protocol: Protocol
    patient_label: str
    started_at: datetime
    dose_at: datetime | None
    ended_at: datetime | None
    limit_overrides: dict[str, Any]
    engine_clock: Literal["wall", "readings"] = "wall"
    nibp_interval_s: int | None = None


class ReadingRead(Read):
    id: int
    chair_id: int
    session_id: int | None
    device_id: int
    seq: int
    measured_at: datetime
    received_at: datetime
    sbp: float | None
    dbp: float | None
    map: float | None
    hr: float | None
    spo2: float | None


class VitalValue(BaseModel):
    value: float
    measured_at: datetime


class LatestVitals(BaseModel):
    """Each vital's latest value with its own time (BP and pulse oximetry come apart)."""

    sbp: VitalValue | None = None
    dbp: VitalValue | None = None
    map: VitalValue | None = None
    hr: VitalValue | None = None
    spo2: VitalValue | None = None


class ChairStatus(BaseModel):
    id: int
    name: str
    session: SessionRead | None
    latest: LatestVitals
    device_last_seen_at: datetime | None


class AuditRead(Read):
    id: int
    at: datetime
    actor: str
    action: str
    target_type: str
    target_id: int | None
    detail: dict[str, Any]


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: bool
    version: str


class AlertAck(Strict):
    note: str | None = Field(default=None, max_length=500)


class AlertRead(BaseModel):
    id: int
    alert_no: int
    session_id: int
    chair_id: int
    rule: str
    vital: str | None
    kind: str
    priority: str
    state: Literal["active", "acknowledged", "resolved"]
    value: float | None
    message: str
    raised_at: datetime
    measured_at: datetime | None = Field(
        default=None,
        description="when the reading that raised it was measured (null: no reading did); "
        "earlier than raised_at when it arrived late, e.g. in a monitor's catch-up batch",
    )
    updated_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    ack_note: str | None
    resolved_at: datetime | None
    event: str | None = None


class AlertEventRead(Read):
    at: datetime
    event: str
    priority: str
    value: float | None
    message: str
    reason: str | None
    measured_at: datetime | None = Field(
        default=None, description="when the reading that caused it was measured (null: none)"
    )
    note: str | None = Field(default=None, description="an acknowledgement's note")
