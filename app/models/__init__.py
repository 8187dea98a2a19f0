"""ORM models (tables) and the API's pydantic schemas (in ``schemas``), kept apart."""

from app.models.alert import Alert, AlertEvent, EngineSnapshot, MonitorEvent
from app.models.base import Base
from app.models.clinic import Chair, Device, TreatmentSession
from app.models.discharge import Discharge
from app.models.observation import Observation
from app.models.reading import Reading
from app.models.user import AuditEvent, LoginSession, User

__all__ = [
    "Alert",
    "AlertEvent",
    "AuditEvent",
    "Base",
    "Chair",
    "Device",
    "Discharge",
    "EngineSnapshot",
    "LoginSession",
    "MonitorEvent",
    "Observation",
    "Reading",
    "TreatmentSession",
    "User",
]
