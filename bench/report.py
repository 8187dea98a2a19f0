"""The readable table of a run, the targets of the issue, and the run-spread helper."""

from __future__ import annotations

import math
import statistics
from typing import Any

TARGETS = {
    "ingest_ratio": ("ingest with durable ack >= 50% of the reference ceiling", 0.5, ">="),
    "dashboard_p99_ms": ("dashboard p99 < 50 ms at 2,000 chairs, 1 Hz", 50.0, "<"),
    "alert_p99_ms": ("alert p99 < 50 ms at 2,000 chairs, 1 Hz", 50.0, "<"),
    "replay_cpu_s_2h": ("offline replay of a 2-hour 1 Hz trace < 0.2 s CPU", 0.2, "<"),
    # 1.0: forwarding costs the screens nothing; above 1.5 is more than the rounds' own
    # spread on a quiet machine.
    "forwarding_dashboard_p99_ratio": (
        "Alert Manager attached: alert-to-screen p99 with / without < 1.5",
        1.5,
        "<",
    ),
}


def spread(values: list[float]) -> dict[str, Any]:
    """Median, min and max of several runs (and the runs)."""
    clean = [v for v in values if v is not None and not math.isnan(v)]
    if not clean:
        return {"median": None, "min": None, "max": None, "runs": []}
    return {
        "median": round(statistics.median(clean), 4),
        "min": round(min(clean), 4),
        "max": round(max(clean), 4),
        "runs": [round(v, 4) for v in clean],
    }


