"""Alert rules as data: the Rule and RuleSet types, their validation, per-patient overrides."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from app.alerts.errors import RuleError

Vital = Literal["sbp", "dbp", "map", "hr", "spo2", "rr", "etco2"]
Kind = Literal["physiological", "technical", "advisory"]
Priority = Literal["high", "medium", "low"]
Protocol = Literal["spravato", "iv-ketamine"]
Condition = Literal[
    "above",
    "below",
    "rise_above_baseline",
    "no_data",
    "bp_overdue",
    "predose_bp_missing",
    "predose_bp_elevated",
    "postdose_check_due",
    "discharge_review",
    "monitor_disconnected",
    "rejected_readings",
    "vital_lost",
    "bp_remeasure",
    "apnoea",
    "moaas_at_or_below",
    "respiratory_depressed",
    "observation_due",
]

VITALS: tuple[Vital, ...] = get_args(Vital)
KINDS: tuple[Kind, ...] = get_args(Kind)
PRIORITIES: tuple[Priority, ...] = get_args(Priority)
PROTOCOLS: tuple[Protocol, ...] = get_args(Protocol)
CONDITIONS: tuple[Condition, ...] = get_args(Condition)
PRIORITY_RANK: dict[str, int] = {"high": 0, "medium": 1, "low": 2}
# Conditions on one vital's value; the others are driven by time and session events.
THRESHOLD_CONDITIONS = frozenset({"above", "below", "rise_above_baseline"})
# Vitals a monitor sends about once a second (pulse oximetry, ECG, and a capnograph's
# numerics: RR and EtCO2 are updated breath by breath and reported each second); NIBP comes
# in cycles.
CONTINUOUS_VITALS: tuple[Vital, ...] = ("hr", "spo2", "rr", "etco2")
NIBP_VITALS = frozenset({"sbp", "dbp", "map"})
# When neither the session nor the rule set says how often the cuff cycles (CLINICAL.md:
# "every 2-15 minutes as set"; the simulator's default is every 5 minutes).
DEFAULT_NIBP_INTERVAL_S = 300.0
BASELINE_VITALS = frozenset({"sbp", "dbp", "hr", "etco2"})
# Rules a nurse's observation raises and clears (no persistence: the observation is the finding).
OBSERVATION_CONDITIONS = frozenset({"moaas_at_or_below", "respiratory_depressed"})
# A condition that may have several rules, each a tier of the same finding (MOAA/S ≤ 1, ≤ 2).
TIERED_CONDITIONS = frozenset({"moaas_at_or_below"})
# Conditions whose number lives elsewhere: the observation itself, the rule set's interval.
NO_THRESHOLD = frozenset({"predose_bp_missing", "respiratory_depressed", "observation_due"})
MOAAS_MAX = 5
# When the rule set says nothing: a nurse's observation every 15 min after the dose (proposal).
DEFAULT_OBSERVATION_INTERVAL_S = 900.0
# Advisories whose trigger is a moment, not a state: they stay until acknowledged.
ACK_CLEARED = frozenset({"predose_bp_elevated", "discharge_review"})
# What a clinician may change for one patient; priority, kind and wiring stay the clinic's.
OVERRIDABLE = frozenset({"threshold", "clear_threshold", "persist_s", "clear_hold_s"})
RULE_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@dataclass(frozen=True, slots=True)
class Rule:
    """One alert rule. ``threshold`` means, by condition: a limit in the vital's unit (above,
    below), a rise in the vital's unit (rise_above_baseline), seconds (no_data,
    monitor_disconnected, vital_lost, postdose_check_due and discharge_review: seconds after
    the dose), a multiple of the NIBP cycle (bp_overdue), a count (rejected_readings), a
    systolic limit (predose_bp_elevated, and bp_remeasure's immediate tier, each with
    ``dbp_threshold`` for the diastolic one; bp_remeasure's ``window_s`` is the time the
    confirming reading may take), the breaths/min at or below which there is no breath
    (apnoea, with ``etco2_threshold`` the EtCO2 in mmHg below which there is none either), or
    a MOAA/S score at or below which a nurse's observation alarms (moaas_at_or_below).
    respiratory_depressed and observation_due take none: the observation is the finding, and
    the rule set's ``observation_interval_s`` says when one is due."""

    id: str
    vital: Vital | None
    kind: Kind
    condition: Condition
    threshold: float | None
    priority: Priority
    reason: str
    clear_threshold: float | None = None
    persist_s: float = 0.0
    clear_hold_s: float = 0.0
    latching: bool = False
    escalate_after_s: float | None = None
    realarm_after_s: float | None = None
    supersedes: tuple[str, ...] = ()
    window_s: float | None = None
    dbp_threshold: float | None = None
    settle_margin: float | None = None
    min_threshold: float | None = None
    max_threshold: float | None = None
    enabled: bool = True
    etco2_threshold: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["supersedes"] = list(self.supersedes)
        return out


