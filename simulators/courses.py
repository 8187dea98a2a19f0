"""Seeded physiological courses of one ketamine / esketamine session, and the readings they give.

Pure: a course is drawn from ``random.Random`` seeded by (seed, chair, scenario, protocol), and
the readings of a session are a function of those alone, never of wall-clock or network timing,
so the same seed gives byte-identical traces (``write_trace_csv``) on every run.
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

SCENARIOS: tuple[str, ...] = (
    "typical",
    "marked-rise",
    "hypertensive",
    "tachycardia",
    "bradycardia",
    "desaturation",
    "artefacts",
    "disconnect",
    "elevated-predose",
    "no-predose",
    "respiratory-depression",
    "apnoea",
)
PROTOCOLS: tuple[str, ...] = ("spravato", "iv-ketamine")
MIN = 60.0
IV_INFUSION_S = 40 * MIN
NIBP_FAST_FROM_S = 20 * MIN  # post-dose window with a doubled cuff rate, around the peak
NIBP_FAST_UNTIL_S = 60 * MIN
NIBP_FIRST_AT_S = 60.5  # first cuff cycle a minute after the monitor is put on
NIBP_RETRY_S = 75.0  # a failed cuff cycle is retried once, as monitors do
TRACE_HEADER = ("t_s", "sbp", "dbp", "map", "hr", "spo2")
# A capnograph's columns, written after the others only when a reading carries them.
RESPIRATORY_COLUMNS = ("rr", "etco2")


@dataclass(frozen=True, slots=True)
class SimReading:
    """One reading as the monitor sends it: seconds since session start, then whole vitals."""

    t_s: float
    sbp: float | None = None
    dbp: float | None = None
    map: float | None = None
    hr: float | None = None
    spo2: float | None = None
    rr: float | None = None
    etco2: float | None = None

    def vitals(self) -> dict[str, float]:
        values = {"sbp": self.sbp, "dbp": self.dbp, "map": self.map, "hr": self.hr}
        values.update(spo2=self.spo2, rr=self.rr, etco2=self.etco2)
        return {name: value for name, value in values.items() if value is not None}


@dataclass(frozen=True, slots=True)
class Episode:
    """A vital drawn to ``level`` from ``start`` s post-dose for ``hold`` s, with cosine ramps."""

    vital: str
    start: float
    ramp: float
    hold: float
    level: float

    def weight(self, s: float) -> float:
        up, down = self.start + self.ramp, self.start + self.ramp + self.hold
        if s <= self.start or s >= down + self.ramp:
            return 0.0
        if s < up:
            return (1 - math.cos(math.pi * (s - self.start) / self.ramp)) / 2
        if s <= down:
            return 1.0
        return (1 + math.cos(math.pi * (s - down) / self.ramp)) / 2


@dataclass(frozen=True, slots=True)
class Spike:
    """An artefact: a 1 Hz vital reads ``value`` for ``length`` s from ``start`` post-dose."""

    vital: str
    start: float
    length: int
    value: int


@dataclass(frozen=True, slots=True)
class Course:
    """The true vitals of one patient over a session; ``s`` is seconds after the dose."""

    scenario: str
    protocol: str
    sbp0: float
    dbp0: float
    hr0: float
    spo20: float
    sbp_rise: float
    dbp_rise: float
    hr_rise: float
    peak_s: float
    sharpness: float = 3.0
    sbp_cap: float = 250.0
    episodes: tuple[Episode, ...] = ()
    spikes: tuple[Spike, ...] = ()
    failed_cuff_s: float | None = None  # post-dose time of the one failed cuff cycle
    nibp_before_dose: bool = True
    outage_s: tuple[float, float] | None = None  # post-dose window the monitor is off the network
    # A capnograph on the chair: RR (breaths/min) and EtCO2 (mmHg) with the oximetry each second.
    capnograph: bool = False
    rr0: float = 14.0
    etco20: float = 37.0

    def response(self, s: float) -> float:
        """The drug's effect, 0 before the dose, 1 at the peak, back near 0 by 2 h."""
        if s <= 0:
            return 0.0
        x = s / self.peak_s
        return float(x**self.sharpness * math.exp(self.sharpness * (1 - x)))

    def _episodes(self, vital: str, s: float, value: float) -> float:
        for episode in self.episodes:
            if episode.vital == vital:
                value += episode.weight(s) * (episode.level - value)
        return value

    def true_bp(self, s: float) -> tuple[float, float]:
        effect = self.response(s)
        sbp = min(self.sbp0 + self.sbp_rise * effect, self.sbp_cap)
        dbp = self.dbp0 + self.dbp_rise * effect
        return self._episodes("sbp", s, sbp), self._episodes("dbp", s, dbp)

    def true_hr(self, s: float) -> float:
        return self._episodes("hr", s, self.hr0 + self.hr_rise * self.response(s))

    def true_spo2(self, s: float) -> float:
        return self._episodes("spo2", s, self.spo20)

    def true_rr(self, s: float) -> float:
        return self._episodes("rr", s, self.rr0)

    def true_etco2(self, s: float) -> float:
        return self._episodes("etco2", s, self.etco20)


