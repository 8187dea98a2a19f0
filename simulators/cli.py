"""``chairside simulate``: simulated monitors streaming seeded sessions to a running server."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import os
import signal
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from simulators.api import ClinicAPIError
from simulators.clinic import NIBP_CYCLE_S, plan_chair, run_clinic
from simulators.courses import PROTOCOLS, SCENARIOS, write_trace_csv
from simulators.monitor import MonitorRefused

PASSWORD_ENV = "CHAIRSIDE_SIM_PASSWORD"
WIRES = ("websocket", "hl7")
HL7_PORT = 2575


class ProtocolAction(argparse.Action):
    """``--protocol`` names a treatment protocol or a wire protocol: each value sets its own
    (``args.protocol`` and ``args.wire``), so ``--protocol hl7 --protocol spravato`` is both."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: Any, value: Any, option: Any = None
    ) -> None:
        if value in WIRES:
            namespace.wire = value
        elif value in PROTOCOLS:
            namespace.protocol = value
        else:
            choices = ", ".join(repr(c) for c in (*PROTOCOLS, *WIRES))
            parser.error(f"argument --protocol: invalid choice: {value!r} (choose from {choices})")


def add_simulate_parser(subparsers: Any) -> None:
    """Add ``simulate`` to the ``chairside`` subcommands (``handler(args, settings) -> int``)."""
    sim = subparsers.add_parser(
        "simulate",
        help="simulated monitors streaming to a running server (websocket or HL7 PCD-01)",
        description="Run N simulated chairs, each a seeded clinical course, against a server.",
    )
    sim.add_argument("--chairs", type=int, default=8, help="number of chairs (default 8)")
    sim.add_argument(
        "--speed", type=float, default=60.0, help="simulated seconds per real second (default 60)"
    )
    sim.add_argument("--seed", type=int, default=1, help="same seed, same readings (default 1)")
    sim.add_argument(
        "--scenario", choices=SCENARIOS, help="one course for every chair (default: a mix)"
    )
    sim.add_argument(
        "--protocol",
        action=ProtocolAction,
        metavar="{" + ",".join((*PROTOCOLS, *WIRES)) + "}",
        help="the treatment protocol (default: odd chairs spravato, even iv-ketamine) or how "
        "the monitors send: websocket (default) or hl7 (PCD-01 over MLLP, to --hl7-port, "
        f"default {HL7_PORT}); give it twice for both",
    )
    sim.add_argument("--url", default="http://127.0.0.1:8000", help="the server's base URL")
    sim.add_argument("--user", default="admin", help="an admin login (registers the monitors)")
    sim.add_argument(
        "--password-env",
        default=PASSWORD_ENV,
        metavar="VAR",
        help=f"environment variable holding the password (default {PASSWORD_ENV}); "
        "when it is unset the password is read from a prompt or stdin",
    )
    sim.add_argument(
        "--duration",
        type=float,
        default=150.0,
        metavar="MIN",
        help="simulated minutes per session, pre-dose baseline included (default 150)",
    )
    sim.add_argument(
        "--nibp-cycle", type=float, default=NIBP_CYCLE_S / 60, metavar="MIN", help="default 5"
    )
    sim.add_argument(
        "--write-traces",
        type=Path,
        metavar="DIR",
        help="also write each chair's readings as a trace CSV (for chairside replay)",
    )
    sim.add_argument(
        "--hl7-port",
        type=int,
        metavar="PORT",
        help="send over HL7 PCD-01 (MLLP) to the server's HL7 listener on this port instead "
        "of /ws/ingest (the host is --url's)",
    )
    sim.add_argument(
        "--hl7-chairs",
        type=int,
        metavar="N",
        help="with --hl7-port: only the first N chairs send HL7, the rest the websocket",
    )
    sim.add_argument("--quiet", action="store_true", help="no progress line")
    sim.set_defaults(handler=cmd_simulate)


def password_from(env_name: str) -> str:
    """The password from the named environment variable, else a prompt or stdin."""
    from_env = os.environ.get(env_name)
    if from_env:
        return from_env
    if sys.stdin.isatty():
        return getpass.getpass("Password: ")
    return sys.stdin.readline().rstrip("\n")


def write_traces(args: argparse.Namespace, directory: Path) -> None:
    """One CSV per chair; the file name carries the scenario, protocol and dose time."""
    directory.mkdir(parents=True, exist_ok=True)
    for index in range(1, args.chairs + 1):
        plan = plan_chair(
            index, args.seed, args.scenario, args.duration * 60, args.protocol, args.nibp_cycle * 60
        )
        name = f"chair-{index:02d}-{plan.scenario}-{plan.protocol}-dose-{plan.dose_at_s:g}s.csv"
        write_trace_csv(plan.readings, directory / name)
        print(
            f"wrote {directory / name} (replay with --protocol {plan.protocol}"
            f" --dose-at {plan.dose_at_s:g})",
            file=sys.stderr,
        )


def cmd_simulate(args: argparse.Namespace, settings: object = None) -> int:
    wire = getattr(args, "wire", None)
    if wire == "hl7" and args.hl7_port is None:
        args.hl7_port = HL7_PORT
    if wire == "websocket" and args.hl7_port is not None:
        print("error: --protocol websocket and --hl7-port contradict each other", file=sys.stderr)
        return 2
    if args.hl7_chairs is not None and (args.hl7_port is None or args.hl7_chairs < 0):
        print("error: --hl7-chairs needs --hl7-port and a count from 0", file=sys.stderr)
        return 2
    if args.chairs < 1 or args.speed <= 0 or args.duration <= 0:
        print("error: --chairs, --speed and --duration must be positive", file=sys.stderr)
        return 2
    if args.write_traces is not None:
        write_traces(args, args.write_traces)
    password = password_from(args.password_env)

    async def go() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            # Only the main thread can take signals; elsewhere the caller stops us.
            with contextlib.suppress(RuntimeError, NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        report = await run_clinic(
            args.url,
            args.user,
            password,
            args.chairs,
            args.speed,
            args.seed,
            args.scenario,
            args.duration * 60,
            progress=not args.quiet,
            stop=stop,
            protocol=args.protocol,
            nibp_cycle_s=args.nibp_cycle * 60,
            hl7=(urlsplit(args.url).hostname or "127.0.0.1", args.hl7_port)
            if args.hl7_port
            else None,
            hl7_chairs=args.hl7_chairs,
        )
        print(report.summary(), file=sys.stderr)
        for chair in report.chairs:
            if not chair.dose_at_simulated_time and chair.dose_at is not None:
                print(
                    f"note: {chair.chair}: the dose was marked at the server's time, not the"
                    " simulated one (faster than real time the simulated dose precedes the"
                    " session's start)",
                    file=sys.stderr,
                )
                break
        complete = report.acked == report.readings or stop.is_set()
        return 0 if complete and report.errors == 0 else 1

    try:
        return asyncio.run(go())
    except (ClinicAPIError, MonitorRefused, httpx.HTTPError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
