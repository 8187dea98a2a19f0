"""Session set-up and the engine's state, with its JSON-compatible form for persistence.

The state is owned by the engine: ``step`` is its only mutator. Keep ``state_to_dict`` snapshots
to persist it or to look back; rebuild it with ``state_from_dict`` after a restart, or with
``with_setup`` under a new set-up (new limits, a new NIBP interval). Snapshots written before a
field existed restore with its starting value: a running clinic upgrades with open sessions.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.alerts.baseline import Baseline, PredoseHistory
from app.alerts.conditions import (
    Persistence,
    UnconfirmedBP,
    VitalCheck,
    VitalStream,
    build_checks,
)
from app.alerts.errors import StateError
from app.alerts.lifecycle import Alert, AlertBook
from app.alerts.rulefile import ruleset_from_dict
from app.alerts.rules import (
    PRIORITY_RANK,
    PROTOCOLS,
    THRESHOLD_CONDITIONS,
    TIERED_CONDITIONS,
    Rule,
    RuleSet,
)

STATE_FORMAT = 1
DEFAULT_NO_DATA_S = 30.0


@dataclass(frozen=True, slots=True)
class SessionSetup:
    """What a session starts with. ``dose_at``, when known at set-up, takes effect as the clock
    passes it (the same as a DoseMarked at that time). ``nibp_cycle_s`` is the session's NIBP
    interval (bp_overdue fires at a multiple of it); None: not set for this session, and the
    engine expects the rule set's ``nibp_interval_s`` or the longer cycle it sees the cuff run."""

    protocol: str
    started_at: float
    dose_at: float | None
    rules: RuleSet
    nibp_cycle_s: float | None = None
    baseline_window_s: float = 1800.0  # CLINICAL.md: "the 30 minutes before the dose"

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}")
        if (self.nibp_cycle_s is not None and self.nibp_cycle_s <= 0) or (
            self.baseline_window_s <= 0
        ):
            raise ValueError("nibp_cycle_s and baseline_window_s must be positive")

    def to_dict(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "started_at": self.started_at,
            "dose_at": self.dose_at,
            "rules": self.rules.to_dict(),
            "nibp_cycle_s": self.nibp_cycle_s,
            "baseline_window_s": self.baseline_window_s,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SessionSetup:
        return cls(
            protocol=data["protocol"],
            started_at=data["started_at"],
            dose_at=data["dose_at"],
            rules=ruleset_from_dict(data["rules"]),
            nibp_cycle_s=data.get("nibp_cycle_s"),
            baseline_window_s=data["baseline_window_s"],
        )


class RuleIndex:
    """Lookups derived from the rule set (never persisted: rebuilt from it)."""

    __slots__ = (
        "apnoea",
        "blockers",
        "by_id",
        "checks",
        "confirmable",
        "event_rules",
        "gaps",
        "lost_rules",
        "max_gap_s",
        "sedation_rules",
    )

    def __init__(self, rules: RuleSet) -> None:
        self.by_id: dict[str, Rule] = {rule.id: rule for rule in rules}
        self.checks: dict[str, tuple[VitalCheck, ...]] = build_checks(rules)
        # Rules with time- or event-driven conditions: at most one per condition.
        self.event_rules: dict[str, Rule] = {
            rule.condition: rule
            for rule in rules
            if rule.enabled
            and rule.condition not in THRESHOLD_CONDITIONS | TIERED_CONDITIONS
            and rule.condition != "vital_lost"
        }
        # The sedation tiers, most severe first (a higher one raised blocks the lower ones).
        self.sedation_rules: tuple[Rule, ...] = tuple(
            sorted(
                (r for r in rules if r.enabled and r.condition == "moaas_at_or_below"),
                key=lambda r: (PRIORITY_RANK[r.priority], r.threshold or 0.0),
            )
        )
        apnoea = self.event_rules.get("apnoea")
        # Apnoea counts its persistence like a threshold rule, on "no breath" (1) or not (0).
        self.apnoea: VitalCheck | None = (
            None
            if apnoea is None
            else VitalCheck(apnoea, True, False, 1.0, 1.0, chained=True, confirmable=False)
        )
        # One lost-vital rule per continuous vital.
        self.lost_rules: dict[str, Rule] = {
            rule.vital: rule
            for rule in rules
            if rule.enabled and rule.condition == "vital_lost" and rule.vital is not None
        }
        self.confirmable: tuple[str, ...] = tuple(
            check.rule.id
            for checks in self.checks.values()
            for check in checks
            if check.confirmable
        )
        blockers: dict[str, list[str]] = {}
        for rule in rules:
            for target in rule.supersedes:
                blockers.setdefault(target, []).append(rule.id)
        self.blockers: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in blockers.items()}
        no_data = next((r for r in rules if r.condition == "no_data"), None)
        self.max_gap_s = no_data.threshold if no_data and no_data.threshold else DEFAULT_NO_DATA_S
        # The longest gap in a continuous vital over which persistence is counted: its lost
        # window (a gap that long tells the nurse the vital is lost), else the no-data one;
        # like that one, the window counts whether or not its alert is on.
        self.gaps: dict[str, float] = {
            rule.vital: rule.threshold
            for rule in rules
            if rule.condition == "vital_lost" and rule.vital is not None and rule.threshold
        }

    def blocked(self, rule_id: str, open_alerts: Mapping[str, Alert]) -> bool:
        """While a superseding alert is open, the rule it supersedes does not raise."""
        return any(other in open_alerts for other in self.blockers.get(rule_id, ()))


