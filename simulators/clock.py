"""The simulated clock: simulated seconds since session start, as real time and as ``ts``.

Simulated time runs ``speed`` times faster than real time from ``real_start``. A reading at
simulated second ``t`` is due at real time ``real_start + t / speed``.

Its ``ts`` keeps real intervals (one simulated second is one second of ``ts``), so persistence
delays and "minutes after the dose" mean what they say. Faster than real time, those stamps
would run ahead of the server's clock (which refuses ``ts`` more than 5 s in the future), so the
whole simulated session is placed in the past: it *ends* at the real time the run is expected to
end, ``ts(t) = wall_start + duration / speed - (duration - t)``. Every ``ts`` is then at or before
the real time it is sent. At speed 1 (or slower) this is plain ``ts(t) = wall_start + t``.

A session may also start with a head start: it has already been running ``head_start_s``
simulated seconds when the run begins, so those readings are due at once (a monitor catching
up) and are stamped in the past; from then on time runs as above. At speed 1 with a head start,
every stamp is real time, so a live server's clock and the session's clock agree exactly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True, slots=True)
class SimClock:
    speed: float
    duration_s: float
    real_start: float = field(default_factory=time.monotonic)
    wall_start: datetime = field(default_factory=lambda: datetime.now(UTC))
    head_start_s: float = 0.0

    def __post_init__(self) -> None:
        if self.speed <= 0:
            raise ValueError("speed must be positive")
        if self.head_start_s < 0:
            raise ValueError("head start must not be negative")

    @property
    def lead_s(self) -> float:
        """How far in the past simulated second 0 is stamped, so no ``ts`` is in the future."""
        head = self.head_start_s
        return max(head, self.duration_s - max(0.0, self.duration_s - head) / self.speed)

    def sim_now(self) -> float:
        return self.head_start_s + (time.monotonic() - self.real_start) * self.speed

    def real_at(self, t_s: float) -> float:
        """The ``time.monotonic()`` at which simulated second ``t_s`` is reached."""
        return self.real_start + max(0.0, t_s - self.head_start_s) / self.speed

    def until(self, t_s: float) -> float:
        """Real seconds from now until simulated second ``t_s`` (0 when already past)."""
        return max(0.0, self.real_at(t_s) - time.monotonic())

    def wall(self, t_s: float) -> datetime:
        """The measurement time stamped on simulated second ``t_s``."""
        return self.wall_start + timedelta(seconds=t_s - self.lead_s)

    def ts(self, t_s: float) -> str:
        """``wall(t_s)`` as the ISO 8601 text of the wire format (UTC, milliseconds, ``Z``)."""
        return self.wall(t_s).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def head_start_for(started_at: datetime, now: datetime, speed: float, duration_s: float) -> float:
    """The head start of a clock made at ``now`` that stamps simulated second 0 at
    ``started_at``: how far a session begun then has run, so that carrying it on keeps every
    stamp it already has (its readings from then to now go out as a monitor's catch-up)."""
    elapsed = max(0.0, (now - started_at).total_seconds())
    if speed > 1:  # the session is placed so that it ends when the run does (see lead_s)
        elapsed = duration_s - speed * (duration_s - elapsed)
    return min(max(0.0, elapsed), duration_s)
