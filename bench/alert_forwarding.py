"""``python -m bench.alert_forwarding [--chairs N] [--database sqlite|postgresql]``: alert
latency with an Alert Manager attached against without, in the same run.

Two servers in turn on fresh databases, the second with ``CHAIRSIDE_ALERT_MANAGER`` pointed at
an MLLP Alert Manager in this process (it confirms each message at once, as a healthy one
does). Each chair's monitor sends one reading that raises sbp_critical, a chair every
``--spacing`` seconds; timed are reading sent -> alert on a dashboard (with and without: what
forwarding costs the engine-to-screen path, which must be nothing) and reading sent -> the
ORU^R40 at the Alert Manager (how long a pager waits on Chairside). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import queue
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import websockets

from bench.load import ALERT, FIRST_SEQ, connect_all, say_hello, summary
from bench.stack import chairside_server, populate, say, throwaway_database

START, END = b"\x0b", b"\x1c\x0d"


class AlertManager:
    """Confirms every message (CA) and notes when each chair's alarm started."""

    def __init__(self) -> None:
        self.started: dict[str, float] = {}  # chair name (PV1-3 bed) -> arrival time

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                block = await reader.readuntil(END)
                now = time.time()
                rows = [line.split("|") for line in block[1:-2].decode().split("\r") if line]
                msh = rows[0]
                stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(now))
                answer = f"MSH|^~\\&|AM||||{stamp}||ACK^R40^ACK|a{msh[9]}|P|2.6\rMSA|CA|{msh[9]}\r"
                writer.write(START + answer.encode() + END)
                obx = {r[3].split("^")[0]: r[5] for r in rows if r[0] == "OBX"}
                pv1 = next((r for r in rows if r[0] == "PV1"), None)
                if obx.get("68481") == "start" and pv1 is not None and "196616" in obx:
                    self.started.setdefault(pv1[3].split("^")[2], now)
        writer.close()


async def measure(
    ws_url: str, chairs: int, spacing: float, fixtures: Any, am: Any
) -> dict[str, Any]:
    cookie = {"Cookie": f"chairside_login={fixtures.login_cookie}"}
    async with websockets.connect(f"{ws_url}/ws/dashboard", additional_headers=cookie) as screen:
        assert orjson.loads(await screen.recv())["type"] == "snapshot"
        devices = await connect_all(
            [(f"{ws_url}/ws/ingest", {"Authorization": f"Bearer {t}"}) for t in fixtures.tokens]
        )
        await say_hello(devices)
        sent: dict[int, float] = {}
        shown: dict[int, float] = {}

        async def watch() -> None:
            async for raw in screen:
                message = orjson.loads(raw)
                alert = message.get("alert") or {}
                if message["type"] == "alert" and alert.get("rule") == "sbp_critical":
                    shown.setdefault(alert["chair_id"], time.time())

        watcher = asyncio.create_task(watch())
        for i, conn in enumerate(devices):
            ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            sent[fixtures.chair_ids[i]] = time.time()
            await conn.send(f'{{"type":"reading","seq":{FIRST_SEQ + 1},"ts":"{ts}",{ALERT}}}')
            await conn.recv()
            await asyncio.sleep(spacing)
        deadline = time.time() + 30
        while time.time() < deadline and (  # noqa: ASYNC110 - waits on two counts
            len(shown) < chairs or (am is not None and len(am.started) < chairs)
        ):
            await asyncio.sleep(0.05)
        watcher.cancel()
        for conn in devices:
            await conn.close()
    out = {"dashboard": summary([shown[c] - sent[c] for c in shown])}
    if am is not None:
        index = {f"Bench {i:05d}": cid for i, cid in enumerate(fixtures.chair_ids)}
        out["alert_manager"] = summary(
            [t - sent[index[name]] for name, t in am.started.items() if name in index]
        )
    return out


def serve_alert_manager(am: AlertManager) -> int:
    """The Alert Manager on its own loop in a daemon thread (the servers' set-up is
    synchronous); returns its port."""
    ready: queue.Queue[int] = queue.Queue()

    async def serve() -> None:
        server = await asyncio.start_server(am.handle, "127.0.0.1", 0)
        ready.put(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    threading.Thread(target=asyncio.run, args=(serve(),), daemon=True).start()
    return ready.get(timeout=10)


def run(chairs: int, spacing: float, kind: str) -> dict[str, Any]:
    results: dict[str, Any] = {"chairs": chairs, "spacing_s": spacing, "database": kind}
    am = AlertManager()
    am_port = serve_alert_manager(am)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for label, attached in (("without", None), ("with_alert_manager", am)):
            with throwaway_database(kind, workdir) as db:
                fixtures = populate(db, chairs, sessions=True, login=True)
                server = chairside_server(db, workdir)
                if attached is not None:
                    server.env["CHAIRSIDE_ALERT_MANAGER"] = f"127.0.0.1:{am_port}"
                say(f"alert latency {label.replace('_', ' ')}: {chairs} chairs")
                with server:
                    results[label] = asyncio.run(
                        measure(server.ws_url, chairs, spacing, fixtures, attached)
                    )
    without = results["without"]["dashboard"]["p99_ms"]
    with_am = results["with_alert_manager"]["dashboard"]["p99_ms"]
    if without and with_am:
        results["dashboard_p99_ratio"] = round(with_am / without, 2)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.alert_forwarding")
    parser.add_argument("--chairs", type=int, default=50)
    parser.add_argument("--spacing", type=float, default=0.1, help="seconds between alerts")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args(argv)
    print(orjson.dumps(run(args.chairs, args.spacing, args.database)).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
