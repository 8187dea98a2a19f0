"""Synthetic clinical courses (CLINICAL.md "Clinical courses") as engine inputs, seeded.

One session: start at 0, 20 min of pre-dose readings, dose at 1200 s, then 2 h and a minute
of observation. HR and SpO2 come every second; NIBP every 5 min, every 2.5 min between 30
and 50 min after the dose (around the expected peak), as the simulator does. The clock ticks
every second. Profiles give each vital's mean over time; a fixed random.Random adds noise.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from app.alerts import DoseMarked, Input, Reading, ReadingRejected, Tick

DOSE_AT = 1200.0
END = DOSE_AT + 7200 + 60
MIN = 60.0

Profile = Callable[[float], float]  # seconds after the dose (negative before) -> mean value


def flat(value: float) -> Profile:
    return lambda _s: value


def peak(base: float, rise: float, at: float = 40 * MIN, gone_by: float = 120 * MIN) -> Profile:
    """Base before the dose; up to base + rise at ``at``, held 5 min, back to base by gone_by."""

    def value(s: float) -> float:
        if s <= 0:
            return base
        if s <= at:
            return base + rise * s / at
        if s <= at + 5 * MIN:
            return base + rise
        if s >= gone_by:
            return base
        return base + rise * (gone_by - s) / (gone_by - at - 5 * MIN)

    return value


def episode(base: Profile, start: float, length: float, level: float, ramp: float) -> Profile:
    """``base`` with an episode at ``level`` from ``start`` for ``length`` s, ramped in/out."""

    def value(s: float) -> float:
        normal = base(s)
        if s < start - ramp or s > start + length + ramp:
            return normal
        if s < start:
            return normal + (level - normal) * (s - (start - ramp)) / ramp
        if s <= start + length:
            return level
        return level + (normal - level) * (s - start - length) / ramp

    return value


@dataclass
class Course:
    """Profiles of one course; ``build`` turns them into engine inputs."""

    sbp: Profile = field(default_factory=lambda: peak(120, 18))
    dbp: Profile = field(default_factory=lambda: peak(78, 8))
    hr: Profile = field(default_factory=lambda: peak(72, 10))
    spo2: Profile = field(default_factory=lambda: flat(97.5))
    predose_bp: bool = True
    spikes: dict[float, tuple[str, float]] = field(default_factory=dict)  # t -> (vital, value)
    failed_cuff: frozenset[float] = frozenset()  # NIBP times whose cycle sends nothing
    wild_cuff: frozenset[float] = frozenset()  # NIBP times whose value the ingest rejects
    gap: tuple[float, float] | None = None  # monitor silent from..to; readings buffered
    end: float = END

    def nibp_times(self) -> list[float]:
        times: list[float] = []
        t = 60.0
        while t < self.end:
            if t >= DOSE_AT or self.predose_bp:
                times.append(t)
            s = t - DOSE_AT
            t += 150.0 if 30 * MIN <= s < 50 * MIN else 300.0
        return times

    def build(self, seed: int = 7) -> list[Input]:
        rng = random.Random(seed)

        def noise(sd: float) -> float:
            # Clipped at 2 SD so that a course's expected alerts do not hang on the seed.
            return max(-2 * sd, min(2 * sd, rng.gauss(0, sd)))

        nibp = set(self.nibp_times())
        inputs: list[Input] = []
        buffered: list[Input] = []
        for second in range(int(self.end) + 1):
            t = float(second)
            s = t - DOSE_AT
            hr = self.hr(s) + noise(1.5)
            spo2 = min(100.0, self.spo2(s) + noise(0.4))
            vital, value = self.spikes.get(t, ("", 0.0))
            if vital == "hr":
                hr = value
            elif vital == "spo2":
                spo2 = value
            due: list[Input] = [Reading(t, hr=round(hr), spo2=round(spo2))]
            if t in self.wild_cuff:
                due.append(ReadingRejected(t, "out_of_range"))
            elif t in nibp and t not in self.failed_cuff:
                sbp = round(self.sbp(s) + noise(3))
                dbp = round(self.dbp(s) + noise(2))
                due.append(Reading(t, sbp=sbp, dbp=dbp, map=round(dbp + (sbp - dbp) / 3)))
            if self.gap is not None and self.gap[0] <= t < self.gap[1]:
                buffered += due  # the monitor keeps them and sends them on reconnecting
                inputs.append(Tick(t))
                continue
            if buffered:
                inputs.append(Tick(t))  # reconnected: the buffered readings arrive now
                inputs += buffered
                buffered = []
            inputs += due
            inputs.append(Tick(t))
        return inputs


def typical() -> Course:
    """Baseline ~120/78, HR ~72; SBP +18, DBP +8, HR +10 peaking at 40 min."""
    return Course()


def marked_rise() -> Course:
    """128 -> ~172 systolic at 40 min: the absolute medium limit (160) is crossed."""
    return Course(sbp=peak(128, 44), dbp=peak(80, 12))


def marked_rise_low_baseline() -> Course:
    """106 -> ~150 systolic: a rise of 44 that never reaches 160."""
    return Course(sbp=peak(106, 44), dbp=peak(68, 12))


def hypertensive() -> Course:
    """130 -> ~190 systolic at 40 min, then falling."""
    return Course(sbp=peak(130, 60), dbp=peak(82, 12))


def tachycardia() -> Course:
    """HR ~128 for 10 min from 20 min after the dose."""
    return Course(hr=episode(peak(76, 8), 20 * MIN, 10 * MIN, 128, 60))


def vasovagal() -> Course:
    """HR ~44 and SBP ~84 for 5 min from 25 min after the dose."""
    sbp = episode(peak(118, 10), 24 * MIN, 6 * MIN, 84, 60)
    return Course(sbp=sbp, hr=episode(peak(70, 5), 25 * MIN, 5 * MIN, 44, 60))


def desaturation() -> Course:
    """SpO2 drifting to ~87 for a minute at 30 min after the dose (sedation)."""
    return Course(spo2=episode(flat(97.5), 30 * MIN, 60, 87, 30))


def nibp_time_after(course: Course, minutes: float) -> float:
    """The first scheduled NIBP cycle at or after ``minutes`` after the dose."""
    return next(t for t in course.nibp_times() if t >= DOSE_AT + minutes * MIN)


def artefacts() -> Course:
    """The typical course with a 4 s SpO2 drop to 70, a 3 s HR spike to 165, a wild NIBP value
    rejected at ingest and a failed cuff cycle, both where cycles are 2.5 min apart (30-50 min
    after the dose), so that BP is never overdue."""
    course = typical()
    course.spikes = {DOSE_AT + 15 * MIN + i: ("spo2", 70.0) for i in range(4)}
    course.spikes |= {DOSE_AT + 55 * MIN + i: ("hr", 165.0) for i in range(3)}
    course.wild_cuff = frozenset({nibp_time_after(course, 32)})
    course.failed_cuff = frozenset({nibp_time_after(course, 42)})
    return course


def disconnected() -> Course:
    """The monitor is silent for 3 min at 60 min after the dose, then sends what it buffered."""
    start = DOSE_AT + 61 * MIN + 10  # just after a cuff cycle: BP is never overdue
    return Course(gap=(start, start + 180))


def elevated_predose() -> Course:
    """Pre-dose BP ~150/94; a small rise afterwards."""
    return Course(sbp=peak(150, 2), dbp=peak(94, 1))


def no_predose_bp() -> Course:
    """No NIBP before the dose."""
    return Course(predose_bp=False)


def with_dose(inputs: list[Input], dose_at: float = DOSE_AT) -> list[Input]:
    """``inputs`` with the nurse marking the dose at ``dose_at`` (after inputs at that time)."""
    out: list[Input] = []
    marked = False
    for item in inputs:
        if not marked and item.t > dose_at:
            out.append(DoseMarked(dose_at))
            marked = True
        out.append(item)
    return out


def write_trace(inputs: list[Input], path: Path) -> None:
    """The readings of ``inputs`` as a trace CSV (rejected readings as an implausible row)."""
    lines = ["t_s,sbp,dbp,map,hr,spo2"]
    for item in inputs:
        if isinstance(item, Reading):
            cells = [item.sbp, item.dbp, item.map, item.hr, item.spo2]
            lines.append(",".join([f"{item.t:g}", *("" if v is None else f"{v:g}" for v in cells)]))
        elif isinstance(item, ReadingRejected):
            lines.append(f"{item.t:g},310,5,,,")  # nothing a monitor could measure
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


CourseFactory = Callable[[], Course]
