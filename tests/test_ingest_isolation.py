"""One bad reading cannot sink its group commit: what the database could refuse is refused at
validation, what it still refuses is refused alone and finally, and a database that is down
makes every reading "send it again", as before."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from typing import Any

import pytest
from sqlalchemy import event, text

from app.services.readings import refused_for_its_data
from tests.support import Clinic, Device, LiveServer, device_connect
from tests.test_ingest import stored_seqs, ts

# A plausible HR that a test-only trigger makes the database refuse: validation lets it through.
REFUSED_HR = 123.4
TRIGGER_SAYS = "test trigger: hr 123.4 refused"


@asynccontextmanager
async def database_refusing_hr(clinic: Clinic, hr: float = REFUSED_HR) -> AsyncIterator[None]:
    """The real database refuses any reading with this HR, by a trigger made for the test."""
    if clinic.settings.is_sqlite:
        create = [
            "CREATE TRIGGER test_refuse_hr BEFORE INSERT ON reading "
            f"WHEN NEW.hr = {hr} BEGIN SELECT RAISE(ABORT, '{TRIGGER_SAYS}'); END"
        ]
        drop = ["DROP TRIGGER IF EXISTS test_refuse_hr"]
    else:
        create = [
            "CREATE FUNCTION test_refuse_hr() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF NEW.hr = {hr} THEN RAISE EXCEPTION '{TRIGGER_SAYS}'; END IF; RETURN NEW; END $$",
            "CREATE TRIGGER test_refuse_hr BEFORE INSERT ON reading "
            "FOR EACH ROW EXECUTE FUNCTION test_refuse_hr()",
        ]
        drop = ["DROP TRIGGER IF EXISTS test_refuse_hr ON reading", "DROP FUNCTION test_refuse_hr"]

    async def run(statements: list[str]) -> None:
        async def work(db: Any) -> None:
            for sql in statements:
                await db.execute(text(sql))

        await clinic.db_work(work)

    await run(create)
    try:
        yield
    finally:
        await run(drop)


def reading(seq: int, **fields: Any) -> dict[str, Any]:
    return {"type": "reading", "seq": seq, "ts": ts(), "hr": 70, "spo2": 97, **fields}


# Each reading a device could send that the database cannot store, and the one final answer.
POISONS = [
    ("seq_2_63", {"seq": 2**63}, "invalid_seq"),
    ("seq_2_64_minus_1", {"seq": 2**64 - 1}, "invalid_seq"),
    ("utc_before_year_1", {"ts": "0001-01-01T00:30:00+01:00"}, "ts_too_old"),
    ("year_1", {"ts": "0001-01-01T12:00:00Z"}, "ts_too_old"),
    ("year_1900", {"ts": "1900-01-01T00:00:00Z"}, "ts_too_old"),
    ("refused_by_the_database", {"hr": REFUSED_HR}, "rejected_by_storage"),
]


@pytest.mark.parametrize(("poison", "code"), [p[1:] for p in POISONS], ids=[p[0] for p in POISONS])
async def test_a_poison_reading_is_answered_once_and_finally_and_no_other_device_loses_one(
    clinic: Clinic, poison: dict[str, Any], code: str
) -> None:
    token_a, device_a, _ = await clinic.add_device("Chair A")
    token_b, device_b, _ = await clinic.add_device("Chair B")
    writer = clinic.server.app.state.writer
    refused_before = writer.refused
    sent_b: list[tuple[dict[str, Any], bool]] = []  # B's readings, and which are poison
    async with (
        database_refusing_hr(clinic),
        device_connect(clinic.server, token_a) as conn_a,
        device_connect(clinic.server, token_b) as conn_b,
    ):
        a, b = Device(conn_a), Device(conn_b)
        # B's batch is queued at once, so the poison shares a commit with its neighbours.
        sent_b += [(reading(1000), False), ({**reading(1001), **poison}, True)]
        sent_b += [(reading(1002), False)]
        await b.send({"type": "batch", "readings": [r for r, _ in sent_b]})
        # Then A streams while B keeps sending the poison between valid readings.
        for n in range(100):
            await a.send(reading(n))
            if n % 10 == 0:
                for frame, is_poison in (
                    ({**reading(2000 + n), **poison}, True),
                    (reading(3000 + n), False),
                ):
                    sent_b.append((frame, is_poison))
                    await b.send(frame)
        replies_a = [await a.recv() for _ in range(100)]
        replies_b = [await b.recv() for _ in sent_b]
        with pytest.raises(TimeoutError):  # nothing more: each reading answered once
            await b.recv(timeout=0.3)
    assert replies_a == [{"type": "ack", "seq": n} for n in range(100)]  # none of A refused
    kept_b = []
    for (frame, is_poison), reply in zip(sent_b, replies_b, strict=True):
        if is_poison:
            assert reply["type"] == "error" and reply["code"] == code, reply
            assert "\n" not in reply["detail"] and "Traceback" not in reply["detail"]
        else:
            assert reply == {"type": "ack", "seq": frame["seq"]}
            kept_b.append(frame["seq"])
    assert await stored_seqs(clinic, device_a) == list(range(100))
    assert await stored_seqs(clinic, device_b) == sorted(kept_b)
    if code == "rejected_by_storage":
        assert replies_b[1]["detail"] == f"the database refused this reading: {TRIGGER_SAYS}"
        assert writer.refused - refused_before == 11
    else:
        assert writer.refused == refused_before  # refused at validation, never written


async def test_a_refused_reading_counts_toward_the_rejected_readings_alert(
    clinic: Clinic, nurse: Any
) -> None:
    from tests.test_alerts_live import start_session, wait_for_alert

    token, _, chair_id = await clinic.add_device()
    session_id = await start_session(nurse, chair_id)
    async with database_refusing_hr(clinic), device_connect(clinic.server, token) as conn:
        device = Device(conn)
        for seq in range(3):
            reply = await device.reading(**reading(seq, hr=REFUSED_HR))
            assert reply["code"] == "rejected_by_storage"
        alert = await wait_for_alert(nurse, session_id, "rejected_readings")
    assert alert["message"] == "3 readings rejected in 1 min (last: rejected_by_storage)"


# -- a database that is down: every reading is to be sent again ---------------------------------


class Link:
    """A TCP link to PostgreSQL that the test can cut (every connection dropped, new ones
    refused) and mend, as a network fault or a database restart does."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    def __enter__(self) -> Link:
        self._thread.start()
        self.mend()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(5)

    def mend(self) -> None:
        async def listen() -> None:
            self._server = await asyncio.start_server(
                self._pipe, "127.0.0.1", self.port, reuse_address=True
            )
            self.port = self._server.sockets[0].getsockname()[1]

        self._call(listen())

    def cut(self) -> None:
        async def drop() -> None:
            if self._server is not None:
                self._server.close()
                self._server = None
            for writer in list(self._writers):
                writer.transport.abort()

        self._call(drop())

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._target)
        self._writers |= {writer, up_writer}

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with suppress(OSError):
                while chunk := await src.read(65536):
                    dst.write(chunk)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))
        self._writers -= {writer, up_writer}


