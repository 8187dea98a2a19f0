"""Chairside's one settings object, read from ``CHAIRSIDE_*`` environment variables."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    """Per-user data directory, honouring ``XDG_DATA_HOME``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "chairside"


def default_database_url() -> str:
    return f"sqlite:///{default_data_dir() / 'chairside.db'}"


def async_database_url(url: str) -> str:
    """Map the plain URL forms people know to the async drivers Chairside uses."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(
            f"database URL {url!r} has no scheme (expected sqlite:/// or postgresql://)"
        )
    drivers = {
        "sqlite": "sqlite+aiosqlite",
        "sqlite+aiosqlite": "sqlite+aiosqlite",
        "postgres": "postgresql+asyncpg",
        "postgresql": "postgresql+asyncpg",
        "postgresql+asyncpg": "postgresql+asyncpg",
        "postgresql+psycopg2": "postgresql+asyncpg",
    }
    if scheme not in drivers:
        raise ValueError(
            f"unsupported database URL scheme {scheme!r}: use sqlite:///path or postgresql://..."
        )
    return f"{drivers[scheme]}://{rest}"


class Settings(BaseSettings):
    """Everything Chairside can be configured with; one instance per app."""

    model_config = SettingsConfigDict(env_prefix="CHAIRSIDE_", extra="ignore")

    database_url: str = Field(default_factory=default_database_url)
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    secret_key: str = Field(default_factory=lambda: secrets.token_urlsafe(32))
    redis_url: str | None = None
    # Keys and channels in Redis start with this (several clinics may share one Redis).
    redis_prefix: str = "chairside:"
    # Origins allowed to open the dashboard websocket besides the server's own.
    allowed_origins: list[str] = Field(default_factory=list)
    cookie_secure: bool = False
    session_max_age_s: int = 12 * 3600
    # How long an ingest reading may wait for companions before its commit (group commit).
    ingest_commit_delay_ms: float = 2.0
    ingest_max_batch: int = 500
    heartbeat_s: float = 2.0
    rules_file: Path | None = None
    # The clinic's name on every screen's header and on the session record.
    clinic_name: str | None = Field(default=None, max_length=120)
    # How every screen writes the time of day: 24-hour ("14:05") or 12-hour ("2:05 PM").
    clock: Literal["24h", "12h"] = "24h"
    # Failed logins (README, Security): an account locks after this many within the window, an
    # address after its own count (0: no address limit); a lock ends when its oldest failure is
    # a window old, and an admin can lift an account's at once.
    login_account_failures: int = Field(default=5, ge=1)
    login_address_failures: int = Field(default=20, ge=0)
    login_window_s: int = Field(default=300, ge=1)

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        async_database_url(value)
        return value

    @property
    def async_database_url(self) -> str:
        return async_database_url(self.database_url)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite database file (None for PostgreSQL or an in-memory database)."""
        if not self.is_sqlite:
            return None
        path = self.database_url.split(":///", 1)[1] if ":///" in self.database_url else ""
        return Path(path).expanduser() if path and path != ":memory:" else None

    def describe_database(self) -> str:
        """Where the database is, for messages: the file, or the URL without its password."""
        if self.sqlite_path is not None:
            return str(self.sqlite_path)
        scheme, _, rest = self.database_url.partition("://")
        return f"{scheme}://{rest.rpartition('@')[2]}"
