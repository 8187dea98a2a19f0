"""``/ws/dashboard``: a logged-in screen gets a snapshot of every chair, then live messages.

Messages (each a JSON object keyed on ``type``): ``snapshot``, ``readings`` (catch-up after a
reconnect with ``?since=<last reading id>``), ``reading``, ``session``, ``device``, ``alert``,
``observation`` (a nurse's observation, once stored; the snapshot's ``observations`` holds
every open session's), ``forwarding`` (alarm forwarding to the Alert Manager became ``ok`` or
``unavailable``), ``heartbeat`` (every few seconds, so a screen can tell it is live), ``resync`` (this screen fell
behind; reconnect with ``since``).

A screen never slows ingest or holds the server's memory: one that falls behind the hub is sent
``resync`` and closed with 4000; one that stops reading (a frame cannot leave for
``STALLED_AFTER_S``) has its connection aborted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from typing import Any, Protocol
from urllib.parse import urlsplit

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from sqlalchemy import func, select

from app.alerts import RuleSet
from app.api.deps import LOGIN_COOKIE
from app.hub import RESYNC, Subscription
from app.models import Reading, User
from app.models.base import utcnow
from app.services import alerts, chairs, observations, users
from app.services.readings import iso, reading_message

log = logging.getLogger(__name__)
router = APIRouter()

LIVE_TOPICS = ("readings", "sessions", "devices", "alerts", "observations")
PROTOCOLS = ("spravato", "iv-ketamine")
MAX_CATCH_UP = 50_000
CLOSE_RESYNC = 4000
LIVE_QUEUE = 5000  # hub messages a screen may have waiting before it is told to resync
MAX_FRAME_MESSAGES = 2000
# One readings frame stops growing here, so what a frame holds in the server's write buffer
# (and in the browser) stays bounded however far behind the screen is.
MAX_FRAME_BYTES = 1 << 20
# A frame that cannot leave for this long: the screen has stopped reading and the TCP buffers
# between it and the server (megabytes) are full. Its connection is aborted.
STALLED_AFTER_S = 5.0
# After ``resync`` and the close frame have left: how long the screen has to read them and
# answer the close before its connection is aborted all the same.
CLOSE_GRACE_S = 5.0
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


class ScreenGone(Exception):
    """The screen's connection is gone or, ``unresponsive``, the screen has stopped reading and
    its connection is to be aborted."""

    def __init__(self, reason: str, unresponsive: bool) -> None:
        super().__init__(reason)
        self.unresponsive = unresponsive


def _gone(exc: BaseException) -> ScreenGone:
    """What a send or close that failed says about the screen."""
    if isinstance(exc, TimeoutError):
        return ScreenGone(f"a frame could not leave for {STALLED_AFTER_S:g} s", True)
    if isinstance(exc, RuntimeError):
        # uvicorn refuses a send once it has closed the connection itself (its keepalive ping
        # went unanswered) before telling the application; that close waits on the peer too.
        return ScreenGone("the server gave up on it (keepalive unanswered)", True)
    return ScreenGone("disconnected", False)


class _Transport(Protocol):
    def get_extra_info(self, name: str) -> Any: ...

    def abort(self) -> None: ...


def _transport_of(websocket: WebSocket) -> _Transport | None:
    """The TCP transport under this websocket, or None where it cannot be found.

    ASGI has no way to abort a connection, and uvicorn closes one by waiting for its write
    buffer to drain, which never happens once the peer has stopped reading: the socket, its
    kernel buffers and uvicorn's own buffer would stay for as long as the peer lives. uvicorn
    runs each websocket application in a task of the connection object (``run_asgi``), which
    holds the transport; it is trusted only if it serves this very scope. Call it from the
    handler's own task."""
    task = asyncio.current_task()
    frame = getattr(task.get_coro(), "cr_frame", None) if task is not None else None
    owner = frame.f_locals.get("self") if frame is not None else None
    if owner is None or getattr(owner, "scope", None) is not websocket.scope:
        return None
    transport = getattr(owner, "transport", None)
    if callable(getattr(transport, "abort", None)) and callable(
        getattr(transport, "get_extra_info", None)
    ):
        return transport
    return None


