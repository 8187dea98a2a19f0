"""``/ws/ingest``: monitors stream readings; each is acknowledged only once it is committed.

One coroutine pair per connection: the receiver validates frames and queues readings for the
writer; the sender answers in the order frames arrived, awaiting each reading's commit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Response, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from app.services import devices
from app.services.devices import DeviceIdentity
from app.services.readings import ReadingWriter, RefusedByStorage, Stored
from app.wire import FrameError, ReadingIn, ack, parse_frame

log = logging.getLogger(__name__)
router = APIRouter()

# Replies not yet sent per connection; past this the receiver waits (back-pressure on the device).
MAX_PENDING_REPLIES = 5000
CLOSE_REVOKED = 4403

Reply = dict[str, Any] | tuple[ReadingIn, Awaitable[Stored]]


class IngestConnections:
    """The live ingest sockets of this process, by device, so a revoked one can be closed."""

    def __init__(self) -> None:
        self._by_device: dict[int, set[WebSocket]] = {}

    def add(self, device_id: int, websocket: WebSocket) -> None:
        self._by_device.setdefault(device_id, set()).add(websocket)

    def remove(self, device_id: int, websocket: WebSocket) -> None:
        self._by_device.get(device_id, set()).discard(websocket)

    async def close_device(self, device_id: int, reason: str) -> None:
        for websocket in list(self._by_device.pop(device_id, ())):
            if websocket.application_state == WebSocketState.CONNECTED:
                await websocket.close(code=CLOSE_REVOKED, reason=reason)

    def count(self) -> int:
        return sum(len(s) for s in self._by_device.values())


async def _authenticate(websocket: WebSocket) -> DeviceIdentity | None:
    header = websocket.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    async with websocket.app.state.sessionmaker() as db:
        return await devices.identify(db, token.strip())


async def _deny(websocket: WebSocket, detail: str) -> None:
    try:
        await websocket.send_denial_response(
            Response(detail, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        )
    except RuntimeError:  # server without the denial-response extension: plain 403
        await websocket.close(code=1008, reason=detail)


@router.websocket("/ws/ingest")
async def ingest(websocket: WebSocket) -> None:
    identity = await _authenticate(websocket)
    if identity is None:
        await _deny(websocket, "missing, unknown or revoked device token")
        return
    await websocket.accept()
    state = websocket.app.state
    connections: IngestConnections = state.ingest_connections
    connections.add(identity.device_id, websocket)
    event = {"device_id": identity.device_id, "chair_id": identity.chair_id}
    await state.hub.publish("devices", {"type": "connected", **event})
    log.info("device connected device=%s chair=%s", identity.device_id, identity.chair_id)
    replies: asyncio.Queue[Reply | None] = asyncio.Queue(MAX_PENDING_REPLIES)
    try:
        async with asyncio.TaskGroup() as group:
            sender = group.create_task(_send_replies(websocket, identity, state.hub, replies))
            await _receive_frames(websocket, identity, state.writer, state.hub, replies)
            # The device is gone: nobody to answer. What it sent is still being stored,
            # and a resend after reconnecting is acknowledged as a duplicate.
            sender.cancel()
    except* (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        connections.remove(identity.device_id, websocket)
        await state.hub.publish("devices", {"type": "disconnected", **event})
        log.info("device disconnected device=%s chair=%s", identity.device_id, identity.chair_id)


async def _receive_frames(
    websocket: WebSocket,
    identity: DeviceIdentity,
    writer: ReadingWriter,
    hub: Any,
    replies: asyncio.Queue[Reply | None],
) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is None:
            await replies.put(
                FrameError("binary_frame", "send readings as text frames of JSON").reply()
            )
            continue
        for item in parse_frame(text, datetime.now(UTC)):
            if isinstance(item, ReadingIn):
                await replies.put((item, writer.submit(identity, item)))
            else:
                await replies.put(item.reply())
                await hub.publish("devices", _rejected_message(identity, item.code))


def _rejected_message(identity: DeviceIdentity, code: str, **more: Any) -> dict[str, Any]:
    """For the alert engine (``rejected_readings``) and the dashboard: a reading, or vitals of
    one, that the ingest did not take."""
    return {
        "type": "rejected",
        "device_id": identity.device_id,
        "chair_id": identity.chair_id,
        "code": code,
        **more,
    }


async def _send_replies(
    websocket: WebSocket,
    identity: DeviceIdentity,
    hub: Any,
    replies: asyncio.Queue[Reply | None],
) -> None:
    while (reply := await replies.get()) is not None:
        if isinstance(reply, dict):
            await websocket.send_text(orjson.dumps(reply).decode())
            continue
        reading, stored = reply
        try:
            outcome = await stored
        except RefusedByStorage as refused:
            # Final: the database refused what this reading holds; the rest of its commit is
            # stored. It counts as a rejected reading.
            answer = FrameError("rejected_by_storage", refused.detail, reading.seq).reply()
            await websocket.send_text(orjson.dumps(answer).decode())
            await hub.publish("devices", _rejected_message(identity, "rejected_by_storage"))
            continue
        except Exception:
            answer = FrameError(
                "storage_unavailable", "the reading could not be stored; send it again", reading.seq
            ).reply()
            await websocket.send_text(orjson.dumps(answer).decode())
            continue
        answer = ack(reading.seq, outcome.duplicate, reading.rejected)
        await websocket.send_text(orjson.dumps(answer).decode())
        # A reading stored with a vital dropped counts once, as a rejected reading does (first
        # problem's code); a resend (duplicate) was counted when it was first stored.
        if reading.rejected and not outcome.duplicate:
            dropped = [r.vital for r in reading.rejected]
            message = _rejected_message(identity, reading.rejected[0].code, vitals=dropped)
            await hub.publish("devices", message)
