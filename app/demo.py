"""``chairside demo``: a local clinic on SQLite with demo users and monitors, one command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sys

from sqlalchemy import inspect, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app import migrations
from app.db import create_engine, create_sessionmaker
from app.models import AuditEvent, Device, User
from app.models.base import utcnow
from app.services import audit, devices, users
from app.settings import Settings
from simulators.clinic import ChairMonitor, chair_scenario
from simulators.demo import ClinicThread
from simulators.hl7_monitor import simulated_eui64

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
    # The breathing episodes start 20-28 (respiratory depression) and 25-40 (apnoea) minutes
    # after a dose given 20-30 minutes into the session: they unfold in the demo's first minutes.
    "respiratory-depression": 40,
    "apnoea": 50,
}


HL7_PORT = 2575  # the port IANA registered for HL7 over MLLP
HL7_SEED = 1  # the demo's HL7 monitors keep one EUI-64 each, whatever the round


def over_hl7(number: int) -> bool:
    """Chairs 2, 6, 10, ... (every fourth, from chair 2) have a monitor that speaks HL7 PCD-01
    over MLLP, as a monitor behind a vendor's gateway does; the others use the websocket."""
    return number % 4 == 2


def free_hl7_port(wanted: int | None, host: str) -> tuple[int | None, str | None]:
    """The port the demo's HL7 listener takes: ``wanted`` (0: HL7 off), else 2575 when it is
    free, else one the system picks. Returns the port and, when it is not the one asked for
    or the usual one, why."""
    if wanted == 0:
        return None, None
    for port in (wanted,) if wanted else (HL7_PORT, 0):
        with socket.socket() as probe, contextlib.suppress(OSError):
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the listener does
            probe.bind((host, port))
            chosen = probe.getsockname()[1]
            note = None if port else f"port {HL7_PORT} is in use; HL7 listens on {chosen} instead"
            return chosen, note
    return None, f"port {wanted} is in use"


def head_starts_s(chairs: int) -> list[float]:
    """Each demo chair's head start in seconds, by the scenario the mix gives it."""
    return [60.0 * HEAD_START_MIN[chair_scenario(i, None)] for i in range(1, chairs + 1)]


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def prepare(settings: Settings, chairs: int, hl7: bool) -> list[ChairMonitor]:
    """Demo users (created once) and a fresh monitor token per chair for this run; with
    ``hl7``, the monitors of the chairs ``over_hl7`` names are bound to their HL7 source."""
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as db:
            await _ensure_users(db)
            # Tokens from an earlier run were never shown again: retire them.
            # Their HL7 sources go with them (a source is bound to one device at a time).
            await db.execute(
                update(Device)
                .where(Device.revoked_at.is_(None))
                .values(revoked_at=utcnow(), hl7_source=None)
            )
            monitors = []
            for number in range(1, chairs + 1):
                name = f"Chair {number}"
                source = simulated_eui64(HL7_SEED, number) if hl7 and over_hl7(number) else None
                registered = await devices.register_device(db, name, None, DEMO_ACTOR, source)
                monitors.append(ChairMonitor(name, registered.token, source))
            await db.commit()
            return monitors
    finally:
        await engine.dispose()


async def _ensure_users(db: AsyncSession) -> None:
    for name, role in DEMO_USERS:
        if await db.scalar(select(User.id).where(User.name == name)) is None:
            # Published, so no policy could make it safe: it stays in the demo's own database.
            await users.create_user(db, name, role, DEMO_PASSWORD, DEMO_ACTOR, check_policy=False)


class NotADemoDatabase(Exception):
    """The configured database holds a clinic the demo did not make."""


