"""The SQLite database holds patient labels: its file, the -wal and -shm files beside it and the
secret key are 0600 and the data folder 0700, under the usual umask 022, after
``chairside db upgrade`` and after a real ``chairside serve`` has written."""

from __future__ import annotations

import functools
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import PASSWORD, free_port, run_chairside, together


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The umask most systems give (files 0644, folders 0755 unless the program says less)."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def environment(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "xdg")}
    env.pop("CHAIRSIDE_DATABASE_URL", None)  # the default database, in the data folder
    env.pop("CHAIRSIDE_SECRET_KEY", None)  # the key file, in the data folder too
    return env


def chairside(env: dict[str, str], *args: str, stdin: str = "") -> None:
    run = run_chairside(env, *args, stdin=stdin)
    assert run.returncode == 0, run.stderr


def test_db_upgrade_makes_the_data_folder_0700_and_the_database_0600(
    tmp_path: Path, usual_umask: None
) -> None:
    chairside(environment(tmp_path), "db", "upgrade")
    data = tmp_path / "xdg" / "chairside"
    assert mode(data) == 0o700
    assert mode(data / "chairside.db") == 0o600
    for leftover in data.glob("chairside.db-*"):
        assert mode(leftover) == 0o600, leftover


def test_a_database_elsewhere_gets_a_0700_folder_if_new_and_leaves_an_existing_one(
    tmp_path: Path, usual_umask: None
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    cases = [
        (f"sqlite:///{shared}/new/c.db", shared / "new", 0o700),
        (f"sqlite:///{shared}/c.db", shared, 0o755),  # the operator's folder: not ours to change
    ]

    def upgrade(url: str) -> None:
        chairside({**environment(tmp_path), "CHAIRSIDE_DATABASE_URL": url}, "db", "upgrade")

    together(*(functools.partial(upgrade, url) for url, _, _ in cases))
    for _, folder, folder_mode in cases:
        assert mode(folder) == folder_mode, folder
        assert mode(folder / "c.db") == 0o600, folder


def test_after_the_server_has_written_wal_shm_and_secret_key_are_0600(
    tmp_path: Path, usual_umask: None
) -> None:
    env = environment(tmp_path)
    chairside(env, "db", "upgrade")
    chairside(env, "user", "add", "nurse", "--role", "nurse", stdin=f"{PASSWORD}\n")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "chairside serve did not start"
            time.sleep(0.1)
        login = httpx.post(f"{url}/api/auth/login", json={"name": "nurse", "password": PASSWORD})
        assert login.status_code == 200, login.text  # a write: the login and its audit event
        data = tmp_path / "xdg" / "chairside"
        written = [data / name for name in ("chairside.db", "chairside.db-wal", "chairside.db-shm")]
        for path in [*written, data / "secret_key"]:
            assert path.exists(), path
            assert mode(path) == 0o600, path
        assert mode(data) == 0o700
    finally:
        server.terminate()
        server.wait(timeout=30)
