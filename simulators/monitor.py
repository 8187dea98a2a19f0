"""A simulated bedside monitor: streams a session's readings over ``/ws/ingest`` as a device does.

It sends each reading when simulated time reaches it, keeps every reading until the server
acknowledges it (at most ``window`` in flight), and after any disconnect resends whatever was
not acknowledged, together with what it buffered meanwhile, as ``batch`` frames. Reconnects back
off exponentially (capped at 5 s). A scripted outage closes the socket for a while on purpose.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus

from app.wire import MAX_BATCH_READINGS
from simulators.clock import SimClock
from simulators.courses import SimReading

log = logging.getLogger(__name__)
BACKOFF_FIRST_S = 0.1
BACKOFF_CAP_S = 5.0
RESEND_CODES = frozenset({"storage_unavailable"})


class MonitorRefused(Exception):
    """The server refused the device (bad or revoked token): retrying will not help."""


class _ConnectionLost(Exception):
    pass


@dataclass
class MonitorStats:
    """What one monitor did: readings sent (with resends), acknowledged, rejected, and the
    vitals dropped from readings that were acknowledged (``dropped``, by vital)."""

    readings: int = 0
    sent: int = 0
    resent: int = 0
    acked: int = 0
    duplicates: int = 0
    errors: int = 0
    error_codes: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    batches: int = 0
    connects: int = 0
    last_t_s: float = 0.0


class Monitor:
    """One chair's monitor streaming ``readings`` (in time order) to the ingest websocket."""

    def __init__(
        self,
        ws_url: str,
        token: str,
        readings: Sequence[SimReading],
        clock: SimClock,
        *,
        seq_base: int = 0,
        outage: tuple[float, float] | None = None,
        window: int = 200,
        stop: asyncio.Event | None = None,
    ) -> None:
        self.ws_url = ws_url
        self.token = token
        self.readings = readings
        self.clock = clock
        self.seq_base = seq_base
        self.outage = outage
        self.window = max(1, window)
        self.stop = stop or asyncio.Event()
        self.stats = MonitorStats(readings=len(readings))
        self._next = 0  # index of the next reading to become due
        self._pending: dict[int, dict[str, Any]] = {}  # due, not yet acknowledged, by seq
        self._ever_sent: set[int] = set()
        self._unsent: deque[int] = deque()  # to send on the current connection
        self._inflight = 0  # sent on the current connection, not yet answered
        self._wake = asyncio.Event()
        self._outage_over = outage is None

    @property
    def finished(self) -> bool:
        return self._next >= len(self.readings) and not self._pending

    async def run(self) -> MonitorStats:
        """Stream until every reading is acknowledged (or ``stop`` is set)."""
        stopper = asyncio.create_task(self._wake_on_stop())
        backoff = BACKOFF_FIRST_S
        try:
            while not self.finished and not self.stop.is_set():
                if self._in_outage():
                    await self._sleep(self.clock.until(self.outage[1]))  # type: ignore[index]
                    self._outage_over = True
                    continue
                try:
                    await self._connection()
                    backoff = BACKOFF_FIRST_S
                except InvalidStatus as exc:
                    if exc.response.status_code in (401, 403):
                        raise MonitorRefused(
                            f"device refused: HTTP {exc.response.status_code}"
                        ) from exc
                    log.warning("ingest handshake failed: %s; retrying in %.1f s", exc, backoff)
                except (OSError, TimeoutError, ConnectionClosed, _ConnectionLost) as exc:
                    log.info("monitor connection lost (%s); retrying in %.1f s", exc, backoff)
                else:
                    continue
                await self._sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_CAP_S)
        finally:
            stopper.cancel()
        return self.stats

    def delivered_through(self, t_s: float) -> bool:
        """Every reading up to simulated second ``t_s`` is sent and acknowledged."""
        if self._next < len(self.readings) and self.readings[self._next].t_s <= t_s:
            return False
        oldest = min(self._pending, default=None)
        return oldest is None or self.readings[oldest - self.seq_base].t_s > t_s

    def _in_outage(self) -> bool:
        """Off the network once simulated time, and the readings sent, reach the outage: a
        monitor running behind schedule still drops off between the same two readings."""
        if self._outage_over or self.outage is None:
            return False
        start = self.outage[0]
        caught_up = self._next >= len(self.readings) or self.readings[self._next].t_s >= start
        return caught_up and self.clock.sim_now() >= start

    async def _wake_on_stop(self) -> None:
        await self.stop.wait()
        self._wake.set()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), seconds)

    async def _connection(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        async with websockets.connect(
            self.ws_url, additional_headers=headers, proxy=None, compression=None
        ) as conn:
            self.stats.connects += 1
            self._unsent = deque(self._pending)  # everything not acknowledged goes again
            self._inflight = 0
            reader = asyncio.create_task(self._read_replies(conn))
            try:
                await self._stream(conn, reader)
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await reader

    async def _stream(self, conn: ClientConnection, reader: asyncio.Task[None]) -> None:
        while not self.stop.is_set():
            if reader.done():
                raise _ConnectionLost("the server closed the connection")
            if self._in_outage():
                await conn.close(code=1001, reason="monitor off the network")
                return
            self._release_due()
            if self.finished:
                return
            room = self.window - self._inflight
            if self._unsent and room >= min(len(self._unsent), self.window // 4 or 1):
                await self._send(conn, min(room, len(self._unsent), MAX_BATCH_READINGS))
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._idle_timeout()):
                    await self._wake.wait()

    def _idle_timeout(self) -> float | None:
        """Real seconds until the next reading falls due or the outage begins."""
        times = []
        if self._next < len(self.readings):
            times.append(self.clock.until(self.readings[self._next].t_s))
        if not self._outage_over and self.outage is not None:
            times.append(self.clock.until(self.outage[0]))
        return min(times) if times else None

    def _release_due(self) -> None:
        now = self.clock.sim_now()
        if not self._outage_over and self.outage is not None:
            now = min(now, self.outage[0] - 1e-6)  # what falls in the outage waits for it
        while self._next < len(self.readings) and self.readings[self._next].t_s <= now:
            reading = self.readings[self._next]
            seq = self.seq_base + self._next
            self._pending[seq] = {
                "type": "reading",
                "seq": seq,
                "ts": self.clock.ts(reading.t_s),
                **reading.vitals(),
            }
            self._unsent.append(seq)
            self._next += 1
            self.stats.last_t_s = reading.t_s

    async def _send(self, conn: ClientConnection, count: int) -> None:
        seqs = [self._unsent.popleft() for _ in range(count)]
        frames = [self._pending[seq] for seq in seqs if seq in self._pending]
        if not frames:
            return
        if len(frames) == 1:
            text = orjson.dumps(frames[0])
        else:
            text = orjson.dumps({"type": "batch", "readings": frames})
            self.stats.batches += 1
        self._inflight += len(frames)
        self.stats.sent += len(frames)
        for frame in frames:
            if frame["seq"] in self._ever_sent:
                self.stats.resent += 1
            self._ever_sent.add(frame["seq"])
        await conn.send(text.decode())

    async def _read_replies(self, conn: ClientConnection) -> None:
        try:
            async for raw in conn:
                self._on_reply(orjson.loads(raw))
        finally:
            self._wake.set()

    def _on_reply(self, reply: dict[str, Any]) -> None:
        seq = reply.get("seq")
        self._inflight = max(0, self._inflight - 1)
        self._wake.set()
        if reply.get("type") == "ack":
            if self._pending.pop(seq, None) is not None:  # type: ignore[arg-type]
                self.stats.acked += 1
                self.stats.duplicates += bool(reply.get("duplicate"))
                # Stored without the vitals it names: an ack all the same, never resent.
                for dropped in reply.get("rejected") or ():
                    self.stats.dropped[str(dropped.get("vital"))] += 1
                    log.warning(
                        "vital dropped seq=%s vital=%s code=%s detail=%s",
                        seq,
                        dropped.get("vital"),
                        dropped.get("code"),
                        dropped.get("detail"),
                    )
            return
        code = str(reply.get("code"))
        if code in RESEND_CODES and seq in self._pending:
            self._unsent.append(seq)
            return
        self._pending.pop(seq, None)  # type: ignore[arg-type]
        self.stats.errors += 1
        self.stats.error_codes[code] += 1
        log.warning("reading rejected seq=%s code=%s detail=%s", seq, code, reply.get("detail"))