def targets(out: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, (text, limit, op) in TARGETS.items():
        value = out.get(key)
        met = None if value is None else (value >= limit if op == ">=" else value < limit)
        note = None
        if key == "forwarding_dashboard_p99_ratio" and out.get("quick"):
            met, note = None, "not judged in a --quick run (a handful of alerts)"
        if key in ("dashboard_p99_ms", "alert_p99_ms"):
            if out.get("live_chairs") != 2000:
                met, note = None, "not measured at the target's load (a --quick run)"
            elif value is None and "live" in out:
                met, note = False, "none reached a dashboard within its window"
        result[key] = {"target": text, "value": value, "met": met}
        if note:
            result[key]["note"] = note
    growing = out.get("rss_growing")
    memory = out.get("memory", {})
    result["memory_flat"] = {
        "target": "memory flat over time at 2,000 chairs (growth < 1 MB/min in the 2nd half)",
        "value": memory.get("slope_second_half_mb_per_min"),
        "met": None if growing is None or memory.get("chairs") != 2000 else not growing,
    }
    return result


def _fmt(value: Any, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{unit}"
    return f"{value:,}{unit}"


def _mmm(fig: dict[str, Any] | None, unit: str = "", digits: int = 1, scale: float = 1.0) -> str:
    if not fig or fig.get("median") is None:
        return "—"
    m, lo, hi = (fig[k] * scale for k in ("median", "min", "max"))
    return f"{_fmt(m, unit, digits)} ({_fmt(lo, '', digits)}–{_fmt(hi, '', digits)})"


def table(out: dict[str, Any]) -> str:
    rows: list[tuple[str, str, str]] = []
    ing = out.get("ingest", {})
    for kind, label in (("sqlite", "SQLite"), ("postgresql", "PostgreSQL")):
        fig = ing.get(kind, {})
        if "skipped" in fig:
            rows.append((f"1. ingest, {label}", "not run", fig["skipped"]))
            continue
        if not fig:
            continue
        rows.append(
            (
                f"1. ingest, {label} ({fig['devices']} devices)",
                _mmm(fig["chairside_per_s"], " /s", 0),
                f"server CPU {_mmm(fig['chairside_server_cpu_share'], '', 0, 100)} %",
            )
        )
        rows.append(
            (
                f"6. reference ceiling, {label}",
                _mmm(fig["reference_per_s"], " /s", 0),
                f"server CPU {_mmm(fig['reference_server_cpu_share'], '', 0, 100)} %",
            )
        )
        rows.append((f"6. ingest ratio, {label}", _mmm(fig["ratio"], "", 2), "target ≥ 0.50"))
    live = out.get("live")
    if live:
        n = f"{out['live_chairs']:,} chairs, {live['run']['dashboards']} dashboards, {live['database']}"
        for key, what in (
            ("ack", "device → ack"),
            ("dashboard", "device → dashboard"),
            ("alert", "device → alert on dashboard"),
        ):
            rows.append(
                (
                    f"2. {what} ({n})",
                    f"p50 {_mmm(live[key + '_p50_ms'], ' ms')}",
                    f"p99 {_mmm(live[key + '_p99_ms'], ' ms')}, max {_mmm(live[key + '_max_ms'], ' ms', 0)}",
                )
            )
        rows.append(
            (
                "2. server CPU share (1.0 = one core)",
                _mmm(live["server_cpu_share"], "", 2),
                f"load generator {_mmm(live['generator_cpu_share'], '', 2)}; lost {live['run']['lost']}",
            )
        )
        if "generator_lag_max_ms" in live:
            rows.append(
                (
                    "2. load generator's own longest stall per window",
                    _mmm(live["generator_lag_max_ms"], " ms", 0),
                    "timed latencies include it; a large value is the generator's, not the server's",
                )
            )
    cap = out.get("capacity")
    if cap:
        tried = ", ".join(
            f"{n}: {'ok' if t['holds'] else 'no'} (p99 {_fmt(t['dashboard_p99_ms'], ' ms')})"
            for n, t in cap["tried"].items()
        )
        rows.append(
            (
                "3. capacity (dashboard p99 < 100 ms, none lost)",
                f"{cap['capacity_chairs']:,} chairs",
                tried,
            )
        )
    rep = out.get("replay")
    if rep:
        rows.append(
            (
                "4. offline replay, 2 h at 1 Hz",
                _mmm(rep["cpu_s"], " s CPU", 3),
                f"{rep['rows']:,} readings, {rep['per_reading_us']} µs each, {rep['alert_events']} events",
            )
        )
    mem = out.get("memory")
    if mem:
        rows.append(
            (
                f"5. server RSS after {mem['observed_s']:.0f} s ({mem.get('chairs', '?'):,} chairs)",
                _fmt(mem["rss_mb"], " MB"),
                f"slope {_fmt(mem['slope_mb_per_min'], ' MB/min', 2)} (2nd half "
                f"{_fmt(mem['slope_second_half_mb_per_min'], ' MB/min', 2)}): "
                f"{'growing' if mem['growing'] else 'flat'}",
            )
        )
        per_window = {
            "ack p99": mem.get("ack_p99_ms_per_window"),
            "dashboard p99": mem.get("dashboard_p99_ms_per_window"),
            "generator stall": mem.get("generator_lag_max_ms_per_window"),
        }
        for what, values in per_window.items():
            if values:
                rows.append(
                    (
                        f"5. {what}, each {_fmt(mem.get('window_s'), ' s', 0)} window",
                        _fmt(max((v for v in values if v is not None), default=None), " ms max", 0),
                        ", ".join(_fmt(v, "", 0) for v in values),
                    )
                )
    rows += _interop_rows(out)
    lines = [
        f"Chairside benchmark — {out['date']} — {out['cores']} cores ({out['machine']['cpu']}) — `{out['command']}`",
        "",
        "| figure | median (min–max) | more |",
        "| --- | --- | --- |",
        *(f"| {a} | {b} | {c} |" for a, b, c in rows),
        "",
        "| target | value | met |",
        "| --- | --- | --- |",
    ]
    for t in out.get("targets", {}).values():
        met = {True: "yes", False: "**no**", None: "not judged"}[t["met"]]
        lines.append(f"| {t['target']} | {_fmt(t['value'], '', 3)} | {met} |")
    earlier = {
        phase: run for phase, run in out.get("phases", {}).items() if run["date"] != out["date"]
    }
    if earlier:
        lines += ["", "Figures kept from an earlier run (phases this run left out):", ""]
        lines += [
            f"- {phase}: {run['date']}, `{run['command']}` ({run['duration_s']:.0f} s)"
            for phase, run in earlier.items()
        ]
    return "\n".join(lines) + "\n"


def _interop_rows(out: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Rows of figure 7 (HL7 PCD-01 in, against the websocket) and 8 (alert forwarding)."""
    rows: list[tuple[str, str, str]] = []
    for kind, label in (("sqlite", "SQLite"), ("postgresql", "PostgreSQL")):
        fig = out.get("hl7", {}).get(kind)
        if not fig:
            continue
        if "skipped" in fig:
            rows.append((f"7. HL7 ingest, {label}", "not run", fig["skipped"]))
            continue
        n = f"{fig['chairs']} monitors, one in flight each, {fig['runs']} run(s)"
        rows.append(
            (
                f"7. HL7 PCD-01 over MLLP, ACK after commit, {label} ({n})",
                _mmm(fig["hl7_per_s"], " /s", 0),
                f"server CPU {_mmm(fig['hl7_server_cpu_share'], '', 0, 100)} %; "
                f"errors {fig['errors']}",
            )
        )
        rows.append(
            (
                f"7. the same monitors on /ws/ingest, same server, {label}",
                _mmm(fig["websocket_per_s"], " /s", 0),
                f"server CPU {_mmm(fig['websocket_server_cpu_share'], '', 0, 100)} %",
            )
        )
        rows.append(
            (
                f"7. HL7 / websocket ratio, {label}",
                _mmm(fig["ratio"], "", 2),
                "no target (the cost of HL7 parsing and MLLP framing)",
            )
        )
    fwd = out.get("forwarding")
    if fwd:
        n = f"{fwd['chairs']} alerts per round, {fwd['rounds']} round(s) each, {fwd['database']}"
        for what, fig, key in (
            ("device → alert on dashboard, no Alert Manager", fwd["without"], "dashboard"),
            ("device → alert on dashboard, Alert Manager attached", fwd["with_alert_manager"],
             "dashboard"),
            ("device → ORU^R40 at the Alert Manager", fwd["with_alert_manager"], "alert_manager"),
        ):  # fmt: skip
            rows.append(
                (
                    f"8. {what} ({n})",
                    f"p50 {_mmm(fig[key + '_p50_ms'], ' ms')}",
                    f"p99 {_mmm(fig[key + '_p99_ms'], ' ms')}, max {_mmm(fig[key + '_max_ms'], ' ms', 0)}",
                )
            )
        rows.append(
            (
                "8. alert on dashboard p99, with / without an Alert Manager",
                _mmm(fwd["dashboard_p99_ratio"], "", 2),
                f"target < {TARGETS['forwarding_dashboard_p99_ratio'][1]}; missing on screen {fwd['missing_on_screen']}, "
                f"at the Alert Manager {fwd['missing_at_alert_manager']}",
            )
        )
    return rows


def top_functions(raw_path: Any, limit: int = 60) -> str:
    """Inclusive share of samples per function from py-spy's collapsed (raw) output."""
    from collections import Counter
    from pathlib import Path

    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in Path(raw_path).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [
            f.split(" (")[0] + " " + f.rsplit("/", 1)[-1].rstrip(")") for f in stack.split(";")
        ]
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    lines = [f"{total} samples", "", "inclusive:"]
    lines += [f"{v / total:6.1%}  {k}" for k, v in inclusive.most_common(limit)]
    lines += ["", "own time:"]
    lines += [f"{v / total:6.1%}  {k}" for k, v in own.most_common(limit // 2)]
    return "\n".join(lines) + "\n"
