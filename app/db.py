"""Database engine and sessions; SQLite tuned so an acknowledged reading is on disk."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.settings import Settings


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the dashboard read while ingest writes; synchronous=FULL makes every commit
    # durable before it returns, so a reading is acknowledged only once it would survive a crash.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def prepare_sqlite_file(path: Path) -> None:
    """Make the database's folder (0700) and file (0600) unless they exist.

    The file holds patient labels: no other local user may read it. SQLite gives the -wal and
    -shm files it makes beside it the database file's own mode. An existing folder or file keeps
    its mode (the README says how to tighten one made before)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def create_engine(settings: Settings) -> AsyncEngine:
    """The async engine for the configured database (its file made 0600 for SQLite)."""
    url = settings.async_database_url
    if settings.is_sqlite:
        path = settings.sqlite_path
        if path is not None:
            prepare_sqlite_file(path)
        engine = create_async_engine(url, json_serializer=_json)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        url, pool_size=10, max_overflow=10, pool_pre_ping=True, json_serializer=_json
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
