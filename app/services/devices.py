"""Monitors: registration (token shown once), lookup by token, revocation.

The CLI's ``chairside device add`` and ``POST /api/devices`` both call ``register_device``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app import security
from app.models import Device
from app.models.base import utcnow
from app.models.clinic import HL7_SOURCE_MAX
from app.services import audit, chairs
from app.services.errors import Conflict, InvalidInput, NotFound

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
    db: AsyncSession,
    chair_name: str,
    label: str | None,
    actor: audit.Actor,
    hl7_source: str | None = None,
) -> RegisteredDevice:
    """Register a monitor at a chair (making the chair if new); the token is returned once.

    ``hl7_source``: an identifier its HL7 messages carry (OBX-18 equipment id, MSH-3 sender or
    PV1-3 bed), for a monitor that reports PCD-01 over MLLP; it binds to one device only."""
    hl7_source = _checked_hl7_source(hl7_source)
    if hl7_source is not None:
        taken = await db.scalar(select(Device.id).where(Device.hl7_source == hl7_source))
        if taken is not None:
            raise Conflict(f"HL7 source {hl7_source!r} is already bound to device {taken}")
    chair, created = await chairs.get_or_create_chair(db, chair_name, actor)
    token = security.new_device_token()
    default_label = f"{chair.name} monitor"
    if len(default_label) > LABEL_MAX:  # a chair name near its own limit: the name alone
        default_label = chair.name
    device = Device(
        chair_id=chair.id,
        label=label or default_label,
        token_hash=security.hash_device_token(token),
        hl7_source=hl7_source,
    )
    db.add(device)
    try:
        await db.flush()
    except IntegrityError as exc:  # bound by another registration at the same moment
        if hl7_source is None:
            raise
        raise Conflict(f"HL7 source {hl7_source!r} is already bound to a device") from exc
    details = {"chair": chair.name, "label": device.label}
    if hl7_source is not None:
        details["hl7_source"] = hl7_source
    audit.record(db, actor, "device.register", "device", device.id, details)
    return RegisteredDevice(device=device, token=token, chair_created=created)


def _checked_hl7_source(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value or len(value) > HL7_SOURCE_MAX or any(ord(c) < 32 for c in value):
        raise InvalidInput(
            f"an HL7 source is 1-{HL7_SOURCE_MAX} printable characters, as the messages carry "
            "it (e.g. the EUI-64 0123456789ABCDEF of OBX-18)"
        )
    return value


async def find_by_hl7_source(db: AsyncSession, identifiers: list[str]) -> DeviceIdentity | None:
    """The unrevoked device bound to one of these identifiers, the first (most specific) that
    is bound winning."""
    if not identifiers:
        return None
    rows = (
        await db.execute(
            select(Device.id, Device.chair_id, Device.hl7_source).where(
                Device.hl7_source.in_(identifiers), Device.revoked_at.is_(None)
            )
        )
    ).all()
    by_source = {row.hl7_source: row for row in rows}
    for identifier in identifiers:
        if identifier in by_source:
            row = by_source[identifier]
            return DeviceIdentity(device_id=row.id, chair_id=row.chair_id)
    return None


async def list_devices(db: AsyncSession) -> list[Device]:
    return list((await db.scalars(select(Device).order_by(Device.id))).all())


async def revoke_device(db: AsyncSession, device_id: int, actor: audit.Actor) -> Device:
    device = await db.get(Device, device_id)
    if device is None:
        raise NotFound(f"no device with id {device_id}")
    if device.revoked_at is not None:
        raise Conflict(f"device {device_id} was already revoked")
    device.revoked_at = utcnow()
    # Its HL7 source is freed for the monitor that replaces it (the audit trail keeps it).
    details = {"hl7_source": device.hl7_source} if device.hl7_source else None
    device.hl7_source = None
    audit.record(db, actor, "device.revoke", "device", device.id, details)
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
