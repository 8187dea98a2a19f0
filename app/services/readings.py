"""Durable storage of ingested readings with group commit, then fan-out on the hub.

Readings from every connection go through one writer task. It takes everything that is
waiting (up to a batch limit) and stores it in one transaction, so a busy server commits
hundreds of readings at once while a quiet one commits each reading as soon as it arrives.
A reading's future resolves only after its transaction has committed.

A commit the database refuses for what a reading holds (not because it is unreachable) is split
until the readings it refuses are found: the others are stored, each refused one is told so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.hub import Hub
from app.models import Device, Reading, TreatmentSession
from app.models.base import utcnow
from app.services.devices import DeviceIdentity
from app.wire import VITALS, ReadingIn

log = logging.getLogger(__name__)
READINGS_TOPIC = "readings"
SEEN_EVERY_S = 5.0


@dataclass(frozen=True, slots=True)
class Stored:
    """Outcome of storing one reading: its row id, and whether it was already there."""

    reading_id: int | None
    duplicate: bool


class RefusedByStorage(Exception):
    """The database refused this reading for what it holds: sent again, it is refused again."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


# PostgreSQL error classes that are about the values written: data exception (22), integrity
# constraint violation (23), an error raised by a PL/pgSQL trigger (P0).
_DATA_SQLSTATE_CLASSES = frozenset({"22", "23", "P0"})


def refused_for_its_data(exc: BaseException) -> bool:
    """Whether a failed commit was refused for the values written, on a working connection.

    Yes: a constraint or data error of the database (PostgreSQL SQLSTATE class 22, 23 or P0;
    SQLAlchemy's IntegrityError or DataError), or a value the driver could not bind (an
    OverflowError or ValueError, raised bare or wrapped in a StatementError). Anything else,
    a lost connection above all (OperationalError, InterfaceError, an invalidated connection,
    OSError, timeouts, a serialization failure), is the database not taking readings now: the
    readings are to be sent again.
    """
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return False
        sqlstate = getattr(exc.orig, "sqlstate", None)
        if isinstance(sqlstate, str):
            return sqlstate[:2] in _DATA_SQLSTATE_CLASSES
        # asyncpg refusing to encode a value (its DataError is a ValueError) has no SQLSTATE.
        driver_error = getattr(exc.orig, "__cause__", None)
        return isinstance(exc, IntegrityError | DataError) or isinstance(
            driver_error, ValueError | OverflowError
        )
    if isinstance(exc, StatementError):
        return isinstance(exc.orig, ValueError | OverflowError)
    return isinstance(exc, ValueError | OverflowError)


def storage_says(exc: BaseException) -> str:
    """What the database or its driver said, in one line: no SQL, parameters or traceback."""
    said = exc.orig if isinstance(exc, StatementError) and exc.orig is not None else exc
    lines = str(said).strip().splitlines()
    first = lines[0] if lines else type(said).__name__
    return first if len(first) <= 200 else first[:199] + "…"


@dataclass(slots=True)
class _Pending:
    device: DeviceIdentity
    reading: ReadingIn
    received_at: datetime
    future: asyncio.Future[Stored] = field(repr=False)


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def reading_message(row: dict[str, Any]) -> dict[str, Any]:
    """The hub / dashboard form of a stored reading."""
    return {
        "type": "reading",
        "id": row["id"],
        "chair_id": row["chair_id"],
        "session_id": row["session_id"],
        "device_id": row["device_id"],
        "seq": row["seq"],
        "ts": iso(row["measured_at"]),
        **{v: row[v] for v in VITALS if row[v] is not None},
    }