@contextmanager
def sqlite_locked(path: str) -> Iterator[None]:
    """Another process's write transaction holds the SQLite database: nobody else can write."""
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


@contextmanager
def outage_server(clinic: Clinic) -> Iterator[tuple[LiveServer, Any]]:
    """A server of its own on the test's database, and a way to take that database away."""
    settings = clinic.settings
    if settings.is_sqlite:
        server = LiveServer(settings).start()

        # Give up on a locked database in 0.2 s rather than the server's 10 s.
        def short_wait(dbapi_connection: Any, *_: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA busy_timeout=200")
            cursor.close()

        event.listen(server.app.state.engine.sync_engine, "checkout", short_wait)
        try:
            yield server, lambda: sqlite_locked(str(settings.sqlite_path))
        finally:
            server.stop()
        return
    base, _, name = settings.database_url.rpartition("/")
    host_port = base.rsplit("@", 1)[-1]
    host, _, port = host_port.partition(":")
    with Link(host, int(port or 5432)) as link:
        url = f"{base.replace(host_port, f'127.0.0.1:{link.port}')}/{name}"
        server = LiveServer(settings.model_copy(update={"database_url": url})).start()

        @contextmanager
        def down() -> Iterator[None]:
            link.cut()
            try:
                yield
            finally:
                link.mend()

        try:
            yield server, down
        finally:
            server.stop()


async def test_a_database_that_is_down_makes_every_reading_send_it_again(clinic: Clinic) -> None:
    token_a, device_a, _ = await clinic.add_device("Chair A")
    token_b, device_b, _ = await clinic.add_device("Chair B")
    with outage_server(clinic) as (server, database_down):
        writer = server.app.state.writer
        async with (
            device_connect(server, token_a) as conn_a,
            device_connect(server, token_b) as conn_b,
        ):
            a, b = Device(conn_a), Device(conn_b)
            assert await a.reading(**reading(1)) == {"type": "ack", "seq": 1}
            with database_down():
                await a.send({"type": "batch", "readings": [reading(n) for n in (2, 3, 4)]})
                await b.send(reading(10))
                replies = [await a.recv(10) for _ in range(3)] + [await b.recv(10)]
            assert [(r["seq"], r["code"]) for r in replies] == [
                (2, "storage_unavailable"),
                (3, "storage_unavailable"),
                (4, "storage_unavailable"),
                (10, "storage_unavailable"),
            ]
            assert writer.refused == 0  # not taken for a refusal of the readings' values
            # Back up: the same readings, sent again as the contract says, are stored.
            await a.send({"type": "batch", "readings": [reading(n) for n in (2, 3, 4)]})
            assert [await a.recv(10) for _ in range(3)] == [
                {"type": "ack", "seq": n} for n in (2, 3, 4)
            ]
            assert await b.reading(**reading(10), timeout=10) == {"type": "ack", "seq": 10}
    assert await stored_seqs(clinic, device_a) == [1, 2, 3, 4]
    assert await stored_seqs(clinic, device_b) == [10]


def test_only_a_refusal_of_the_values_counts_as_one() -> None:
    """The rule, on the exceptions Python and the drivers raise."""
    assert refused_for_its_data(OverflowError("Python int too large to convert to SQLite INTEGER"))
    assert not refused_for_its_data(ConnectionRefusedError(111, "Connection refused"))
    assert not refused_for_its_data(TimeoutError())
    assert not refused_for_its_data(RuntimeError("anything not known to be about the values"))
