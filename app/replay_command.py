"""``chairside replay``: a trace or an exported session through the alert engine, here
(``--offline``) or streamed to a running server as a monitor would."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from app.models.clinic import NIBP_INTERVAL_MAX_S, NIBP_INTERVAL_MIN_S
from app.settings import Settings


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    from app import alerts
    from app.export_replay import on_arrival_clock, replay_export
    from app.trace import is_export, load_export, read_trace, run_offline

    path = Path(args.trace)
    if not path.is_file():
        _say(f"error: no trace file at {path}")
        return 2
    protocol, dose_at, nibp_interval = args.protocol, args.dose_at, args.nibp_interval
    if is_export(path):  # an exported session brings its own protocol, dose time, cuff cycle
        record = load_export(path)
        protocol = protocol or record["protocol"]
        dose_at = dose_at if dose_at is not None else record.get("dose_at_s")
        if nibp_interval is None:
            nibp_interval = record.get("nibp_interval_s")
    protocol = protocol or "spravato"

    def rejected(t_s: float, code: str, detail: str) -> None:
        _say(f"skipped row at t_s={t_s:g}: {code}: {detail}")

    def dropped(t_s: float, vital: str, code: str, detail: str) -> None:
        """One cell of a row the ingest would drop, keeping the rest of the row."""
        _say(f"dropped {vital} at t_s={t_s:g}: {code}: {detail}")

    if args.offline:
        rules = alerts.load_rules(args.rules, protocol) if args.rules else None
        # A live session's export replays as it ran, on the arrival clock; an option that
        # changes the session (protocol, dose, cuff cycle) makes it a trace of its readings.
        what_if = (args.protocol, args.dose_at, args.nibp_interval) != (None, None, None)
        if is_export(path) and not what_if and on_arrival_clock(record):
            for event in replay_export(record, rules, _say):
                _print_event(event, args.json)
            sys.stdout.flush()
            return 0
        offline = run_offline(
            path, protocol, dose_at, rules, rejected, on_drop=dropped, nibp_cycle_s=nibp_interval
        )
        for event in offline:
            _print_event(event, args.json)
        sys.stdout.flush()
        return 0
    if args.rules:
        _say("error: --rules applies to --offline; a server runs its own rule set")
        return 2
    rows = list(read_trace(path, rejected, on_drop=dropped))
    if not rows:
        _say("error: the trace has no reading to send")
        return 2
    return _replay_live(args, rows, protocol, dose_at, nibp_interval)


def _nibp_interval(text: str) -> int:
    """``--nibp-interval``: whole seconds within the bounds a session's interval has."""
    try:
        seconds = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of seconds: {text!r}") from None
    if not NIBP_INTERVAL_MIN_S <= seconds <= NIBP_INTERVAL_MAX_S:
        raise argparse.ArgumentTypeError(
            f"must be {NIBP_INTERVAL_MIN_S}-{NIBP_INTERVAL_MAX_S} seconds, not {seconds}"
        )
    return seconds


def _print_event(event: dict[str, object], as_json: bool) -> None:
    import orjson

    if as_json:
        sys.stdout.write(orjson.dumps(event).decode() + "\n")
    else:
        sys.stdout.write(
            f"{event['t_s']:>9.0f} s  {event['event']!s:<12} {event['priority']!s:<6} "
            f"{event['rule']!s:<20} {event['message']}\n"
        )


def _replay_live(
    args: argparse.Namespace,
    rows: list[Any],
    protocol: str,
    dose_at: float | None,
    nibp_interval: int | None,
) -> int:
    from simulators.cli import password_from
    from simulators.courses import SimReading
    from simulators.replay import MAX_SPEED, replay_live

    speed = MAX_SPEED if args.speed == "max" else float(args.speed)
    if speed <= 0:
        _say("error: --speed must be positive or max")
        return 2
    t0 = rows[0].t_s
    readings = [
        SimReading(r.t_s - t0, r.sbp, r.dbp, r.map, r.hr, r.spo2, r.rr, r.etco2) for r in rows
    ]
    report = asyncio.run(
        replay_live(
            args.url,
            args.user,
            password_from(args.password_env),
            readings,
            protocol,
            None if dose_at is None else dose_at - t0,
            speed,
            chair=args.chair,
            keep_open=args.keep_open,
            nibp_interval_s=nibp_interval,
        )
    )
    _say(report.summary())
    _say(f"alerts: GET {args.url.rstrip('/')}/api/alerts?session_id={report.session_id}")
    return 0 if report.stats.errors == 0 else 1


def add_replay_parser(sub: Any) -> None:
    """Add ``replay`` to the ``chairside`` subcommands."""
    replay = sub.add_parser(
        "replay",
        help="replay a trace or an exported session: to a running server, or --offline",
    )
    replay.add_argument(
        "trace", help="CSV trace (t_s,sbp,dbp,map,hr,spo2[,rr][,etco2]) or a JSON export"
    )
    replay.add_argument("--offline", action="store_true", help="no server: run the engine here")
    replay.add_argument("--json", action="store_true", help="offline: one JSON event per line")
    replay.add_argument("--protocol", choices=["spravato", "iv-ketamine"])
    replay.add_argument("--dose-at", type=float, help="dose time in trace seconds")
    replay.add_argument(
        "--nibp-interval",
        type=_nibp_interval,
        metavar="SECONDS",
        help="the session's NIBP cuff cycle (an export brings its own; default: the protocol's)",
    )
    replay.add_argument("--rules", help="offline: a rule-set JSON file instead of the defaults")
    replay.add_argument("--speed", default="max", help="live: times real time, or max (default)")
    replay.add_argument("--url", default="http://127.0.0.1:8000", help="live: the server")
    replay.add_argument("--user", default="admin", help="live: an admin login")
    replay.add_argument(
        "--password-env",
        default="CHAIRSIDE_SIM_PASSWORD",
        metavar="VAR",
        help="live: variable holding the password (else a prompt or stdin)",
    )
    replay.add_argument("--chair", default="Replay", help="live: the chair to replay at")
    replay.add_argument(
        "--keep-open", action="store_true", help="live: leave the session open at the end"
    )
    replay.set_defaults(handler=cmd_replay)
