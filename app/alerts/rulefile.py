"""Rules from JSON data: a clinic's rule file merged over a protocol's defaults, and a rule set
persisted with an engine state. Every problem raises RuleError naming the rule and field.

Reading a rule file is the only I/O in app.alerts; it happens at set-up, never inside ``step``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from app.alerts.defaults import default_rules
from app.alerts.errors import RuleError
from app.alerts.rules import (
    CONDITIONS,
    DEFAULT_NIBP_INTERVAL_S,
    DEFAULT_OBSERVATION_INTERVAL_S,
    KINDS,
    PRIORITIES,
    RULE_ID,
    VITALS,
    Condition,
    Kind,
    Priority,
    Rule,
    RuleSet,
    Vital,
    validate_rule,
)


def load_rules(
    source: str | os.PathLike[str] | Mapping[str, Any], protocol: str | None = None
) -> RuleSet:
    """A rule set from a JSON file path or an already-decoded object::

        {"name": "clinic-a", "version": "2026-01", "protocol": "spravato",
         "nibp_interval_s": 300,
         "rules": [{"id": "sbp_high", "threshold": 165, "clear_threshold": 158}, ...]}

    With a base protocol (``"protocol"`` in the file, else the argument), an entry whose id
    names a default rule changes only the fields it gives and any other entry is a new,
    complete rule; ``"disable": ["rule_id", ...]`` turns default rules off and an entry with
    ``"enabled": true`` turns one on. Without a base every rule must be complete. Every
    problem raises RuleError naming the rule and field.

    ``nibp_interval_s``: the cuff cycle of a session that sets none (default: the protocol's,
    300 s Spravato, 600 s IV ketamine); ``bp_overdue`` fires at its ``threshold`` (1.5) times
    the session's interval, else the larger of this and the interval the cuff is seen to run.

    Confirm by re-measure (off by default) is the rule ``bp_remeasure``::

        {"id": "bp_remeasure", "enabled": true, "window_s": 600,
         "threshold": 200, "dbp_threshold": 120}

    With it on, a first reading that would raise a high-BP alert (``above`` or
    ``rise_above_baseline`` on sbp, dbp or map) raises instead the low advisory "re-measure
    BP now"; the next NIBP reading within ``window_s`` seconds is judged on its own (it raises
    what it meets, or nothing), and with none in that time the first reading's alerts are
    raised. A reading at or above ``threshold``/``dbp_threshold`` (the immediate tier, SBP and
    DBP) alarms at once, as does any reading while a high-BP alert is already open.

    A lost vital is a rule of condition ``vital_lost`` on a continuous vital (hr, spo2, rr,
    etco2), one per vital: ``threshold`` is the seconds without it, while another continuous
    vital still arrives, that raise it; it applies once the vital has been arriving more often
    than that. The same seconds are the longest gap in that vital over which persistence is
    counted (``etco2_lost`` also says when the capnograph counts as disconnected for apnoea).

    Apnoea is the rule ``apnoea`` (on rr): no breath, RR at or below ``threshold`` or EtCO2
    below ``etco2_threshold`` mmHg while EtCO2 is arriving, for ``persist_s``::

        {"id": "apnoea", "persist_s": 15, "etco2_threshold": 4}

    ``observation_interval_s``: how often a nurse's observation is due after the dose (default
    900 s); ``observation_due`` is raised when that long has passed since the dose or the last
    observation. The observation rules (``moaas_at_or_below`` with a score as ``threshold``,
    ``respiratory_depressed``) take ``enabled`` and, for the score, ``threshold``.
    """
    data = _decode(source)
    allowed = {"name", "version", "protocol", "nibp_interval_s", "observation_interval_s"}
    unknown = set(data) - allowed - {"rules", "disable"}
    if unknown:
        raise RuleError(f"rule file: unknown field(s) {', '.join(sorted(unknown))}")
    base_protocol = data.get("protocol", protocol)
    entries = data.get("rules", [])
    if not isinstance(entries, list):
        raise RuleError("rule file: 'rules' must be a list of rule objects")
    if base_protocol is None:
        if data.get("disable"):
            raise RuleError("rule file: 'disable' needs a base protocol")
        return ruleset_from_dict(data)
    base = default_rules(str(base_protocol))
    by_id: dict[str, Rule] = {rule.id: rule for rule in base.rules}
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise RuleError(f"rule file: each rule must be an object, got {entry!r}")
        rule_id = entry.get("id")
        rule = rule_from_dict(entry, by_id.get(rule_id) if isinstance(rule_id, str) else None)
        by_id[rule.id] = rule
    for rule_id in _ids(data.get("disable", [])):
        if rule_id not in by_id:
            raise RuleError(f"{rule_id}: cannot disable, no such rule")
        by_id[rule_id] = dataclasses.replace(by_id[rule_id], enabled=False)
    return RuleSet(
        name=_field_text(data, "name", f"{base.name}-custom"),
        version=_field_text(data, "version", base.version),
        rules=tuple(by_id.values()),
        nibp_interval_s=_interval(data, base.nibp_interval_s),
        observation_interval_s=_interval(
            data, base.observation_interval_s, "observation_interval_s"
        ),
    )


def ruleset_from_dict(data: Mapping[str, Any]) -> RuleSet:
    """A complete rule set, as ``RuleSet.to_dict`` writes it."""
    rules = data.get("rules")
    if not isinstance(rules, list):
        raise RuleError("rule set: 'rules' must be a list of rule objects")
    overridden = data.get("overridden", [])
    if not isinstance(overridden, list):
        raise RuleError("rule set: 'overridden' must be a list of rule ids")
    return RuleSet(
        _field_text(data, "name", "custom"),
        _field_text(data, "version", "1"),
        tuple(rule_from_dict(item) for item in rules),
        tuple(_str("rule set", "overridden", x) for x in overridden),
        # Rule sets stored before the field existed ran on the session's interval.
        _interval(data, DEFAULT_NIBP_INTERVAL_S),
        _interval(data, DEFAULT_OBSERVATION_INTERVAL_S, "observation_interval_s"),
    )


def rule_from_dict(data: Any, base: Rule | None = None) -> Rule:
    """A rule from JSON-like data; with ``base``, only the given fields change."""
    if not isinstance(data, Mapping):
        raise RuleError(f"rule: expected an object, got {type(data).__name__}")
    rule_id = data.get("id", base.id if base else None)
    if not isinstance(rule_id, str) or not RULE_ID.match(rule_id):
        raise RuleError(f"rule {rule_id!r}: 'id' must be lower-case letters, digits and _")
    names = {f.name for f in dataclasses.fields(Rule)}
    for key in data:
        if key not in names:
            raise RuleError(f"{rule_id}.{key}: unknown field")
    merged: dict[str, Any] = base.to_dict() if base else {}
    merged.update(data)
    for required in ("vital", "kind", "condition", "priority", "reason"):
        if required not in merged:
            raise RuleError(f"{rule_id}.{required}: required field is missing")
    priority = _choice(rule_id, "priority", merged["priority"], PRIORITIES)
    condition = _choice(rule_id, "condition", merged["condition"], CONDITIONS)
    vital = merged["vital"]
    supersedes = merged.get("supersedes", [])
    if not isinstance(supersedes, list | tuple) or not all(isinstance(x, str) for x in supersedes):
        raise RuleError(f"{rule_id}.supersedes: must be a list of rule ids")
    rule = Rule(
        id=rule_id,
        vital=None if vital is None else cast(Vital, _choice(rule_id, "vital", vital, VITALS)),
        kind=cast(Kind, _choice(rule_id, "kind", merged["kind"], KINDS)),
        condition=cast(Condition, condition),
        threshold=_optional(rule_id, "threshold", merged.get("threshold")),
        priority=cast(Priority, priority),
        reason=_str(rule_id, "reason", merged["reason"]),
        clear_threshold=_optional(rule_id, "clear_threshold", merged.get("clear_threshold")),
        persist_s=_number(rule_id, "persist_s", merged.get("persist_s", 0.0)),
        clear_hold_s=_number(rule_id, "clear_hold_s", merged.get("clear_hold_s", 0.0)),
        latching=_flag(rule_id, "latching", merged.get("latching", priority == "high")),
        escalate_after_s=_optional(
            rule_id, "escalate_after_s", merged.get("escalate_after_s", _escalation(priority))
        ),
        realarm_after_s=_optional(
            rule_id, "realarm_after_s", merged.get("realarm_after_s", _realarm(priority))
        ),
        supersedes=tuple(supersedes),
        window_s=_optional(rule_id, "window_s", merged.get("window_s")),
        dbp_threshold=_optional(rule_id, "dbp_threshold", merged.get("dbp_threshold")),
        settle_margin=_optional(rule_id, "settle_margin", merged.get("settle_margin")),
        min_threshold=_optional(rule_id, "min_threshold", merged.get("min_threshold")),
        max_threshold=_optional(rule_id, "max_threshold", merged.get("max_threshold")),
        enabled=_flag(rule_id, "enabled", merged.get("enabled", True)),
        etco2_threshold=_optional(rule_id, "etco2_threshold", merged.get("etco2_threshold")),
    )
    validate_rule(rule)
    return rule


def _escalation(priority: str) -> float | None:
    # Only medium escalates: high is already immediate, low is awareness only.
    return 120.0 if priority == "medium" else None


def _realarm(priority: str) -> float | None:
    return {"high": 180.0, "medium": 600.0}.get(priority)


def _choice(rule_id: str, name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise RuleError(f"{rule_id}.{name}: {value!r} is not one of {', '.join(allowed)}")
    return cast(str, value)


def _number(rule_id: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RuleError(f"{rule_id}.{name}: must be a number, got {value!r}")
    return float(value)


def _optional(rule_id: str, name: str, value: Any) -> float | None:
    return None if value is None else _number(rule_id, name, value)


def _flag(rule_id: str, name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise RuleError(f"{rule_id}.{name}: must be true or false, got {value!r}")
    return value


def _str(rule_id: str, name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise RuleError(f"{rule_id}.{name}: must be text, got {value!r}")
    return value


def _decode(source: str | os.PathLike[str] | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(source, Mapping):
        return source
    path = Path(source)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RuleError(f"rule file {path}: cannot be read ({exc.strerror})") from exc
    except json.JSONDecodeError as exc:
        raise RuleError(f"rule file {path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise RuleError(f"rule file {path}: must hold one JSON object")
    return data


def _ids(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise RuleError("rule file: 'disable' must be a list of rule ids")
    return value


def _interval(data: Mapping[str, Any], default: float, name: str = "nibp_interval_s") -> float:
    return _number("rule file", name, data.get(name, default))


def _field_text(data: Mapping[str, Any], name: str, default: str) -> str:
    value = data.get(name, default)
    if not isinstance(value, str):
        raise RuleError(f"rule file: {name!r} must be text")
    return value