async def _check_demo_owned(settings: Settings) -> None:
    """The demo adds logins with a published password: it runs only on a database that is
    empty or that it made itself (its first audited action is the demo's)."""
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            tables = set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
        first: str | None = DEMO_ACTOR.name  # an empty database is the demo's to take
        if tables and not {User.__tablename__, AuditEvent.__tablename__} <= tables:
            first = None  # some other program's database
        elif tables:
            async with create_sessionmaker(engine)() as db:
                if await db.scalar(select(User.id).limit(1)) is not None:
                    first = await db.scalar(
                        select(AuditEvent.actor).order_by(AuditEvent.id).limit(1)
                    )
    finally:
        await engine.dispose()
    if first != DEMO_ACTOR.name:
        raise NotADemoDatabase(
            f"the database at {settings.describe_database()} holds a clinic the demo did not "
            "make; the demo adds logins with a published password, so it runs only on its own "
            "database: point CHAIRSIDE_DATABASE_URL at another file (sqlite:///path/demo.db)"
        )


def _remove_demo_database(settings: Settings) -> None:
    """``--fresh``: delete the demo's database file (only one the demo made)."""
    path = settings.sqlite_path
    assert path is not None
    if path.exists():
        asyncio.run(_check_demo_owned(settings))
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def run_demo(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from app.cli import WS_MAX_SIZE
    from app.main import create_app

    if settings.sqlite_path is None:
        _say(
            "error: the demo runs on a SQLite file, and CHAIRSIDE_DATABASE_URL is "
            f"{settings.describe_database()}: unset it or give a sqlite:/// path"
        )
        return 2
    hl7_port, hl7_note = free_hl7_port(args.hl7_port, "127.0.0.1")
    if args.hl7_port and hl7_port is None:
        _say(f"error: the demo's HL7 listener cannot take port {args.hl7_port}: it is in use")
        return 2
    settings = settings.model_copy(
        update={"host": "127.0.0.1", "port": args.port, "hl7_port": hl7_port}
    )
    try:
        if args.fresh:
            _remove_demo_database(settings)
        _say(f"[1/3] migrating the demo database at {settings.sqlite_path}")
        migrations.upgrade(settings)
        asyncio.run(_check_demo_owned(settings))
    except NotADemoDatabase as exc:
        _say(f"error: {exc}")
        return 2
    _say(f"[2/3] demo users and {args.chairs} chairs with a monitor each")
    monitors = asyncio.run(prepare(settings, args.chairs, hl7_port is not None))
    hl7_chairs = [m.chair for m in monitors if m.hl7_source]
    url = f"http://127.0.0.1:{args.port}/"
    _say("[3/3] starting the server")
    _say("")
    _say(f"  Chairside demo: {url}")
    _say(f"  log in as admin, clinician or nurse; password: {DEMO_PASSWORD}")
    _say(f"  {len(monitors)} simulated chairs at {args.speed:g}x real time (seed {args.seed})")
    if hl7_port is not None:
        over = ", ".join(hl7_chairs) if hl7_chairs else "none of them (chair 2 would)"
        _say(f"  HL7 PCD-01 (MLLP) listening on 127.0.0.1:{hl7_port}; over HL7: {over}")
    _say("  a simulated nurse (the nurse login) observes each chair every 14 min after the dose;")
    _say("  at chair 7 every 18 min, so 'Observation due' shows there")
    if hl7_note:
        _say(f"  note: {hl7_note}")
    _say("  Ctrl-C stops the demo; sessions under way carry on at the next start")
    _say("  (`chairside demo --fresh` starts over). The other chairside commands use this")
    _say("  database too, e.g. `chairside export 1`.")
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
        monitors=monitors,
        hl7=("127.0.0.1", hl7_port) if hl7_port is not None else None,
        nurse=("nurse", DEMO_PASSWORD),
        head_start_s=head_starts_s(len(monitors)),
        carry_on=True,
        say=lambda message: _say(f"  demo: {message}"),
    ).start()
    server = uvicorn.Server(config)
    try:
        server.run()
    except KeyboardInterrupt:
        pass  # Ctrl-C is how the demo is stopped: a clean stop
    finally:
        feed.stop()
    if not server.started:
        _say(f"error: the demo's server did not start on port {args.port} (see above)")
        return 1
    return 0
