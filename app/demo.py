"""``chairside demo``: a local clinic on SQLite with demo users and monitors, one command."""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app import migrations
from app.db import create_engine, create_sessionmaker
from app.models import Device, User
from app.models.base import utcnow
from app.services import audit, devices, users
from app.settings import Settings, default_data_dir
from simulators.clinic import chair_scenario
from simulators.demo import ClinicThread

DEMO_PASSWORD = "chairside-demo"
DEMO_USERS = (("admin", "admin"), ("clinician", "clinician"), ("nurse", "nurse"))
DEMO_ACTOR = audit.Actor(name="demo")
# How long each kind of session has been under way when the demo opens (simulated minutes),
# chosen so that the clinic shows every stage and its events unfold in the first minutes.
HEAD_START_MIN = {
    "typical": 100,
    "hypertensive": 52,
    "marked-rise": 50,
    "desaturation": 45,
    "tachycardia": 48,
    "artefacts": 60,
    "disconnect": 38,
    "elevated-predose": 22,
    "bradycardia": 46,
    "no-predose": 18,
}


@dataclass(frozen=True)
class DemoMonitor:
    chair: str
    token: str


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def prepare(settings: Settings, chairs: int) -> list[DemoMonitor]:
    """Demo users (created once) and a fresh monitor token per chair for this run."""
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as db:
            await _ensure_users(db)
            # Tokens from an earlier run were never shown again: retire them.
            await db.execute(
                update(Device).where(Device.revoked_at.is_(None)).values(revoked_at=utcnow())
            )
            monitors = []
            for number in range(1, chairs + 1):
                name = f"Chair {number}"
                registered = await devices.register_device(db, name, None, DEMO_ACTOR)
                monitors.append(DemoMonitor(chair=name, token=registered.token))
            await db.commit()
            return monitors
    finally:
        await engine.dispose()


async def _ensure_users(db: AsyncSession) -> None:
    for name, role in DEMO_USERS:
        if await db.scalar(select(User.id).where(User.name == name)) is None:
            await users.create_user(db, name, role, DEMO_PASSWORD, DEMO_ACTOR)


def run_demo(args: argparse.Namespace) -> int:
    import uvicorn

    from app.cli import WS_MAX_SIZE
    from app.main import create_app

    path = default_data_dir() / "demo.db"
    if args.fresh:
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
    settings = Settings(database_url=f"sqlite:///{path}", host="127.0.0.1", port=args.port)
    _say(f"[1/3] migrating the demo database at {path}")
    migrations.upgrade(settings)
    _say(f"[2/3] demo users and {args.chairs} chairs with a monitor each")
    monitors = asyncio.run(prepare(settings, args.chairs))
    url = f"http://127.0.0.1:{args.port}/"
    _say("[3/3] starting the server")
    _say("")
    _say(f"  Chairside demo: {url}")
    _say(f"  log in as admin, clinician or nurse; password: {DEMO_PASSWORD}")
    _say(f"  {len(monitors)} simulated chairs at {args.speed:g}x real time (seed {args.seed})")
    _say("  Ctrl-C stops the demo.")
    _say("")
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=args.port,
        ws_max_size=WS_MAX_SIZE,
        log_level="warning",
    )
    feed = ClinicThread(
        f"http://127.0.0.1:{args.port}",
        "admin",
        DEMO_PASSWORD,
        len(monitors),
        args.speed,
        args.seed,
        monitors=[(m.chair, m.token) for m in monitors],
        head_start_s=[
            60.0 * HEAD_START_MIN[chair_scenario(i, None)] for i in range(1, len(monitors) + 1)
        ],
    ).start()
    try:
        uvicorn.Server(config).run()
    finally:
        feed.stop()
    return 0
