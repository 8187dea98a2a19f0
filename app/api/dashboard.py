"""``/ws/dashboard``: a logged-in screen gets a snapshot of every chair, then live messages.

Messages (each a JSON object keyed on ``type``): ``snapshot``, ``readings`` (catch-up after a
reconnect with ``?since=<last reading id>``), ``reading``, ``session``, ``device``, ``alert``,
``heartbeat`` (every few seconds, so a screen can tell it is live), ``resync`` (this screen fell
behind; reconnect with ``since``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import urlsplit

import orjson
from fastapi import APIRouter, WebSocket
from sqlalchemy import func, select

from app.api.deps import LOGIN_COOKIE
from app.hub import RESYNC, Subscription
from app.models import Reading, User
from app.models.base import utcnow
from app.services import alerts, chairs, users
from app.services.readings import iso, reading_message

log = logging.getLogger(__name__)
router = APIRouter()

LIVE_TOPICS = ("readings", "sessions", "devices", "alerts")
MAX_CATCH_UP = 50_000
CLOSE_RESYNC = 4000
MAX_FRAME_MESSAGES = 2000
_ENCODED = "_encoded"  # a hub message's readings, encoded once for every screen


def _origin_allowed(websocket: WebSocket) -> bool:
    origin = websocket.headers.get("origin")
    if origin is None:  # not a browser, so no cross-site risk; the cookie still decides
        return True
    allowed: list[str] = websocket.app.state.settings.allowed_origins
    if origin in allowed:
        return True
    return urlsplit(origin).netloc == websocket.headers.get("host")


async def _user(websocket: WebSocket) -> User | None:
    token = websocket.cookies.get(LOGIN_COOKIE)
    if not token:
        return None
    async with websocket.app.state.sessionmaker() as db:
        return await users.user_for_login(db, token, websocket.app.state.settings.secret_key)


async def _send(websocket: WebSocket, message: dict[str, Any]) -> None:
    await websocket.send_text(orjson.dumps(message).decode())


@router.websocket("/ws/dashboard")
async def dashboard(websocket: WebSocket) -> None:
    if not _origin_allowed(websocket):
        await websocket.close(code=1008, reason="origin not allowed")
        return
    user = await _user(websocket)
    if user is None:
        await websocket.close(code=1008, reason="log in first")
        return
    since = websocket.query_params.get("since")
    await websocket.accept()
    state = websocket.app.state
    # Subscribe before reading the snapshot so nothing falls between the two.
    async with state.hub.subscribe(*LIVE_TOPICS, maxsize=5000) as live:
        floor = await _send_snapshot(websocket, user, since)
        async with asyncio.TaskGroup() as group:
            sender = group.create_task(_forward(websocket, live, floor, state.settings.heartbeat_s))
            await _drain(websocket)
            sender.cancel()


async def _send_snapshot(websocket: WebSocket, user: User, since: str | None) -> int:
    """Send the clinic snapshot (and missed readings); returns the newest reading id sent."""
    async with websocket.app.state.sessionmaker() as db:
        statuses = await chairs.chair_statuses(db)
        newest = await db.scalar(select(func.max(Reading.id))) or 0
        open_alerts = await alerts.list_alerts(db, active=True)
        names = await alerts.user_names(
            db, {a.acknowledged_by for a in open_alerts if a.acknowledged_by}
        )
        snapshot: dict[str, Any] = {
            "type": "snapshot",
            "server_time": iso(utcnow()),
            "user": {"name": user.name, "role": user.role},
            "chairs": [s.model_dump(mode="json") for s in statuses],
            "last_reading_id": newest,
            "rule_sets": {
                protocol: websocket.app.state.rule_set_label(protocol)
                for protocol in ("spravato", "iv-ketamine")
            },
            "alerts": [
                alerts.alert_payload(a, names.get(a.acknowledged_by or -1)) for a in open_alerts
            ],
        }
        await _send(websocket, snapshot)
        if since is not None and since.isdigit():
            rows = (
                await db.execute(
                    select(Reading.__table__)
                    .where(Reading.id > int(since), Reading.id <= newest)
                    .order_by(Reading.id)
                    .limit(MAX_CATCH_UP)
                )
            ).mappings()
            missed = [reading_message(dict(r)) for r in rows]
            await _send(websocket, {"type": "readings", "readings": missed})
    return newest


async def _forward(
    websocket: WebSocket, live: Subscription, floor: int, heartbeat_s: float
) -> None:
    """Live messages to the screen. Readings that queued up while the previous frame was being
    sent go together in one ``readings`` frame (a busy clinic sends far fewer frames, a quiet
    one still gets each reading at once); other messages keep their place in the order."""
    while True:
        try:
            first = await asyncio.wait_for(live.get(), timeout=heartbeat_s)
        except TimeoutError:
            await _send(websocket, {"type": "heartbeat", "server_time": iso(utcnow())})
            continue
        parts: list[bytes] = []
        for message in [first, *live.drain(MAX_FRAME_MESSAGES)]:
            if message is RESYNC:
                await _send(websocket, {"type": "resync", "since": floor})
                await websocket.close(code=CLOSE_RESYNC, reason="fell behind; reconnect with since")
                return
            if message.get("type") == "readings":
                part, floor = _readings_after(message, floor)
                if part:
                    parts.append(part)
                continue
            if parts:
                await _send_readings(websocket, parts)
                parts = []
            await _send(websocket, message)
        if parts:
            await _send_readings(websocket, parts)


def _readings_after(message: dict[str, Any], floor: int) -> tuple[bytes, int]:
    """The message's readings newer than ``floor`` as JSON list items, and the new floor.

    The hub hands every screen the same message, so its encoding is made once and kept on it.
    """
    readings = message["readings"]
    if not readings or readings[-1]["id"] <= floor:
        return b"", floor
    if readings[0]["id"] > floor:
        encoded: bytes | None = message.get(_ENCODED)
        if encoded is None:
            encoded = orjson.dumps(readings)[1:-1]
            message[_ENCODED] = encoded
        return encoded, readings[-1]["id"]
    newer = [r for r in readings if r["id"] > floor]  # overlap with the snapshot: rare
    return orjson.dumps(newer)[1:-1], newer[-1]["id"]


async def _send_readings(websocket: WebSocket, parts: list[bytes]) -> None:
    frame = b'{"type":"readings","readings":[' + b",".join(parts) + b"]}"
    await websocket.send_text(frame.decode())


async def _drain(websocket: WebSocket) -> None:
    """Read (and ignore) what the screen sends, until it goes away."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