class ReadingWriter:
    def __init__(self, engine: AsyncEngine, hub: Hub, max_batch: int = 500) -> None:
        self._engine = engine
        self._hub = hub
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        # Statements are built once: building one per batch makes objects in reference
        # cycles, and collecting those stalls every connection.
        self._store = (
            insert(Reading)
            .on_conflict_do_nothing(index_elements=["device_id", "seq"])
            .returning(Reading.id, Reading.device_id, Reading.seq)
        )
        self._open_sessions = select(TreatmentSession.chair_id, TreatmentSession.id).where(
            TreatmentSession.chair_id.in_(bindparam("chairs", expanding=True)),
            TreatmentSession.ended_at.is_(None),
        )
        devices = cast(Table, Device.__table__)
        self._mark_seen = (
            update(devices)
            .where(devices.c.id == bindparam("device"))
            .values(last_seen_at=bindparam("seen_at"))
        )
        # A device's last_seen_at is written when it is first seen, then every SEEN_EVERY_S
        # for all devices at once, rather than one more statement in every commit.
        self._seen_pending: dict[int, datetime] = {}
        self._seen_known: set[int] = set()
        self._seen_flushed = time.monotonic()
        self.batches = 0
        self.stored = 0
        self.refused = 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="reading-writer")

    async def stop(self) -> None:
        """Store what is already queued, then stop."""
        if self._task is None:
            return
        await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        try:
            await self._flush_seen()
        except Exception:
            log.exception("storing devices' last-seen times at shutdown failed")

    def submit(self, device: DeviceIdentity, reading: ReadingIn) -> asyncio.Future[Stored]:
        """Queue a validated reading; the future resolves once it is committed."""
        if self._task is None:
            raise RuntimeError("reading writer is not running")
        future: asyncio.Future[Stored] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(device, reading, utcnow(), future))
        return future

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            # Let connections that are mid-frame add theirs to this commit.
            await asyncio.sleep(0)
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._commit(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _commit(self, batch: list[_Pending]) -> None:
        """Store a batch and resolve each reading's future: stored, refused, or to be resent."""
        try:
            rows, outcomes = await self._write(batch)
        except Exception as exc:
            if refused_for_its_data(exc):
                await self._isolate(batch, exc)
            else:
                log.exception("storing %d readings failed; devices will resend", len(batch))
                self._fail(batch, exc)
            return
        for item, outcome in zip(batch, outcomes, strict=True):
            if not item.future.done():
                item.future.set_result(outcome)
        if rows:  # one message per commit: fan-out costs per message, not per reading
            await self._hub.publish(
                READINGS_TOPIC,
                {"type": "readings", "readings": [reading_message(r) for r in rows]},
            )

    async def _isolate(self, batch: list[_Pending], exc: Exception) -> None:
        """The database refused this batch for its values: commit each half on its own until
        every refusal is down to one reading, which alone is refused. One refused reading costs
        two commits per halving (about 18 in a batch of 500); the common path never gets here.
        A lost connection meanwhile makes the rest "send it again", as any outage does."""
        if len(batch) > 1:
            middle = len(batch) // 2
            await self._commit(batch[:middle])
            await self._commit(batch[middle:])
            return
        (item,) = batch
        detail = storage_says(exc)
        log.warning(
            "reading refused by the database device=%s chair=%s seq=%s: %s",
            item.device.device_id,
            item.device.chair_id,
            item.reading.seq,
            detail,
        )
        self.refused += 1
        self._fail(batch, RefusedByStorage(f"the database refused this reading: {detail}"))

    @staticmethod
    def _fail(batch: list[_Pending], exc: Exception) -> None:
        for item in batch:
            if not item.future.done():
                item.future.set_exception(exc)

    async def _write(self, batch: list[_Pending]) -> tuple[list[dict[str, Any]], list[Stored]]:
        first: dict[tuple[int, int], dict[str, Any]] = {}
        for item in batch:
            key = (item.device.device_id, item.reading.seq)
            if key not in first:
                first[key] = {
                    "chair_id": item.device.chair_id,
                    "device_id": item.device.device_id,
                    "seq": item.reading.seq,
                    "measured_at": item.reading.ts,
                    "received_at": item.received_at,
                    **item.reading.vitals(),
                }
        async with self._engine.begin() as conn:
            await self._assign_sessions(conn, list(first.values()))
            result = await conn.execute(self._store, list(first.values()))
            new_ids = {(r.device_id, r.seq): r.id for r in result}
            seen = self._seen_due(batch)
            if seen:
                await conn.execute(
                    self._mark_seen, [{"device": d, "seen_at": t} for d, t in seen.items()]
                )
        for device in seen:  # written: forget them until they are seen again
            self._seen_known.add(device)
            if self._seen_pending.get(device) == seen[device]:
                del self._seen_pending[device]
        # Which of the rest were stored before (a resend), so the device can be told so.
        outcomes: list[Stored] = []
        claimed: set[tuple[int, int]] = set()
        for item in batch:
            key = (item.device.device_id, item.reading.seq)
            if key in new_ids and key not in claimed:
                claimed.add(key)
                outcomes.append(Stored(new_ids[key], duplicate=False))
            else:
                outcomes.append(Stored(new_ids.get(key), duplicate=True))
        self.batches += 1
        self.stored += len(new_ids)
        rows = [dict(first[k], id=rid) for k, rid in new_ids.items()]
        rows.sort(key=lambda r: r["id"])
        return rows, outcomes

    def _seen_due(self, batch: list[_Pending]) -> dict[int, datetime]:
        """The devices whose last_seen_at this commit writes, with their newest time."""
        fresh: dict[int, datetime] = {}
        for item in batch:
            device = item.device.device_id
            self._seen_pending[device] = item.received_at
            if device not in self._seen_known:
                fresh[device] = item.received_at
        if time.monotonic() - self._seen_flushed >= SEEN_EVERY_S:
            self._seen_flushed = time.monotonic()
            return dict(self._seen_pending)
        return fresh

    async def _flush_seen(self) -> None:
        if self._seen_pending:
            async with self._engine.begin() as conn:
                await conn.execute(
                    self._mark_seen,
                    [{"device": d, "seen_at": t} for d, t in self._seen_pending.items()],
                )
            self._seen_pending.clear()

    async def _assign_sessions(self, conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
        """Attach each reading to its chair's open session (None: kept against the chair)."""
        chair_ids = sorted({r["chair_id"] for r in rows})
        result = await conn.execute(self._open_sessions, {"chairs": chair_ids})
        open_sessions = {chair: session for chair, session in result}
        for row in rows:
            row["session_id"] = open_sessions.get(row["chair_id"])