@dataclass(frozen=True, slots=True)
class Bounds:
    """Admin-set limits within which a per-patient threshold may be set."""

    min_threshold: float | None = None
    max_threshold: float | None = None


@dataclass(frozen=True, slots=True)
class RuleSet:
    """The rules a session runs, with the name and version shown on every screen."""

    name: str
    version: str
    rules: tuple[Rule, ...]
    overridden: tuple[str, ...] = ()
    # The protocol's expected NIBP interval, for a session that sets none (bp_overdue).
    nibp_interval_s: float = DEFAULT_NIBP_INTERVAL_S
    # How often a nurse's observation is due after the dose (observation_due).
    observation_interval_s: float = DEFAULT_OBSERVATION_INTERVAL_S

    def __post_init__(self) -> None:
        _validate_ruleset(self)

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def get(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise RuleError(f"{rule_id}: no such rule in rule set {self.name!r}")

    def with_overrides(
        self,
        overrides: Mapping[str, Mapping[str, Any]],
        bounds: Mapping[str, Bounds] | None = None,
    ) -> RuleSet:
        """This rule set with per-patient changes, each checked against the admin bounds
        (``bounds[rule_id]`` when given, else the rule's own min/max_threshold)."""
        by_id = {rule.id: rule for rule in self.rules}
        for rule_id, fields in overrides.items():
            if rule_id not in by_id:
                raise RuleError(f"{rule_id}: no such rule in rule set {self.name!r}")
            if not isinstance(fields, Mapping):
                raise RuleError(f"{rule_id}: override must be an object of fields")
            by_id[rule_id] = _override(by_id[rule_id], fields, (bounds or {}).get(rule_id))
        return RuleSet(
            self.name,
            self.version,
            tuple(by_id[rule.id] for rule in self.rules),
            tuple(sorted({*self.overridden, *overrides})),
            self.nibp_interval_s,
            self.observation_interval_s,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "overridden": list(self.overridden),
            "nibp_interval_s": self.nibp_interval_s,
            "observation_interval_s": self.observation_interval_s,
            "rules": [rule.to_dict() for rule in self.rules],
        }


def _override(rule: Rule, fields: Mapping[str, Any], bounds: Bounds | None) -> Rule:
    changes: dict[str, Any] = {}
    for name, value in fields.items():
        if name not in OVERRIDABLE:
            allowed = ", ".join(sorted(OVERRIDABLE))
            raise RuleError(f"{rule.id}.{name}: cannot be set per patient (allowed: {allowed})")
        changes[name] = _number(rule.id, name, value)
    new_threshold = changes.get("threshold")
    if new_threshold is not None and rule.threshold is not None:
        if "clear_threshold" not in changes and rule.clear_threshold is not None:
            # Move the clear limit with the limit so the hysteresis band keeps its width.
            changes["clear_threshold"] = rule.clear_threshold + new_threshold - rule.threshold
        low = bounds.min_threshold if bounds else rule.min_threshold
        high = bounds.max_threshold if bounds else rule.max_threshold
        if low is not None and new_threshold < low:
            raise RuleError(f"{rule.id}.threshold: {new_threshold:g} is below the minimum {low:g}")
        if high is not None and new_threshold > high:
            raise RuleError(f"{rule.id}.threshold: {new_threshold:g} is above the maximum {high:g}")
    updated = dataclasses.replace(rule, **changes)
    if bounds is not None:
        # The session's copy of the rule carries the bounds it was checked against.
        updated = dataclasses.replace(
            updated, min_threshold=bounds.min_threshold, max_threshold=bounds.max_threshold
        )
    validate_rule(updated)
    return updated


def validate_rule(rule: Rule) -> None:
    def fail(name: str, why: str) -> RuleError:
        return RuleError(f"{rule.id}.{name}: {why}")

    threshold, clear = rule.threshold, rule.clear_threshold
    if rule.condition in THRESHOLD_CONDITIONS:
        if rule.vital is None:
            raise fail("vital", f"a {rule.condition!r} rule needs a vital")
        if rule.condition == "rise_above_baseline" and rule.vital not in BASELINE_VITALS:
            raise fail("vital", "a baseline exists only for sbp, dbp, hr and etco2")
        if clear is not None and threshold is not None:
            if rule.condition == "below" and clear < threshold:
                raise fail("clear_threshold", f"{clear:g} must be at or above {threshold:g}")
            if rule.condition != "below" and clear > threshold:
                raise fail("clear_threshold", f"{clear:g} must be at or below {threshold:g}")
    elif clear is not None:
        raise fail("clear_threshold", f"not used by condition {rule.condition!r}")
    if rule.condition == "vital_lost" and rule.vital not in CONTINUOUS_VITALS:
        vitals = ", ".join(CONTINUOUS_VITALS)
        raise fail("vital", f"a 'vital_lost' rule is for a continuous vital ({vitals})")
    if threshold is None and rule.condition not in NO_THRESHOLD:
        raise fail("threshold", f"required for condition {rule.condition!r}")
    if rule.condition in ("respiratory_depressed", "observation_due") and threshold is not None:
        raise fail("threshold", f"not used by condition {rule.condition!r}")
    _check_breathing_and_observation(rule, fail)
    zero_ok = ("above", "below", "apnoea", "moaas_at_or_below")
    if rule.condition not in zero_ok and threshold is not None and threshold <= 0:
        raise fail("threshold", f"must be positive, got {threshold:g}")
    if rule.condition in ("rejected_readings", "postdose_check_due", "bp_remeasure") and not (
        rule.window_s
    ):
        raise fail("window_s", f"required (positive) for condition {rule.condition!r}")
    window = rule.window_s
    if rule.condition == "postdose_check_due" and threshold and window and window > threshold:
        raise fail("window_s", "the check window cannot start before the dose")
    if rule.condition in ("predose_bp_elevated", "bp_remeasure") and rule.dbp_threshold is None:
        raise fail("dbp_threshold", f"required for condition {rule.condition!r}")
    if rule.condition in ACK_CLEARED and not rule.latching:
        raise fail("latching", f"a {rule.condition!r} alert stays until acknowledged")
    for name in ("persist_s", "clear_hold_s", "window_s", "escalate_after_s", "realarm_after_s"):
        value = getattr(rule, name)
        if value is not None and value < 0:
            raise fail(name, f"must not be negative, got {value:g}")
    if threshold is not None:
        if rule.min_threshold is not None and threshold < rule.min_threshold:
            raise fail("threshold", f"{threshold:g} is below min_threshold {rule.min_threshold:g}")
        if rule.max_threshold is not None and threshold > rule.max_threshold:
            raise fail("threshold", f"{threshold:g} is above max_threshold {rule.max_threshold:g}")
    if not rule.reason.strip():
        raise fail("reason", "staff must be shown why the rule exists")


def _check_breathing_and_observation(rule: Rule, fail: Callable[[str, str], RuleError]) -> None:
    """What apnoea and the observation rules need beyond the common checks."""
    condition, threshold = rule.condition, rule.threshold
    if condition == "apnoea":
        if rule.vital != "rr":
            raise fail("vital", "an 'apnoea' rule is on rr (it supersedes the low-RR rules)")
        if threshold is not None and threshold < 0:
            raise fail("threshold", f"breaths/min cannot be negative, got {threshold:g}")
        if rule.etco2_threshold is None or rule.etco2_threshold <= 0:
            raise fail("etco2_threshold", "required (positive, mmHg) for condition 'apnoea'")
    elif rule.etco2_threshold is not None:
        raise fail("etco2_threshold", f"not used by condition {condition!r}")
    observed = condition in OBSERVATION_CONDITIONS or condition == "observation_due"
    if observed and rule.vital is not None:
        raise fail("vital", f"a {condition!r} rule is on no monitored vital (null)")
    score = threshold if condition == "moaas_at_or_below" else None
    if score is not None and not (score.is_integer() and 0 <= score <= MOAAS_MAX):
        raise fail("threshold", f"a MOAA/S score is a whole number 0-5, got {score:g}")


def _validate_ruleset(rule_set: RuleSet) -> None:
    interval = rule_set.nibp_interval_s
    if _number("rule set", "nibp_interval_s", interval) <= 0:
        raise RuleError(f"nibp_interval_s: must be positive, got {interval:g}")
    every = rule_set.observation_interval_s
    if _number("rule set", "observation_interval_s", every) <= 0:
        raise RuleError(f"observation_interval_s: must be positive, got {every:g}")
    by_id: dict[str, Rule] = {}
    conditions: dict[tuple[str, str | None], str] = {}
    for rule in rule_set.rules:
        if rule.id in by_id:
            raise RuleError(f"{rule.id}: duplicate rule id")
        by_id[rule.id] = rule
        if rule.condition not in THRESHOLD_CONDITIONS | TIERED_CONDITIONS:
            # One rule per time- or event-driven condition (per vital for a lost vital).
            key = (rule.condition, rule.vital if rule.condition == "vital_lost" else None)
            if key in conditions:
                other = conditions[key]
                raise RuleError(f"{rule.id}.condition: {rule.condition!r} is already {other}'s")
            conditions[key] = rule.id
    for rule in rule_set.rules:
        for target_id in rule.supersedes:
            target = by_id.get(target_id)
            if target is None or target_id == rule.id:
                raise RuleError(f"{rule.id}.supersedes: {target_id!r} is not another rule")
            # Supersession stays inside one problem: same vital, same kind, not a higher priority.
            if target.vital != rule.vital or target.kind != rule.kind:
                raise RuleError(f"{rule.id}.supersedes: {target_id} is on another vital or kind")
            if PRIORITY_RANK[target.priority] < PRIORITY_RANK[rule.priority]:
                raise RuleError(f"{rule.id}.supersedes: {target_id} has a higher priority")


def _number(rule_id: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RuleError(f"{rule_id}.{name}: must be a number, got {value!r}")
    return float(value)
