"""``python -m bench [--quick]``: the benchmark suite, start to finish (see bench/README.md)."""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import queue
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench import alert_forwarding, hl7_ingest, replay, report
from bench.load import FIRST_SEQ
from bench.report import spread
from bench.stack import (
    REPO,
    CpuMeter,
    Database,
    MachineMeter,
    Server,
    chairside_server,
    populate,
    postgres_available,
    reference_server,
    rss_mb,
    say,
    throwaway_database,
)

RESULTS = Path(__file__).resolve().parent / "results"
PROFILE_DIR: Path | None = None  # --profile: py-spy samples the Chairside server per phase


@contextlib.contextmanager
def profiled(server: Server, label: str, seconds: float) -> Iterator[None]:
    """Record the server with py-spy (collapsed stacks plus a top-functions summary)."""
    if PROFILE_DIR is None or server.name != "chairside":
        yield
        return
    PROFILE_DIR.mkdir(parents=True, exist_ok=True)
    raw = PROFILE_DIR / f"{label}.txt"
    spy = subprocess.Popen(
        [str(Path(sys.executable).with_name("py-spy")), "record", "-p", str(server.pid),
         "-d", str(max(1, int(seconds))), "-r", "100", "-f", "raw", "-o", str(raw), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield
    finally:
        spy.wait(seconds + 30)
        if raw.exists():
            (PROFILE_DIR / f"{label}.top.txt").write_text(report.top_functions(raw))


@dataclass(frozen=True)
class Plan:
    quick: bool
    # Figures 1 and 6
    ingest_devices: int = 500
    ingest_window: int = 8
    ingest_runs: int = 3
    ingest_warmup_s: float = 2.0
    ingest_measure_s: float = 5.0
    ingest_databases: str = "sqlite,postgresql"
    # Figures 2 and 5
    live_chairs: int = 2000
    dashboards: int = 20
    live_settle_s: float = 10.0
    live_window_s: float = 20.0
    live_windows: int = 7
    alert_every_s: float = 0.5
    drain_s: float = 5.0  # after the last window: late acks and screens' last frames
    # Figure 3
    capacity_settle_s: float = 6.0
    capacity_window_s: float = 8.0
    capacity_windows: int = 3
    capacity_steps: int = 4
    capacity_max: int = 6000
    capacity_min: int = 100
    # Figure 4
    replay_runs: int = 5
    # Figure 5 (its own phase in a full run: 10 minutes at 2,000 chairs)
    memory_chairs: int = 2000
    memory_settle_s: float = 30.0
    memory_window_s: float = 60.0
    memory_windows: int = 10
    # HL7 PCD-01 over MLLP against the websocket path (one server per database)
    hl7_chairs: int = 50
    hl7_readings: int = 100  # per monitor, path and run
    hl7_runs: int = 5  # alternating websocket / HL7 pairs
    hl7_databases: str = "sqlite,postgresql"
    # Alert latency with an Alert Manager attached against without
    forwarding_chairs: int = 100  # one sbp_critical each, per round
    forwarding_spacing_s: float = 0.03
    forwarding_rounds: int = 3  # of each kind, alternating
    forwarding_database: str = ""  # empty: the database of figures 2, 3 and 5

    @classmethod
    def make(cls, quick: bool) -> Plan:
        if not quick:
            return cls(quick=False)
        return cls(
            quick=True,
            ingest_devices=100,
            ingest_runs=1,
            ingest_warmup_s=1.0,
            ingest_measure_s=2.0,
            # The live phases run on PostgreSQL: the quick run measures ingest on SQLite only.
            ingest_databases="sqlite",
            live_chairs=200,
            dashboards=4,
            live_settle_s=2.0,
            live_window_s=4.0,
            live_windows=2,
            drain_s=2.0,
            capacity_settle_s=2.0,
            capacity_window_s=3.0,
            capacity_windows=1,
            capacity_steps=1,
            capacity_min=50,
            replay_runs=1,
            memory_chairs=200,
            memory_settle_s=1.0,
            memory_window_s=4.5,
            memory_windows=2,
            hl7_chairs=10,
            hl7_readings=20,
            hl7_runs=1,
            hl7_databases="sqlite",
            forwarding_chairs=10,
            forwarding_spacing_s=0.05,
            forwarding_rounds=1,
            forwarding_database="sqlite",
        )


# -- generator processes ------------------------------------------------------------------------


class Generator:
    """One ``bench.load`` process: its JSON lines arrive on a queue."""

    def __init__(self, role: str, cfg: dict[str, Any], workdir: Path) -> None:
        path = workdir / f"load-{role}-{time.monotonic_ns()}.json"
        path.write_bytes(orjson.dumps(cfg))
        env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.role = role
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.load", role, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=REPO,
            env=env,
            text=True,
        )
        self.lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._stderr: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with contextlib.suppress(orjson.JSONDecodeError):
                self.lines.put(orjson.loads(line))
        self.lines.put(None)

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._stderr.append(line)
            del self._stderr[:-40]

    def expect(self, event: str, timeout: float) -> dict[str, Any]:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(
                f"load generator {self.role}: no {event!r} in {timeout:.0f} s"
            ) from None
        if line is None or line.get("event") != event:
            raise RuntimeError(
                f"load generator {self.role} ended without {event!r}:\n" + "".join(self._stderr)
            )
        return line

    def start(self, start_at: float) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(orjson.dumps({"start_at": start_at}).decode() + "\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@contextlib.contextmanager
def generators(*gens: Generator) -> Iterator[tuple[Generator, ...]]:
    try:
        yield gens
    finally:
        for gen in gens:
            gen.stop()


def start_together(gens: tuple[Generator, ...], connect_timeout: float) -> float:
    for gen in gens:
        gen.expect("ready", connect_timeout)
    start_at = time.time() + 0.5
    for gen in gens:
        gen.start(start_at)
    return start_at


def sleep_until(t: float) -> None:
    time.sleep(max(0.0, t - time.time()))


# -- figures 1 and 6: ingest against the reference ceiling -------------------------------------


def ingest_run(
    server: Server, tokens: list[str], plan: Plan, run: int, workdir: Path
) -> dict[str, Any]:
    cfg = {
        "url": server.ws_url,
        "tokens": tokens,
        "window": plan.ingest_window,
        "seq_base": run * 10_000_000 + FIRST_SEQ,
        "warmup_s": plan.ingest_warmup_s,
        "measure_s": plan.ingest_measure_s,
        "drain_s": 10.0,
    }
    server_cpu, whole = CpuMeter(server.pid), MachineMeter()
    with generators(Generator("ingest", cfg, workdir)) as (gen,):
        start_at = start_together((gen,), 60)
        gen_cpu = CpuMeter(gen.proc.pid)
        sleep_until(start_at + plan.ingest_warmup_s)
        for meter in (server_cpu, gen_cpu, whole):
            meter.reset()
        with profiled(server, f"ingest-{run}", plan.ingest_measure_s):
            sleep_until(start_at + plan.ingest_warmup_s + plan.ingest_measure_s)
            cpu, gcpu, busy = server_cpu.share(), gen_cpu.share(), whole.share()
        result = gen.expect("result", 60)
    result.update(
        server_cpu_share=round(cpu, 3),
        generator_cpu_share=round(gcpu, 3),
        machine_busy_cores=round(busy, 3),
    )
    return result


def ingest_figures(kind: str, plan: Plan, workdir: Path, app_dir: Path | None) -> dict[str, Any]:
    say(f"ingest on {kind}: {plan.ingest_devices} devices, {plan.ingest_runs} run(s) each")
    with throwaway_database(kind, workdir) as db:
        fx = populate(db, plan.ingest_devices, sessions=True, login=False)
        runs: dict[str, list[dict[str, Any]]] = {"chairside": [], "reference": []}
        with (
            chairside_server(db, workdir, app_dir) as chairside,
            reference_server(db, workdir) as ref,
        ):
            for run in range(plan.ingest_runs):
                # Interleaved, so a noisy moment of the machine hits both alike.
                for name, server in (("chairside", chairside), ("reference", ref)):
                    r = ingest_run(
                        server,
                        fx.tokens,
                        plan,
                        len(runs[name]) * 2 + (name == "reference"),
                        workdir,
                    )
                    runs[name].append(r)
                    say(
                        f"  {kind} {name} run {run + 1}: {r['per_s']:.0f} readings/s acked "
                        f"(server CPU {r['server_cpu_share']:.0%}, generator "
                        f"{r['generator_cpu_share']:.0%}, errors {r['errors']}, unacked {r['unacked']})"
                    )
    ratios = [
        c["per_s"] / r["per_s"]
        for c, r in zip(runs["chairside"], runs["reference"], strict=True)
        if r["per_s"]
    ]
    return {
        "devices": plan.ingest_devices,
        "window": plan.ingest_window,
        "chairside_per_s": spread([r["per_s"] for r in runs["chairside"]]),
        "reference_per_s": spread([r["per_s"] for r in runs["reference"]]),
        "ratio": spread(ratios),
        "chairside_server_cpu_share": spread([r["server_cpu_share"] for r in runs["chairside"]]),
        "reference_server_cpu_share": spread([r["server_cpu_share"] for r in runs["reference"]]),
        "generator_cpu_share": spread(
            [r["generator_cpu_share"] for r in runs["chairside"] + runs["reference"]]
        ),
        "machine_busy_cores": spread(
            [r["machine_busy_cores"] for r in runs["chairside"] + runs["reference"]]
        ),
        "errors": sum(r["errors"] for rs in runs.values() for r in rs),
        "unacked": sum(r["unacked"] for rs in runs.values() for r in rs),
    }


# -- figures 2, 3 and 5: live load at one reading per second per chair ----------------------------


def live_run(
    db: Database,
    chairs: int,
    dashboards: int,
    settle_s: float,
    window_s: float,
    windows: int,
    plan: Plan,
    workdir: Path,
    app_dir: Path | None,
    deflate: bool,
    on_window: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    fx = populate(db, chairs, sessions=True, login=True)
    bounds = [(settle_s + i * window_s, settle_s + (i + 1) * window_s) for i in range(windows)]
    total = settle_s + windows * window_s
    drain = plan.drain_s
    dev_cfg = {
        "url": "", "tokens": fx.tokens, "windows": bounds, "total_s": total, "drain_s": drain,
        # Each alert uses up a chair (sbp_critical latches until acknowledged): a long run
        # spaces them out so that every window has some.
        "alert_from_s": settle_s,
        "alert_every_s": max(plan.alert_every_s, windows * window_s / chairs),
    }  # fmt: skip
    dash_cfg = {
        "url": "", "cookie": fx.login_cookie, "dashboards": dashboards, "windows": bounds,
        "total_s": total + drain + 1.0, "deflate": deflate,
    }  # fmt: skip
    with chairside_server(db, workdir, app_dir) as server:
        dev_cfg["url"] = dash_cfg["url"] = f"ws://127.0.0.1:{server.port}"
        rss: list[tuple[float, float]] = []
        cpu_windows: list[float] = []
        gen_cpu_windows: list[tuple[float, float, float]] = []
        dash = Generator("dashboards", dash_cfg, workdir)
        devs = Generator("devices", dev_cfg, workdir)
        with generators(dash, devs) as gens:
            start_at = start_together(gens, 120)
            meters = [CpuMeter(server.pid), CpuMeter(dash.proc.pid), CpuMeter(devs.proc.pid)]
            whole = MachineMeter()
            next_rss = start_at
            spy = profiled(server, f"live-{chairs}", windows * window_s)
            for i, (a, b) in enumerate(bounds):
                if i == 0:
                    sleep_until(start_at + a)
                    spy.__enter__()
                for t_edge, action in ((start_at + a, "reset"), (start_at + b, "read")):
                    while time.time() < t_edge:
                        if time.time() >= next_rss:
                            rss.append(
                                (round(time.time() - start_at, 1), round(rss_mb(server.pid), 1))
                            )
                            next_rss += 5.0
                        time.sleep(min(0.25, max(0.0, t_edge - time.time())))
                    if action == "reset":
                        for m in meters:
                            m.reset()
                        whole.reset()
                    else:
                        cpu_windows.append(meters[0].share())
                        gen_cpu_windows.append(
                            (meters[1].share(), meters[2].share(), whole.share())
                        )
                if on_window:
                    on_window(i)
            spy.__exit__(None, None, None)
            rss.append((round(time.time() - start_at, 1), round(rss_mb(server.pid), 1)))
            dev_result = devs.expect("result", 60)
            dash_result = dash.expect("result", 60)
    return combine(dev_result, dash_result, cpu_windows, gen_cpu_windows, rss, chairs, dashboards)


def combine(
    dev: dict[str, Any],
    dash: dict[str, Any],
    cpu: list[float],
    gen_cpu: list[tuple[float, float, float]],
    rss: list[tuple[float, float]],
    chairs: int,
    dashboards: int,
) -> dict[str, Any]:
    windows = []
    for w, (d, s) in enumerate(zip(dev["windows"], dash["windows"], strict=True)):
        windows.append(
            {
                "ack": d["ack"],
                "dashboard": s["reading"],
                "alert": s["alert"],
                "sent": d["sent"],
                "alerts_sent": d["alerts_sent"],
                "errors": d["errors"],
                "unacked": d["unacked"],
                "server_cpu_share": round(cpu[w], 3),
                "generator_cpu_share": round(gen_cpu[w][0] + gen_cpu[w][1], 3),
                "machine_busy_cores": round(gen_cpu[w][2], 3),
                "dashboards_cpu_share": round(gen_cpu[w][0], 3),
                "devices_cpu_share": round(gen_cpu[w][1], 3),
                # The generators' own longest stall: latencies they timed then include it.
                "generator_lag_max_ms": max(d["lag_max_ms"], s["lag_max_ms"]),
            }
        )
    committed = dev["acked"] - dev["duplicates"]
    missing_on_screens = max((committed - r for r in dash["received"]), default=0)
    lost = dev["unacked"] + dev["errors"] + max(0, missing_on_screens) + dash["gaps"]
    return {
        "chairs": chairs,
        "dashboards": dashboards,
        "windows": windows,
        "sent": dev["sent"],
        "acked": dev["acked"],
        "errors": dev["errors"],
        "unacked": dev["unacked"],
        "closed": dev["closed"],
        "screen_gaps": dash["gaps"],
        "screen_resyncs": dash["resyncs"],
        "screen_reconnects": dash["reconnects"],
        "readings_missing_on_a_screen": missing_on_screens,
        "lost": lost,
        "rss_mb": rss,
    }


def window_figure(live: dict[str, Any], key: str, stat: str | None) -> dict[str, Any]:
    """Median (min, max) over the windows of one statistic (``stat`` None: a plain value)."""
    values = [w[key] if stat is None else w[key][stat] for w in live["windows"]]
    return spread([v for v in values if v is not None])


def memory_figure(rss: list[tuple[float, float]], settle_s: float) -> dict[str, Any]:
    """RSS at the end, and its growth: least-squares slope over the samples after settling,
    and over the second half alone (a leak keeps growing; a warm-up levels off)."""

    def slope(points: list[tuple[float, float]]) -> float | None:
        if len(points) < 3:
            return None
        xs, ys = [p[0] / 60 for p in points], [p[1] for p in points]
        mx, my = statistics.fmean(xs), statistics.fmean(ys)
        den = sum((x - mx) ** 2 for x in xs)
        return (
            round(sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den, 2)
            if den
            else None
        )

    after = [p for p in rss if p[0] >= settle_s]
    half = after[len(after) // 2 :]
    s_all, s_half = slope(after), slope(half)
    growing = s_half is not None and s_half > 1.0  # MB per minute, after warm-up
    return {
        "rss_mb": rss[-1][1] if rss else None,
        "rss_after_settle_mb": after[0][1] if after else None,
        "slope_mb_per_min": s_all,
        "slope_second_half_mb_per_min": s_half,
        "growing": growing,
        "observed_s": round(rss[-1][0], 1) if rss else 0,
        "samples": rss,
    }


def holds(live: dict[str, Any], limit_ms: float) -> tuple[bool, float | None]:
    p99 = window_figure(live, "dashboard", "p99_ms")["median"]
    return (p99 is not None and p99 < limit_ms and live["lost"] == 0), p99


def capacity_search(
    kind: str,
    plan: Plan,
    workdir: Path,
    app_dir: Path | None,
    deflate: bool,
    first: tuple[int, bool, float | None, int] | None,
) -> dict[str, Any]:
    """Step the chair count up (x1.5) from a point that holds, down (/2) from one that does
    not, then halve the interval between the two, within the plan's number of steps."""
    tried: dict[int, dict[str, Any]] = {}
    if first is not None:  # the live run of figure 2 is the first point
        tried[first[0]] = {"holds": first[1], "dashboard_p99_ms": first[2], "lost": first[3]}

    def next_n() -> int | None:
        if not tried:
            return plan.live_chairs
        ok = [n for n, t in tried.items() if t["holds"]]
        bad = [n for n, t in tried.items() if not t["holds"]]
        lo, hi = (max(ok) if ok else None), (min(bad) if bad else None)
        if hi is None:
            n = min(plan.capacity_max, int(lo * 1.5)) if lo else plan.capacity_max
        elif lo is None:
            n = hi // 2
        else:
            n = (lo + hi) // 2
        n = round(n / 50) * 50 or 50
        if (
            n in tried
            or n < plan.capacity_min
            or (hi is not None and lo is not None and hi - lo <= max(100, lo // 8))
        ):
            return None
        return n

    for _ in range(plan.capacity_steps):
        n = next_n()
        if n is None:
            break
        say(f"capacity: {n} chairs, {plan.dashboards} dashboards, {kind}")
        with throwaway_database(kind, workdir) as db:
            live = live_run(
                db,
                n,
                plan.dashboards,
                plan.capacity_settle_s,
                plan.capacity_window_s,
                plan.capacity_windows,
                plan,
                workdir,
                app_dir,
                deflate,
            )
        ok, p99 = holds(live, 100.0)
        cpu = window_figure(live, "server_cpu_share", None)["median"]
        tried[n] = {
            "holds": ok,
            "dashboard_p99_ms": p99,
            "dashboard_p99_ms_windows": [w["dashboard"]["p99_ms"] for w in live["windows"]],
            "lost": live["lost"],
            "ack_p99_ms": window_figure(live, "ack", "p99_ms")["median"],
            "server_cpu_share": cpu,
            "machine_busy_cores": window_figure(live, "machine_busy_cores", None)["median"],
        }
        say(
            f"  {n} chairs: dashboard p99 {p99} ms (median of {len(live['windows'])} windows), "
            f"lost {live['lost']}, server CPU {cpu:.0%} -> {'holds' if ok else 'does not hold'}"
        )
    holding = [n for n, t in tried.items() if t["holds"]]
    return {
        "capacity_chairs": max(holding) if holding else 0,
        "criterion": "dashboard p99 < 100 ms (median of the step's windows) and no reading lost, "
        "one reading per second per chair",
        "tried": {str(n): tried[n] for n in sorted(tried)},
    }


def memory_phase(
    kind: str, plan: Plan, workdir: Path, app_dir: Path | None, deflate: bool
) -> dict[str, Any]:
    """Figure 5: the server at 2,000 chairs for 10 minutes; its RSS every 5 s, and latency per
    minute (which shows whether the server slows as it ages)."""
    total = plan.memory_settle_s + plan.memory_windows * plan.memory_window_s
    say(
        f"memory: {plan.memory_chairs} chairs at 1 Hz, {plan.dashboards} dashboards on {kind}, "
        f"{total:.0f} s"
    )

    def progress(i: int) -> None:
        say(f"  memory window {i + 1}/{plan.memory_windows} done")

    with throwaway_database(kind, workdir) as db:
        live = live_run(
            db,
            plan.memory_chairs,
            plan.dashboards,
            plan.memory_settle_s,
            plan.memory_window_s,
            plan.memory_windows,
            plan,
            workdir,
            app_dir,
            deflate,
            progress,
        )
    memory = memory_figure(live.pop("rss_mb"), plan.memory_settle_s)
    memory |= {
        "chairs": plan.memory_chairs,
        "dashboards": plan.dashboards,
        "database": kind,
        "lost": live["lost"],
        "window_s": plan.memory_window_s,
        "dashboard_p99_ms_per_window": [w["dashboard"]["p99_ms"] for w in live["windows"]],
        # A reading is acknowledged after its commit: this one is the database's share.
        "ack_p99_ms_per_window": [w["ack"]["p99_ms"] for w in live["windows"]],
        "alert_p99_ms_per_window": [w["alert"]["p99_ms"] for w in live["windows"]],
        "server_cpu_share_per_window": [w["server_cpu_share"] for w in live["windows"]],
        "generator_lag_max_ms_per_window": [w["generator_lag_max_ms"] for w in live["windows"]],
    }
    say(
        f"  RSS {memory['rss_mb']} MB after {memory['observed_s']:.0f} s, second-half slope "
        f"{memory['slope_second_half_mb_per_min']} MB/min, lost {live['lost']}"
    )
    return {"memory": memory, "rss_mb": memory["rss_mb"], "rss_growing": memory["growing"]}


def hl7_phase(
    plan: Plan, workdir: Path, app_dir: Path | None, pg_problem: str | None
) -> dict[str, Any]:
    """PCD-01 over MLLP against the websocket path on the same server (bench/hl7_ingest.py),
    on each database of the plan."""
    figures: dict[str, Any] = {}
    for kind in plan.hl7_databases.split(","):
        if kind == "postgresql" and pg_problem:
            figures[kind] = {"skipped": pg_problem}
            continue
        figures[kind] = hl7_ingest.measure(
            kind, plan.hl7_chairs, plan.hl7_readings, plan.hl7_runs, workdir, app_dir
        )
    out: dict[str, Any] = {"hl7": figures}
    for kind, suffix in (("sqlite", "sqlite"), ("postgresql", "postgres")):
        fig = figures.get(kind, {})
        out[f"hl7_readings_per_s_{suffix}"] = fig.get("hl7_per_s", {}).get("median")
        out[f"hl7_websocket_readings_per_s_{suffix}"] = fig.get("websocket_per_s", {}).get("median")
        out[f"hl7_to_websocket_ratio_{suffix}"] = fig.get("ratio", {}).get("median")
    ratios = [
        r
        for r in (out["hl7_to_websocket_ratio_sqlite"], out["hl7_to_websocket_ratio_postgres"])
        if r is not None
    ]
    out["hl7_to_websocket_ratio"] = min(ratios) if ratios else None
    return out


def forwarding_phase(
    kind: str, plan: Plan, workdir: Path, app_dir: Path | None, pg_problem: str | None
) -> dict[str, Any]:
    """Alert latency with an Alert Manager attached against without (bench/alert_forwarding.py)."""
    if kind == "postgresql" and pg_problem:
        kind = "sqlite"
    fig = alert_forwarding.measure(
        kind,
        plan.forwarding_chairs,
        plan.forwarding_spacing_s,
        plan.forwarding_rounds,
        workdir,
        app_dir,
    )
    without, with_am = fig["without"], fig["with_alert_manager"]
    say(
        f"  alert on the dashboard p99 {without['dashboard_p99_ms']['median']} ms without, "
        f"{with_am['dashboard_p99_ms']['median']} ms with an Alert Manager (ratio "
        f"{fig['dashboard_p99_ratio']['median']}); at the Alert Manager p99 "
        f"{with_am['alert_manager_p99_ms']['median']} ms"
    )
    return {
        "forwarding": fig,
        "forwarding_dashboard_p50_ms_without": without["dashboard_p50_ms"]["median"],
        "forwarding_dashboard_p99_ms_without": without["dashboard_p99_ms"]["median"],
        "forwarding_dashboard_p50_ms_with": with_am["dashboard_p50_ms"]["median"],
        "forwarding_dashboard_p99_ms_with": with_am["dashboard_p99_ms"]["median"],
        "alert_manager_p50_ms": with_am["alert_manager_p50_ms"]["median"],
        "alert_manager_p99_ms": with_am["alert_manager_p99_ms"]["median"],
        "forwarding_dashboard_p99_ratio": fig["dashboard_p99_ratio"]["median"],
    }


# Each phase and the top-level keys it writes.
PHASES: dict[str, tuple[str, ...]] = {
    "ingest": (
        "ingest", "ingest_per_s_sqlite", "ingest_per_s_postgres", "reference_per_s_sqlite",
        "reference_per_s_postgres", "ingest_ratio_sqlite", "ingest_ratio_postgres", "ingest_ratio",
    ),
    "live": ("live", "live_chairs", "ack_p99_ms", "dashboard_p99_ms", "alert_p99_ms",
             "server_cpu_share"),
    "capacity": ("capacity", "capacity_chairs"),
    "replay": ("replay", "replay_cpu_s_2h"),
    "memory": ("memory", "rss_mb", "rss_growing"),
    "hl7": ("hl7", "hl7_readings_per_s_sqlite", "hl7_readings_per_s_postgres",
            "hl7_websocket_readings_per_s_sqlite", "hl7_websocket_readings_per_s_postgres",
            "hl7_to_websocket_ratio_sqlite", "hl7_to_websocket_ratio_postgres",
            "hl7_to_websocket_ratio"),
    "forwarding": ("forwarding", "forwarding_dashboard_p50_ms_without",
                   "forwarding_dashboard_p99_ms_without", "forwarding_dashboard_p50_ms_with",
                   "forwarding_dashboard_p99_ms_with", "alert_manager_p50_ms",
                   "alert_manager_p99_ms", "forwarding_dashboard_p99_ratio"),
}  # fmt: skip


def default_phases(plan: Plan) -> list[str]:
    """A full run leaves out the 11-minute memory phase (``--only memory`` runs it), so that
    it stays under 10 minutes; the quick run has them all."""
    return [p for p in PHASES if plan.quick or p != "memory"]


def carry_over(out: dict[str, Any], previous_path: Path, ran: set[str]) -> None:
    """Keep the figures of the phases this run left out from the previous file of the same
    kind (full or quick), each with the date and command that measured it."""
    try:
        previous = orjson.loads(previous_path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return
    if previous.get("quick") != out["quick"]:
        return
    earlier = previous.get("phases", {})
    for phase, keys in PHASES.items():
        if phase in ran or phase not in earlier:
            continue
        out["phases"][phase] = earlier[phase]
        for key in keys:
            if key in previous:
                out[key] = previous[key]


# -- the whole suite ----------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
    }


def git_commit() -> str | None:
    """The checkout's commit, with ``+dirty`` when app/ has uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "app"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return None
    return (head + ("+dirty" if dirty else "")) or None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run under 2 minutes (proves it works, judges nothing)",
    )
    parser.add_argument(
        "--out", type=Path, default=RESULTS, help="where latest.json and latest.md go"
    )
    parser.add_argument(
        "--live-db",
        choices=["sqlite", "postgresql"],
        help="database of figures 2, 3, 5 and 8 (default PostgreSQL when it answers)",
    )
    parser.add_argument(
        "--only",
        help="comma list of phases to run: ingest,live,capacity,replay,memory,hl7,forwarding "
        "(default: all but memory, which takes 11 minutes on its own; with --quick, all)",
    )
    parser.add_argument(
        "--no-dashboard-deflate",
        action="store_true",
        help="screens do not offer permessage-deflate (browsers do)",
    )
    parser.add_argument(
        "--app-dir", type=Path, help="serve another Chairside checkout (to measure a change)"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a plan field, e.g. --set live_windows=3 (see Plan in bench/run.py)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="sample the Chairside server with py-spy in each phase; stacks and summaries go to DIR",
    )
    args = parser.parse_args(argv)
    global PROFILE_DIR
    PROFILE_DIR = args.profile
    plan = Plan.make(args.quick)
    for item in args.set:
        key, _, value = item.partition("=")
        if key not in Plan.__dataclass_fields__ or key == "quick":
            parser.error(f"--set: no plan field {key!r}")
        plan = replace(plan, **{key: type(getattr(plan, key))(value)})
    if set((plan.hl7_databases + "," + plan.ingest_databases).split(",")) - {
        "sqlite",
        "postgresql",
    } or (plan.forwarding_database not in ("", "sqlite", "postgresql")):
        parser.error(
            "--set: ingest_databases, hl7_databases and forwarding_database take sqlite, postgresql"
        )
    only = set((args.only or ",".join(default_phases(plan))).split(","))
    if only - set(PHASES):
        parser.error(f"--only: no phase {', '.join(sorted(only - set(PHASES)))}")
    deflate = not args.no_dashboard_deflate
    started = time.monotonic()
    idle = MachineMeter()
    time.sleep(1.0)
    busy_before = round(idle.share(), 2)
    if busy_before > 0.25:
        say(
            f"the machine is not idle: {busy_before} cores busy before the benchmark starts; figures will be noisy"
        )
    pg_problem = postgres_available()
    if pg_problem:
        say(f"PostgreSQL is not reachable ({pg_problem}); its figures are left empty")
    live_db = args.live_db or ("sqlite" if pg_problem else "postgresql")
    command = "python -m bench" + (
        ""
        if argv is None and len(sys.argv) <= 1
        else " " + shlex.join(argv if argv is not None else sys.argv[1:])
    )
    out: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "cores": os.cpu_count(),
        "command": command,
        "quick": plan.quick,
        "commit": git_commit() if args.app_dir is None else f"app from {args.app_dir}",
        "machine": machine(),
        "plan": asdict(plan),
        "machine_busy_cores_before": busy_before,
        "notes": [
            "The load generator runs on the same machine as the server (2 cores here): it takes "
            "CPU the server would otherwise have, so absolute numbers are a floor; the ratio to "
            "the reference measured in the same run is the figure that survives a noisy machine.",
        ],
    }
    with tempfile.TemporaryDirectory(prefix="chairside-bench-") as tmp:
        workdir = Path(tmp)
        if "ingest" in only:
            ingest: dict[str, Any] = {}
            for kind in ("sqlite", "postgresql"):
                if kind == "postgresql" and pg_problem:
                    ingest[kind] = {"skipped": pg_problem}
                    continue
                if kind not in plan.ingest_databases.split(","):
                    ingest[kind] = {"skipped": f"not in this run's ingest_databases ({kind})"}
                    continue
                ingest[kind] = ingest_figures(kind, plan, workdir, args.app_dir)
            out["ingest"] = ingest
            out["ingest_per_s_sqlite"] = ingest["sqlite"]["chairside_per_s"]["median"]
            out["ingest_per_s_postgres"] = (
                ingest["postgresql"].get("chairside_per_s", {}).get("median")
            )
            out["reference_per_s_sqlite"] = ingest["sqlite"]["reference_per_s"]["median"]
            out["reference_per_s_postgres"] = (
                ingest["postgresql"].get("reference_per_s", {}).get("median")
            )
            out["ingest_ratio_sqlite"] = ingest["sqlite"]["ratio"]["median"]
            out["ingest_ratio_postgres"] = ingest["postgresql"].get("ratio", {}).get("median")
            ratios = [
                r
                for r in (out["ingest_ratio_sqlite"], out["ingest_ratio_postgres"])
                if r is not None
            ]
            out["ingest_ratio"] = min(ratios) if ratios else None
        first_capacity: tuple[int, bool, float | None, int] | None = None
        if "live" in only:
            say(
                f"live load on {live_db}: {plan.live_chairs} chairs at 1 Hz, {plan.dashboards} dashboards, "
                f"{plan.live_settle_s + plan.live_windows * plan.live_window_s:.0f} s"
            )

            def progress(i: int) -> None:
                say(f"  live window {i + 1}/{plan.live_windows} done")

            with throwaway_database(live_db, workdir) as db:
                live = live_run(
                    db,
                    plan.live_chairs,
                    plan.dashboards,
                    plan.live_settle_s,
                    plan.live_window_s,
                    plan.live_windows,
                    plan,
                    workdir,
                    args.app_dir,
                    deflate,
                    progress,
                )
            live_memory = memory_figure(live.pop("rss_mb"), plan.live_settle_s)
            figure2: dict[str, Any] = {
                "database": live_db,
                "dashboard_deflate": deflate,
                **{
                    f"{key}_{stat}": window_figure(live, key, stat)
                    for key in ("ack", "dashboard", "alert")
                    for stat in ("p50_ms", "p99_ms", "max_ms")
                },
                "server_cpu_share": spread([w["server_cpu_share"] for w in live["windows"]]),
                "generator_cpu_share": spread([w["generator_cpu_share"] for w in live["windows"]]),
                "dashboards_cpu_share": spread(
                    [w["dashboards_cpu_share"] for w in live["windows"]]
                ),
                "devices_cpu_share": spread([w["devices_cpu_share"] for w in live["windows"]]),
                "machine_busy_cores": spread([w["machine_busy_cores"] for w in live["windows"]]),
                "generator_lag_max_ms": spread(
                    [w["generator_lag_max_ms"] for w in live["windows"]]
                ),
                "run": live,
            }
            out["live"] = figure2
            out["live_chairs"] = plan.live_chairs
            out["ack_p99_ms"] = figure2["ack_p99_ms"]["median"]
            out["dashboard_p99_ms"] = figure2["dashboard_p99_ms"]["median"]
            out["alert_p99_ms"] = figure2["alert_p99_ms"]["median"]
            out["server_cpu_share"] = figure2["server_cpu_share"]["median"]
            figure2["memory"] = live_memory  # a short look; figure 5 is its own phase
            ok, p99 = holds(live, 100.0)
            first_capacity = (plan.live_chairs, ok, p99, live["lost"])
            say(
                f"  dashboard p99 {out['dashboard_p99_ms']} ms, alert p99 {out['alert_p99_ms']} ms, lost {live['lost']}, RSS {live_memory['rss_mb']} MB"
            )
        if "capacity" in only:
            cap = capacity_search(live_db, plan, workdir, args.app_dir, deflate, first_capacity)
            cap["database"] = live_db
            out["capacity"] = cap
            out["capacity_chairs"] = cap["capacity_chairs"]
        if "replay" in only:
            say(
                f"replay: a 2-hour 1 Hz trace through the alert engine offline, {plan.replay_runs} run(s)"
            )
            rep = replay.measure(workdir, plan.replay_runs)
            out["replay"] = rep
            out["replay_cpu_s_2h"] = rep["cpu_s"]["median"]
        if "memory" in only:
            out.update(memory_phase(live_db, plan, workdir, args.app_dir, deflate))
        if "hl7" in only:
            out.update(hl7_phase(plan, workdir, args.app_dir, pg_problem))
        if "forwarding" in only:
            kind = plan.forwarding_database or live_db
            out.update(forwarding_phase(kind, plan, workdir, args.app_dir, pg_problem))
    out["duration_s"] = round(time.monotonic() - started, 1)
    this_run = {k: out[k] for k in ("date", "command", "commit", "duration_s")}
    out["phases"] = {phase: this_run for phase in PHASES if phase in only}
    carry_over(out, args.out / "latest.json", only)
    out["targets"] = report.targets(out)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_bytes(orjson.dumps(out, option=orjson.OPT_INDENT_2) + b"\n")
    table = report.table(out)
    (args.out / "latest.md").write_text(table)
    print(table)
    say(f"done in {out['duration_s']:.0f} s; wrote {args.out / 'latest.json'}")
    return 0