@dataclass(slots=True)
class EngineState:
    """Everything the engine remembers about one session."""

    setup: SessionSetup
    now: float
    index: RuleIndex = field(init=False, repr=False, compare=False)
    dose_at: float | None = None
    pending_dose: float | None = None
    ended: bool = False
    baseline: Baseline = field(default_factory=Baseline)
    history: PredoseHistory = field(default_factory=lambda: PredoseHistory(1800.0))
    latest: dict[str, float] = field(default_factory=dict)
    last_data_at: float = 0.0  # engine clock when the last accepted reading arrived
    last_nibp_at: float = 0.0  # engine clock when the last NIBP reading arrived
    last_nibp_t: float | None = None  # measurement time of the last NIBP reading
    nibp_intervals: list[float] = field(default_factory=list)  # the cuff's last, newest last
    bp_unconfirmed: UnconfirmedBP | None = None  # a high BP waiting for its re-measure
    streams: dict[str, VitalStream] = field(default_factory=dict)  # per continuous vital
    postdose_bp_seen: bool = False
    postdose_checked: bool = False
    discharge_done: bool = False
    disconnected_at: float | None = None
    rejected_at: deque[float] = field(default_factory=deque)
    last_rejected_at: float | None = None
    chains: dict[str, Persistence] = field(default_factory=dict)
    book: AlertBook = field(default_factory=AlertBook)
    # The nurse's observations: when the last one was made, and its last score and breathing.
    last_observation_t: float | None = None
    last_moaas: int | None = None
    last_respiratory: str | None = None

    def __post_init__(self) -> None:
        self.index = RuleIndex(self.setup.rules)


