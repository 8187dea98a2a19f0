"""The alert state machine (after IEC 60601-1-8): active → acknowledged → resolved.

Each transition returns the AlertEvent that records it. Resolved alerts leave the book; alert
numbers are issued in order, so any lower number that is not open is a resolved alert.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

from app.alerts.errors import AlertAlreadyAcknowledged, AlertNotFound, AlertNotOpen
from app.alerts.events import AlertEvent, EventName
from app.alerts.messages import duration
from app.alerts.rules import Rule

AlertState = Literal["active", "acknowledged"]


@dataclass(slots=True)
class Alert:
    """One open alert. ``condition_ended`` marks a latched alert whose condition has ended:
    it stays displayed until acknowledged."""

    alert_no: int
    rule: str
    raised_at: float
    value: float | None
    message: str
    state: AlertState = "active"
    alarm_at: float = 0.0  # raised or last re-alarmed: escalation counts from here
    escalated: bool = False
    condition_ended: bool = False
    ended_text: str = ""
    acked_at: float | None = None
    acked_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Alert:
        return cls(**{f.name: data[f.name] for f in fields(cls)})


def _event(
    rule: Rule,
    alert: Alert,
    t: float,
    name: EventName,
    value: float | None,
    message: str,
    reason: str,
    user: str | None = None,
    note: str | None = None,
) -> AlertEvent:
    return AlertEvent(
        t=t,
        event=name,
        rule=rule.id,
        vital=rule.vital,
        value=value,
        priority=rule.priority,
        kind=rule.kind,
        message=message,
        alert_no=alert.alert_no,
        reason=reason,
        user=user,
        note=note,
    )


class AlertBook:
    """The open alerts of one session, at most one per rule, and the counter that numbers them."""

    __slots__ = ("next_no", "open")

    def __init__(self, open_alerts: dict[str, Alert] | None = None, next_no: int = 1) -> None:
        self.open: dict[str, Alert] = open_alerts if open_alerts is not None else {}
        self.next_no = next_no

    def raise_alert(
        self,
        rule: Rule,
        rules: Mapping[str, Rule],
        t: float,
        value: float | None,
        message: str,
        *,
        momentary: bool = False,
    ) -> list[AlertEvent]:
        """Open an alert for ``rule`` and supersede the open ones it outranks. A ``momentary``
        condition (a check at dose time, a review falling due) has ended as it is raised."""
        alert = Alert(self.next_no, rule.id, t, value, message, alarm_at=t)
        alert.condition_ended = momentary
        self.next_no += 1
        self.open[rule.id] = alert
        events = [_event(rule, alert, t, "raised", value, message, rule.reason)]
        for target_id in rule.supersedes:
            target = self.open.pop(target_id, None)
            if target is not None:
                target_rule = rules[target_id]
                events.append(
                    _event(
                        target_rule,
                        target,
                        t,
                        "superseded",
                        target.value,
                        f"Replaced by alert {alert.alert_no}: {message}",
                        f"One alert per problem: {rule.id} (alert {alert.alert_no}) replaces it",
                    )
                )
        return events

    def end_condition(
        self, rule: Rule, t: float, value: float | None, text: str
    ) -> list[AlertEvent]:
        """The condition of the open alert for ``rule`` has ended: clear it, or latch it until
        acknowledged if the rule latches and nobody has acknowledged it yet."""
        alert = self.open[rule.id]
        if rule.latching and alert.state == "active":
            alert.condition_ended = True
            alert.ended_text = text
            return []
        del self.open[rule.id]
        reason = text[:1].upper() + text[1:]
        return [_event(rule, alert, t, "cleared", value, f"Cleared: {text}", reason)]

    def find_for_ack(self, alert_no: int) -> Alert:
        """The open, unacknowledged alert ``alert_no``, or the error saying why it cannot be."""
        for alert in self.open.values():
            if alert.alert_no == alert_no:
                if alert.state == "acknowledged":
                    raise AlertAlreadyAcknowledged(
                        alert_no, f"alert {alert_no} ({alert.rule}) is already acknowledged"
                    )
                return alert
        if 1 <= alert_no < self.next_no:
            raise AlertNotOpen(alert_no, f"alert {alert_no} is already resolved")
        raise AlertNotFound(alert_no, f"no alert {alert_no} in this session")

    def acknowledge(
        self,
        alert: Alert,
        rule: Rule,
        t: float,
        user: str,
        note: str | None,
        latest: Mapping[str, float],
    ) -> list[AlertEvent]:
        """Silence and mark the alert; a latched alert whose condition ended resolves now."""
        value = current_value(rule, latest, alert)
        alert.state = "acknowledged"
        alert.acked_at = t
        alert.acked_by = user
        events = [
            _event(
                rule,
                alert,
                t,
                "acknowledged",
                value,
                f"Acknowledged by {user}: {alert.message}",
                f"Acknowledged by {user}" + (f": {note}" if note else ""),
                user=user,
                note=note,
            )
        ]
        if alert.condition_ended:
            del self.open[rule.id]
            text = alert.ended_text or "acknowledged"
            reason = f"Latched until acknowledged; the condition had ended ({text})"
            events.append(_event(rule, alert, t, "cleared", value, f"Cleared: {text}", reason))
        return events

    def due(
        self, now: float, rules: Mapping[str, Rule], latest: Mapping[str, float]
    ) -> list[AlertEvent]:
        """Escalate unacknowledged alerts and re-alarm acknowledged ones still present."""
        events: list[AlertEvent] = []
        for alert in self.open.values():
            rule = rules[alert.rule]
            if alert.state == "active":
                wait = rule.escalate_after_s
                if wait is not None and not alert.escalated and now - alert.alarm_at >= wait:
                    alert.escalated = True
                    events.append(
                        _event(
                            rule,
                            alert,
                            now,
                            "escalated",
                            current_value(rule, latest, alert),
                            f"Unacknowledged for {duration(wait)}: {alert.message}",
                            f"Not acknowledged within {duration(wait)}",
                        )
                    )
            elif not alert.condition_ended and alert.acked_at is not None:
                wait = rule.realarm_after_s
                if wait is not None and now - alert.acked_at >= wait:
                    alert.state = "active"
                    alert.alarm_at = now
                    alert.escalated = False
                    alert.acked_at = None
                    alert.acked_by = None
                    events.append(
                        _event(
                            rule,
                            alert,
                            now,
                            "re-alarmed",
                            current_value(rule, latest, alert),
                            f"Still present after acknowledgement: {alert.message}",
                            f"Condition still present {duration(wait)} after acknowledgement",
                        )
                    )
        return events

    def close_all(
        self, t: float, rules: Mapping[str, Rule], latest: Mapping[str, float]
    ) -> list[AlertEvent]:
        """Resolve every open alert: the session has ended."""
        events = [
            _event(
                rules[alert.rule],
                alert,
                t,
                "cleared",
                current_value(rules[alert.rule], latest, alert),
                f"Cleared: session ended ({alert.message})",
                "Session ended",
            )
            for alert in self.open.values()
        ]
        self.open.clear()
        return events


def current_value(rule: Rule, latest: Mapping[str, float], alert: Alert) -> float | None:
    """The value an event about an open alert shows: the vital's latest, else the trigger."""
    if rule.kind != "physiological" or rule.vital is None:
        return alert.value
    return latest.get(rule.vital, alert.value)
