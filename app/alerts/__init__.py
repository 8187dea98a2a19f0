"""Chairside's alert engine: pure and deterministic; readings and clock ticks in, alert events out.

No I/O (apart from reading a rule file at set-up), no wall clock, standard library only.
"""

from app.alerts.baseline import Baseline
from app.alerts.defaults import default_rules
from app.alerts.engine import new_state, run, step
from app.alerts.errors import (
    AcknowledgeError,
    AlertAlreadyAcknowledged,
    AlertNotFound,
    AlertNotOpen,
    DoseAlreadyMarked,
    EngineError,
    RuleError,
    SessionClosed,
    StateError,
)
from app.alerts.events import AlertEvent
from app.alerts.inputs import (
    Acknowledge,
    DeviceConnected,
    DeviceDisconnected,
    DoseMarked,
    Input,
    Observation,
    Reading,
    ReadingRejected,
    SessionEnded,
    Tick,
)
from app.alerts.rulefile import load_rules
from app.alerts.rules import Bounds, Rule, RuleSet
from app.alerts.state import (
    EngineState,
    SessionSetup,
    state_from_dict,
    state_to_dict,
    with_setup,
)

__all__ = [
    "Acknowledge",
    "AcknowledgeError",
    "AlertAlreadyAcknowledged",
    "AlertEvent",
    "AlertNotFound",
    "AlertNotOpen",
    "Baseline",
    "Bounds",
    "DeviceConnected",
    "DeviceDisconnected",
    "DoseAlreadyMarked",
    "DoseMarked",
    "EngineError",
    "EngineState",
    "Input",
    "Observation",
    "Reading",
    "ReadingRejected",
    "Rule",
    "RuleError",
    "RuleSet",
    "SessionClosed",
    "SessionEnded",
    "SessionSetup",
    "StateError",
    "Tick",
    "default_rules",
    "load_rules",
    "new_state",
    "run",
    "state_from_dict",
    "state_to_dict",
    "step",
    "with_setup",
]
