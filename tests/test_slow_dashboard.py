"""A dashboard that stops reading is cut loose: it never slows ingest, never holds the server's
memory, and no error reaches the server log; a screen that falls behind is told to resync."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import websockets

from app.api.dashboard import LIVE_QUEUE
from tests.support import Clinic, Device, device_connect, one_database_is_enough
from tests.test_dashboard_stream import dashboard_connect, next_of

DEVICES = 4
BATCH = 200  # readings per device frame: enough traffic to fill a stalled screen's buffers fast
CUT_LOOSE_WITHIN_S = 30  # from the first reading; the server's own limit is STALLED_AFTER_S


class ServerLog(logging.Handler):
    """Every record the server in this process logs, uvicorn's own included."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def problems(self) -> list[str]:
        """Errors, and anything logged with an exception (an exception escaped a handler)."""
        return [
            self.format(r)
            for r in self.records
            if r.levelno >= logging.ERROR or r.exc_info or "RuntimeError" in r.getMessage()
        ]

    def messages(self) -> list[str]:
        return [r.getMessage() for r in self.records]


@contextlib.contextmanager
def server_log() -> Iterator[ServerLog]:
    # uvicorn's loggers do not propagate to the root logger, so listen on both.
    handler = ServerLog()
    loggers = [logging.getLogger(), logging.getLogger("uvicorn")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


async def stalled_screen(clinic: Clinic, client: Any) -> tuple[Any, dict[str, Any]]:
    """A real websocket client with a tiny receive buffer that stops reading once it has its
    snapshot (by then the server has subscribed it to the hub)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting: the window
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", clinic.server.port))
    cookie = f"chairside_login={client.cookies.get('chairside_login')}"
    conn = await websockets.connect(
        f"{clinic.server.ws_url}/ws/dashboard",
        sock=sock,
        additional_headers={"Cookie": cookie},
        compression=None,  # every byte the server sends counts against the buffers
        ping_interval=None,  # it answers nothing while it does not read
    )
    snapshot = orjson.loads(await asyncio.wait_for(conn.recv(), 5))
    assert snapshot["type"] == "snapshot"
    conn.transport.pause_reading()
    return conn, snapshot


async def dashboards(hub: Any, settled: bool = False) -> int:
    """How many screens the hub feeds (only screens take ``alerts``); ``settled``: first wait
    for those of earlier tests to have gone."""
    for _ in range(200 if settled else 0):  # the server's own thread: polled, 10 s at most
        if not hub.subscriber_count("alerts"):
            break
        await asyncio.sleep(0.05)
    count: int = hub.subscriber_count("alerts")
    return count


async def read_again(conn: Any) -> tuple[list[dict[str, Any]], websockets.ConnectionClosed]:
    """The screen reads again: what reaches it, and how its connection ended."""
    conn.transport.resume_reading()
    received = []
    try:
        while True:
            received.append(orjson.loads(await asyncio.wait_for(conn.recv(), 10)))
    except websockets.ConnectionClosed as closed:
        return received, closed


def reading(seq: int) -> dict[str, Any]:
    ts = datetime.now(UTC).isoformat()
    return {"seq": seq, "ts": ts, "sbp": 121, "dbp": 79, "map": 93, "hr": 72, "spo2": 97}


async def stream(clinic: Clinic, token: str, device_id: int, acked: set, stop: asyncio.Event):
    """Send batches as fast as they are acknowledged, until told to stop."""
    async with device_connect(clinic.server, token) as conn:
        device = Device(conn)
        seq = 0
        while not stop.is_set():
            batch = [reading(seq + n) for n in range(BATCH)]
            seq += BATCH
            await device.send({"type": "batch", "readings": batch})
            for sent in batch:
                reply = await device.recv(timeout=10)
                assert reply == {"type": "ack", "seq": sent["seq"]}, reply
                acked.add((device_id, sent["seq"]))


async def watch(screen: Any, seen: set, kinds: list[str], arrived: asyncio.Event) -> None:
    async for raw in screen:
        message = orjson.loads(raw)
        kinds.append(message["type"])
        if message["type"] == "readings":
            seen.update((r["device_id"], r["seq"]) for r in message["readings"])
        arrived.set()


# The screens' websockets and the hub are the subject; the database takes no part in it.
@one_database_is_enough
async def test_a_screen_that_stops_reading_is_cut_loose_and_ingest_never_waits(
    clinic: Clinic, nurse
) -> None:
    hub = clinic.server.app.state.hub
    assert await dashboards(hub, settled=True) == 0
    engine = hub.subscriber_count("readings")
    devices = [await clinic.add_device(f"Chair {n}") for n in range(1, DEVICES + 1)]
    acked: set[tuple[int, int]] = set()
    seen: set[tuple[int, int]] = set()
    kinds: list[str] = []
    arrived = asyncio.Event()
    stop = asyncio.Event()
    with server_log() as log:
        async with dashboard_connect(clinic, nurse) as healthy:
            await next_of(healthy, "snapshot")
            watcher = asyncio.create_task(watch(healthy, seen, kinds, arrived))
            stalled, _ = await stalled_screen(clinic, nurse)
            assert await dashboards(hub) == 2
            started = time.monotonic()
            streams = [
                asyncio.create_task(stream(clinic, token, device_id, acked, stop))
                for token, device_id, _ in devices
            ]
            # The stalled screen is cut loose while the devices stream on.
            while await dashboards(hub) != 1:
                assert time.monotonic() - started < CUT_LOOSE_WITHIN_S, "stalled screen kept"
                assert not any(task.done() for task in streams), "a device stopped being acked"
                await asyncio.sleep(0.1)
            acked_while_stalled = len(acked)
            stop.set()
            await asyncio.gather(*streams)  # every reading sent was acknowledged
            # The healthy screen, alongside, receives every reading.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(15):
                    while not acked <= seen:
                        arrived.clear()
                        await arrived.wait()
            watcher.cancel()
        # When the stalled screen reads again: what its buffers held, then a reset (no close
        # frame: it could not take one).
        received, closed = await read_again(stalled)
    assert acked_while_stalled >= 10 * BATCH, "ingest did not keep going"
    assert acked <= seen, f"the healthy screen missed {len(acked - seen)} readings"
    assert "resync" not in kinds
    assert closed.rcvd is None and closed.sent is None, closed
    assert "resync" not in [m["type"] for m in received]
    assert await dashboards(hub) == 0
    assert hub.subscriber_count("readings") == engine
    assert any("dashboard stopped reading" in m for m in log.messages()), log.messages()
    assert log.problems() == []


@one_database_is_enough
async def test_a_screen_that_falls_behind_is_told_to_resync_and_closed_with_4000(
    clinic: Clinic, nurse
) -> None:
    hub = clinic.server.app.state.hub
    assert await dashboards(hub, settled=True) == 0
    with server_log() as log:
        screen, snapshot = await stalled_screen(clinic, nurse)
        assert await dashboards(hub) == 1

        async def burst() -> None:  # more than a screen may have waiting, all at once
            for n in range(LIVE_QUEUE + 1):
                await hub.publish("alerts", {"type": "alert", "alert": {"id": n}})

        app = clinic.server.app
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(burst(), app.state.loop))
        received, closed = await read_again(screen)
    # It had its buffers' worth of room: when it reads again, the resync and the 4000 are there.
    [resync] = [m for m in received if m["type"] != "heartbeat"]
    assert resync == {"type": "resync", "since": snapshot["last_reading_id"]}
    assert closed.rcvd is not None and closed.rcvd.code == 4000, closed
    assert await dashboards(hub) == 0
    assert log.problems() == []
