"""Alert latency with an IHE PCD-04 Alert Manager attached against without, in the same run:
the ``forwarding`` phase of ``python -m bench`` (``--only forwarding``), or on its own
``python -m bench.alert_forwarding [--chairs N] [--spacing S] [--rounds R]
[--database sqlite|postgresql]``.

Rounds alternate two kinds of server, each round a fresh server on a fresh database (an
sbp_critical latches until acknowledged, so a chair raises it once): without an Alert Manager,
and with ``CHAIRSIDE_ALERT_MANAGER`` pointed at an MLLP Alert Manager in this process (it
confirms each message at once, as a healthy one does). Each chair's monitor sends one reading
that raises sbp_critical, a chair every ``spacing`` seconds; timed are reading sent -> alert on
a dashboard (with and without: what forwarding costs the engine-to-screen path, which must be
nothing) and reading sent -> the ORU^R40 at the Alert Manager (how long a pager waits on
Chairside). Each figure is the median (min, max) of the rounds' p50 / p99; the ratio is the
median of the with / without p99 of each pair of rounds.
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
from bench.report import spread
from bench.stack import chairside_server, populate, say, throwaway_database

START, END = b"\x0b", b"\x1c\x0d"
WAIT_S = 30.0  # for the last alerts to arrive, after the last reading is sent
# The screen's close is not waited on: after the devices have gone the server can take
# its full close timeout (10 s) to answer it, which would only lengthen each round.
SCREEN_CLOSE_S = 1.0


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


async def _round(
    ws_url: str, chairs: int, spacing: float, fixtures: Any, am: AlertManager | None
) -> dict[str, Any]:
    cookie = {"Cookie": f"chairside_login={fixtures.login_cookie}"}
    screen = await websockets.connect(
        f"{ws_url}/ws/dashboard", additional_headers=cookie, close_timeout=SCREEN_CLOSE_S
    )
    try:
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
        deadline = time.time() + WAIT_S
        while time.time() < deadline and (  # noqa: ASYNC110 - waits on two counts
            len(shown) < chairs or (am is not None and len(am.started) < chairs)
        ):
            await asyncio.sleep(0.05)
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        for conn in devices:
            await conn.close()
    finally:
        await screen.close()
    out: dict[str, Any] = {"dashboard": summary([shown[c] - sent[c] for c in shown])}
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


def _stats(rounds: list[dict[str, Any]], key: str) -> dict[str, Any]:
    return {
        f"{key}_{stat}": spread([r[key][stat] for r in rounds if r[key][stat] is not None])
        for stat in ("p50_ms", "p99_ms", "max_ms")
    }


def measure(
    kind: str,
    chairs: int,
    spacing: float,
    rounds: int,
    workdir: Path,
    app_dir: Path | None = None,
) -> dict[str, Any]:
    """The phase: ``rounds`` rounds of each kind, alternating (without first, then with
    first), on ``kind`` databases."""
    say(
        f"alert forwarding on {kind}: {chairs} chairs raising sbp_critical, one every "
        f"{spacing:g} s, {rounds} round(s) without and with an Alert Manager"
    )
    am = AlertManager()
    am_port = serve_alert_manager(am)
    runs: dict[str, list[dict[str, Any]]] = {"without": [], "with_alert_manager": []}
    for r in range(rounds):
        order = ("without", "with_alert_manager")
        for label in order if r % 2 == 0 else order[::-1]:
            attached = am if label == "with_alert_manager" else None
            am.started.clear()
            with throwaway_database(kind, workdir) as db:
                fixtures = populate(db, chairs, sessions=True, login=True)
                server = chairside_server(db, workdir, app_dir)
                if attached is not None:
                    server.env["CHAIRSIDE_ALERT_MANAGER"] = f"127.0.0.1:{am_port}"
                with server:
                    result = asyncio.run(_round(server.ws_url, chairs, spacing, fixtures, attached))
            runs[label].append(result)
            line = (
                f"  round {r + 1}/{rounds} {label.replace('_', ' ')}: alert on the dashboard "
                f"p50 {result['dashboard']['p50_ms']} ms, p99 {result['dashboard']['p99_ms']} ms "
                f"({result['dashboard']['n']}/{chairs})"
            )
            if attached is not None:
                line += (
                    f"; at the Alert Manager p50 {result['alert_manager']['p50_ms']} ms, "
                    f"p99 {result['alert_manager']['p99_ms']} ms ({result['alert_manager']['n']})"
                )
            say(line)
    ratios = [
        w["dashboard"]["p99_ms"] / wo["dashboard"]["p99_ms"]
        for wo, w in zip(runs["without"], runs["with_alert_manager"], strict=True)
        if w["dashboard"]["p99_ms"] and wo["dashboard"]["p99_ms"]
    ]
    expected = chairs * rounds
    with_am = runs["with_alert_manager"]
    return {
        "database": kind,
        "chairs": chairs,
        "spacing_s": spacing,
        "rounds": rounds,
        "without": {**_stats(runs["without"], "dashboard"), "rounds": runs["without"]},
        "with_alert_manager": {
            **_stats(with_am, "dashboard"),
            **_stats(with_am, "alert_manager"),
            "rounds": with_am,
        },
        "dashboard_p99_ratio": spread(ratios),
        "missing_on_screen": sum(
            expected - sum(r["dashboard"]["n"] for r in rs) for rs in runs.values()
        ),
        "missing_at_alert_manager": expected - sum(r["alert_manager"]["n"] for r in with_am),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.alert_forwarding")
    parser.add_argument("--chairs", type=int, default=150)
    parser.add_argument("--spacing", type=float, default=0.04, help="seconds between alerts")
    parser.add_argument("--rounds", type=int, default=3, help="of each kind, alternating")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="chairside-bench-") as tmp:
        result = measure(args.database, args.chairs, args.spacing, args.rounds, Path(tmp))
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
