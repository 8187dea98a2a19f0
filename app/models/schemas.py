"""Pydantic schemas of the REST API: the public contract, kept apart from the tables."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
)

from app.models.clinic import NIBP_INTERVAL_MAX_S, NIBP_INTERVAL_MIN_S
from app.security import MIN_PASSWORD_LENGTH

Protocol = Literal["spravato", "iv-ketamine"]
Role = Literal["nurse", "clinician", "admin"]

# The largest id a row can have: chairs, devices, sessions and users have PostgreSQL int4 keys,
# alerts int8 ones. A larger number names no row, so the API refuses it (422) before any query.
INT4_MAX = 2**31 - 1
INT8_MAX = 2**63 - 1
RowRef = Annotated[int, Field(ge=1, le=INT4_MAX)]

# ISO 8601 date and time with seconds and a zone, as RFC 3339 has it. Checked before pydantic
# parses the value, which would otherwise take a number such as 0.5 as seconds since 1970.
ISO_8601_WITH_ZONE = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})"
)
TIME_HELP = "ISO 8601 with a time zone, e.g. 2026-11-24T10:00:00Z"


def _iso_8601_with_zone(value: object) -> object:
    if isinstance(value, datetime):  # from Python callers; AwareDatetime checks its zone
        return value
    if not isinstance(value, str) or not ISO_8601_WITH_ZONE.fullmatch(value):
        raise ValueError(f"must be a time in {TIME_HELP}")
    return value


def _within_utc_years(value: datetime) -> datetime:
    try:
        value.astimezone(UTC)  # what the database stores; years 1-9999 only
    except OverflowError:
        raise ValueError("is outside the years 1-9999 in UTC") from None
    return value


# A point in time in a request: ISO 8601 with a zone only (a naive time or a number is a 422).
ZonedTime = Annotated[
    AwareDatetime, BeforeValidator(_iso_8601_with_zone), AfterValidator(_within_utc_years)
]
# Names and labels: no control characters (PostgreSQL cannot store NUL; the rest mean nothing
# in a chair name and would only garble a screen or a log line).
NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f]*$"
# A number in a request body: finite (JSON parsers read 1e999 as infinity).
FiniteNumber = Annotated[float, Field(allow_inf_nan=False)]
LimitOverrides = dict[str, dict[str, FiniteNumber]]


class Strict(BaseModel):
    """Request bodies: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class Read(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class LoginRequest(Strict):
    name: str = Field(min_length=1, max_length=64, pattern=NO_CONTROL_CHARACTERS)
    password: str = Field(min_length=1, max_length=256)


class UserCreate(Strict):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    role: Role
    # The policy (app/security.py) is checked by the service, with one message for REST and CLI.
    password: str = Field(
        min_length=1,
        max_length=256,
        description=f"at least {MIN_PASSWORD_LENGTH} characters, not a common password, "
        "not containing the name",
    )


class UserRead(Read):
    id: int
    name: str
    role: Role
    created_at: datetime


class ChairCreate(Strict):
    name: str = Field(min_length=1, max_length=64, pattern=NO_CONTROL_CHARACTERS)


class ChairRead(Read):
    id: int
    name: str


class DeviceCreate(Strict):
    chair: str = Field(
        min_length=1,
        max_length=64,
        pattern=NO_CONTROL_CHARACTERS,
        description="chair name; created if new",
    )
    label: str | None = Field(default=None, max_length=64, pattern=NO_CONTROL_CHARACTERS)
    hl7_source: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        pattern=NO_CONTROL_CHARACTERS,
        description="for a monitor reporting HL7 PCD-01 over MLLP: an identifier its messages "
        "carry (OBX-18 equipment id such as an EUI-64, MSH-3 sender, or PV1-3 bed)",
    )


class DeviceRead(Read):
    id: int
    chair_id: int
    label: str
    created_at: datetime
    last_seen_at: datetime | None
    revoked_at: datetime | None
    hl7_source: str | None = None


class DeviceCreated(DeviceRead):
    token: str = Field(description="shown once; only its hash is stored")


class Hl7Identifier(BaseModel):
    kind: Literal["OBX-18", "MSH-3", "PV1-3"]
    value: str


class Hl7UnboundSource(BaseModel):
    identifiers: list[Hl7Identifier] = Field(
        description="most specific first; bind one with POST /api/devices {chair, hl7_source}"
    )
    peer: str = Field(description="the address the last message came from")
    first_seen: datetime
    last_seen: datetime
    messages: int


NIBP_INTERVAL_HELP = (
    f"the NIBP cuff's cycle in seconds ({NIBP_INTERVAL_MIN_S}-{NIBP_INTERVAL_MAX_S}); null: "
    "not set, the alert engine expects the protocol's default cycle"
)
NibpInterval = Annotated[int | None, Field(ge=NIBP_INTERVAL_MIN_S, le=NIBP_INTERVAL_MAX_S)]


class SessionCreate(Strict):
    chair_id: RowRef
    protocol: Protocol
    patient_label: str = Field(
        min_length=1,
        max_length=64,
        pattern=NO_CONTROL_CHARACTERS,
        description="initials or a pseudonymous id, never a full name",
    )
    limit_overrides: LimitOverrides = Field(default_factory=dict)
    started_at: ZonedTime | None = Field(
        default=None,
        description="when the patient sat down, if the session is opened late; now when "
        f"omitted; {TIME_HELP}",
    )
    engine_clock: Literal["wall", "readings"] = Field(
        default="wall",
        description="'readings' makes the alert engine follow the readings' own timestamps "
        "(for a replay of a recorded session); live monitoring uses 'wall'",
    )
    nibp_interval_s: NibpInterval = Field(default=None, description=NIBP_INTERVAL_HELP)

    @field_validator("patient_label")
    @classmethod
    def _strip(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("patient label must not be blank")
        return value


class DoseMark(Strict):
    at: ZonedTime | None = Field(
        default=None, description=f"dose time; now when omitted; {TIME_HELP}"
    )


class LimitsUpdate(Strict):
    limit_overrides: LimitOverrides


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
    rr: float | None = None  # breaths/min, from a capnograph
    etco2: float | None = None  # mmHg


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
    rr: VitalValue | None = None
    etco2: VitalValue | None = None


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
    # Line breaks and tabs are fine in a note; NUL is not (PostgreSQL cannot store it).
    note: str | None = Field(default=None, max_length=500, pattern=r"^[^\x00]*$")


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
    escalated_at: datetime | None = Field(
        default=None,
        description="when it escalated, not acknowledged in time (null: it has not, or it "
        "re-alarmed after an acknowledgement and the wait began again)",
    )
    updated_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    ack_note: str | None
    resolved_at: datetime | None
    event: str | None = None
    forward_status: str | None = Field(
        default=None,
        description="the hospital Alert Manager's latest delivery status for it (IHE PCD-05, "
        "e.g. Delivered); null: no Alert Manager has reported on it",
    )
    forward_status_at: datetime | None = Field(
        default=None, description="when the Alert Manager reported forward_status"
    )


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


class ErrorRead(BaseModel):
    """Every error answer but a request that does not match the schema: one sentence for a
    person (``detail``) and a stable machine-readable ``code``."""

    detail: str
    code: str = Field(description="e.g. not_found, conflict, invalid_input, forbidden")


class ValidationIssue(BaseModel):
    loc: list[str | int] = Field(description="where: body, query or path, then the field")
    msg: str
    type: str
    input: Any = None
    ctx: dict[str, Any] | None = None


class ValidationErrorRead(BaseModel):
    """A request that does not match the schema (FastAPI's answer): one issue per field."""

    detail: list[ValidationIssue]
