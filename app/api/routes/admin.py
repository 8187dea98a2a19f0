"""Admin: chairs, monitors (devices) and users; the audit trail."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from app.api.deps import AdminUser, ClinicianUser, SessionDep, actor_of
from app.models import AuditEvent, Chair, Device, User
from app.models.schemas import (
    AuditRead,
    ChairCreate,
    ChairRead,
    DeviceCreate,
    DeviceCreated,
    DeviceRead,
    UserCreate,
    UserRead,
)
from app.services import audit, chairs, devices, users

router = APIRouter(prefix="/api", tags=["admin"])


@router.post("/chairs", response_model=ChairRead, status_code=status.HTTP_201_CREATED)
async def create_chair(body: ChairCreate, user: AdminUser, db: SessionDep) -> Chair:
    """Add a chair."""
    chair = await chairs.create_chair(db, body.name, actor_of(user))
    await db.commit()
    return chair


@router.get("/devices", response_model=list[DeviceRead])
async def list_devices(user: AdminUser, db: SessionDep) -> list[Device]:
    """All monitors, revoked ones included."""
    return await devices.list_devices(db)


@router.post("/devices", response_model=DeviceCreated, status_code=status.HTTP_201_CREATED)
async def register_device(body: DeviceCreate, user: AdminUser, db: SessionDep) -> DeviceCreated:
    """Register a monitor at a chair; the token is in this answer only."""
    registered = await devices.register_device(db, body.chair, body.label, actor_of(user))
    await db.commit()
    return DeviceCreated(
        **DeviceRead.model_validate(registered.device).model_dump(), token=registered.token
    )


@router.post("/devices/{device_id}/revoke", response_model=DeviceRead)
async def revoke_device(
    device_id: int, request: Request, user: AdminUser, db: SessionDep
) -> Device:
    """Revoke a monitor's token; a connected monitor is disconnected at once."""
    device = await devices.revoke_device(db, device_id, actor_of(user))
    await db.commit()
    await request.app.state.hub.publish("devices", {"type": "revoked", "device_id": device_id})
    return device


@router.get("/users", response_model=list[UserRead])
async def list_users(user: AdminUser, db: SessionDep) -> list[User]:
    """All users."""
    return await users.list_users(db)


@router.post("/users", response_model=UserRead, status_code=status.HTTP_201_CREATED)
async def create_user(body: UserCreate, user: AdminUser, db: SessionDep) -> User:
    """Create a user."""
    created = await users.create_user(db, body.name, body.role, body.password, actor_of(user))
    await db.commit()
    return created


@router.get("/audit", response_model=list[AuditRead])
async def list_audit(
    user: ClinicianUser,
    db: SessionDep,
    target_type: str | None = None,
    target_id: int | None = None,
    limit: int = 200,
) -> list[AuditEvent]:
    """The audit trail, newest first."""
    return await audit.list_events(db, target_type, target_id, min(limit, 1000))
