"""The ``chairside`` command line."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import secrets
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from app import migrations
from app.alerts import RuleError
from app.db import create_engine, create_sessionmaker
from app.replay_command import add_replay_parser
from app.services import audit, devices, sessions, users
from app.services.errors import ServiceError
from app.settings import Settings, default_data_dir
from simulators.cli import add_simulate_parser

T = TypeVar("T")
WS_MAX_SIZE = 1024 * 1024


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _run_db(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run one unit of database work in its own transaction and return its result."""

    migrations.require_current(settings)

    async def go() -> T:
        engine = create_engine(settings)
        try:
            async with create_sessionmaker(engine)() as db:
                result = await work(db)
                await db.commit()
                return result
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _read_password(prompt: str) -> str:
    if sys.stdin.isatty():
        first = getpass.getpass(prompt)
        if getpass.getpass("Repeat: ") != first:
            raise SystemExit("error: the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\n")


def _secret_key_file() -> Path:
    return default_data_dir() / "secret_key"


def ensure_secret_key() -> None:
    """Give every worker the same secret key: from the environment or a file kept 0600."""
    if os.environ.get("CHAIRSIDE_SECRET_KEY"):
        return
    path = _secret_key_file()
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # beside the database
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
    os.environ["CHAIRSIDE_SECRET_KEY"] = path.read_text().strip()


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    _say("applying migrations ...")
    migrations.upgrade(settings)
    _say("database is up to date")
    return 0


def cmd_user_add(args: argparse.Namespace, settings: Settings) -> int:
    password = args.password if args.password is not None else _read_password("Password: ")
    user = _run_db(
        settings, lambda db: users.create_user(db, args.name, args.role, password, audit.CLI_ACTOR)
    )
    _say(f"user {user.name!r} created with role {user.role}")
    return 0


def cmd_user_unlock(args: argparse.Namespace, settings: Settings) -> int:
    # The audit event is the unlock: a server consults it at the user's next login.
    user = _run_db(settings, lambda db: users.unlock_user(db, None, args.name, audit.CLI_ACTOR))
    _say(f"user {user.name!r} unlocked: earlier failed logins no longer hold it back")
    return 0


def cmd_device_add(args: argparse.Namespace, settings: Settings) -> int:
    registered = _run_db(
        settings,
        lambda db: devices.register_device(
            db, args.chair, args.label, audit.CLI_ACTOR, args.hl7_source
        ),
    )
    if registered.chair_created:
        _say(f"chair {args.chair!r} did not exist and was created")
    _say(f"device {registered.device.id} registered at chair {args.chair!r}")
    if registered.device.hl7_source:
        _say(f"its HL7 messages are those carrying {registered.device.hl7_source!r}")
    _say("its token (shown only now; store it in the monitor):")
    print(registered.token, flush=True)
    return 0


