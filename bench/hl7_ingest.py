"""``python -m bench.hl7_ingest [--chairs N] [--readings K] [--database sqlite|postgresql]``:
PCD-01 readings per second over MLLP against the websocket path, on one server in one run.

One ``chairside serve --hl7-port`` on a fresh database; every chair's monitor is bound to an HL7
source too. First each monitor sends K readings over ``/ws/ingest``, then K PCD-01 messages over
its own MLLP connection, each waiting for its answer (the ack, the ACK) before the next: both
acknowledge only after the commit, so this compares the cost of the two paths to durable
storage. Prints one JSON object: readings per second of each, and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from app.interop.hl7_message import parse
from app.interop.mllp import FrameReader, frame
from bench.load import FIRST_SEQ, NORMAL, connect_all, now_iso, say_hello
from bench.stack import chairside_server, free_port, populate, say, throwaway_database


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


async def websocket_phase(ws_url: str, tokens: list[str], per_device: int) -> float:
    devices = await connect_all(
        [(f"{ws_url}/ws/ingest", {"Authorization": f"Bearer {t}"}) for t in tokens]
    )
    await say_hello(devices)

    async def send(conn: Any) -> None:
        for n in range(per_device):
            ts = now_iso()
            await conn.send(f'{{"type":"reading","seq":{FIRST_SEQ + 1 + n},"ts":"{ts}",{NORMAL}}}')
            reply = orjson.loads(await conn.recv())
            if reply.get("type") != "ack":
                raise RuntimeError(f"websocket reading refused: {reply}")

    started = time.perf_counter()
    await asyncio.gather(*(send(conn) for conn in devices))
    elapsed = time.perf_counter() - started
    for conn in devices:
        await conn.close()
    return len(devices) * per_device / elapsed


async def hl7_phase(port: int, sources: list[str], per_device: int) -> float:
    async def send(source: str) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        acks = FrameReader(reader, 1 << 20, 30, 30)
        for n in range(per_device):
            writer.write(frame(message(source, n)))
            await writer.drain()
            raw = await acks.read()
            msa = parse(raw or b"").first("MSA")
            if msa is None or msa.text(1) != "AA":
                raise RuntimeError(f"HL7 message refused: {raw!r}")
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(send(source) for source in sources))
    return len(sources) * per_device / (time.perf_counter() - started)


def run(chairs: int, per_device: int, kind: str) -> dict[str, Any]:
    results: dict[str, Any] = {"chairs": chairs, "readings_per_device": per_device}
    results["database"] = kind
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        with throwaway_database(kind, workdir) as db:
            fixtures = populate(db, chairs, sessions=True, login=False)
            asyncio.run(bind_sources(db.url))
            server = chairside_server(db, workdir)
            hl7_port = free_port()
            server.argv += ["--hl7-port", str(hl7_port)]
            with server:
                say(f"websocket ingest: {chairs} monitors x {per_device} readings")
                ws = asyncio.run(websocket_phase(server.ws_url, fixtures.tokens, per_device))
                say(f"HL7 PCD-01 over MLLP: {chairs} connections x {per_device} messages")
                # populate numbers devices 1..N in chair order
                sources = [source_of(i + 1) for i in range(chairs)]
                hl7 = asyncio.run(hl7_phase(hl7_port, sources, per_device))
    results["websocket_readings_per_s"] = round(ws, 1)
    results["hl7_readings_per_s"] = round(hl7, 1)
    results["hl7_to_websocket_ratio"] = round(hl7 / ws, 2)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hl7_ingest")
    parser.add_argument("--chairs", type=int, default=50)
    parser.add_argument("--readings", type=int, default=40, help="per monitor and path")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args(argv)
    print(orjson.dumps(run(args.chairs, args.readings, args.database)).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
