"""The load generator, run in its own process(es) so the server's CPU can be measured apart.

    python -m bench.load ROLE CONFIG.json

Roles: ``ingest`` (devices sending as fast as acknowledgements come back, ``window`` readings
in flight each), ``devices`` (one reading per second per chair, evenly spread over the second,
plus readings that trigger an alert), ``dashboards`` (logged-in screens on /ws/dashboard).

Protocol with the parent (JSON lines): the generator connects everything, prints
``{"event": "ready"}``, reads one line ``{"start_at": <unix time>}`` from stdin, runs its
schedule, prints ``{"event": "result", ...}`` and exits. Closing stdin early stops it.
Every socket goes to 127.0.0.1 only; every load is bounded in time and count.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import sys
import threading
import time
from array import array
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import orjson
import websockets
from websockets.exceptions import ConnectionClosed

CONNECT_BATCH = 50  # handshakes in flight at once
LAG_TICK_S = 0.01  # how often LagProbe asks to wake
FIRST_SEQ = 4  # seq 0-3 of every device are the readings bench.stack.populate stores
NORMAL = '"hr":72,"spo2":98'
BP = '"sbp":120,"dbp":80,"map":93,'
ALERT = '"sbp":186,"dbp":95,"map":125,"hr":80,"spo2":97'  # sbp_critical (and nothing else)


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(orjson.dumps(obj).decode() + "\n")
    sys.stdout.flush()


def check_local(url: str) -> None:
    if urlsplit(url).hostname != "127.0.0.1":
        raise SystemExit(f"the benchmark sends only to 127.0.0.1, not {url}")


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def samples() -> array[float]:
    """Latencies of one window: plain doubles, which the garbage collector never walks. (A
    Python list of floats is walked item by item in every full collection: with millions of
    samples that took the generator a second or more, late-timing whatever it received then.)"""
    return array("d")


def summary(values: Sequence[float]) -> dict[str, Any]:
    """n, p50, p99, max of latencies in seconds, reported in milliseconds."""
    if not values:
        return {"n": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
    values = sorted(values)

    def pct(q: float) -> float:
        return round(values[min(len(values) - 1, math.ceil(q * len(values)) - 1)] * 1000, 2)

    return {"n": len(values), "p50_ms": pct(0.50), "p99_ms": pct(0.99),
            "max_ms": round(values[-1] * 1000, 2)}  # fmt: skip


async def connect_all(urls_headers: list[tuple[str, dict[str, str]]], **kw: Any) -> list[Any]:
    conns: list[Any] = []
    for i in range(0, len(urls_headers), CONNECT_BATCH):
        part = urls_headers[i : i + CONNECT_BATCH]
        conns += await asyncio.gather(
            *(
                websockets.connect(u, additional_headers=h, proxy=None, open_timeout=30, **kw)
                for u, h in part
            )
        )
    return conns


async def say_hello(conns: list[Any]) -> None:
    async def hello(conn: Any) -> None:
        ts = now_iso()
        await conn.send(f'{{"type":"reading","seq":{FIRST_SEQ},"ts":"{ts}",{BP}{NORMAL}}}')
        reply = orjson.loads(await conn.recv())
        if reply.get("type") != "ack":
            raise RuntimeError(f"hello reading refused: {reply}")

    for i in range(0, len(conns), CONNECT_BATCH):
        await asyncio.gather(*(hello(c) for c in conns[i : i + CONNECT_BATCH]))


async def wait_start(stop: asyncio.Event) -> float:
    """Print ready; return the start time the parent sends. stdin EOF sets ``stop``."""
    emit({"event": "ready"})
    loop = asyncio.get_running_loop()
    got: asyncio.Future[str] = loop.create_future()

    def watch() -> None:  # a daemon thread: never keeps the process alive
        loop.call_soon_threadsafe(got.set_result, sys.stdin.readline())
        sys.stdin.readline()  # EOF or anything: stop
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=watch, daemon=True).start()
    line = await got
    if not line:
        stop.set()
        return time.time()
    return float(orjson.loads(line)["start_at"])


async def sleep_until(t: float, stop: asyncio.Event) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), max(0.0, t - time.time()))


class LagProbe:
    """The generator's own stalls: a task that asks to wake every LAG_TICK_S and records, per
    window, the longest it waited beyond that. A latency measured by a generator that stalled
    is the generator's, not the server's: the report shows both side by side."""

    def __init__(self, windows: list[tuple[float, float]]) -> None:
        self.windows = windows
        self.max_s = [0.0] * len(windows)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            t = time.perf_counter()
            await asyncio.sleep(LAG_TICK_S)
            lag = time.perf_counter() - t - LAG_TICK_S
            w = window_of(time.time(), self.windows)
            if w >= 0 and lag > self.max_s[w]:
                self.max_s[w] = lag

    def stop(self) -> list[float]:
        if self._task:
            self._task.cancel()
        return [round(s * 1000, 1) for s in self.max_s]


# -- ingest: throughput ------------------------------------------------------------------------


async def run_ingest(cfg: dict[str, Any]) -> dict[str, Any]:
    url, window, base = cfg["url"] + "/ws/ingest", cfg["window"], cfg["seq_base"]
    check_local(url)
    conns = await connect_all(
        [(url, {"Authorization": f"Bearer {t}"}) for t in cfg["tokens"]], compression=None
    )
    stop = asyncio.Event()
    start_at = await wait_start(stop)
    t_from = start_at + cfg["warmup_s"]
    t_to = t_from + cfg["measure_s"]
    ts = now_iso()  # one past timestamp for every reading: never in the future
    totals = {"sent": 0, "acked": 0, "in_window": 0, "errors": 0}

    async def device(conn: Any) -> None:
        seq = base
        outstanding = 0

        async def send_one() -> None:
            nonlocal seq, outstanding
            await conn.send(f'{{"type":"reading","seq":{seq},"ts":"{ts}",{BP}{NORMAL}}}')
            seq += 1
            outstanding += 1
            totals["sent"] += 1

        await sleep_until(start_at, stop)
        for _ in range(window):
            await send_one()
        while outstanding:
            try:
                raw = await asyncio.wait_for(conn.recv(), cfg["drain_s"])
            except (TimeoutError, ConnectionClosed):
                return
            outstanding -= 1
            now = time.time()
            if raw.startswith('{"type":"ack"'):
                totals["acked"] += 1
                if t_from <= now < t_to:
                    totals["in_window"] += 1
            else:
                totals["errors"] += 1
            if now < t_to and not stop.is_set():
                await send_one()

    await asyncio.gather(*(device(c) for c in conns), return_exceptions=True)
    await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)
    unacked = totals["sent"] - totals["acked"] - totals["errors"]
    return {
        **totals,
        "unacked": unacked,
        "devices": len(conns),
        "window": window,
        "measure_s": cfg["measure_s"],
        "per_s": totals["in_window"] / cfg["measure_s"],
    }


# -- devices at one reading per second ---------------------------------------------------------


def window_of(t: float, windows: list[tuple[float, float]]) -> int:
    for i, (a, b) in enumerate(windows):
        if a <= t < b:
            return i
    return -1


async def run_devices(cfg: dict[str, Any]) -> dict[str, Any]:
    url = cfg["url"] + "/ws/ingest"
    check_local(url)
    tokens: list[str] = cfg["tokens"]
    n = len(tokens)
    conns = await connect_all(
        [(url, {"Authorization": f"Bearer {t}"}) for t in tokens], compression=None
    )
    # As a monitor does on connecting, each sends a full reading at once (not timed, not
    # counted): the alert engine sees every chair reporting while the rest connect and wait.
    await say_hello(conns)
    stop = asyncio.Event()
    start_at = await wait_start(stop)
    windows = [(start_at + a, start_at + b) for a, b in cfg["windows"]]
    end_at = start_at + cfg["total_s"]
    ack_lat = [samples() for _ in windows]
    lag = LagProbe(windows)
    lag.start()
    per_window = [{"sent": 0, "errors": 0, "alerts_sent": 0} for _ in windows]
    totals = {"sent": 0, "acked": 0, "errors": 0, "duplicates": 0, "closed": 0}
    inflight: list[deque[float]] = [deque() for _ in range(n)]
    seqs = [FIRST_SEQ + 1] * n  # FIRST_SEQ is the hello reading
    alerted: set[int] = set()

    async def send(i: int, body: str, alert: bool = False) -> None:
        t = time.time()
        ts = datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")
        frame = f'{{"type":"reading","seq":{seqs[i]},"ts":"{ts}",{body}}}'
        seqs[i] += 1
        inflight[i].append(t)
        totals["sent"] += 1
        w = window_of(t, windows)
        if w >= 0:
            per_window[w]["sent"] += 1
            per_window[w]["alerts_sent"] += alert
        try:
            await conns[i].send(frame)
        except ConnectionClosed:
            totals["closed"] += 1

    async def receive(i: int) -> None:
        conn, pending = conns[i], inflight[i]
        with contextlib.suppress(ConnectionClosed):
            async for raw in conn:
                now = time.time()
                t = pending.popleft() if pending else now
                reply = orjson.loads(raw)
                if reply.get("type") == "ack":
                    totals["acked"] += 1
                    totals["duplicates"] += bool(reply.get("duplicate"))
                    w = window_of(t, windows)
                    if w >= 0:
                        ack_lat[w].append(now - t)
                else:
                    totals["errors"] += 1
                    w = window_of(t, windows)
                    if w >= 0:
                        per_window[w]["errors"] += 1

    receivers = [asyncio.create_task(receive(i)) for i in range(n)]
    # Chair i sends at start_at + i/n + k: one reading per chair per second, spread evenly.
    # Every ``alert_every_s`` one chair (never the same twice) sends a reading that must raise
    # sbp_critical; the dashboards time how long that alert takes to reach them.
    alert_at = start_at + cfg["alert_from_s"]
    alert_every = cfg["alert_every_s"]
    alert_stride = max(1, n // 7 + 1)
    k, slot = 0, 0
    while not stop.is_set():
        due = start_at + k + slot / n
        if due >= end_at:
            break
        delay = due - time.time()
        if delay > 0.002:
            await asyncio.sleep(delay)
        body = f"{BP}{NORMAL}" if (k + slot) % 300 == 0 else NORMAL
        await send(slot, body)
        if alert_every and time.time() >= alert_at and len(alerted) < n:
            chair = (len(alerted) * alert_stride) % n
            while chair in alerted:
                chair = (chair + 1) % n
            alerted.add(chair)
            await send(chair, ALERT, alert=True)
            alert_at += alert_every
        slot += 1
        if slot == n:
            slot, k = 0, k + 1
    # Let the last acknowledgements arrive, then count what never was.
    deadline = time.time() + cfg["drain_s"]
    while time.time() < deadline and any(inflight):  # noqa: ASYNC110 - polls many deques
        await asyncio.sleep(0.05)
    unacked = [0] * len(windows)
    for pending in inflight:
        for t in pending:
            w = window_of(t, windows)
            if w >= 0:
                unacked[w] += 1
    await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)
    for task in receivers:
        task.cancel()
    lag_ms = lag.stop()
    return {
        **totals,
        "unacked": sum(len(p) for p in inflight),
        "chairs": n,
        "windows": [
            {
                **per_window[w],
                "unacked": unacked[w],
                "ack": summary(ack_lat[w]),
                "lag_max_ms": lag_ms[w],
            }
            for w in range(len(windows))
        ],
    }


# -- dashboards --------------------------------------------------------------------------------


def parse_time(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


async def run_dashboards(cfg: dict[str, Any]) -> dict[str, Any]:
    url = cfg["url"] + "/ws/dashboard"
    check_local(url)
    headers = {"Cookie": f"chairside_login={cfg['cookie']}"}
    # A browser offers permessage-deflate; so do these screens unless told otherwise.
    compression = "deflate" if cfg.get("deflate", True) else None
    count = cfg["dashboards"]
    stop = asyncio.Event()
    conns = await connect_all([(url, headers)] * count, compression=compression, max_size=None)
    start_at = await wait_start(stop)
    windows = [(start_at + a, start_at + b) for a, b in cfg["windows"]]
    reading_lat = [samples() for _ in windows]
    alert_lat = [samples() for _ in windows]
    lag = LagProbe(windows)
    lag.start()
    received = [0] * count
    stats = {"gaps": 0, "resyncs": 0, "reconnects": 0, "other": 0}

    async def screen(d: int) -> None:
        conn = conns[d]
        last_seq: dict[int, int] = {}
        last_id = 0

        def reading(m: dict[str, Any], now: float) -> None:
            nonlocal last_id
            received[d] += 1
            last_id = max(last_id, m["id"])
            dev, seq = m["device_id"], m["seq"]
            prev = last_seq.get(dev)
            if prev is not None and seq > prev + 1:
                stats["gaps"] += seq - prev - 1
            last_seq[dev] = seq if prev is None else max(prev, seq)
            t = parse_time(m["ts"])
            w = window_of(t, windows)
            if w >= 0:
                reading_lat[w].append(now - t)

        while not stop.is_set():
            try:
                async for raw in conn:
                    now = time.time()
                    m = orjson.loads(raw)
                    kind = m.get("type")
                    if kind == "reading":
                        reading(m, now)
                    elif kind == "readings":
                        for r in m.get("readings", ()):
                            reading(r, now)
                    elif kind == "alert":
                        a = m["alert"]
                        if a.get("rule") == "sbp_critical" and a.get("event") == "raised":
                            t = parse_time(a["raised_at"])
                            w = window_of(t, windows)
                            if w >= 0:
                                alert_lat[w].append(now - t)
                    elif kind == "resync":
                        stats["resyncs"] += 1
                    elif kind not in ("heartbeat", "snapshot", "session", "device"):
                        stats["other"] += 1
            except ConnectionClosed:
                pass
            if stop.is_set():
                return
            stats["reconnects"] += 1  # fell behind (or dropped): catch up as a screen does
            conn = conns[d] = await websockets.connect(
                f"{url}?since={last_id}", additional_headers=headers, proxy=None,
                compression=compression, max_size=None,
            )  # fmt: skip

    tasks = [asyncio.create_task(screen(d)) for d in range(count)]
    await sleep_until(start_at + cfg["total_s"], stop)
    stop.set()
    await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)
    await asyncio.gather(*tasks, return_exceptions=True)
    lag_ms = lag.stop()
    return {
        **stats,
        "dashboards": count,
        "received": received,
        "windows": [
            {
                "reading": summary(reading_lat[w]),
                "alert": summary(alert_lat[w]),
                "lag_max_ms": lag_ms[w],
            }
            for w in range(len(windows))
        ],
    }


ROLES = {"ingest": run_ingest, "devices": run_devices, "dashboards": run_dashboards}


def main() -> None:
    role, path = sys.argv[1], sys.argv[2]
    with open(path, "rb") as handle:
        cfg = orjson.loads(handle.read())
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    result = runner(ROLES[role](cfg))
    emit({"event": "result", **result})


if __name__ == "__main__":
    main()
