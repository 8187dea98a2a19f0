"""The PCD-01 listener: an MLLP server on the app's event loop, feeding the ingest's writer.

A message's readings take the path a ``/ws/ingest`` frame's take: the same validation
(``app.wire.check_vitals`` and its time limits), the same ``ReadingWriter`` (so the same group
commit, dedupe on (device, seq), dashboard fan-out and alert engine), and the application ACK
goes out only once they are committed. One message at a time per connection: a PCD-01 sender
waits for each ACK (original mode), and answering in order needs no bookkeeping.

Whatever a peer sends, the connection is answered or closed and the listener keeps serving:
every error below the message level closes only that connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.interop import hl7_message
from app.interop.hl7_message import AckError, Message, MessageError, build_ack
from app.interop.hl7_sources import UnboundSources
from app.interop.mllp import FrameReader, FramingError, frame
from app.interop.pcd01 import Reading, RowProblem, parse_pcd01
from app.services import devices
from app.services.devices import DeviceIdentity
from app.services.readings import ReadingWriter, RefusedByStorage, Stored
from app.wire import FUTURE_TOLERANCE, MAX_TS_AGE, ReadingIn, check_vitals

log = logging.getLogger(__name__)
# Not clinical numbers: transport limits. PCD-01 reports periodically, typically each minute
# (INTEROP.md §1, [S10]); a message is a few kilobytes.
MAX_MESSAGE_BYTES = 1024 * 1024
WRITE_TIMEOUT_S = 10.0  # a peer that does not read its ACKs is closed after this
# Which device a message's identifiers belong to is remembered this long (a database query per
# message would cost most of the path); a revocation forgets everything at once.
BINDING_CACHE_S = 30.0


@dataclass(frozen=True, slots=True)
class Answer:
    ack: bytes
    device: DeviceIdentity | None


class Hl7Listener:
    """Owns the MLLP server; ``start``/``stop`` from the app's lifespan."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        writer: ReadingWriter,
        hub: Any,
        unbound: UnboundSources,
        zone: tzinfo | None,
        idle_s: float,
        frame_s: float,
        max_bytes: int = MAX_MESSAGE_BYTES,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._writer = writer
        self._hub = hub
        self.unbound = unbound
        self._zone = zone
        self._idle_s, self._frame_s, self._max_bytes = idle_s, frame_s, max_bytes
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._open_per_device: Counter[int] = Counter()
        self._chairs: dict[int, int] = {}
        self._bindings: dict[tuple[str, ...], tuple[DeviceIdentity, float]] = {}
        self._revocations: asyncio.Task[None] | None = None

    async def start(self, host: str, port: int, reuse_port: bool = False) -> None:
        self._server = await asyncio.start_server(
            self._serve, host, port, reuse_port=reuse_port or None
        )
        self._revocations = asyncio.create_task(self._forget_on_revocation(), name="hl7-revoked")
        log.info("HL7 MLLP listener on %s:%s", host, port)

    async def _forget_on_revocation(self) -> None:
        async with self._hub.subscribe("devices") as events:
            async for event in events:
                if event.get("type") == "revoked":
                    self.forget_bindings()

    def forget_bindings(self) -> None:
        """Look every source up again: devices were changed behind the app's back (a restored
        or wiped database)."""
        self._bindings.clear()

    async def _bound(self, identifiers: tuple[str, ...]) -> DeviceIdentity | None:
        loop = asyncio.get_running_loop()
        cached = self._bindings.get(identifiers)
        if cached is not None and loop.time() - cached[1] < BINDING_CACHE_S:
            return cached[0]
        async with self._sessionmaker() as db:
            bound = await devices.find_by_hl7_source(db, list(identifiers))
        if bound is not None:  # an unbound source is looked up again: it may be bound now
            self._bindings[identifiers] = (bound, loop.time())
            await self.unbound.found(identifiers)
        return bound

    async def stop(self) -> None:
        if self._revocations is not None:
            self._revocations.cancel()
            await asyncio.gather(self._revocations, return_exceptions=True)
        if self._server is None:
            return
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        peer = ":".join(str(p) for p in (writer.get_extra_info("peername") or ("?",))[:2])
        heard: set[int] = set()
        frames = FrameReader(reader, self._max_bytes, self._idle_s, self._frame_s)
        try:
            while (raw := await frames.read()) is not None:
                answer = await self.answer(raw, peer)
                await self._send(writer, answer.ack)
                if answer.device is not None and answer.device.device_id not in heard:
                    heard.add(answer.device.device_id)
                    await self._connected(answer.device)
        except FramingError as exc:
            log.warning("HL7 peer %s: %s; closing", peer, exc.reason)
            if "limit" in exc.reason:  # answer an oversize message if its MSH can be read
                with contextlib.suppress(Exception):
                    await self._send(writer, _oversize_ack(exc.partial, exc.reason))
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError) as exc:
            log.info("HL7 peer %s went away: %s", peer, exc)
        except asyncio.CancelledError:
            pass  # the server is stopping: close this connection as any other
        except Exception:
            log.exception("HL7 peer %s: unexpected error; closing its connection", peer)
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1):
                    await writer.wait_closed()
            for device_id in heard:
                with contextlib.suppress(Exception):  # the hub may be stopping with the server
                    await self._disconnected(device_id, peer)

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, ack: bytes) -> None:
        writer.write(frame(ack))
        async with asyncio.timeout(WRITE_TIMEOUT_S):
            await writer.drain()

    async def _connected(self, device: DeviceIdentity) -> None:
        self._open_per_device[device.device_id] += 1
        self._chairs[device.device_id] = device.chair_id
        if self._open_per_device[device.device_id] == 1:
            event = {"device_id": device.device_id, "chair_id": device.chair_id}
            await self._hub.publish("devices", {"type": "connected", **event})
            log.info("HL7 device connected device=%s chair=%s", *event.values())

    async def _disconnected(self, device_id: int, peer: str) -> None:
        self._open_per_device[device_id] -= 1
        if self._open_per_device[device_id] <= 0:
            del self._open_per_device[device_id]
            event = {"device_id": device_id, "chair_id": self._chairs.get(device_id)}
            await self._hub.publish("devices", {"type": "disconnected", **event})
            log.info("HL7 device disconnected device=%s peer=%s", device_id, peer)

    async def answer(self, raw: bytes, peer: str) -> Answer:
        """The ACK for one message, after its readings are committed."""
        now = datetime.now(UTC)
        try:
            pcd01 = parse_pcd01(raw, self._zone)
        except MessageError as exc:
            return Answer(_refusal(raw, exc, now), None)
        message = pcd01.message
        try:
            bound = await self._bound(tuple(i.value for i in pcd01.identifiers))
        except Exception:
            log.exception("HL7: looking up the device of a message failed")
            detail = "the source could not be looked up now; send the message again"
            error = AckError("", 0, 0, "207", "Application internal error", detail)
            return Answer(build_ack(message, "AR", pcd01.control_id, now, (error,)), None)
        if bound is None:
            await self.unbound.heard(pcd01.identifiers, peer, now)
            carried = ", ".join(f"{i.kind} {i.value}" for i in pcd01.identifiers) or "none"
            detail = (
                f"no device is bound to this source (identifiers: {carried}); an admin binds "
                "one with chairside device add --chair CHAIR --hl7-source ID"
            )
            error = AckError("MSH", 1, 3, "204", "Unknown key identifier", detail)
            return Answer(build_ack(message, "AR", pcd01.control_id, now, (error,)), None)
        errors = [_row_error(p) for p in pcd01.problems]
        stored: list[tuple[ReadingIn, asyncio.Future[Stored]]] = []
        for reading in pcd01.readings:
            reading_in, problems = _validate(reading, pcd01.control_id, now)
            errors.extend(problems)
            if reading_in is not None:
                stored.append((reading_in, self._writer.submit(bound, reading_in)))
        for reading_in, future in stored:
            try:
                outcome = await future
            except RefusedByStorage as refused:
                errors.append(
                    AckError("", 0, 0, "207", "Application internal error", refused.detail)
                )
                continue
            except Exception:
                detail = "the readings could not be stored now; send the message again"
                error = AckError("", 0, 0, "207", "Application internal error", detail)
                return Answer(build_ack(message, "AR", pcd01.control_id, now, (error,)), None)
            if reading_in.rejected and not outcome.duplicate:
                await self._hub.publish(
                    "devices",
                    {
                        "type": "rejected",
                        "device_id": bound.device_id,
                        "chair_id": bound.chair_id,
                        "code": reading_in.rejected[0].code,
                        "vitals": [r.vital for r in reading_in.rejected],
                    },
                )
        if errors:
            return Answer(build_ack(message, "AE", pcd01.control_id, now, tuple(errors)), bound)
        if not stored:  # accepted: its rows are all ones Chairside skips; said, not an error
            detail = "nothing stored: no numeric Chairside uses (NIBP, HR, SpO2, RR, EtCO2)"
            note = AckError("", 0, 0, "0", "Message accepted", detail, severity="I")
            return Answer(build_ack(message, "AA", pcd01.control_id, now, (note,)), bound)
        return Answer(build_ack(message, "AA", pcd01.control_id, now), bound)


