"""The reference ceiling: a bare websocket ingest server on the same stack (uvicorn, the same
database driver, the same ``reading`` table, the same durability) doing only what ingest must:
authenticate the device once, parse each frame, insert readings in batches (one transaction per
batch, ``ON CONFLICT DO NOTHING`` on (device_id, seq)) and acknowledge each after the commit.
No validation beyond the type, no sessions, no fan-out, no alert engine, no ORM.

    python -m bench.reference --port P --database sqlite:///x.db | postgresql://...
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
from datetime import UTC, datetime
from typing import Any

import orjson
import uvicorn

COLUMNS = "chair_id, device_id, seq, measured_at, received_at, sbp, dbp, map, hr, spo2"
VITALS = ("sbp", "dbp", "map", "hr", "spo2")
MAX_BATCH = 500


class Store:
    """One connection, one writer task: group commit, like Chairside's writer."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sqlite = url.startswith("sqlite")
        self.queue: asyncio.Queue[tuple[tuple[Any, ...], asyncio.Future[None]]] = asyncio.Queue()
        self.devices: dict[str, tuple[int, int]] = {}
        self.conn: Any = None  # an aiosqlite or an asyncpg connection

    async def open(self) -> None:
        if self.sqlite:
            import aiosqlite

            self.conn = await aiosqlite.connect(self.url.split(":///", 1)[1])
            for pragma in ("journal_mode=WAL", "synchronous=FULL", "busy_timeout=10000"):
                await self.conn.execute(f"PRAGMA {pragma}")
            rows = await self.conn.execute_fetchall("SELECT token_hash, id, chair_id FROM device")
            self.sql = f"INSERT INTO reading ({COLUMNS}) VALUES ({','.join('?' * 10)}) "
        else:
            import asyncpg

            self.conn = await asyncpg.connect(self.url)
            rows = await self.conn.fetch("SELECT token_hash, id, chair_id FROM device")
            marks = ",".join(f"${i}" for i in range(1, 11))
            self.sql = f"INSERT INTO reading ({COLUMNS}) VALUES ({marks}) "
        self.sql += "ON CONFLICT (device_id, seq) DO NOTHING"
        self.devices = {r[0]: (r[1], r[2]) for r in rows}
        self.task = asyncio.create_task(self.write())

    async def close(self) -> None:
        self.task.cancel()
        await self.conn.close()  # aiosqlite's thread would keep the process alive

    def stamp(self, ts: datetime) -> Any:  # SQLite keeps naive UTC text, as SQLAlchemy does
        return ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if self.sqlite else ts

    async def write(self) -> None:
        while True:
            batch = [await self.queue.get()]
            await asyncio.sleep(0)
            while len(batch) < MAX_BATCH and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            rows = [row for row, _ in batch]
            if self.sqlite:
                await self.conn.executemany(self.sql, rows)
                await self.conn.commit()
            else:
                async with self.conn.transaction():
                    await self.conn.executemany(self.sql, rows)
            for _, done in batch:
                done.set_result(None)


async def ingest(scope: dict[str, Any], receive: Any, send: Any, store: Store) -> None:
    await receive()  # websocket.connect
    headers = dict(scope["headers"])
    token = headers.get(b"authorization", b"").decode().partition(" ")[2]
    device = store.devices.get(hashlib.sha256(token.encode()).hexdigest())
    if device is None:
        await send({"type": "websocket.close", "code": 1008})
        return
    device_id, chair_id = device
    await send({"type": "websocket.accept"})
    replies: asyncio.Queue[tuple[int, asyncio.Future[None]] | None] = asyncio.Queue()

    async def answer() -> None:
        while (item := await replies.get()) is not None:
            await item[1]
            await send({"type": "websocket.send", "text": f'{{"type":"ack","seq":{item[0]}}}'})

    sender = asyncio.create_task(answer())
    loop = asyncio.get_running_loop()
    while (message := await receive())["type"] == "websocket.receive":
        r = orjson.loads(message.get("text") or message["bytes"])
        if r.get("type") != "reading":
            continue
        row = (chair_id, device_id, r["seq"], store.stamp(datetime.fromisoformat(r["ts"])),
               store.stamp(datetime.now(UTC)), *(r.get(v) for v in VITALS))  # fmt: skip
        done = loop.create_future()
        store.queue.put_nowait((row, done))
        replies.put_nowait((r["seq"], done))
    sender.cancel()


def make_app(url: str) -> Any:
    store = Store(url)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await store.open()
                await send({"type": "lifespan.startup.complete"})
            await store.close()
            await send({"type": "lifespan.shutdown.complete"})
        elif scope["type"] == "websocket":
            await ingest(scope, receive, send, store)
        else:  # the health check the benchmark waits for
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database", required=True)
    args = parser.parse_args()
    uvicorn.run(
        make_app(args.database),
        host="127.0.0.1",
        port=args.port,
        ws_max_size=1024 * 1024,
        log_level="warning",
        lifespan="on",
    )


if __name__ == "__main__":
    main()
