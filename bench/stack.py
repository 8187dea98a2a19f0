"""The stack under test: throwaway databases, bulk fixtures, server processes, /proc readings.

Everything the benchmark starts is bound to 127.0.0.1 and stopped (and every throwaway
PostgreSQL database dropped) before the benchmark returns, also on Ctrl-C or an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
POSTGRES_ADMIN_URL = os.environ.get(
    "CHAIRSIDE_BENCH_POSTGRES_URL",
    os.environ.get("CHAIRSIDE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
)
SECRET_KEY = "bench"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# -- /proc ------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used (its own, not its children's)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class CpuMeter:
    """CPU share of one process between two moments: 1.0 is one core fully busy."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.reset()

    def reset(self) -> None:
        self._cpu = cpu_seconds(self.pid)
        self._wall = time.monotonic()

    def share(self) -> float:
        cpu, wall = cpu_seconds(self.pid), time.monotonic()
        value = (cpu - self._cpu) / max(wall - self._wall, 1e-9)
        self._cpu, self._wall = cpu, wall
        return value


class MachineMeter:
    """Busy cores of the whole machine (every process: server, generators, PostgreSQL)."""

    def __init__(self) -> None:
        self.reset()

    @staticmethod
    def _read() -> tuple[int, int]:
        with open("/proc/stat", encoding="ascii") as handle:
            values = [int(v) for v in handle.readline().split()[1:]]
        idle = values[3] + values[4]  # idle + iowait
        return sum(values) - idle, sum(values)

    def reset(self) -> None:
        self._busy, self._total = self._read()

    def share(self) -> float:
        """Busy cores (0 .. core count) since the last reset."""
        busy, total = self._read()
        value = (busy - self._busy) / max(total - self._total, 1) * (os.cpu_count() or 1)
        self._busy, self._total = busy, total
        return value


# -- databases --------------------------------------------------------------------------------


@dataclass
class Database:
    """A migrated throwaway database: its plain URL (what CHAIRSIDE_DATABASE_URL takes)."""

    kind: str
    url: str
    drop: str | None = None  # PostgreSQL database name to drop afterwards


async def _pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def postgres_available() -> str | None:
    """None if the admin database answers, else why not."""
    try:
        asyncio.run(_pg_admin("SELECT 1"))
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


@contextlib.contextmanager
def throwaway_database(kind: str, workdir: Path) -> Iterator[Database]:
    from app import migrations
    from app.settings import Settings

    if kind == "sqlite":
        path = workdir / f"bench-{uuid.uuid4().hex[:8]}.db"
        db = Database("sqlite", f"sqlite:///{path}")
        migrations.upgrade(Settings(database_url=db.url, secret_key=SECRET_KEY))
        try:
            yield db
        finally:
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    Path(str(path) + suffix).unlink()
        return
    name = f"chairside_bench_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    db = Database("postgresql", f"{POSTGRES_ADMIN_URL.rsplit('/', 1)[0]}/{name}", drop=name)
    try:
        migrations.upgrade(Settings(database_url=db.url, secret_key=SECRET_KEY))
        yield db
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# -- fixtures ---------------------------------------------------------------------------------


@dataclass
class Fixtures:
    tokens: list[str] = field(default_factory=list)  # one device per chair, chair i -> tokens[i]
    chair_ids: list[int] = field(default_factory=list)
    login_cookie: str = ""