def _row_error(problem: RowProblem) -> AckError:
    text = {"101": "Required field missing", "102": "Data type error"}.get(
        problem.code, "Table value not found"
    )
    return AckError("OBX", problem.position, problem.field, problem.code, text, problem.detail)


def _validate(
    reading: Reading, control_id: str, now: datetime
) -> tuple[ReadingIn | None, list[AckError]]:
    """The ingest's checks, each failure named by the OBX that carried the value."""
    values = reading.values
    first = min(values.values(), key=lambda v: v.row)
    where = ", ".join(f"OBX-{v.set_id or v.row} ({v.mdc})" for v in values.values())
    if reading.ts > now + FUTURE_TOLERANCE:
        ahead = (reading.ts - now).total_seconds()
        detail = (
            f"{where}: time {reading.ts.isoformat()} is {ahead:.0f} s ahead of the server clock"
        )
        return None, [AckError("OBX", first.row, 14, "102", "Data type error", detail)]
    if reading.ts < now - MAX_TS_AGE:
        detail = (
            f"{where}: time {reading.ts.isoformat()} is {(now - reading.ts).days} days before "
            f"the server clock; the limit is {MAX_TS_AGE.days} days"
        )
        return None, [AckError("OBX", first.row, 14, "102", "Data type error", detail)]
    check = check_vitals({name: v.value for name, v in values.items()})
    errors = []
    for rejected in check.rejected:
        value = values[rejected.vital]
        detail = f"OBX-{value.set_id or value.row} ({value.mdc}): {rejected.detail}"
        errors.append(AckError("OBX", value.row, 5, "102", "Data type error", detail))
    if not check.kept:
        return None, errors
    seq = reading.seq(control_id)
    return ReadingIn(seq, reading.ts, **check.values, rejected=check.rejected), errors


