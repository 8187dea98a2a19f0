"""PCD-01 readings per second over MLLP against the websocket path, on one server in one run:
the ``hl7`` phase of ``python -m bench`` (``--only hl7``), or on its own
``python -m bench.hl7_ingest [--chairs N] [--readings K] [--runs R] [--database sqlite|postgresql]``.

One ``chairside serve --hl7-port`` on a fresh database; every chair's monitor is bound to an HL7
source too. Each monitor keeps one websocket and one MLLP connection open; in a run every
monitor sends K readings over ``/ws/ingest``, then (or first, every other run) K PCD-01
messages over MLLP, each waiting for its answer (the ack, the ACK) before the next: both
acknowledge only after the commit, so this compares the cost of the two paths to durable
storage. Runs alternate the two paths so that a noisy moment of the machine hits both alike;
each figure is the median (min, max) of the runs, the ratio the median of the runs' ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from app.interop.hl7_message import parse
from app.interop.mllp import FrameReader, frame
from bench.load import FIRST_SEQ, NORMAL, connect_all, now_iso, say_hello
from bench.report import spread
from bench.stack import CpuMeter, chairside_server, free_port, populate, say, throwaway_database

WARMUP_READINGS = 5  # per monitor and path before the first timed run (not counted)


def source_of(device_id: int) -> str:
    return f"BENCH{device_id:011d}"


async def bind_sources(url: str) -> None:
    """Each populated monitor also answers to an HL7 source (its OBX-18 in the messages)."""
    from sqlalchemy import select, update

    from app.db import create_engine
    from app.models import Device
    from app.settings import Settings

    engine = create_engine(Settings(database_url=url))
    try:
        async with engine.begin() as conn:
            for (device_id,) in (await conn.execute(select(Device.id))).all():
                await conn.execute(
                    update(Device)
                    .where(Device.id == device_id)
                    .values(hl7_source=source_of(device_id))
                )
    finally:
        await engine.dispose()


def message(source: str, n: int) -> bytes:
    """One ORU^R01 (HR, SpO2); ``n`` makes its MSH-10 unique, so it is never a resend."""
    stamp = time.strftime("%Y%m%d%H%M%S+0000", time.gmtime())
    return (
        f"MSH|^~\\&|Bench^{source}^EUI-64||||{stamp}||ORU^R01^ORU_R01|{source}-{n}|P|2.6|||NE|AL\r"
        f"OBR|1|||182777000^monitoring of patient^SNOMED-CT|||{stamp}\r"
        f"OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X|||||||{source}\r"
        f"OBX|2|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.1|72|264864^MDC_DIM_BEAT_PER_MIN^MDC"
        f"|||||R|||{stamp}\r"
        f"OBX|3|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.2.1.1|98|262688^MDC_DIM_PERCENT^MDC"
        f"|||||R|||{stamp}\r"
    ).encode()


class Monitors:
    """Every monitor's two open connections, and a count of what each path sent and refused."""

    def __init__(self, ws_url: str, hl7_port: int, tokens: list[str], sources: list[str]):
        self.ws_url, self.hl7_port, self.tokens, self.sources = ws_url, hl7_port, tokens, sources
        self.websockets: list[Any] = []
        self.mllp: list[tuple[FrameReader, asyncio.StreamWriter]] = []
        self.next_seq = FIRST_SEQ + 1  # the websocket's seq (dedupe key), one per reading
        self.next_id = 0  # the MLLP messages' MSH-10 counter
        self.errors = {"websocket": 0, "hl7": 0}

    async def open(self) -> None:
        self.websockets = await connect_all(
            [(f"{self.ws_url}/ws/ingest", {"Authorization": f"Bearer {t}"}) for t in self.tokens]
        )
        await say_hello(self.websockets)
        for _ in self.sources:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.hl7_port)
            self.mllp.append((FrameReader(reader, 1 << 20, 30, 30), writer))

    async def close(self) -> None:
        for conn in self.websockets:
            await conn.close()
        for _, writer in self.mllp:
            writer.close()

    async def websocket(self, per_device: int) -> float:
        """Readings per second over /ws/ingest, one in flight per monitor."""
        base = self.next_seq
        self.next_seq += per_device

        async def send(conn: Any) -> None:
            for n in range(per_device):
                ts = now_iso()
                await conn.send(f'{{"type":"reading","seq":{base + n},"ts":"{ts}",{NORMAL}}}')
                reply = orjson.loads(await conn.recv())
                if reply.get("type") != "ack":
                    self.errors["websocket"] += 1

        started = time.perf_counter()
        await asyncio.gather(*(send(conn) for conn in self.websockets))
        return len(self.websockets) * per_device / (time.perf_counter() - started)

    async def hl7(self, per_device: int) -> float:
        """PCD-01 messages per second over MLLP, one in flight per monitor."""
        base = self.next_id
        self.next_id += per_device

        async def send(source: str, acks: FrameReader, writer: asyncio.StreamWriter) -> None:
            for n in range(per_device):
                writer.write(frame(message(source, base + n)))
                await writer.drain()
                raw = await acks.read()
                msa = parse(raw or b"").first("MSA")
                if msa is None or msa.text(1) != "AA":
                    self.errors["hl7"] += 1

        started = time.perf_counter()
        await asyncio.gather(
            *(send(s, r, w) for s, (r, w) in zip(self.sources, self.mllp, strict=True))
        )
        return len(self.sources) * per_device / (time.perf_counter() - started)


