"""ORM models (tables) and the API's pydantic schemas (in ``schemas``), kept apart."""

from app.models.alert import Alert, AlertEvent, EngineSnapshot, MonitorEvent
from app.models.base import Base
from app.models.clinic import Chair, Device, TreatmentSession
from app.models.reading import Reading
from app.models.user import AuditEvent, LoginSession, User

__all__ = [
    "Alert",
    "AlertEvent",
    "AuditEvent",
    "Base",
    "Chair",
    "Device",
    "EngineSnapshot",
    "LoginSession",
    "MonitorEvent",
    "Reading",
    "TreatmentSession",
    "User",
]
