"""``chairside demo`` as a person runs it: a real process on a free port with its own data folder."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import httpx

from tests.support import free_port

DEMO_PASSWORD = "chairside-demo"


def clean_environment(data_home: Path) -> dict[str, str]:
    """The environment of a new user: no Chairside settings, no path into the checkout."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("CHAIRSIDE_") and key not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    env["XDG_DATA_HOME"] = str(data_home)
    env["PYTHONUNBUFFERED"] = "1"
    return env


class DemoProcess:
    """One ``chairside demo`` process at a time, started and stopped like a person does."""

    def __init__(self, command: Sequence[str], workdir: Path, chairs: int = 2) -> None:
        self.command = list(command)
        self.workdir = workdir
        self.data_home = workdir / "data"
        self.port = free_port()
        self.chairs = chairs
        self.log_path = workdir / "demo.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return clean_environment(self.data_home)

    def start(self, *extra: str, within_s: float = 90.0) -> None:
        """Start the demo and return once ``/api/health`` answers."""
        assert self._process is None, "the demo is already running"
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [*self.command, "demo", "--port", str(self.port), "--chairs", str(self.chairs), *extra],
            cwd=self.workdir,
            env=self.env(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise AssertionError(
                    f"the demo exited with {self._process.returncode}:\n{self.log()}"
                )
            try:
                if httpx.get(self.url + "/api/health", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"the demo did not answer in {within_s:g} s:\n{self.log()}")

    def stop(self) -> int:
        """Ctrl-C, as at a terminal; returns the exit status."""
        process, self._process = self._process, None
        if process is None:
            return 0
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError(f"the demo did not stop on Ctrl-C:\n{self.log()}") from None
        finally:
            if self._log is not None:
                self._log.close()
        return code

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def run(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        """Another ``chairside`` command, in the same environment as the demo."""
        return subprocess.run(
            [*self.command, *args],
            cwd=self.workdir,
            env=self.env(),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def login(self, name: str = "nurse") -> httpx.Client:
        client = httpx.Client(base_url=self.url, timeout=10.0)
        response = client.post("/api/auth/login", json={"name": name, "password": DEMO_PASSWORD})
        assert response.status_code == 200, response.text
        return client
