"""AlertEvent: one transition of one alert, in the shape the replay output and dashboard carry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

EventName = Literal["raised", "escalated", "superseded", "cleared", "acknowledged", "re-alarmed"]


def json_number(value: float | None) -> float | int | None:
    """A value for JSON: whole numbers without ".0" (172, not 172.0)."""
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """What happened to alert ``alert_no`` at time ``t``, and why (``reason``).

    ``t`` is the engine's clock when it happened; ``measured_t`` the measurement time of the
    reading that caused it (None when no reading did: a tick, an acknowledgement, the dose).
    They differ when a reading arrives late, e.g. in a monitor's catch-up batch.
    """

    t: float
    event: EventName
    rule: str
    vital: str | None
    value: float | None
    priority: str
    kind: str
    message: str
    alert_no: int
    reason: str
    user: str | None = None
    note: str | None = None
    measured_t: float | None = None

    def to_json_dict(self) -> dict[str, Any]:
        """The public contract's fields in order, then measured_t_s, alert_no, reason (and
        user/note for an acknowledgement)."""
        out: dict[str, Any] = {
            "t_s": float(self.t),
            "event": self.event,
            "rule": self.rule,
            "vital": self.vital,
            "value": json_number(self.value),
            "priority": self.priority,
            "kind": self.kind,
            "message": self.message,
            "measured_t_s": None if self.measured_t is None else float(self.measured_t),
            "alert_no": self.alert_no,
            "reason": self.reason,
        }
        if self.event == "acknowledged":
            out["user"] = self.user
            out["note"] = self.note
        return out
