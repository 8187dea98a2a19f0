"""The ``chairside`` command line, run as a person runs it (a real process)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from app.db import create_engine
from app.settings import Settings


def chairside(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CHAIRSIDE_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


async def scalar(tmp_path: Path, sql: str) -> object:
    engine = create_engine(Settings(database_url=f"sqlite:///{tmp_path / 'cli.db'}"))
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text(sql))).scalar()
    finally:
        await engine.dispose()


@pytest.fixture
def migrated(tmp_path: Path) -> Path:
    result = chairside(tmp_path, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stderr
    return tmp_path


async def test_user_add_reads_the_password_from_stdin_and_stores_only_a_hash(
    migrated: Path,
) -> None:
    result = chairside(
        migrated, "user", "add", "dr.lee", "--role", "clinician", stdin="s3cret-pass\n"
    )
    assert result.returncode == 0, result.stderr
    assert "dr.lee" in result.stderr
    stored = await scalar(migrated, "SELECT password_hash FROM user_account WHERE name = 'dr.lee'")
    assert isinstance(stored, str) and stored.startswith("$argon2") and "s3cret" not in stored


def test_user_add_refuses_a_short_password_and_a_duplicate_name(migrated: Path) -> None:
    short = chairside(migrated, "user", "add", "amy", "--role", "nurse", stdin="short\n")
    assert short.returncode == 2 and "at least 8" in short.stderr
    assert (
        chairside(
            migrated, "user", "add", "amy", "--role", "nurse", stdin="long-enough\n"
        ).returncode
        == 0
    )
    again = chairside(migrated, "user", "add", "amy", "--role", "nurse", stdin="long-enough\n")
    assert again.returncode == 2 and "already exists" in again.stderr


async def test_device_add_prints_the_token_once_and_stores_its_hash(migrated: Path) -> None:
    result = chairside(migrated, "device", "add", "--chair", "Chair 4")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert token.startswith("csd_") and len(token) > 30
    assert "Chair 4" in result.stderr and "created" in result.stderr
    stored = await scalar(migrated, "SELECT token_hash FROM device")
    assert stored != token and token not in str(stored)
