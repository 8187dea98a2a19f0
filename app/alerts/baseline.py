"""The pre-dose baseline: median SBP, DBP, HR and EtCO2 of the readings in the window before the
dose."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from statistics import median
from typing import Any

HR_SAMPLE_S = 10.0


@dataclass(frozen=True, slots=True)
class Baseline:
    """Medians before the dose; None where there was no reading (rise rules on it stay off)."""

    sbp: float | None = None
    dbp: float | None = None
    hr: float | None = None
    etco2: float | None = None

    def of(self, vital: str) -> float | None:
        if vital == "sbp":
            return self.sbp
        if vital == "dbp":
            return self.dbp
        if vital == "hr":
            return self.hr
        if vital == "etco2":
            return self.etco2
        return None


@dataclass(slots=True)
class PredoseHistory:
    """Readings of the last ``window_s`` seconds, kept until the dose to compute the baseline.

    Heart rate and EtCO2 come once a second; one value per ``HR_SAMPLE_S`` is kept, which gives
    the same 30-minute median to within noise and keeps a session's stored state small.
    """

    window_s: float
    bp: deque[tuple[float, float | None, float | None]] = field(default_factory=deque)
    hr: deque[tuple[float, float]] = field(default_factory=deque)
    etco2: deque[tuple[float, float]] = field(default_factory=deque)

    def add(
        self,
        t: float,
        sbp: float | None,
        dbp: float | None,
        hr: float | None,
        etco2: float | None = None,
    ) -> None:
        if sbp is not None or dbp is not None:
            self.bp.append((t, sbp, dbp))
            _prune(self.bp, t - self.window_s)
        for rows, value in ((self.hr, hr), (self.etco2, etco2)):
            if value is not None and (not rows or t - rows[-1][0] >= HR_SAMPLE_S):
                rows.append((t, value))
                _prune(rows, t - self.window_s)

    def baseline(self, dose_at: float) -> Baseline:
        start = dose_at - self.window_s
        bp = [row for row in self.bp if start <= row[0] <= dose_at]
        sbp = [row[1] for row in bp if row[1] is not None]
        dbp = [row[2] for row in bp if row[2] is not None]
        hr = [value for t, value in self.hr if start <= t <= dose_at]
        etco2 = [value for t, value in self.etco2 if start <= t <= dose_at]
        return Baseline(
            sbp=median(sbp) if sbp else None,
            dbp=median(dbp) if dbp else None,
            hr=median(hr) if hr else None,
            etco2=median(etco2) if etco2 else None,
        )

    def latest_bp(self, dose_at: float) -> tuple[float | None, float | None] | None:
        """The pre-dose BP: the latest (sbp, dbp) in the window before the dose."""
        start = dose_at - self.window_s
        for t, sbp, dbp in reversed(self.bp):
            if start <= t <= dose_at:
                return sbp, dbp
        return None

    def clear(self) -> None:
        self.bp.clear()
        self.hr.clear()
        self.etco2.clear()

    def to_dict(self) -> dict[str, Any]:
        return {
            "window_s": self.window_s,
            "bp": [list(row) for row in self.bp],
            "hr": [list(row) for row in self.hr],
            "etco2": [list(row) for row in self.etco2],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PredoseHistory:
        return cls(
            window_s=float(data["window_s"]),
            bp=deque((t, sbp, dbp) for t, sbp, dbp in data["bp"]),
            hr=deque((t, hr) for t, hr in data["hr"]),
            # Absent from a state stored before capnography: nothing seen yet.
            etco2=deque((t, value) for t, value in data.get("etco2", [])),
        )


def _prune(rows: deque[Any], before: float) -> None:
    # Rows arrive in time order except buffered catch-up; pruning from the left is enough.
    while rows and rows[0][0] < before:
        rows.popleft()
