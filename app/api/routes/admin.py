"""Admin: chairs, monitors (devices) and users; the audit trail."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status

from app.api.deps import AdminUser, ClinicianUser, RowId, RowIdFilter, SessionDep, actor_of
from app.api.responses import errors
from app.api.routes.auth import LoginThrottleDep
from app.models import AuditEvent, Chair, Device, User
from app.models.schemas import (
    AuditRead,
    ChairCreate,
    ChairRead,
    DeviceCreate,
    DeviceCreated,
    DeviceRead,
    Hl7UnboundSource,
    UserCreate,
    UserRead,
)
from app.services import audit, chairs, devices, users

router = APIRouter(prefix="/api", tags=["admin"], responses=errors(401, 403))


@router.post(
    "/chairs",
    response_model=ChairRead,
    status_code=status.HTTP_201_CREATED,
    responses=errors(400, 409, 422),
)
async def create_chair(body: ChairCreate, user: AdminUser, db: SessionDep) -> Chair:
    """Add a chair."""
    chair = await chairs.create_chair(db, body.name, actor_of(user))
    await db.commit()
    return chair


@router.get("/devices", response_model=list[DeviceRead])
async def list_devices(user: AdminUser, db: SessionDep) -> list[Device]:
    """All monitors, revoked ones included."""
    return await devices.list_devices(db)


@router.post(
    "/devices",
    response_model=DeviceCreated,
    status_code=status.HTTP_201_CREATED,
    responses=errors(400, 409, 422),
)
async def register_device(
    body: DeviceCreate, request: Request, user: AdminUser, db: SessionDep
) -> DeviceCreated:
    """Register a monitor at a chair; the token is in this answer only. With ``hl7_source``
    it is the monitor whose HL7 messages carry that identifier (one of ``GET /api/hl7/unbound``
    binds it in this one call)."""
    registered = await devices.register_device(
        db, body.chair, body.label, actor_of(user), body.hl7_source
    )
    await db.commit()
    if registered.device.hl7_source and hasattr(request.app.state, "hl7_unbound"):
        await request.app.state.hl7_unbound.bound(registered.device.hl7_source)
    return DeviceCreated(
        **DeviceRead.model_validate(registered.device).model_dump(), token=registered.token
    )


@router.get("/hl7/unbound", response_model=list[Hl7UnboundSource])
async def list_unbound_hl7_sources(request: Request, user: AdminUser) -> list[dict[str, Any]]:
    """HL7 sources whose messages were refused (``AR``) because no device is bound to any
    identifier they carry; most recently heard first. Kept in this server's memory."""
    unbound = getattr(request.app.state, "hl7_unbound", None)
    return unbound.listing() if unbound is not None else []


@router.post(
    "/devices/{device_id}/revoke", response_model=DeviceRead, responses=errors(404, 409, 422)
)
async def revoke_device(
    device_id: RowId, request: Request, user: AdminUser, db: SessionDep
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


@router.post(
    "/users",
    response_model=UserRead,
    status_code=status.HTTP_201_CREATED,
    responses=errors(400, 409, 422),
)
async def create_user(body: UserCreate, user: AdminUser, db: SessionDep) -> User:
    """Create a user."""
    created = await users.create_user(db, body.name, body.role, body.password, actor_of(user))
    await db.commit()
    return created


@router.post("/users/{user_id}/unlock", response_model=UserRead, responses=errors(404, 422))
async def unlock_user(
    user_id: RowId, user: AdminUser, db: SessionDep, throttle: LoginThrottleDep
) -> User:
    """Lift the lock that failed logins put on a user; audited."""
    unlocked = await users.unlock_user(db, throttle, user_id, actor_of(user))
    await db.commit()
    return unlocked


@router.get("/audit", response_model=list[AuditRead], responses=errors(422))
async def list_audit(
    user: ClinicianUser,
    db: SessionDep,
    target_type: Annotated[
        str | None, Query(max_length=32, pattern="^[a-z_]+$", description="e.g. session, user")
    ] = None,
    target_id: RowIdFilter = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[AuditEvent]:
    """The audit trail, newest first."""
    return await audit.list_events(db, target_type, target_id, limit)