def _refusal(raw: bytes, exc: MessageError, now: datetime) -> bytes:
    """``AR`` for a message that is not an ORU^R01 Chairside can read at all (MSH, its type),
    ``AE`` for one whose content is wrong (no id, no OBR, an unreadable time)."""
    message: Message | None
    try:
        message = hl7_message.parse(raw)
    except MessageError:
        message = None
    control_id = message.control_id if message is not None else ""
    if exc.field == "MSH-9":
        code, table, text = "AR", "200", "Unsupported message type"
    elif exc.field == "MSH-18":
        code, table, text = "AR", "102", "Data type error"
    elif exc.field.startswith("MSH") and exc.field not in ("MSH-7", "MSH-10"):
        code, table, text = "AR", "100", "Segment sequence error"
    else:
        code, table, text = "AE", "101" if "needs" in exc.detail else "102", "Message error"
    segment, _, number = exc.field.partition("-")
    error = AckError(
        segment if segment.isalpha() else "",
        1 if segment == "MSH" else 0,
        int(number) if number.isdigit() else 0,
        table,
        text,
        f"{exc.field}: {exc.detail}",
    )
    return build_ack(message, code, control_id, now, (error,))


def _oversize_ack(partial: bytes, reason: str) -> bytes:
    """``AR`` for a message over the size limit, answered from its MSH when that arrived."""
    now = datetime.now(UTC)
    first = partial.split(b"\r", 1)[0].split(b"\n", 1)[0]
    try:
        message: Message | None = hl7_message.parse(first)
    except MessageError:
        message = None
    control_id = message.control_id if message is not None else ""
    error = AckError("", 0, 0, "207", "Application internal error", reason)
    return build_ack(message, "AR", control_id, now, (error,))
