"""Test support: a real uvicorn server in a thread, throwaway databases, device clients."""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import orjson
import pytest
import uvicorn
import websockets
from argon2 import PasswordHasher
from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncSession

from app import migrations
from app.db import create_engine, create_sessionmaker
from app.main import create_app
from app.models import Base, User
from app.services import audit, devices
from app.settings import Settings

POSTGRES_ADMIN_URL = os.environ.get(
    "CHAIRSIDE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
# Real recorded traces kept in the repository, with their provenance beside them.
TRACES = Path(__file__).resolve().parent / "data" / "traces"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PASSWORD = "correct-horse-9"
T = TypeVar("T")
# For a test whose subject no database takes part in (routing, response headers, the Origin
# check before a login, the dashboard's heartbeat and its own queue): the server it needs runs
# on SQLite, and the test once rather than once per database.
one_database_is_enough = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


def unavailable(what: str, why: object) -> None:
    """A missing service fails the run in CI and is a visible skip on a laptop."""
    message = f"{what} is not reachable: {why}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def throwaway_database(kind: str, tmp: Path) -> Iterator[Settings]:
    """A fresh, migrated database of this kind; dropped afterwards."""
    if kind == "sqlite":
        settings = Settings(database_url=f"sqlite:///{tmp / 'chairside.db'}", secret_key="test")
        migrations.upgrade(settings)
        yield settings
        return
    name = f"chairside_test_{uuid.uuid4().hex[:12]}"
    admin_dsn = POSTGRES_ADMIN_URL

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(admin_dsn, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        unavailable("PostgreSQL at " + admin_dsn, exc)
    base = admin_dsn.rsplit("/", 1)[0]
    settings = Settings(database_url=f"{base}/{name}", secret_key="test")
    try:
        migrations.upgrade(settings)
        yield settings
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def wipe(settings: Settings) -> None:
    """Empty every table so each test starts from nothing.

    The server of the test before may still be storing alert events: on PostgreSQL every
    table is emptied in one statement (deleting table by table let a child row land between
    two deletes); SQLite's one writer at a time makes the deletes one unit already."""
    engine = create_engine(settings)
    tables = list(reversed(Base.metadata.sorted_tables))
    try:
        async with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                names = ", ".join(f'"{table.name}"' for table in tables)
                await conn.execute(text(f"TRUNCATE {names}"))
            else:
                for table in tables:
                    await conn.execute(delete(table))
    finally:
        await engine.dispose()


def run_chairside(
    env: Mapping[str, str], *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """``chairside ARGS`` as a person runs it: a real process with environment ``env``."""
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=dict(env),
        timeout=120,
        check=False,
    )


@functools.cache
def password_hash() -> str:
    """PASSWORD's argon2 hash for the users a test's clinic starts with, made once for the run
    with argon2's lightest parameters. The server verifies a hash with the parameters written
    in it, so a login takes the app's own path, in a millisecond rather than the 0.1 s the
    app's parameters cost on purpose; every test makes three users and most log in."""
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)


def together(*calls: Callable[[], T]) -> list[T]:
    """The results of independent calls made at the same time, in the order given. For
    commands run as processes: most of each one's time is Python starting and importing, which
    two cores do two at a time."""
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(call) for call in calls]
        return [future.result() for future in futures]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LiveServer:
    """The real app served by uvicorn on a real port, in a background thread."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port = free_port()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def app(self) -> Any:
        assert self._server is not None, "server not running"
        return self._server.config.app

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> LiveServer:
        config = uvicorn.Config(
            create_app(self.settings),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            ws_max_size=1024 * 1024,
            lifespan="on",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.02)
        return self

    def forget_clinic(self) -> None:
        """After the test wiped the database: the server forgets what it held of the clinic
        before. Its alert engine reloads, and its reading writer forgets the devices it has
        seen: SQLite numbers rows from 1 again after a wipe, and a new device taken for one
        seen a moment before would not have its first sighting written at once (nor should
        it get that one's last sighting)."""
        app = self._server.config.app if self._server is not None else None
        if app is None:
            return

        async def forget() -> None:
            await app.state.alert_runner.reload()
            app.state.writer._seen_known.clear()
            app.state.writer._seen_pending.clear()

        asyncio.run_coroutine_threadsafe(forget(), app.state.loop).result(timeout=15)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=15)
        self._server = None


@dataclass
class Clinic:
    """Handles to what a test needs: the server, its settings, and ways to act."""

    server: LiveServer
    settings: Settings

    async def db_work(self, work: Any) -> Any:
        engine = create_engine(self.settings)
        try:
            async with create_sessionmaker(engine)() as db:
                result = await work(db)
                await db.commit()
                return result
        finally:
            await engine.dispose()

    async def add_user(self, name: str, role: str) -> None:
        await self.add_users((name, role))

    async def add_users(self, *named_roles: tuple[str, str]) -> None:
        """Users with PASSWORD, stored as ``users.create_user`` stores them (the row and its
        audit event), all in one transaction and with the run's one hash of PASSWORD."""

        async def work(db: AsyncSession) -> None:
            for name, role in named_roles:
                user = User(name=name, role=role, password_hash=password_hash())
                db.add(user)
                await db.flush()
                detail = {"name": name, "role": role}
                audit.record(db, audit.CLI_ACTOR, "user.create", "user", user.id, detail)

        await self.db_work(work)

    async def add_device(self, chair: str = "Chair 1") -> tuple[str, int, int]:
        """Register a monitor; returns (token, device id, chair id)."""

        async def work(db: AsyncSession) -> tuple[str, int, int]:
            reg = await devices.register_device(db, chair, None, audit.CLI_ACTOR)
            return reg.token, reg.device.id, reg.device.chair_id

        result: tuple[str, int, int] = await self.db_work(work)
        return result

    async def query(self, sql: str, **params: Any) -> list[Any]:
        from sqlalchemy import text

        engine = create_engine(self.settings)
        try:
            async with engine.connect() as conn:
                return list((await conn.execute(text(sql), params)).all())
        finally:
            await engine.dispose()


class Device:
    """A websocket client speaking the ingest protocol, as a monitor would."""

    def __init__(self, conn: websockets.ClientConnection) -> None:
        self.conn = conn

    async def send(self, frame: dict[str, Any] | str) -> None:
        await self.conn.send(frame if isinstance(frame, str) else orjson.dumps(frame).decode())

    async def recv(self, timeout: float = 5) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.conn.recv(), timeout)
        reply: dict[str, Any] = orjson.loads(raw)
        return reply

    async def reading(self, timeout: float = 5, **fields: Any) -> dict[str, Any]:
        await self.send({"type": "reading", **fields})
        return await self.recv(timeout)


def device_connect(server: LiveServer, token: str | None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return websockets.connect(f"{server.ws_url}/ws/ingest", additional_headers=headers)
