"""The simulated clinic's nurse: sedation, dissociation and breathing observed at every chair.

After the dose the nurse comes round 14 minutes after the last observation (inside the 15
minutes after which the engine says an observation is due), except at chair 7, where a busy nurse comes every 18
minutes, so the screen shows "Observation due" for a few minutes each time, and its clearing. What the nurse
sees follows the patient: dissociation and light sedation at the peak of the drug, then less;
when the chair's capnograph shows breathing slowed to 8/min or less (or stopped), the nurse
comes within two minutes, finds the patient hard to rouse, and looks again every 5 minutes
until the patient is not. Fixed by the plan alone.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from simulators.api import ClinicAPI, ClinicAPIError
from simulators.clock import SimClock
from simulators.courses import SimReading

log = logging.getLogger(__name__)

MIN = 60.0
ROUND_S = 14 * MIN
LATE_ROUND_S = 18 * MIN
LATE_CHAIR = 7  # the chair (1-based) the nurse comes to late
SLOW_RR = 8.0  # breaths/min at or below which the nurse finds breathing depressed
CALLED_AFTER_S = 90.0  # the nurse reaches a chair this long after its breathing slowed
RECHECK_S = 5 * MIN  # after finding a patient hard to rouse, the nurse looks again this soon


@dataclass(frozen=True, slots=True)
class SimObservation:
    t_s: float  # simulated session time
    moaas: int
    dissociation: str
    respiratory: str
    note: str | None = None

    def body(self, at: datetime) -> dict[str, Any]:
        """The ``POST /api/sessions/{id}/observations`` body, observed at ``at``."""
        body: dict[str, Any] = {
            "moaas": self.moaas,
            "dissociation": self.dissociation,
            "respiratory": self.respiratory,
            "at": at.isoformat(),
        }
        if self.note:
            body["note"] = self.note
        return body


def observations(
    chair: int, dose_at_s: float, readings: Sequence[SimReading], duration_s: float
) -> list[SimObservation]:
    """Every observation of one session in time order: a round 14 (or 18) minutes after the
    last observation, 5 after one that found the patient hard to rouse, or sooner when the
    nurse is called to the chair."""
    usual = every = LATE_ROUND_S if chair == LATE_CHAIR else ROUND_S
    calls = sorted(_called(readings, dose_at_s))
    breathing = [(r.t_s, r.rr) for r in readings if r.rr is not None]  # in time order
    seen: list[SimObservation] = []
    last = dose_at_s
    while True:
        # A call counts unless the nurse was already there after the breathing slowed.
        waiting = [c for c in calls if c - CALLED_AFTER_S > last]
        t = min([last + every, *waiting[:1]])
        if t > duration_s:
            return seen
        seen.append(_seen(t, t - dose_at_s, breathing))
        last = t
        every = RECHECK_S if seen[-1].moaas <= 3 else usual


def _called(readings: Sequence[SimReading], dose_at_s: float) -> set[float]:
    """When the nurse is called: when the breathing slows to SLOW_RR or less, once per episode
    (a rate that hovers about the line calls nobody twice within ten minutes)."""
    called: set[float] = set()
    last: float | None = None
    for reading in readings:
        if reading.rr is None or reading.t_s < dose_at_s or reading.rr > SLOW_RR:
            continue
        if last is None or reading.t_s - last > 10 * MIN:
            called.add(reading.t_s + CALLED_AFTER_S)
            last = reading.t_s
    return called


def _seen(t_s: float, after_dose_s: float, breathing: list[tuple[float, float]]) -> SimObservation:
    """What the nurse finds at ``t_s``: the drug's stage, and the breathing of the last two
    minutes (the lowest rate the monitor showed, which is what the nurse was called for)."""
    lo = bisect.bisect_left(breathing, (t_s - 2 * MIN, float("-inf")))
    hi = bisect.bisect_right(breathing, (t_s, float("inf")))
    rates = [rr for _, rr in breathing[lo:hi]]
    slowest = min(rates, default=None)
    if slowest is not None and slowest == 0:
        return SimObservation(
            t_s,
            3,
            "mild",
            "normal",
            "Stopped breathing for about 30 s; roused by voice, breathing again",
        )
    if slowest is not None and slowest <= SLOW_RR:
        return SimObservation(
            t_s, 2, "moderate", "depressed", "Hard to rouse, shallow breathing: stimulated"
        )
    minutes = after_dose_s / MIN
    if minutes < 30:
        return SimObservation(t_s, 4, "moderate", "normal")
    if minutes < 45:
        return SimObservation(t_s, 4, "mild", "normal")
    if minutes < 75:
        return SimObservation(t_s, 5, "mild", "normal")
    return SimObservation(t_s, 5, "none", "normal")


@dataclass
class NurseRounds:
    """One chair's nurse at work: each planned observation recorded when simulated time
    reaches it; ``recorded`` counts those the server took."""

    api: ClinicAPI  # logged in as the nurse
    planned: list[SimObservation]
    recorded: int = 0

    async def run(self, session_id: int, chair: str, clock: SimClock, stop: asyncio.Event) -> None:
        # A session carried on after a restart: the nurse goes on after its newest observation.
        newest = await self.api.newest_observation(session_id)
        for observation in self.planned:
            at = clock.wall(observation.t_s)
            if newest is not None and at <= newest:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), clock.until(observation.t_s))
            if stop.is_set():
                return
            try:
                await self.api.record_observation(session_id, observation.body(at))
                self.recorded += 1
            except (ClinicAPIError, OSError) as exc:  # the nurse carries on at the next round
                log.warning("%s: observation not recorded: %s", chair, exc)
