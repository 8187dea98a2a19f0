"""Rules as data: the defaults per protocol, rule files, per-patient overrides within bounds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.alerts import Bounds, RuleError, default_rules, load_rules
from app.alerts.rulefile import ruleset_from_dict

# CLINICAL.md "Default rules": id, vital, condition, threshold, clear, priority, persistence;
# then the low-BP tiers Chairside proposes for the medical director (defaults.py).
TABLE = [
    ("sbp_critical", "sbp", "above", 180, 170, "high", 0),
    ("dbp_critical", "dbp", "above", 110, 100, "high", 0),
    ("sbp_high", "sbp", "above", 160, 155, "medium", 0),
    ("dbp_high", "dbp", "above", 100, 95, "medium", 0),
    ("sbp_rise", "sbp", "rise_above_baseline", 40, 30, "medium", 0),
    ("dbp_rise", "dbp", "rise_above_baseline", 25, 20, "medium", 0),
    ("sbp_low", "sbp", "below", 90, 95, "medium", 0),
    ("hr_critical_high", "hr", "above", 140, 130, "high", 10),
    ("hr_high", "hr", "above", 120, 115, "medium", 15),
    ("hr_low", "hr", "below", 50, 55, "medium", 15),
    ("hr_critical_low", "hr", "below", 40, 45, "high", 10),
    ("spo2_low", "spo2", "below", 92, 94, "medium", 15),
    ("spo2_critical", "spo2", "below", 88, 90, "high", 10),
    ("sbp_critical_low", "sbp", "below", 80, 85, "high", 0),
    ("map_low", "map", "below", 60, 65, "medium", 0),
    ("map_critical_low", "map", "below", 50, 55, "high", 0),
]


@pytest.mark.parametrize("row", TABLE, ids=[row[0] for row in TABLE])
def test_spravato_defaults_follow_the_clinical_table(
    row: tuple[str, str, str, float, float, str, float],
) -> None:
    rule_id, vital, condition, threshold, clear, priority, persist = row
    rule = default_rules("spravato").get(rule_id)
    assert (rule.vital, rule.condition, rule.threshold, rule.clear_threshold) == (
        vital,
        condition,
        threshold,
        clear,
    )
    assert (rule.priority, rule.persist_s, rule.clear_hold_s) == (priority, persist, persist)
    assert rule.kind == "physiological" and rule.latching == (priority == "high")
    assert rule.reason


def test_technical_and_advisory_defaults() -> None:
    rules = default_rules("spravato")
    assert [(r.id, r.kind, r.priority) for r in rules if r.kind != "physiological"] == [
        ("monitor_disconnected", "technical", "medium"),
        ("no_data", "technical", "medium"),
        ("hr_lost", "technical", "medium"),
        ("spo2_lost", "technical", "medium"),
        ("etco2_lost", "technical", "medium"),
        ("bp_overdue", "technical", "low"),
        ("rejected_readings", "technical", "low"),
        ("predose_bp_missing", "advisory", "low"),
        ("predose_bp_elevated", "advisory", "low"),
        ("bp_remeasure", "advisory", "low"),
        ("observation_due", "advisory", "low"),
        ("postdose_check_due", "advisory", "low"),
        ("discharge_review", "advisory", "low"),
    ]
    assert rules.get("no_data").threshold == 30
    assert (rules.get("hr_lost").threshold, rules.get("spo2_lost").threshold) == (30, 30)
    assert rules.get("bp_overdue").threshold == 1.5
    assert rules.get("discharge_review").threshold == 7200
    assert rules.get("sbp_critical").supersedes == ("sbp_high", "sbp_rise")
    assert rules.get("sbp_critical_low").supersedes == ("sbp_low",)
    assert rules.get("map_critical_low").supersedes == ("map_low",)
    remeasure = rules.get("bp_remeasure")
    assert (remeasure.enabled, remeasure.threshold, remeasure.dbp_threshold) == (False, 200, 120)
    # Every number that is not in CLINICAL.md's table says so where staff read it.
    for rule_id in ("sbp_critical_low", "map_low", "map_critical_low", "hr_lost", "bp_remeasure"):
        assert "proposal" in rules.get(rule_id).reason, rule_id


def test_each_protocol_has_its_own_expected_cuff_cycle() -> None:
    assert default_rules("spravato").nibp_interval_s == 300
    assert default_rules("iv-ketamine").nibp_interval_s == 600
    overridden = default_rules("iv-ketamine").with_overrides({"hr_high": {"threshold": 115}})
    assert overridden.nibp_interval_s == 600


def test_escalation_and_re_alarm_defaults_follow_priority() -> None:
    rules = default_rules("spravato")
    assert (rules.get("sbp_high").escalate_after_s, rules.get("sbp_high").realarm_after_s) == (
        120,
        600,
    )
    assert (
        rules.get("sbp_critical").escalate_after_s,
        rules.get("sbp_critical").realarm_after_s,
    ) == (
        None,
        180,
    )


def test_iv_ketamine_defaults_differ_only_where_the_protocol_does() -> None:
    spravato, iv = default_rules("spravato"), default_rules("iv-ketamine")
    assert (iv.get("hr_high").threshold, iv.get("hr_high").clear_threshold) == (110, 105)
    assert iv.get("discharge_review").threshold == 6000
    assert "postdose_check_due" not in [r.id for r in iv]
    iv_by_id = {rule.id: rule for rule in iv}
    changed = {rule.id for rule in spravato if iv_by_id.get(rule.id) != rule}
    assert changed == {"hr_high", "postdose_check_due", "discharge_review"}


def test_unknown_protocol_is_refused() -> None:
    with pytest.raises(RuleError, match="'ketamine-im' is not one of spravato, iv-ketamine"):
        default_rules("ketamine-im")


def test_patient_override_moves_the_clear_limit_with_the_limit() -> None:
    rules = default_rules("spravato").with_overrides({"sbp_high": {"threshold": 170}})
    rule = rules.get("sbp_high")
    assert (rule.threshold, rule.clear_threshold) == (170, 165)
    assert rules.overridden == ("sbp_high",)


def test_patient_override_outside_the_rules_bounds_names_rule_and_field() -> None:
    with pytest.raises(RuleError, match=r"^sbp_high\.threshold: 205 is above the maximum 200$"):
        default_rules("spravato").with_overrides({"sbp_high": {"threshold": 205}})


def test_patient_override_is_checked_against_the_admins_bounds() -> None:
    bounds = {"spo2_low": Bounds(min_threshold=90, max_threshold=94)}
    rules = default_rules("spravato")
    assert (
        rules.with_overrides({"spo2_low": {"threshold": 90}}, bounds).get("spo2_low").threshold
        == 90
    )
    with pytest.raises(RuleError, match=r"spo2_low\.threshold: 89 is below the minimum 90"):
        rules.with_overrides({"spo2_low": {"threshold": 89}}, bounds)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"sbp_hgh": {"threshold": 170}}, r"sbp_hgh: no such rule"),
        ({"sbp_high": {"priority": "low"}}, r"sbp_high\.priority: cannot be set per patient"),
        ({"sbp_high": {"threshold": "170"}}, r"sbp_high\.threshold: must be a number"),
        (
            {"sbp_high": {"threshold": 170, "clear_threshold": 175}},
            r"sbp_high\.clear_threshold: 175 must be at or below 170",
        ),
        ({"hr_low": {"persist_s": -1}}, r"hr_low\.persist_s: must not be negative"),
    ],
)
def test_invalid_patient_override_is_refused_clearly(
    override: dict[str, dict[str, object]], message: str
) -> None:
    with pytest.raises(RuleError, match=message):
        default_rules("spravato").with_overrides(override)


def test_rule_file_changes_given_fields_of_the_protocol_defaults(tmp_path: Path) -> None:
    path = tmp_path / "clinic.json"
    path.write_text(
        json.dumps(
            {
                "name": "clinic-a",
                "version": "2026-01",
                "protocol": "iv-ketamine",
                "rules": [{"id": "dbp_critical", "threshold": 100, "clear_threshold": 95}],
                "disable": ["rejected_readings"],
            }
        )
    )
    rules = load_rules(path)
    assert (rules.name, rules.version) == ("clinic-a", "2026-01")
    assert rules.get("dbp_critical").threshold == 100
    assert rules.get("dbp_critical").priority == "high"
    assert not rules.get("rejected_readings").enabled


def test_rule_file_may_add_a_complete_new_rule() -> None:
    rules = load_rules(
        {
            "rules": [
                {
                    "id": "map_high",
                    "vital": "map",
                    "kind": "physiological",
                    "condition": "above",
                    "threshold": 130,
                    "clear_threshold": 120,
                    "priority": "medium",
                    "reason": "MAP ≥ 130 (clinic rule)",
                }
            ]
        },
        protocol="spravato",
    )
    rule = rules.get("map_high")
    assert (rule.escalate_after_s, rule.realarm_after_s, rule.latching) == (120, 600, False)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"id": "sbp_high", "treshold": 170}, r"sbp_high\.treshold: unknown field"),
        ({"id": "sbp_high", "priority": "urgent"}, r"sbp_high\.priority: 'urgent' is not one of"),
        ({"id": "new_rule", "vital": "sbp"}, r"new_rule\.kind: required field is missing"),
        ({"id": "sbp_high", "supersedes": ["hr_high"]}, r"sbp_high\.supersedes: hr_high is on"),
        ({"id": "discharge_review", "latching": False}, r"discharge_review\.latching"),
        ({"id": "Bad Id"}, r"'id' must be lower-case"),
        ({"id": "hr_lost", "vital": "sbp"}, r"hr_lost\.vital: a 'vital_lost' rule is for a"),
        (
            {
                "id": "pulse_lost",
                "vital": "hr",
                "kind": "technical",
                "condition": "vital_lost",
                "threshold": 20,
                "priority": "medium",
                "reason": "clinic rule",
            },
            r"pulse_lost\.condition: 'vital_lost' is already hr_lost's",
        ),
        ({"id": "bp_remeasure", "window_s": None}, r"bp_remeasure\.window_s: required"),
    ],
)
def test_invalid_rule_file_entry_is_refused_clearly(entry: dict[str, object], message: str) -> None:
    with pytest.raises(RuleError, match=message):
        load_rules({"protocol": "spravato", "rules": [entry]})


def test_unreadable_rule_file_is_a_rule_error(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(RuleError, match="not valid JSON"):
        load_rules(tmp_path / "bad.json")
    with pytest.raises(RuleError, match="cannot be read"):
        load_rules(tmp_path / "missing.json")


def test_rule_set_round_trips_through_its_dict() -> None:
    rules = default_rules("iv-ketamine").with_overrides({"hr_high": {"threshold": 115}})
    assert ruleset_from_dict(json.loads(json.dumps(rules.to_dict()))) == rules


def test_a_rule_file_sets_the_expected_cuff_cycle() -> None:
    rules = load_rules({"protocol": "iv-ketamine", "nibp_interval_s": 300})
    assert rules.nibp_interval_s == 300
    with pytest.raises(RuleError, match="nibp_interval_s: must be positive"):
        load_rules({"protocol": "spravato", "nibp_interval_s": 0})
    with pytest.raises(RuleError, match="nibp_interval_s: must be a number"):
        load_rules({"protocol": "spravato", "nibp_interval_s": "5 min"})


def test_a_rule_set_stored_before_the_cuff_cycle_field_restores_with_the_former_default() -> None:
    stored = default_rules("iv-ketamine").to_dict()
    del stored["nibp_interval_s"]
    assert ruleset_from_dict(stored).nibp_interval_s == 300


def test_a_rule_set_without_base_needs_complete_rules() -> None:
    with pytest.raises(RuleError, match=r"sbp_high\.vital: required field is missing"):
        load_rules({"rules": [{"id": "sbp_high", "threshold": 170}]})
