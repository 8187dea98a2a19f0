"""What the alert engine is fed: readings, clock ticks and session events, each with its time.

Time is a float number of seconds on any base: trace seconds offline, epoch seconds live.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Reading:
    """One accepted measurement: an NIBP cycle (sbp/dbp/map) and/or pulse oximetry (hr/spo2)."""

    t: float
    sbp: float | None = None
    dbp: float | None = None
    map: float | None = None
    hr: float | None = None
    spo2: float | None = None

    def __post_init__(self) -> None:
        if not self.is_nibp and self.hr is None and self.spo2 is None:
            raise ValueError("a reading needs at least one of sbp, dbp, map, hr, spo2")

    @property
    def is_nibp(self) -> bool:
        """A cuff cycle: any of sbp, dbp or map (monitors may report MAP alone)."""
        return self.sbp is not None or self.dbp is not None or self.map is not None


@dataclass(frozen=True, slots=True)
class Tick:
    """The clock advances; the live service sends one per second per open session."""

    t: float


@dataclass(frozen=True, slots=True)
class DoseMarked:
    """The nurse marks the dose: ``dose_at = t``."""

    t: float


@dataclass(frozen=True, slots=True)
class Acknowledge:
    """A clinician acknowledges alert ``alert_no`` of this session."""

    t: float
    alert_no: int
    user: str
    note: str | None = None


@dataclass(frozen=True, slots=True)
class DeviceConnected:
    """The chair's monitor (re)connected."""

    t: float


@dataclass(frozen=True, slots=True)
class DeviceDisconnected:
    """The chair's monitor lost its connection."""

    t: float


@dataclass(frozen=True, slots=True)
class ReadingRejected:
    """The ingest rejected a reading from the chair's monitor (``code`` says why)."""

    t: float
    code: str


@dataclass(frozen=True, slots=True)
class SessionEnded:
    """The session ends (discharge): every open alert is resolved."""

    t: float


Input = (
    Reading
    | Tick
    | DoseMarked
    | Acknowledge
    | DeviceConnected
    | DeviceDisconnected
    | ReadingRejected
    | SessionEnded
)