class Screen:
    """One dashboard connection: every send bounded in time, and a way to cut it loose."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self._transport = _transport_of(websocket)

    async def send(self, message: dict[str, Any]) -> None:
        await self.send_text(orjson.dumps(message).decode())

    async def send_text(self, text: str) -> None:
        """Send one frame; ``ScreenGone`` if it cannot leave in time or the screen is gone.

        A send that times out wrote nothing (uvicorn waits for room before it writes)."""
        try:
            async with asyncio.timeout(STALLED_AFTER_S):
                await self.websocket.send_text(text)
        except (TimeoutError, WebSocketDisconnect, OSError, RuntimeError) as exc:
            raise _gone(exc) from exc

    async def resync(self, since: int) -> None:
        """Tell the screen to resync and close with 4000; abort it if it has not answered the
        close within ``CLOSE_GRACE_S``."""
        await self.send({"type": "resync", "since": since})
        try:
            async with asyncio.timeout(STALLED_AFTER_S):
                await self.websocket.close(
                    code=CLOSE_RESYNC, reason="fell behind; reconnect with since"
                )
        except (TimeoutError, WebSocketDisconnect, OSError, RuntimeError) as exc:
            raise _gone(exc) from exc
        asyncio.get_running_loop().call_later(CLOSE_GRACE_S, self.abort)

    def abort(self) -> None:
        """Drop the connection now: a reset, and whatever the screen never read is freed.

        Harmless once the connection has closed (its socket then has no descriptor)."""
        transport = self._transport
        if transport is None:
            return
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.fileno() != -1:
            # Without lingering the kernel discards the unsent data and sends a reset, instead
            # of keeping megabytes queued for a peer that reads nothing.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()

    def cut_loose(self, gone: ScreenGone, user: User) -> None:
        """An unresponsive screen's connection is aborted; a closed one is the server's."""
        if not gone.unresponsive:
            return
        client = self.websocket.client
        log.warning(
            "dashboard stopped reading: %s; connection aborted (user=%s address=%s:%s)",
            gone,
            user.name,
            client.host if client else "?",
            client.port if client else "?",
        )
        self.abort()


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
    screen = Screen(websocket)
    try:
        # Subscribe before reading the snapshot so nothing falls between the two.
        async with state.hub.subscribe(*LIVE_TOPICS, maxsize=LIVE_QUEUE) as live:
            floor = await _send_snapshot(screen, user, since)
            async with asyncio.TaskGroup() as group:
                sender = group.create_task(
                    _forward(screen, live, floor, state.settings.heartbeat_s)
                )
                await _drain(websocket)
                sender.cancel()
    except* ScreenGone as group:
        screen.cut_loose(_first(group), user)


def _first(group: BaseExceptionGroup[ScreenGone]) -> ScreenGone:
    first = group.exceptions[0]
    return first if isinstance(first, ScreenGone) else _first(first)


async def _send_snapshot(screen: Screen, user: User, since: str | None) -> int:
    """Send the clinic snapshot (and missed readings); returns the newest reading id sent."""
    websocket = screen.websocket
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
                protocol: websocket.app.state.rule_set_label(protocol) for protocol in PROTOCOLS
            },
            "limits": {
                protocol: limits(websocket.app.state.rules_for(protocol, {}))
                for protocol in PROTOCOLS
            },
            "clock": websocket.app.state.settings.clock,
            "clinic_name": websocket.app.state.settings.clinic_name,
            # Alarm forwarding to the Alert Manager (null: none configured); then live
            # ``forwarding`` messages on each change.
            "forwarding": (
                reporter.status()
                if (reporter := getattr(websocket.app.state, "alert_reporter", None))
                else None
            ),
            "alerts": [
                alerts.alert_payload(a, names.get(a.acknowledged_by or -1)) for a in open_alerts
            ],
            "observations": await observations.observation_payloads(
                db, await observations.open_sessions_observations(db)
            ),
        }
        await screen.send(snapshot)
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
            await screen.send({"type": "readings", "readings": missed})
    return newest


def limits(rules: RuleSet) -> list[dict[str, Any]]:
    """The fixed limits of a rule set, as the screen marks values and draws limit lines: each
    enabled physiological rule on one vital's value (a session's overrides change the
    threshold on the screen, as they do in the engine)."""
    return [
        {
            "rule": rule.id,
            "vital": rule.vital,
            "condition": rule.condition,
            "threshold": rule.threshold,
            "priority": rule.priority,
        }
        for rule in rules
        if rule.enabled
        and rule.kind == "physiological"
        and rule.condition in ("above", "below")
        and rule.threshold is not None
    ]


async def _forward(screen: Screen, live: Subscription, floor: int, heartbeat_s: float) -> None:
    """Live messages to the screen. Readings that queued up while the previous frame was being
    sent go together in one ``readings`` frame (a busy clinic sends far fewer frames, a quiet
    one still gets each reading at once); other messages keep their place in the order."""
    sent = floor  # the newest reading id the screen has been sent
    while True:
        try:
            first = await asyncio.wait_for(live.get(), timeout=heartbeat_s)
        except TimeoutError:
            await screen.send({"type": "heartbeat", "server_time": iso(utcnow())})
            continue
        parts: list[bytes] = []
        size = 0
        newest = sent
        for message in [first, *live.drain(MAX_FRAME_MESSAGES)]:
            if message is RESYNC:
                await screen.resync(since=sent)
                return
            is_readings = message.get("type") == "readings"
            if is_readings:
                part, newest = _readings_after(message, newest)
                if part:
                    parts.append(part)
                    size += len(part)
                if size < MAX_FRAME_BYTES:
                    continue
            if parts:
                await _send_readings(screen, parts)
                parts, size, sent = [], 0, newest
            if not is_readings:
                await screen.send(message)
        if parts:
            await _send_readings(screen, parts)
            sent = newest


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


async def _send_readings(screen: Screen, parts: list[bytes]) -> None:
    frame = b'{"type":"readings","readings":[' + b",".join(parts) + b"]}"
    await screen.send_text(frame.decode())


async def _drain(websocket: WebSocket) -> None:
    """Read (and ignore) what the screen sends, until it goes away."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
