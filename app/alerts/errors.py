"""Errors the alert engine raises for input it cannot accept; each names what was wrong."""

from __future__ import annotations


class EngineError(Exception):
    """Base of every error the alert engine raises."""


class RuleError(EngineError, ValueError):
    """A rule, rule file or per-patient override is invalid; the message names rule and field."""


class StateError(EngineError, ValueError):
    """A persisted engine state cannot be restored."""


class SessionClosed(EngineError):
    """An input arrived after the session ended."""


class DoseAlreadyMarked(EngineError):
    """The dose of a session can be marked once."""


class AcknowledgeError(EngineError):
    """An acknowledgement that cannot be applied; the state is left unchanged."""

    def __init__(self, alert_no: int, message: str) -> None:
        super().__init__(message)
        self.alert_no = alert_no


class AlertNotFound(AcknowledgeError):
    """No alert with this number was ever raised in the session."""


class AlertNotOpen(AcknowledgeError):
    """The alert is already resolved (cleared or superseded)."""


class AlertAlreadyAcknowledged(AcknowledgeError):
    """The alert is open and already acknowledged; it needs no second acknowledgement."""
