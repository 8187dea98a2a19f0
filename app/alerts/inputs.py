"""What the alert engine is fed: readings, clock ticks and session events, each with its time.

Time is a float number of seconds on any base: trace seconds offline, epoch seconds live.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Reading:
    """One accepted measurement: an NIBP cycle (sbp/dbp/map), pulse oximetry (hr/spo2) and/or
    capnography (rr breaths/min, etco2 mmHg), in any combination."""

    t: float
    sbp: float | None = None
    dbp: float | None = None
    map: float | None = None
    hr: float | None = None
    spo2: float | None = None
    rr: float | None = None
    etco2: float | None = None

    def __post_init__(self) -> None:
        if (
            not self.is_nibp
            and self.hr is None
            and self.spo2 is None
            and self.rr is None
            and self.etco2 is None
        ):
            raise ValueError("a reading needs at least one of sbp, dbp, map, hr, spo2, rr, etco2")

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


MOAAS_SCORES = range(6)
DISSOCIATION_LEVELS = ("none", "mild", "moderate", "severe")
RESPIRATORY_STATUSES = ("normal", "depressed")


@dataclass(frozen=True, slots=True)
class Observation:
    """A nurse's bedside observation."""

    t: float
    moaas: int | None = None  # MOAA/S 0-5 (5 = responds readily to name spoken in normal tone)
    dissociation: str | None = None  # "none" | "mild" | "moderate" | "severe"
    respiratory: str | None = None  # "normal" | "depressed"

    def __post_init__(self) -> None:
        # A finding the engine cannot read must fail here, not pass as "not assessed".
        moaas = self.moaas
        if moaas is not None and (
            isinstance(moaas, bool) or not isinstance(moaas, int) or moaas not in MOAAS_SCORES
        ):
            raise ValueError(f"moaas must be a whole score from 0 to 5, got {moaas!r}")
        if self.dissociation is not None and self.dissociation not in DISSOCIATION_LEVELS:
            levels = ", ".join(DISSOCIATION_LEVELS)
            raise ValueError(f"dissociation must be one of {levels}, got {self.dissociation!r}")
        if self.respiratory is not None and self.respiratory not in RESPIRATORY_STATUSES:
            statuses = ", ".join(RESPIRATORY_STATUSES)
            raise ValueError(f"respiratory must be one of {statuses}, got {self.respiratory!r}")

    @property
    def assessed(self) -> bool:
        """Whether it records any finding (a note alone assesses nothing)."""
        findings = (self.moaas, self.dissociation, self.respiratory)
        return any(finding is not None for finding in findings)


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
    | Observation
    | SessionEnded
)
