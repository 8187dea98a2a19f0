"""Chairside's one settings object, read from ``CHAIRSIDE_*`` environment variables."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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


def alert_manager_address(value: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` too) as the reporter connects to it."""
    host, sep, port = value.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(
            f"alert manager address {value!r} is not host:port (e.g. am.hospital.local:2575)"
        )
    return host, int(port)


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
    # The PCD-01 listener (HL7 v2 over MLLP, app/interop/hl7_listener.py); off when unset.
    hl7_port: int | None = Field(default=None, ge=1, le=65535)
    # The IANA zone (e.g. Europe/Berlin) of HL7 times sent without an offset; none: such a
    # message is answered AE naming the field.
    hl7_zone: str | None = None
    # A connection silent this long is closed (PCD-01 reports about every minute; a gateway
    # reconnects), and a message must arrive whole within hl7_frame_timeout_s once started.
    hl7_idle_timeout_s: float = Field(default=600.0, gt=0)
    hl7_frame_timeout_s: float = Field(default=30.0, gt=0)
    # The hospital's Alert Manager (IHE PCD-04 over MLLP), ``host:port``; none: not forwarded.
    alert_manager: str | None = None
    # Keep-alive to the Alert Manager every this many seconds; it has to confirm (``CA``) each
    # message within the confirm timeout, or forwarding counts as unavailable.
    alert_manager_watchdog_s: float = Field(default=30.0, gt=0)
    alert_manager_confirm_s: float = Field(default=10.0, gt=0)
    # Alert events kept for an Alert Manager that does not take them; beyond, the oldest go.
    alert_manager_queue: int = Field(default=1000, ge=1)

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        async_database_url(value)
        return value

    @field_validator("alert_manager")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value:
            alert_manager_address(value)
        return value or None

    @field_validator("hl7_zone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"hl7_zone {value!r} is not an IANA time zone name") from exc
        return value or None

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
