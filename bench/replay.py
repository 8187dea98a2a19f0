"""Figure 4: CPU seconds to run a 2-hour, one-reading-per-second trace through the alert
engine offline (``app.trace.run_offline``, what ``chairside replay --offline`` runs)."""

from __future__ import annotations

import math
import random
import statistics
import time
from pathlib import Path
from typing import Any

HOURS_S = 2 * 3600
DOSE_AT_S = 900.0


def write_trace(path: Path, seconds: int = HOURS_S, seed: int = 7) -> int:
    """A plausible session: HR and SpO2 every second, NIBP every 5 minutes, a marked BP rise
    after the dose, a tachycardia episode, a short desaturation, and a few implausible rows.
    Returns the number of rows."""
    rng = random.Random(seed)
    lines = ["t_s,sbp,dbp,map,hr,spo2"]
    for t in range(seconds):
        hr = 74 + 4 * math.sin(t / 97) + rng.gauss(0, 1.5)
        spo2 = min(100.0, 97 + rng.gauss(0, 0.6))
        if 2400 <= t < 2460:
            hr = 146 + rng.gauss(0, 2)  # tachycardia past the 10 s persistence
        if 4000 <= t < 4030:
            spo2 = 86 + rng.gauss(0, 0.5)  # desaturation
        bp = ["", "", ""]
        if t % 300 == 0:
            rise = 45 if DOSE_AT_S + 600 <= t <= DOSE_AT_S + 2400 else 0
            sbp = round(124 + rise + rng.gauss(0, 3))
            dbp = round(78 + rise / 3 + rng.gauss(0, 2))
            bp = [str(sbp), str(dbp), str(round(dbp + (sbp - dbp) / 3))]
        row = [str(t), *bp, f"{hr:.0f}", f"{spo2:.0f}"]
        if t in (5000, 5001, 5002):
            row[4] = "400"  # rejected: out of range
        lines.append(",".join(row))
    path.write_text("\n".join(lines) + "\n")
    return seconds


def measure(workdir: Path, runs: int) -> dict[str, Any]:
    from app.trace import run_offline
    from bench.report import spread

    path = workdir / "two-hours.csv"
    rows = write_trace(path)
    list(run_offline(path, "spravato", DOSE_AT_S))  # warm imports and caches
    cpu: list[float] = []
    events = 0
    for _ in range(runs):
        start = time.process_time()
        events = sum(1 for _ in run_offline(path, "spravato", DOSE_AT_S))
        cpu.append(time.process_time() - start)
    return {
        "rows": rows,
        "alert_events": events,
        "cpu_s": spread(cpu),
        "per_reading_us": round(statistics.median(cpu) / rows * 1e6, 2),
    }
