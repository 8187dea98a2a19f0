"""``chairside replay TRACE --speed X``: a recorded or exported session streamed to a running
server by a monitor of a replay chair, as a device would send it.

The session runs on the readings' clock (``engine_clock: readings``), so the server's alert
engine sees the trace's own time whatever the speed and raises what ``--offline`` raises.
Readings are stamped in the past (the whole trace ends at the real time the replay ends) and
session start and dose carry their trace times.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from simulators.api import ClinicAPI, ClinicAPIError
from simulators.clock import SimClock
from simulators.courses import SimReading
from simulators.monitor import Monitor, MonitorStats

MAX_SPEED = 1e9  # "as fast as acks allow"


@dataclass
class ReplayReport:
    session_id: int
    chair: str
    stats: MonitorStats
    real_s: float
    base: datetime  # the wall time of trace second 0 (the trace's first row)

    def summary(self) -> str:
        s = self.stats
        return (
            f"session {self.session_id} on {self.chair!r}: {s.readings} readings, {s.acked} "
            f"acknowledged, {s.errors} rejected, in {self.real_s:.1f} s"
        )


def aligned_clock(speed: float, duration_s: float) -> SimClock:
    """A clock whose trace second 0 falls on a whole wall-clock second, so the server's
    engine ticks on the same whole seconds as an offline run of the trace."""
    lead = SimClock(speed=speed, duration_s=duration_s).lead_s
    now = datetime.now(UTC)
    base = datetime.fromtimestamp(math.floor((now - timedelta(seconds=lead)).timestamp()), UTC)
    return SimClock(speed=speed, duration_s=duration_s, wall_start=base + timedelta(seconds=lead))


async def replay_live(
    base_url: str,
    user: str,
    password: str,
    readings: list[SimReading],
    protocol: str,
    dose_at_s: float | None,
    speed: float,
    chair: str = "Replay",
    keep_open: bool = False,
    progress: bool = True,
    nibp_interval_s: int | None = None,
) -> ReplayReport:
    """Stream ``readings`` (trace seconds from 0) as a new monitor at ``chair``."""
    duration = readings[-1].t_s if readings else 0.0
    clock = aligned_clock(speed, duration)
    ws_url = base_url.replace("http", "ws", 1).rstrip("/") + "/ws/ingest"
    started = time.monotonic()
    async with ClinicAPI(base_url) as api:
        await api.login(user, password)
        monitor_reg = await api.register_monitor(chair)
        session_id = await api.start_session(
            monitor_reg.chair_id,
            protocol,
            "REPLAY",
            started_at=clock.wall(0),
            engine_clock="readings",
            nibp_interval_s=nibp_interval_s,
        )
        monitor = Monitor(ws_url, monitor_reg.token, readings, clock)
        helpers: list[asyncio.Task[None]] = []
        if dose_at_s is not None:
            helpers.append(asyncio.create_task(_mark_dose(api, session_id, clock, dose_at_s)))
        if progress:
            helpers.append(asyncio.create_task(_progress(monitor, clock, duration)))
        try:
            stats = await monitor.run()
            if dose_at_s is not None:
                await helpers[0]  # a dose after the last reading is still recorded
        finally:
            for task in helpers:
                task.cancel()
            if progress:
                print(file=sys.stderr)
            if not keep_open:
                with contextlib.suppress(ClinicAPIError):
                    await api.end_session(session_id)
            with contextlib.suppress(ClinicAPIError):
                await api.revoke_monitor(monitor_reg.device_id)
    return ReplayReport(session_id, chair, stats, time.monotonic() - started, clock.wall(0))


async def _mark_dose(api: ClinicAPI, session_id: int, clock: SimClock, dose_at_s: float) -> None:
    # The server takes a dose time that is not ahead of its clock; on the readings' clock the
    # engine applies it when the readings pass it, however early it is marked.
    wait = (clock.wall(dose_at_s) - datetime.now(UTC)).total_seconds()
    await asyncio.sleep(max(0.0, wait))
    await api.mark_dose(session_id, clock.wall(dose_at_s))


async def _progress(monitor: Monitor, clock: SimClock, duration: float) -> None:
    while True:
        sim = min(clock.sim_now(), duration)
        s = monitor.stats
        print(
            f"\rreplay: {sim / 60:6.1f}/{duration / 60:.1f} min of trace, "
            f"{s.sent} sent, {s.acked} acknowledged, {s.errors} rejected",
            end="",
            file=sys.stderr,
            flush=True,
        )
        await asyncio.sleep(1.0)