def state_to_dict(state: EngineState, *, with_setup: bool = True) -> dict[str, Any]:
    """The state as plain JSON-compatible data (dicts, lists, str, numbers, bools, None).
    ``with_setup=False`` leaves out the set-up (mostly the rule set, which changes seldom) for
    a caller that stores it apart; ``state_from_dict`` then takes it as an argument."""
    data: dict[str, Any] = {
        "format": STATE_FORMAT,
        "now": state.now,
        "dose_at": state.dose_at,
        "pending_dose": state.pending_dose,
        "ended": state.ended,
        "baseline": {
            "sbp": state.baseline.sbp,
            "dbp": state.baseline.dbp,
            "hr": state.baseline.hr,
            "etco2": state.baseline.etco2,
        },
        "history": state.history.to_dict(),
        "latest": dict(state.latest),
        "last_data_at": state.last_data_at,
        "last_nibp_at": state.last_nibp_at,
        "last_nibp_t": state.last_nibp_t,
        "nibp_intervals": list(state.nibp_intervals),
        "bp_unconfirmed": None if state.bp_unconfirmed is None else state.bp_unconfirmed.to_list(),
        "streams": {vital: stream.to_list() for vital, stream in state.streams.items()},
        "postdose_bp_seen": state.postdose_bp_seen,
        "postdose_checked": state.postdose_checked,
        "discharge_done": state.discharge_done,
        "disconnected_at": state.disconnected_at,
        "rejected_at": list(state.rejected_at),
        "last_rejected_at": state.last_rejected_at,
        "chains": {k: [p.since, p.clear_since, p.last_t] for k, p in state.chains.items()},
        "alerts": [alert.to_dict() for alert in state.book.open.values()],
        "next_alert_no": state.book.next_no,
        "last_observation_t": state.last_observation_t,
        "last_moaas": state.last_moaas,
        "last_respiratory": state.last_respiratory,
    }
    if with_setup:
        data["setup"] = state.setup.to_dict()
    return data


def state_from_dict(data: Mapping[str, Any], setup: SessionSetup | None = None) -> EngineState:
    """Rebuild a state saved by ``state_to_dict``, with ``setup`` if it was saved without it;
    StateError if it is not one."""
    if not isinstance(data, Mapping) or data.get("format") != STATE_FORMAT:
        raise StateError(f"not an engine state of format {STATE_FORMAT}")
    try:
        alerts = [Alert.from_dict(item) for item in data["alerts"]]
        unconfirmed = data.get("bp_unconfirmed")
        return EngineState(
            setup=setup if setup is not None else SessionSetup.from_dict(data["setup"]),
            now=data["now"],
            dose_at=data["dose_at"],
            pending_dose=data["pending_dose"],
            ended=data["ended"],
            baseline=Baseline(**data["baseline"]),
            history=PredoseHistory.from_dict(data["history"]),
            latest=dict(data["latest"]),
            last_data_at=data["last_data_at"],
            last_nibp_at=data["last_nibp_at"],
            last_nibp_t=data["last_nibp_t"],
            # Absent from the older form: nothing learnt yet, nothing waiting.
            nibp_intervals=list(data.get("nibp_intervals", [])),
            bp_unconfirmed=None if unconfirmed is None else UnconfirmedBP.from_list(unconfirmed),
            streams={k: VitalStream(*v) for k, v in data.get("streams", {}).items()},
            postdose_bp_seen=data["postdose_bp_seen"],
            postdose_checked=data["postdose_checked"],
            discharge_done=data["discharge_done"],
            disconnected_at=data["disconnected_at"],
            rejected_at=deque(data["rejected_at"]),
            last_rejected_at=data["last_rejected_at"],
            chains={k: Persistence(*v) for k, v in data["chains"].items()},
            book=AlertBook(
                {a.rule: a for a in sorted(alerts, key=lambda a: a.alert_no)},
                data["next_alert_no"],
            ),
            # Absent from a state stored before observations: none made yet.
            last_observation_t=data.get("last_observation_t"),
            last_moaas=data.get("last_moaas"),
            last_respiratory=data.get("last_respiratory"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise StateError(f"engine state is incomplete or malformed: {exc!r}") from exc


def with_setup(state: EngineState, setup: SessionSetup) -> EngineState:
    """The same session under a new set-up (new limits, a new NIBP interval): what it has
    seen and the alerts it holds are kept; what depends on the set-up follows the new one."""
    return state_from_dict(state_to_dict(state, with_setup=False), setup)
