"""A simulated clinic: N chairs, each a session with its own clinical course, against a live server.

For every chair it starts a session over REST, streams the chair's seeded readings through a
simulated monitor, marks the dose when simulated time reaches it and ends the session when the
readings are all acknowledged. All chairs share one simulated clock (see ``simulators.clock``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from simulators.api import ClinicAPI, ClinicAPIError
from simulators.clock import SimClock, head_start_for
from simulators.courses import PROTOCOLS, SimReading, dose_time, outage_window, session_readings
from simulators.hl7_monitor import Hl7Monitor, simulated_eui64
from simulators.monitor import Monitor, MonitorStats
from simulators.nurse import NurseRounds, observations

AnyMonitor = Monitor | Hl7Monitor

log = logging.getLogger(__name__)
# Chair 4 has a capnograph: sedation shows first in its breathing (RR, EtCO2), then in SpO2.
SCENARIO_MIX: tuple[str, ...] = (
    "typical",
    "hypertensive",
    "marked-rise",
    "respiratory-depression",
    "tachycardia",
    "artefacts",
    "disconnect",
    "elevated-predose",
    "bradycardia",
    "no-predose",
    "desaturation",
    "apnoea",
)
NIBP_CYCLE_S = 300.0
PROGRESS_EVERY_S = 2.0
# A simulated session's patient label names its round's seed and its chair: SIM-<seed>-<chair>.
STAMP_RESOLUTION_S = 0.001  # a reading's ts is stamped to the millisecond
SESSION_LABEL = re.compile(r"^SIM-(\d+)-(\d+)$")


class ChairMonitor(NamedTuple):
    """A monitor registered beforehand (the demo's): its chair, its device token, and the HL7
    source it is bound to when it sends HL7 PCD-01 instead of using the websocket."""

    chair: str
    token: str
    hl7_source: str | None = None


def session_label(seed: int, index: int) -> str:
    return f"SIM-{seed}-{index:02d}"


@dataclass(frozen=True, slots=True)
class OpenSession:
    """A chair's session that an earlier run left open, to be carried on where it stopped."""

    session_id: int
    started_at: datetime
    dosed: bool
    # The newest measurement the server holds for the chair (None: nothing stored yet).
    stored_through: datetime | None

    def stored_through_s(self) -> float:
        """The simulated second up to which the session's readings are stored (to within
        the millisecond a reading's ``ts`` carries)."""
        if self.stored_through is None:
            return -1.0
        return (self.stored_through - self.started_at).total_seconds() + STAMP_RESOLUTION_S


@dataclass(frozen=True, slots=True)
class ChairPlan:
    """What one chair will do, fixed by (seed, chair index, scenario) alone."""

    index: int  # 1-based
    scenario: str
    protocol: str
    dose_at_s: float
    readings: list[SimReading]
    outage: tuple[float, float] | None


@dataclass
class ChairReport:
    chair: str
    scenario: str
    protocol: str
    session_id: int | None = None
    dose_at: datetime | None = None
    dose_at_simulated_time: bool = False  # False: the server's clock had to stand in
    monitor: MonitorStats = field(default_factory=MonitorStats)
    observations: int = 0  # recorded by the simulated nurse


@dataclass
class ClinicReport:
    chairs: list[ChairReport]
    real_s: float
    sim_s: float

    @property
    def readings(self) -> int:
        return sum(c.monitor.readings for c in self.chairs)

    @property
    def sent(self) -> int:
        return sum(c.monitor.sent for c in self.chairs)

    @property
    def acked(self) -> int:
        return sum(c.monitor.acked for c in self.chairs)

    @property
    def duplicates(self) -> int:
        return sum(c.monitor.duplicates for c in self.chairs)

    @property
    def errors(self) -> int:
        return sum(c.monitor.errors for c in self.chairs)

    @property
    def readings_per_s(self) -> float:
        return self.acked / self.real_s if self.real_s > 0 else 0.0

    def summary(self) -> str:
        return (
            f"{len(self.chairs)} chairs, {self.sim_s / 60:.1f} simulated min in {self.real_s:.1f} s:"
            f" {self.readings} readings, {self.sent} sent, {self.acked} acknowledged"
            f" ({self.duplicates} as duplicates), {self.errors} rejected;"
            f" {self.readings_per_s:.0f} readings/s"
        )


def chair_scenario(index: int, scenario: str | None) -> str:
    """``scenario`` for every chair, else the fixed mix: chair 1 typical, then the others."""
    return scenario if scenario is not None else SCENARIO_MIX[(index - 1) % len(SCENARIO_MIX)]


def chair_protocol(index: int, protocol: str | None) -> str:
    """``protocol`` for every chair, else odd chairs Spravato and even chairs IV ketamine."""
    if protocol is not None:
        return protocol
    return PROTOCOLS[(index - 1) % 2]


def plan_chair(
    index: int,
    seed: int,
    scenario: str | None,
    duration_s: float,
    protocol: str | None = None,
    nibp_cycle_s: float = NIBP_CYCLE_S,
) -> ChairPlan:
    name, proto = chair_scenario(index, scenario), chair_protocol(index, protocol)
    dose_at_s = min(dose_time(seed, index), duration_s)
    readings = session_readings(name, proto, seed, index, duration_s, dose_at_s, nibp_cycle_s)
    outage = outage_window(name, proto, seed, index, dose_at_s)
    return ChairPlan(index, name, proto, dose_at_s, readings, outage)


async def run_clinic(
    base_url: str,
    user: str,
    password: str,
    chairs: int,
    speed: float,
    seed: int,
    scenario: str | None,
    duration_s: float,
    progress: bool = True,
    stop: asyncio.Event | None = None,
    *,
    protocol: str | None = None,
    monitors: Sequence[ChairMonitor] | None = None,
    chair_prefix: str = "Sim chair",
    nibp_cycle_s: float = NIBP_CYCLE_S,
    window: int = 200,
    head_start_s: Sequence[float] | None = None,
    resume: Mapping[int, OpenSession] | None = None,
    end_on_stop: bool = True,
    hl7: tuple[str, int] | None = None,
    hl7_chairs: int | None = None,
    nurse: tuple[str, str] | None = None,
) -> ClinicReport:
    """Run ``chairs`` simulated sessions concurrently until done (or ``stop`` is set).

    ``monitors`` gives the chairs' monitors to use instead of registering a new monitor per
    chair (registered ones are revoked at the end; their tokens are never shown).
    ``head_start_s`` gives each chair's session a head start: that much simulated time has
    already passed when the run begins (its readings are sent at once, as a catch-up).
    ``resume`` carries on sessions an earlier run left open (by chair index, 1-based; see
    ``find_open_round``): only those chairs take part, each from the first reading the server
    does not hold, with the stamps it had. With ``end_on_stop`` false, sessions still under way
    when ``stop`` is set stay open, as they do at a clinic when the station restarts.
    ``hl7`` (host, port): the first ``hl7_chairs`` chairs (all when None) send HL7 PCD-01 over
    MLLP to the server's HL7 listener instead of streaming over the websocket; with
    ``monitors``, those that have an ``hl7_source`` do (it is the EUI-64 they send).
    ``nurse`` (login, password): a nurse observes every chair after its dose
    (``simulators.nurse``); on a resumed session, from after its newest observation.
    """
    stop = stop or asyncio.Event()
    count = len(monitors) if monitors is not None else chairs
    plans = [
        plan_chair(i, seed, scenario, duration_s, protocol, nibp_cycle_s)
        for i in range(1, count + 1)
        if resume is None or i in resume
    ]
    ws_url = base_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
    ws_url = ws_url.rstrip("/") + "/ws/ingest"

    def hl7_source(plan: ChairPlan) -> str | None:
        """The EUI-64 the chair's monitor sends over HL7; None: it uses the websocket."""
        if hl7 is None:
            return None
        if monitors is not None:
            return monitors[plan.index - 1].hl7_source
        limit = count if hl7_chairs is None else hl7_chairs
        return simulated_eui64(seed, plan.index) if plan.index <= limit else None

    async with ClinicAPI(base_url) as api, ClinicAPI(base_url) as nurse_api:
        await api.login(user, password)
        if nurse is not None:
            await nurse_api.login(*nurse)
        tokens, chair_ids, registered = [], [], []
        for plan in plans:
            if monitors is not None:
                mine = monitors[plan.index - 1]
                chair_ids.append(await api.chair_id(mine.chair))
                tokens.append(mine.token)
            else:
                chair = f"{chair_prefix} {plan.index}"
                monitor = await api.register_monitor(chair, hl7_source=hl7_source(plan))
                chair_ids.append(monitor.chair_id)
                tokens.append(monitor.token)
                registered.append(monitor.device_id)
        reports = [
            ChairReport(
                chair=monitors[p.index - 1].chair if monitors else f"{chair_prefix} {p.index}",
                scenario=p.scenario,
                protocol=p.protocol,
            )
            for p in plans
        ]
        first = SimClock(speed=speed, duration_s=duration_s)

        def head_start(plan: ChairPlan) -> float:
            if resume is not None:
                opened = resume[plan.index].started_at
                return head_start_for(opened, first.wall_start, speed, duration_s)
            return min(head_start_s[plan.index - 1], duration_s) if head_start_s else 0.0

        clocks = [
            SimClock(
                speed=speed,
                duration_s=duration_s,
                real_start=first.real_start,
                wall_start=first.wall_start,
                head_start_s=head_start(p),
            )
            for p in plans
        ]
        clock = clocks[0]
        for plan, report, chair_id, own in zip(plans, reports, chair_ids, clocks, strict=True):
            if resume is not None:
                report.session_id = resume[plan.index].session_id
                continue
            report.session_id = await api.start_session(
                chair_id,
                plan.protocol,
                session_label(seed, plan.index),
                started_at=own.wall(0),
                nibp_interval_s=round(nibp_cycle_s),
            )
        # A device re-used from an earlier run must not repeat its seqs (they would be
        # acknowledged as duplicates and not stored): start them past anything sent before.
        seq_base = time.time_ns() // 1000 if monitors is not None else 0
        runs: list[AnyMonitor] = [
            Hl7Monitor(*hl7, source, _still_to_send(plan, resume), own, stop=stop)
            if hl7 is not None and (source := hl7_source(plan)) is not None
            else Monitor(
                ws_url,
                token,
                _still_to_send(plan, resume),
                own,
                seq_base=seq_base,
                outage=plan.outage,
                window=window,
                stop=stop,
            )
            for plan, token, own in zip(plans, tokens, clocks, strict=True)
        ]
        for run, report in zip(runs, reports, strict=True):
            report.monitor = run.stats
        ticker = asyncio.create_task(_progress(runs, clock, stop)) if progress else None
        try:
            await asyncio.gather(
                *(
                    _run_chair(
                        api,
                        plan,
                        run,
                        report,
                        own,
                        stop,
                        end_on_stop,
                        _dosed(plan, resume),
                        NurseRounds(
                            nurse_api,
                            observations(plan.index, plan.dose_at_s, plan.readings, duration_s),
                        )
                        if nurse is not None
                        else None,
                    )
                    for plan, run, report, own in zip(plans, runs, reports, clocks, strict=True)
                )
            )
        finally:
            if ticker is not None:
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker
                _print_progress(runs, clock, final=True)
            for device_id in registered:
                with contextlib.suppress(ClinicAPIError, OSError):
                    await api.revoke_monitor(device_id)
    real_s = time.monotonic() - clock.real_start
    return ClinicReport(reports, real_s, min(clock.sim_now(), duration_s))


def _still_to_send(plan: ChairPlan, resume: Mapping[int, OpenSession] | None) -> list[SimReading]:
    if resume is None:
        return plan.readings
    stored_through_s = resume[plan.index].stored_through_s()
    return [r for r in plan.readings if r.t_s > stored_through_s]


def _dosed(plan: ChairPlan, resume: Mapping[int, OpenSession] | None) -> bool:
    return resume is not None and resume[plan.index].dosed


async def _run_chair(
    api: ClinicAPI,
    plan: ChairPlan,
    monitor: AnyMonitor,
    report: ChairReport,
    clock: SimClock,
    stop: asyncio.Event,
    end_on_stop: bool,
    dosed: bool,
    rounds: NurseRounds | None,
) -> None:
    assert report.session_id is not None
    dose = (
        None if dosed else asyncio.create_task(_mark_dose(api, plan, monitor, report, clock, stop))
    )
    nurse = (
        asyncio.create_task(rounds.run(report.session_id, report.chair, clock, stop))
        if rounds
        else None
    )
    try:
        await monitor.run()
        if dose is not None:
            await dose
    finally:
        for task in (dose, nurse):
            if task is not None:
                task.cancel()
        if nurse is not None and rounds is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await nurse
            report.observations = rounds.recorded
        if end_on_stop or monitor.finished:
            with contextlib.suppress(ClinicAPIError, OSError):
                await api.end_session(report.session_id)


async def find_open_round(
    api: ClinicAPI, chairs: Sequence[str], duration_s: float, now: datetime
) -> tuple[int, dict[int, OpenSession]] | None:
    """The simulated round an earlier run left under way at ``chairs`` (in chair order): its
    seed and each of its open sessions by chair index. Sessions that would have ended by
    ``now`` are ended here instead (a monitor does not buffer hours); None when none is left."""
    statuses = {status["name"]: status for status in await api.chair_statuses()}
    found: dict[int, tuple[int, OpenSession]] = {}
    for index, name in enumerate(chairs, start=1):
        session = (statuses.get(name) or {}).get("session")
        match = SESSION_LABEL.match(session["patient_label"]) if session else None
        if session is None or match is None or int(match.group(2)) != index:
            continue
        opened = OpenSession(
            session_id=int(session["id"]),
            started_at=datetime.fromisoformat(session["started_at"]),
            dosed=session["dose_at"] is not None,
            stored_through=_newest_measurement(statuses[name]["latest"]),
        )
        if (now - opened.started_at).total_seconds() >= duration_s:
            await api.end_session(opened.session_id)
            continue
        found[index] = (int(match.group(1)), opened)
    if not found:
        return None
    # One round at a time: a chair left over from an older round starts with the next one.
    seed = max(round_seed for round_seed, _ in found.values())
    return seed, {i: opened for i, (s, opened) in found.items() if s == seed}


def _newest_measurement(latest: Mapping[str, dict[str, str] | None]) -> datetime | None:
    times = [datetime.fromisoformat(v["measured_at"]) for v in latest.values() if v is not None]
    return max(times, default=None)


async def _mark_dose(
    api: ClinicAPI,
    plan: ChairPlan,
    monitor: AnyMonitor,
    report: ChairReport,
    clock: SimClock,
    stop: asyncio.Event,
) -> None:
    """At the simulated dose moment, mark the dose at its simulated time when the server can
    take it; faster than real time that time precedes the session's real start, which the
    server refuses, so the server's own clock stands in (reported per chair)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), clock.until(plan.dose_at_s))
    # As at a real chair, the dose is marked after the pre-dose readings are in (a monitor
    # catching up after a head start sends them first).
    while (
        not stop.is_set() and not monitor.finished and not monitor.delivered_through(plan.dose_at_s)
    ):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.2)
    if stop.is_set():
        return
    assert report.session_id is not None
    try:
        report.dose_at = await api.mark_dose(report.session_id, clock.wall(plan.dose_at_s))
        report.dose_at_simulated_time = True
    except ClinicAPIError as exc:
        if exc.status_code != 422:
            raise
        report.dose_at = await api.mark_dose(report.session_id, None)


async def _progress(runs: list[AnyMonitor], clock: SimClock, stop: asyncio.Event) -> None:
    while not stop.is_set():
        _print_progress(runs, clock)
        await asyncio.sleep(PROGRESS_EVERY_S)


def _print_progress(runs: list[AnyMonitor], clock: SimClock, final: bool = False) -> None:
    active = sum(not run.finished for run in runs)
    sim = min(clock.sim_now(), clock.duration_s)
    sent = sum(r.stats.sent for r in runs)
    acked = sum(r.stats.acked for r in runs)
    errors = sum(r.stats.errors for r in runs)
    line = (
        f"chairs {active}/{len(runs)} active  simulated {int(sim // 3600)}:"
        f"{int(sim % 3600 // 60):02d}:{int(sim % 60):02d}"
        f"  readings sent {sent} acked {acked} errors {errors}"
    )
    tty = sys.stderr.isatty()
    end = "\n" if final or not tty else ""
    print(("\r" + line if tty else line), end=end, file=sys.stderr, flush=True)