async def _populate(url: str, chairs: int, sessions: bool, login: bool) -> Fixtures:
    """Chairs, one monitor each (tokens returned), optionally an open session on every chair
    and a logged-in admin: written straight into the tables, as thousands of CLI calls would."""
    from sqlalchemy import insert, select

    from app import security
    from app.db import create_engine
    from app.models import Chair, Device, LoginSession, Reading, TreatmentSession, User
    from app.settings import Settings

    engine = create_engine(Settings(database_url=url, secret_key=SECRET_KEY))
    now = datetime.now(UTC)
    out = Fixtures()
    try:
        async with engine.begin() as conn:
            names = [f"Bench {i:05d}" for i in range(chairs)]
            await conn.execute(insert(Chair), [{"name": n, "created_at": now} for n in names])
            ids = dict((await conn.execute(select(Chair.name, Chair.id))).all())
            out.chair_ids = [ids[n] for n in names]
            out.tokens = [security.new_device_token() for _ in names]
            await conn.execute(
                insert(Device),
                [
                    {
                        "chair_id": cid,
                        "label": f"bench monitor {i}",
                        "token_hash": security.hash_device_token(tok),
                        "created_at": now,
                    }
                    for i, (cid, tok) in enumerate(zip(out.chair_ids, out.tokens, strict=True))
                ],
            )
            user_id = None
            if login or sessions:
                user_id = (
                    await conn.execute(
                        insert(User).returning(User.id),
                        {"name": "bench", "role": "admin", "password_hash": "-", "created_at": now},
                    )
                ).scalar_one()
            if sessions:
                # Each session is in its post-dose observation (the state most of a 2-hour
                # session is in): opened 70 s ago, the monitor's readings every 20 s from 60 s
                # ago to now (seq 0-3; the alert engine raises "no data" after 30 s without
                # one), dosed 30 s ago after two of them (the pre-dose baseline). A server
                # started on these tables finds every chair reporting, dosed, with a baseline;
                # the 45-min check and the 2-hour review fall due after any bench phase.
                await conn.execute(
                    insert(TreatmentSession),
                    [
                        {
                            "chair_id": cid,
                            "protocol": "spravato",
                            "patient_label": f"B{i}",
                            "started_at": now - timedelta(seconds=70),
                            "dose_at": now - timedelta(seconds=30),
                            "limit_overrides": {},
                            "started_by": user_id,
                        }
                        for i, cid in enumerate(out.chair_ids)
                    ],
                )
                sessions_of = dict(
                    (
                        await conn.execute(select(TreatmentSession.chair_id, TreatmentSession.id))
                    ).all()
                )
                devices_of = dict((await conn.execute(select(Device.chair_id, Device.id))).all())
                await conn.execute(
                    insert(Reading),
                    [
                        {
                            "chair_id": cid,
                            "session_id": sessions_of[cid],
                            "device_id": devices_of[cid],
                            "seq": seq,
                            "measured_at": at,
                            "received_at": at,
                            "sbp": 120.0,
                            "dbp": 80.0,
                            "map": 93.0,
                            "hr": 72.0,
                            "spo2": 98.0,
                        }
                        for cid in out.chair_ids
                        for seq, at in enumerate(
                            now - timedelta(seconds=s) for s in (60, 40, 20, 0)
                        )
                    ],
                )
            if login:
                token = security.new_login_token()
                await conn.execute(
                    insert(LoginSession),
                    {
                        "user_id": user_id,
                        "token_hash": security.hash_login_token(token, SECRET_KEY),
                        "created_at": now,
                        "expires_at": now + timedelta(hours=12),
                    },
                )
                out.login_cookie = token
    finally:
        await engine.dispose()
    return out


def populate(db: Database, chairs: int, *, sessions: bool, login: bool) -> Fixtures:
    return asyncio.run(_populate(db.url, chairs, sessions, login))


# -- server processes -------------------------------------------------------------------------


class Server:
    """A server in its own process on 127.0.0.1, stopped on exit from the ``with`` block."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], port: int, cwd: Path):
        self.name, self.argv, self.env, self.port, self.cwd = name, argv, env, port, cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in __exit__

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        self.proc = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start:\n{self.output()}")
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.port}/api/health", timeout=2
                ) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError(f"{self.name} did not answer within 30 s:\n{self.output()}")
            time.sleep(0.1)

    def output(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-4000:]

    def __exit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            t0 = time.monotonic()
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown
            try:
                self.proc.wait(15)
                if time.monotonic() - t0 > 3:
                    say(f"{self.name} took {time.monotonic() - t0:.0f} s to stop")
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None
        self._log.close()


def base_env(db: Database, workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAIRSIDE_")}
    env.update(
        CHAIRSIDE_DATABASE_URL=db.url,
        CHAIRSIDE_SECRET_KEY=SECRET_KEY,
        XDG_DATA_HOME=str(workdir / "xdg"),
        PYTHONUNBUFFERED="1",
    )
    return env


def chairside_server(db: Database, workdir: Path, app_dir: Path | None = None) -> Server:
    """``chairside serve`` (real uvicorn, one process) against ``db``."""
    port = free_port()
    tail = ["serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    env = base_env(db, workdir)
    if app_dir is None:
        exe = Path(sys.executable).with_name("chairside")
        argv = [str(exe), *tail] if exe.exists() else [sys.executable, "-m", "app.cli", *tail]
        cwd = workdir
    else:  # another checkout of Chairside (to measure a change): its own app package
        argv, cwd = [sys.executable, "-m", "app.cli", *tail], app_dir
    return Server("chairside", argv, env, port, cwd)


def reference_server(db: Database, workdir: Path) -> Server:
    """The bare ingest server of bench/reference.py against ``db``."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.reference", "--port", str(port), "--database", db.url]
    env = base_env(db, workdir)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return Server("reference", argv, env, port, workdir)