async def _measure(
    monitors: Monitors,
    server_pid: int,
    per_device: int,
    runs: int,
    progress: Callable[[str], None],
) -> dict[str, list[dict[str, float]]]:
    await monitors.open()
    try:
        await monitors.websocket(WARMUP_READINGS)
        await monitors.hl7(WARMUP_READINGS)
        results: dict[str, list[dict[str, float]]] = {"websocket": [], "hl7": []}
        for run in range(runs):
            order = ("websocket", "hl7") if run % 2 == 0 else ("hl7", "websocket")
            for path in order:
                cpu = CpuMeter(server_pid)
                own_cpu, wall = time.process_time(), time.perf_counter()
                per_s = await getattr(monitors, path)(per_device)
                results[path].append(
                    {
                        "per_s": per_s,
                        "server_cpu_share": cpu.share(),
                        # The monitors are this process: a share near 1.0 means they, not
                        # the server, set the pace.
                        "client_cpu_share": (time.process_time() - own_cpu)
                        / (time.perf_counter() - wall),
                    }
                )
            ws, hl7 = results["websocket"][-1], results["hl7"][-1]
            progress(
                f"run {run + 1}/{runs}: websocket {ws['per_s']:.0f} readings/s (server CPU "
                f"{ws['server_cpu_share']:.0%}, monitors {ws['client_cpu_share']:.0%}), HL7 "
                f"{hl7['per_s']:.0f} readings/s (server CPU {hl7['server_cpu_share']:.0%}, "
                f"monitors {hl7['client_cpu_share']:.0%}), ratio {hl7['per_s'] / ws['per_s']:.2f}"
            )
        return results
    finally:
        await monitors.close()


def measure(
    kind: str,
    chairs: int,
    per_device: int,
    runs: int,
    workdir: Path,
    app_dir: Path | None = None,
) -> dict[str, Any]:
    """The phase on one database: ``runs`` alternating pairs on one server."""
    say(
        f"HL7 ingest on {kind}: {chairs} monitors, {per_device} readings each over the websocket "
        f"and over MLLP per run, {runs} run(s)"
    )
    with throwaway_database(kind, workdir) as db:
        fixtures = populate(db, chairs, sessions=True, login=False)
        asyncio.run(bind_sources(db.url))
        server = chairside_server(db, workdir, app_dir)
        hl7_port = free_port()
        server.argv += ["--hl7-port", str(hl7_port)]
        with server:
            # populate numbers devices 1..N in chair order
            sources = [source_of(i + 1) for i in range(chairs)]
            monitors = Monitors(server.ws_url, hl7_port, fixtures.tokens, sources)
            runs_of = asyncio.run(
                _measure(monitors, server.pid, per_device, runs, lambda m: say(f"  {kind} {m}"))
            )
    ratios = [
        h["per_s"] / w["per_s"]
        for h, w in zip(runs_of["hl7"], runs_of["websocket"], strict=True)
        if w["per_s"]
    ]
    return {
        "database": kind,
        "chairs": chairs,
        "readings_per_device": per_device,
        "runs": runs,
        "hl7_per_s": spread([r["per_s"] for r in runs_of["hl7"]]),
        "websocket_per_s": spread([r["per_s"] for r in runs_of["websocket"]]),
        "ratio": spread(ratios),
        "hl7_server_cpu_share": spread([r["server_cpu_share"] for r in runs_of["hl7"]]),
        "websocket_server_cpu_share": spread([r["server_cpu_share"] for r in runs_of["websocket"]]),
        "hl7_client_cpu_share": spread([r["client_cpu_share"] for r in runs_of["hl7"]]),
        "websocket_client_cpu_share": spread([r["client_cpu_share"] for r in runs_of["websocket"]]),
        "errors": sum(monitors.errors.values()),
        "errors_by_path": monitors.errors,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hl7_ingest")
    parser.add_argument("--chairs", type=int, default=50)
    parser.add_argument("--readings", type=int, default=100, help="per monitor, path and run")
    parser.add_argument("--runs", type=int, default=5, help="alternating websocket/HL7 pairs")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="chairside-bench-") as tmp:
        result = measure(args.database, args.chairs, args.readings, args.runs, Path(tmp))
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
