"""Monitors: registration (token shown once), lookup by token, revocation.

The CLI's ``chairside device add`` and ``POST /api/devices`` both call ``register_device``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app import security
from app.models import Device
from app.models.base import utcnow
from app.services import audit, chairs
from app.services.errors import Conflict, NotFound

LABEL_MAX = 64  # the device.label column


@dataclass(frozen=True, slots=True)
class RegisteredDevice:
    device: Device
    token: str
    chair_created: bool


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    """What the ingest needs to know about an authenticated device."""

    device_id: int
    chair_id: int


async def register_device(
    db: AsyncSession, chair_name: str, label: str | None, actor: audit.Actor
) -> RegisteredDevice:
    """Register a monitor at a chair (making the chair if new); the token is returned once."""
    chair, created = await chairs.get_or_create_chair(db, chair_name, actor)
    token = security.new_device_token()
    default_label = f"{chair.name} monitor"
    if len(default_label) > LABEL_MAX:  # a chair name near its own limit: the name alone
        default_label = chair.name
    device = Device(
        chair_id=chair.id,
        label=label or default_label,
        token_hash=security.hash_device_token(token),
    )
    db.add(device)
    await db.flush()
    audit.record(
        db,
        actor,
        "device.register",
        "device",
        device.id,
        {"chair": chair.name, "label": device.label},
    )
    return RegisteredDevice(device=device, token=token, chair_created=created)


async def list_devices(db: AsyncSession) -> list[Device]:
    return list((await db.scalars(select(Device).order_by(Device.id))).all())


async def revoke_device(db: AsyncSession, device_id: int, actor: audit.Actor) -> Device:
    device = await db.get(Device, device_id)
    if device is None:
        raise NotFound(f"no device with id {device_id}")
    if device.revoked_at is not None:
        raise Conflict(f"device {device_id} was already revoked")
    device.revoked_at = utcnow()
    audit.record(db, actor, "device.revoke", "device", device.id)
    return device


async def identify(db: AsyncSession, token: str) -> DeviceIdentity | None:
    """The device a bearer token belongs to, unless unknown or revoked."""
    row = (
        await db.execute(
            select(Device.id, Device.chair_id).where(
                Device.token_hash == security.hash_device_token(token),
                Device.revoked_at.is_(None),
            )
        )
    ).first()
    return DeviceIdentity(device_id=row.id, chair_id=row.chair_id) if row else None


async def touch(db: AsyncSession, device_ids: set[int]) -> None:
    """Record that these devices were just heard from."""
    if device_ids:
        await db.execute(
            update(Device).where(Device.id.in_(device_ids)).values(last_seen_at=utcnow())
        )