def course_rng(seed: int, chair_index: int, scenario: str, protocol: str) -> random.Random:
    """The one random stream of a chair's session (str seeds hash the same on every run)."""
    return random.Random(f"chairside:{seed}:{chair_index}:{scenario}:{protocol}")


def dose_time(seed: int, chair_index: int) -> float:
    """Seconds of pre-dose baseline for this chair: 20-30 min, whole seconds."""
    return float(random.Random(f"chairside-dose:{seed}:{chair_index}").randint(1200, 1800))


def build_course(scenario: str, protocol: str, rng: random.Random) -> Course:
    """Draw a patient's course for the scenario (see CLINICAL.md, courses for the simulator)."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; one of {', '.join(SCENARIOS)}")
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; one of {', '.join(PROTOCOLS)}")
    u = rng.uniform
    iv = protocol == "iv-ketamine"
    # IV: the rise peaks during the 40-min infusion and falls faster once it stops.
    course = Course(
        scenario=scenario,
        protocol=protocol,
        sbp0=u(114, 124),
        dbp0=u(72, 80),
        hr0=u(66, 78),
        spo20=u(97, 98.4),
        sbp_rise=u(10, 22),
        dbp_rise=u(5, 11),
        hr_rise=u(5, 14),
        peak_s=u(32, 38) * MIN if iv else u(36, 42) * MIN,
        sharpness=3.5 if iv else 3.0,
    )
    if scenario == "marked-rise":
        return replace(course, sbp0=u(124, 130), sbp_rise=u(43, 47), sbp_cap=174.0, dbp0=u(78, 82))
    if scenario == "hypertensive":
        return replace(course, sbp0=u(128, 134), sbp_rise=u(62, 70), dbp0=u(80, 84), dbp_rise=20)
    if scenario == "tachycardia":
        start, hold = u(24, 30) * MIN, u(5, 8) * MIN
        return replace(course, episodes=(Episode("hr", start, 90, hold, u(125, 131)),))
    if scenario == "bradycardia":
        start, hold = u(22, 26) * MIN, u(4, 5) * MIN
        episodes = (
            Episode("hr", start, 45, hold, u(45, 48)),
            Episode("sbp", start, 45, hold, u(82, 86)),
            Episode("dbp", start, 45, hold, u(50, 54)),
        )
        return replace(course, episodes=episodes)
    if scenario == "desaturation":
        start, hold = u(20, 30) * MIN, u(60, 75)
        level = u(86.6, 87.4)
        return replace(course, episodes=(Episode("spo2", start, 120, hold, level),))
    if scenario == "artefacts":
        vital = "spo2" if rng.random() < 0.5 else "hr"
        value = rng.randint(68, 76) if vital == "spo2" else rng.randint(150, 165)
        spike = Spike(vital, round(u(45, 55) * MIN), rng.randint(2, 4), value)
        # A loose sensor: the oximeter reports a pulse of 0 for a couple of seconds beside a
        # valid SpO2. The ingest drops that HR alone and keeps the SpO2.
        dropout = Spike("hr", round(u(60, 65) * MIN), 2, 0)
        return replace(course, spikes=(spike, dropout), failed_cuff_s=u(70, 90) * MIN)
    if scenario == "disconnect":
        start = round(u(12, 18) * MIN)
        return replace(course, outage_s=(start, start + round(u(3, 4) * MIN)))
    if scenario == "elevated-predose":
        return replace(
            course, sbp0=u(146, 152), dbp0=u(91, 94), sbp_rise=u(6, 10), dbp_rise=u(3, 5)
        )
    if scenario == "no-predose":
        return replace(course, nibp_before_dose=False)
    if scenario in ("respiratory-depression", "apnoea"):
        return _breathing_course(scenario, course, rng)
    return course


def _breathing_course(scenario: str, course: Course, rng: random.Random) -> Course:
    """A chair with a capnograph: normal RR 12-18/min and EtCO2 35-40 mmHg, then the episode.

    Respiratory depression (sedation): over about 5 minutes RR falls to 6-8/min and EtCO2
    climbs past 50 mmHg as CO2 is retained; SpO2 follows only late, minutes after, to about
    91 %, and everything recovers over a few minutes. Apnoea: breathing stops for about 30 s.
    The capnograph's EtCO2 falls within seconds (no exhaled CO2), its RR, counted over the
    last breaths, a few seconds later; then breathing resumes.
    """
    u = rng.uniform
    course = replace(course, capnograph=True, rr0=u(12.5, 17.5), etco20=u(35.5, 39.5))
    if scenario == "respiratory-depression":
        start, ramp, hold = u(20, 28) * MIN, 5 * MIN, u(6, 8) * MIN
        late = start + ramp + 2 * MIN  # SpO2 starts to fall two minutes after RR has
        depression = (
            Episode("rr", start, ramp, hold, u(6.8, 7.6)),
            Episode("etco2", start, ramp, hold, u(53, 57)),
            Episode("spo2", late, 2 * MIN, max(hold - 4 * MIN, MIN), u(90.5, 91.5)),
        )
        return replace(course, episodes=depression)
    start, pause = u(25, 40) * MIN, u(28, 34)
    apnoea = (
        Episode("etco2", start, 3, pause, u(0, 2)),
        Episode("rr", start, 8, pause - 4, 0),
    )
    return replace(course, episodes=apnoea)


def nibp_times(duration_s: float, dose_at_s: float, nibp_cycle_s: float) -> list[float]:
    """When the cuff cycles: every ``nibp_cycle_s``, twice as often 20-60 min post-dose."""
    times, t = [], NIBP_FIRST_AT_S
    while t <= duration_s:
        times.append(t)
        fast = dose_at_s + NIBP_FAST_FROM_S <= t < dose_at_s + NIBP_FAST_UNTIL_S
        t += nibp_cycle_s / 2 if fast else nibp_cycle_s
    return times


def session_readings(
    scenario: str,
    protocol: str,
    seed: int,
    chair_index: int,
    duration_s: float,
    dose_at_s: float,
    nibp_cycle_s: float = 300.0,
) -> list[SimReading]:
    """Every reading of one simulated session in time order: HR/SpO2 each second, NIBP cycles."""
    rng = course_rng(seed, chair_index, scenario, protocol)
    course = build_course(scenario, protocol, rng)
    cuff = _nibp_readings(course, rng, duration_s, dose_at_s, nibp_cycle_s)
    pulse = _pulse_readings(course, rng, duration_s, dose_at_s)
    return sorted(cuff + pulse, key=lambda r: r.t_s)


def _nibp_readings(
    course: Course, rng: random.Random, duration_s: float, dose_at_s: float, cycle_s: float
) -> list[SimReading]:
    times = nibp_times(duration_s, dose_at_s, cycle_s)
    if not course.nibp_before_dose:
        times = [t for t in times if t >= dose_at_s]
    if course.failed_cuff_s is not None:
        target = dose_at_s + course.failed_cuff_s
        failed = min(times, key=lambda t: abs(t - target))
        retry = failed + NIBP_RETRY_S
        times = sorted([t for t in times if t != failed] + ([retry] if retry <= duration_s else []))
    out = []
    for t in times:
        sbp_true, dbp_true = course.true_bp(t - dose_at_s)
        sbp = round(sbp_true + _clipped(rng, 2.5, 4))
        dbp = round(dbp_true + _clipped(rng, 2.0, 3))
        dbp = min(dbp, sbp - 15)
        mean = round(dbp + (sbp - dbp) / 3 + rng.uniform(-1, 1))
        out.append(SimReading(t_s=t, sbp=sbp, dbp=dbp, map=max(dbp + 1, min(mean, sbp - 1))))
    return out


def _pulse_readings(
    course: Course, rng: random.Random, duration_s: float, dose_at_s: float
) -> list[SimReading]:
    out = []
    hr_drift = spo2_drift = rr_drift = co2_drift = 0.0
    for step in range(int(duration_s) + 1):
        t = float(step)
        s = t - dose_at_s
        # Slow AR(1) drift plus beat-to-beat jitter, as a real pulse oximeter trend looks.
        hr_drift = 0.98 * hr_drift + rng.gauss(0, 0.25)
        spo2_drift = 0.97 * spo2_drift + rng.gauss(0, 0.06)
        hr = round(course.true_hr(s) + hr_drift + rng.gauss(0, 0.5))
        spo2 = min(100, round(course.true_spo2(s) + spo2_drift + rng.gauss(0, 0.25)))
        for spike in course.spikes:
            if spike.start <= s < spike.start + spike.length:
                hr, spo2 = (spike.value, spo2) if spike.vital == "hr" else (hr, spike.value)
        if not course.capnograph:
            out.append(SimReading(t_s=t, hr=hr, spo2=spo2))
            continue
        # A capnograph's numerics: RR averaged over the last breaths, EtCO2 breath to breath.
        rr_drift = 0.95 * rr_drift + rng.gauss(0, 0.08)
        co2_drift = 0.97 * co2_drift + rng.gauss(0, 0.15)
        rr = max(0, round(course.true_rr(s) + rr_drift + rng.gauss(0, 0.25)))
        etco2 = max(0, round(course.true_etco2(s) + co2_drift + rng.gauss(0, 0.4)))
        out.append(SimReading(t_s=t, hr=hr, spo2=spo2, rr=rr, etco2=etco2))
    return out


def _clipped(rng: random.Random, sd: float, limit: float) -> float:
    return max(-limit, min(limit, rng.gauss(0, sd)))


def outage_window(
    scenario: str, protocol: str, seed: int, chair_index: int, dose_at_s: float
) -> tuple[float, float] | None:
    """Simulated seconds (since session start) the monitor is off the network, if any."""
    course = build_course(scenario, protocol, course_rng(seed, chair_index, scenario, protocol))
    if course.outage_s is None:
        return None
    return dose_at_s + course.outage_s[0], dose_at_s + course.outage_s[1]


def _cell(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)


def trace_rows(readings: Iterable[SimReading]) -> list[list[str]]:
    """The trace CSV rows (PRODUCT.md "Trace file"), header first; ``rr`` and ``etco2``
    columns follow only when a reading carries them (a course without a capnograph writes the
    trace it always did)."""
    readings = list(readings)
    extra = [
        name for name in RESPIRATORY_COLUMNS if any(getattr(r, name) is not None for r in readings)
    ]
    rows = [[*TRACE_HEADER, *extra]]
    for r in readings:
        vitals = [r.sbp, r.dbp, r.map, r.hr, r.spo2, *(getattr(r, name) for name in extra)]
        rows.append([f"{r.t_s:.1f}", *(_cell(v) for v in vitals)])
    return rows


def write_trace_csv(readings: Iterable[SimReading], path: str | Path) -> None:
    """Write readings as a replayable trace: ``t_s,sbp,dbp,map,hr,spo2`` (then ``rr,etco2``
    when measured), blanks for absent."""
    with Path(path).open("w", newline="", encoding="ascii") as handle:
        csv.writer(handle, lineterminator="\n").writerows(trace_rows(readings))