def serve(settings: Settings, host: str, port: int, workers: int, log_level: str) -> None:
    import uvicorn

    ensure_secret_key()
    os.environ["CHAIRSIDE_DATABASE_URL"] = settings.database_url
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        ws_max_size=WS_MAX_SIZE,
        log_level=log_level,
        proxy_headers=False,
    )


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    migrations.upgrade(settings)
    host = args.host or settings.host
    port = args.port or settings.port
    _say(f"Chairside serving on http://{host}:{port}/ (API docs at /docs)")
    if args.hl7_port:  # the workers read their settings from the environment
        os.environ["CHAIRSIDE_HL7_PORT"] = str(args.hl7_port)
    if args.hl7_port or settings.hl7_port:
        _say(f"HL7 PCD-01 (MLLP) listening on {host}:{args.hl7_port or settings.hl7_port}")
    serve(settings, host, port, args.workers or settings.workers, args.log_level)
    return 0


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    from bench.run import main as bench_main

    return bench_main(args.bench_args)


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    import orjson

    from app.main import rules_source
    from app.services import export

    rules_for = rules_source(settings)

    async def work(db: AsyncSession) -> dict[str, object]:
        session = await sessions.get_session(db, args.session)
        rules = rules_for(session.protocol, {})
        return await export.session_export(
            db, args.session, {"name": rules.name, "version": rules.version}
        )

    if args.format == "fhir":
        from app.interop.fhir import session_bundle

        bundle = _run_db(settings, lambda db: session_bundle(db, args.session))
        sys.stdout.write(orjson.dumps(bundle, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    record = _run_db(settings, work)
    if args.format == "csv":
        sys.stdout.write(export.export_csv(record))
    else:
        sys.stdout.write(orjson.dumps(record, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from app.main import rules_source
    from app.records.pdf import RecordUnavailable
    from app.records.report import session_record
    from app.services.errors import NotFound

    rules_for = rules_source(settings)
    clinic = settings.clinic_name
    try:
        record = _run_db(
            settings,
            lambda db: session_record(db, args.session, rules_for, clinic, settings.clock),
        )
    except (NotFound, RecordUnavailable) as exc:
        _say(f"error: {exc.detail}")
        return 1
    path = Path(args.output)
    path.write_bytes(record.pdf)
    _say(f"wrote {path} ({record.pages} page{'' if record.pages == 1 else 's'})")
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from app.demo import run_demo

    # The demo keeps its logins across restarts, as `chairside serve` does.
    ensure_secret_key()
    return run_demo(args, Settings())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chairside", description="Live vital-signs station for ketamine clinics."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="run a simulated clinic on a local SQLite database")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--chairs", type=int, default=8, help="number of simulated chairs")
    demo.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="simulated time speed-up (above 1, timed protocol alerts no longer match the clock)",
    )
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument("--fresh", action="store_true", help="start from an empty demo database")
    demo.add_argument(
        "--hl7-port",
        type=int,
        metavar="PORT",
        help="the HL7 PCD-01 (MLLP) listener's port: chairs 2, 6, 10, ... send over it "
        "(default 2575, or a free port when 2575 is taken; 0: every chair on the websocket)",
    )
    demo.set_defaults(handler=cmd_demo)

    srv = sub.add_parser("serve", help="run the production server")
    srv.add_argument("--host")
    srv.add_argument("--port", type=int)
    srv.add_argument("--workers", type=int)
    srv.add_argument("--log-level", default="info")
    srv.add_argument(
        "--hl7-port", type=int, help="also take HL7 PCD-01 (ORU^R01) over MLLP on this port"
    )
    srv.set_defaults(handler=cmd_serve)

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_sub.add_parser("upgrade", help="apply migrations").set_defaults(handler=cmd_db_upgrade)

    user = sub.add_parser("user", help="staff accounts")
    user_sub = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    add_user = user_sub.add_parser("add", help="create a user (password from a prompt or stdin)")
    add_user.add_argument("name")
    add_user.add_argument("--role", required=True, choices=["nurse", "clinician", "admin"])
    add_user.add_argument("--password", help=argparse.SUPPRESS)
    add_user.set_defaults(handler=cmd_user_add)
    unlock_user = user_sub.add_parser("unlock", help="lift the lock failed logins put on a user")
    unlock_user.add_argument("name")
    unlock_user.set_defaults(handler=cmd_user_unlock)

    device = sub.add_parser("device", help="monitors")
    device_sub = device.add_subparsers(dest="device_command", required=True, metavar="ACTION")
    add_device = device_sub.add_parser("add", help="register a monitor; prints its token once")
    add_device.add_argument("--chair", required=True, help="chair name (created if new)")
    add_device.add_argument("--label")
    add_device.add_argument(
        "--hl7-source",
        metavar="ID",
        help="an identifier its HL7 messages carry: OBX-18 equipment id, MSH-3 sender or PV1-3 bed",
    )
    add_device.set_defaults(handler=cmd_device_add)
    add_simulate_parser(sub)

    add_replay_parser(sub)

    bench = sub.add_parser(
        "bench",
        help="run the benchmark suite (see bench/README.md; --quick for a smoke run)",
        add_help=False,
    )
    bench.add_argument("bench_args", nargs=argparse.REMAINDER)
    bench.set_defaults(handler=cmd_bench)

    exp = sub.add_parser(
        "export", help="print a session as JSON (default), a CSV trace or a FHIR R4 Bundle"
    )
    exp.add_argument("session", type=int, help="session id")
    exp.add_argument("--format", choices=["json", "csv", "fhir"], default="json")
    exp.set_defaults(handler=cmd_export)

    rep = sub.add_parser("report", help="write a session's printable record as PDF")
    rep.add_argument("session", type=int, help="session id")
    rep.add_argument("-o", "--output", required=True, metavar="FILE.pdf", help="where to write it")
    rep.set_defaults(handler=cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
        handler: Callable[[argparse.Namespace, Settings], int] = args.handler
        return handler(args, settings)
    except RuleError as exc:
        _say(f"error: rules: {exc}")
        return 2
    except migrations.DatabaseNotReady as exc:
        _say(f"error: {exc}")
        return 2
    except ServiceError as exc:
        _say(f"error: {exc.detail}")
        return 2
    except ValueError as exc:
        _say(f"error: {exc}")
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
