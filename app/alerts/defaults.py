"""The default rule set of each protocol, as in CLINICAL.md "Default rules"; clinics may change it.

Numbers marked "proposal" are not in CLINICAL.md's table: they are Chairside's proposals for
the clinic's medical director, who approves the rule set a clinic runs.
"""

from __future__ import annotations

from app.alerts.errors import RuleError
from app.alerts.rules import PROTOCOLS, Condition, Kind, Priority, Rule, RuleSet, Vital

DEFAULTS_VERSION = "3"
# The cuff cycle a session runs on when it sets none (proposals): Spravato every 5 min (the
# simulator's default, CLINICAL.md); IV ketamine every 10 min ("BP typically every 10 min
# during the infusion", CLINICAL.md "Evidence"). bp_overdue fires at 1.5 × the interval.
NIBP_INTERVAL_S = {"spravato": 300.0, "iv-ketamine": 600.0}
# How often the nurse records sedation, dissociation and breathing after the dose (proposal:
# the Spravato REMS asks for monitoring of sedation and dissociation for at least 2 h and
# names no cadence; 15 min is Chairside's proposal, the same for both protocols).
OBSERVATION_INTERVAL_S = {"spravato": 900.0, "iv-ketamine": 900.0}


def _vital_rule(
    rule_id: str,
    vital: Vital,
    condition: Condition,
    threshold: float,
    clear: float,
    priority: Priority,
    reason: str,
    *,
    persist_s: float = 0.0,
    bounds: tuple[float, float],
    supersedes: tuple[str, ...] = (),
) -> Rule:
    return Rule(
        id=rule_id,
        vital=vital,
        kind="physiological",
        condition=condition,
        threshold=threshold,
        clear_threshold=clear,
        priority=priority,
        reason=reason,
        persist_s=persist_s,
        # 1 Hz vitals clear after the same hold as they raise; one NIBP reading clears.
        clear_hold_s=persist_s,
        latching=priority == "high",
        escalate_after_s=120.0 if priority == "medium" else None,
        realarm_after_s=180.0 if priority == "high" else 600.0,
        supersedes=supersedes,
        min_threshold=bounds[0],
        max_threshold=bounds[1],
    )


def _event_rule(
    rule_id: str,
    vital: Vital | None,
    kind: Kind,
    condition: Condition,
    threshold: float | None,
    priority: Priority,
    reason: str,
    *,
    supersedes: tuple[str, ...] = (),
    window_s: float | None = None,
    clear_hold_s: float = 0.0,
    dbp_threshold: float | None = None,
    settle_margin: float | None = None,
    enabled: bool = True,
) -> Rule:
    latching = condition in ("predose_bp_elevated", "discharge_review")
    medium = priority == "medium"
    return Rule(
        id=rule_id,
        vital=vital,
        kind=kind,
        condition=condition,
        threshold=threshold,
        priority=priority,
        reason=reason,
        latching=latching,
        escalate_after_s=120.0 if medium else None,
        realarm_after_s=600.0 if medium else None,
        supersedes=supersedes,
        window_s=window_s,
        clear_hold_s=clear_hold_s,
        dbp_threshold=dbp_threshold,
        settle_margin=settle_margin,
        enabled=enabled,
    )


def _physiological(hr_high: float, hr_high_clear: float) -> list[Rule]:
    return [
        _vital_rule(
            "sbp_critical", "sbp", "above", 180, 170, "high",
            "SBP ≥ 180: severe BP in esketamine studies and a common IV-ketamine stop limit",
            bounds=(160, 220), supersedes=("sbp_high", "sbp_rise"),
        ),
        _vital_rule(
            "dbp_critical", "dbp", "above", 110, 100, "high",
            "DBP ≥ 110: severe BP in esketamine studies; clinics stop at 100-110",
            bounds=(90, 130), supersedes=("dbp_high", "dbp_rise"),
        ),
        _vital_rule(
            "sbp_high", "sbp", "above", 160, 155, "medium",
            "SBP ≥ 160: early warning before the 180 stop limit (clinic setting)",
            bounds=(140, 200), supersedes=("sbp_rise",),
        ),
        _vital_rule(
            "dbp_high", "dbp", "above", 100, 95, "medium",
            "DBP ≥ 100: early warning before the 110 stop limit (clinic setting)",
            bounds=(85, 120), supersedes=("dbp_rise",),
        ),
        _vital_rule(
            "sbp_rise", "sbp", "rise_above_baseline", 40, 30, "medium",
            "SBP ≥ 40 above the pre-dose baseline: the label's marked rise (8-19% of patients)",
            bounds=(20, 60),
        ),
        _vital_rule(
            "dbp_rise", "dbp", "rise_above_baseline", 25, 20, "medium",
            "DBP ≥ 25 above the pre-dose baseline: the label's marked rise",
            bounds=(10, 40),
        ),
        _vital_rule(
            "sbp_critical_low", "sbp", "below", 80, 85, "high",
            "SBP ≤ 80: severe hypotension, immediate response (proposal for the medical "
            "director)",
            bounds=(60, 90), supersedes=("sbp_low",),
        ),
        _vital_rule(
            "sbp_low", "sbp", "below", 90, 95, "medium",
            "SBP ≤ 90: hypotension (vasovagal response, sedation)",
            bounds=(70, 110),
        ),
        _vital_rule(
            "map_critical_low", "map", "below", 50, 55, "high",
            "MAP ≤ 50: any time below 55 went with kidney and heart injury in surgical "
            "patients (Walsh 2013); proposal for the medical director",
            bounds=(40, 60), supersedes=("map_low",),
        ),
        _vital_rule(
            "map_low", "map", "below", 60, 65, "medium",
            "MAP ≤ 60: below the usual perfusion target of 65 (perioperative studies); "
            "proposal for the medical director",
            bounds=(50, 75),
        ),
        _vital_rule(
            "hr_critical_high", "hr", "above", 140, 130, "high",
            "HR ≥ 140 for 10 s: above common IV-ketamine stop limits (110-130/min)",
            persist_s=10, bounds=(120, 180), supersedes=("hr_high",),
        ),
        _vital_rule(
            "hr_high", "hr", "above", hr_high, hr_high_clear, "medium",
            f"HR ≥ {hr_high:g} for 15 s: clinic limit (110-130/min); the delay filters artefacts",
            persist_s=15, bounds=(90, 150),
        ),
        _vital_rule(
            "hr_low", "hr", "below", 50, 55, "medium",
            "HR ≤ 50 for 15 s: bradycardia (vasovagal response)",
            persist_s=15, bounds=(35, 65),
        ),
        _vital_rule(
            "hr_critical_low", "hr", "below", 40, 45, "high",
            "HR ≤ 40 for 10 s: severe bradycardia",
            persist_s=10, bounds=(30, 50), supersedes=("hr_low",),
        ),
        _vital_rule(
            "spo2_low", "spo2", "below", 92, 94, "medium",
            "SpO2 ≤ 92 % for 15 s: possible respiratory depression (clinic setting, unsourced)",
            persist_s=15, bounds=(85, 96),
        ),
        _vital_rule(
            "spo2_critical", "spo2", "below", 88, 90, "high",
            "SpO2 ≤ 88 % for 10 s: desaturation (clinic setting, unsourced)",
            persist_s=10, bounds=(80, 92), supersedes=("spo2_low",),
        ),
    ]  # fmt: skip


def _respiratory() -> list[Rule]:
    """Breathing from a capnograph (RR and EtCO2): it shows hypoventilation minutes before
    SpO2 falls, and later still on supplemental oxygen."""
    apnoea = Rule(
        id="apnoea",
        vital="rr",
        kind="physiological",
        condition="apnoea",
        threshold=0.0,
        etco2_threshold=5.0,
        priority="high",
        reason=(
            "No breath for 20 s (RR 0 or EtCO2 < 5 mmHg) while the capnograph is connected: "
            "apnoea. Capnographs' apnoea delays are 10-45 s, often 20-30 s by default "
            "(Edan, Spacelabs manuals); 20 s and 5 mmHg are proposals for the medical director"
        ),
        persist_s=20.0,
        clear_hold_s=20.0,
        latching=True,
        realarm_after_s=180.0,
        supersedes=("rr_critical_low", "rr_low"),
        min_threshold=0.0,
        max_threshold=3.0,
    )
    return [
        apnoea,
        _vital_rule(
            "rr_critical_low", "rr", "below", 5, 7, "high",
            "RR ≤ 5/min for 20 s: severe respiratory depression (proposal for the medical "
            "director)",
            persist_s=20, bounds=(2, 8), supersedes=("rr_low",),
        ),
        _vital_rule(
            "rr_low", "rr", "below", 8, 10, "medium",
            "RR ≤ 8/min for 30 s: slow breathing, respiratory depression before SpO2 falls "
            "(proposal for the medical director)",
            persist_s=30, bounds=(4, 12),
        ),
        _vital_rule(
            "etco2_high", "etco2", "above", 50, 45, "medium",
            "EtCO2 ≥ 50 mmHg for 30 s: CO2 retained, hypoventilation (normal 35-45; proposal "
            "for the medical director)",
            persist_s=30, bounds=(45, 70), supersedes=("etco2_rise",),
        ),
        _vital_rule(
            "etco2_rise", "etco2", "rise_above_baseline", 10, 5, "medium",
            "EtCO2 ≥ 10 mmHg above the pre-dose baseline for 30 s: hypoventilation from this "
            "patient's own level (proposal for the medical director)",
            persist_s=30, bounds=(5, 20),
        ),
    ]  # fmt: skip


def _observed_rule(
    rule_id: str,
    condition: Condition,
    threshold: float | None,
    priority: Priority,
    reason: str,
    *,
    supersedes: tuple[str, ...] = (),
    bounds: tuple[float, float] | None = None,
) -> Rule:
    """A rule the nurse's observation raises: no persistence (the observation is the finding),
    the lifecycle of any physiological alert of its priority."""
    return Rule(
        id=rule_id,
        vital=None,
        kind="physiological",
        condition=condition,
        threshold=threshold,
        priority=priority,
        reason=reason,
        latching=priority == "high",
        escalate_after_s=120.0 if priority == "medium" else None,
        realarm_after_s=180.0 if priority == "high" else 600.0,
        supersedes=supersedes,
        min_threshold=bounds[0] if bounds else None,
        max_threshold=bounds[1] if bounds else None,
    )


def _observed() -> list[Rule]:
    """What the nurse's observation raises: deep sedation and depressed breathing. Dissociation
    raises nothing: it is expected with esketamine and ketamine; it is recorded and reported."""
    return [
        _observed_rule(
            "sedation_deep", "moaas_at_or_below", 1, "high",
            "MOAA/S ≤ 1 observed (responds only to a painful stimulus, or not at all): deep "
            "sedation; the Spravato REMS asks for monitoring of sedation (high: proposal)",
            supersedes=("sedation_moderate",), bounds=(0, 2),
        ),
        _observed_rule(
            "sedation_moderate", "moaas_at_or_below", 2, "medium",
            "MOAA/S 2 observed (responds only to mild prodding or shaking): the patient "
            "needs closer watching (medium: proposal)",
            bounds=(1, 3),
        ),
        _observed_rule(
            "respiratory_depressed", "respiratory_depressed", None, "high",
            "Respiratory depression observed by the nurse: the Spravato REMS lists it among "
            "what monitoring watches for (high: proposal)",
        ),
    ]  # fmt: skip


def _technical() -> list[Rule]:
    return [
        _event_rule(
            "monitor_disconnected", None, "technical", "monitor_disconnected", 10, "medium",
            "Monitor connection lost: a screen that lost its data must never look live",
            supersedes=("no_data",),
        ),
        _event_rule(
            "no_data", None, "technical", "no_data", 30, "medium",
            "No reading for 30 s: a communication failure must be visible (IEC 60601-1-8)",
        ),
        # A lost vital is raised only while another vital still arrives: when nothing arrives
        # no_data is the one alert (and an open lost-vital alert stays: that vital is still lost).
        _event_rule(
            "hr_lost", "hr", "technical", "vital_lost", 30, "medium",
            "HR stopped arriving while other vitals continue: leads or probe off; the same "
            "30 s as no data (proposal)",
        ),
        _event_rule(
            "spo2_lost", "spo2", "technical", "vital_lost", 30, "medium",
            "SpO2 stopped arriving while other vitals continue: probe off; the same 30 s as "
            "no data (proposal)",
        ),
        _event_rule(
            "etco2_lost", "etco2", "technical", "vital_lost", 30, "medium",
            "EtCO2 stopped arriving while other vitals continue: sampling line or cannula "
            "off; the same 30 s as no data (proposal)",
        ),
        _event_rule(
            "bp_overdue", "sbp", "technical", "bp_overdue", 1.5, "low",
            "No NIBP reading for 1.5 × the expected cuff cycle (proposal)",
        ),
        _event_rule(
            "rejected_readings", None, "technical", "rejected_readings", 3, "low",
            "Repeated implausible readings: check cuff and probe placement",
            window_s=60.0, clear_hold_s=60.0,
        ),
    ]  # fmt: skip


def _advisories(protocol: str) -> list[Rule]:
    rules = [
        _event_rule(
            "predose_bp_missing", None, "advisory", "predose_bp_missing", None, "low",
            "BP is assessed before dosing (Spravato label); rise alerts need a pre-dose baseline",
        ),
        _event_rule(
            "predose_bp_elevated", "sbp", "advisory", "predose_bp_elevated", 140, "low",
            "Pre-dose BP above 140/90: weigh the risk of a short-term rise before dosing (label)",
            dbp_threshold=90.0,
        ),
        # Off by default (CLINICAL.md "Evidence"): a clinic turns it on in its rule file.
        _event_rule(
            "bp_remeasure", None, "advisory", "bp_remeasure", 200, "low",
            "Some clinics confirm a high NIBP by re-measuring; ≥ 200/120 alarms at once. "
            "The 10 min to confirm is a proposal",
            dbp_threshold=120.0, window_s=600.0, enabled=False,
        ),
        _event_rule(
            "observation_due", None, "advisory", "observation_due", None, "low",
            "Spravato REMS: monitor sedation and dissociation for at least 2 h; a nurse's "
            "observation every observation_interval_s (15 min) after the dose is a proposal",
        ),
    ]  # fmt: skip
    if protocol == "spravato":
        check = _event_rule(
            "postdose_check_due", "sbp", "advisory", "postdose_check_due", 2700, "low",
            "BP is reassessed about 40 min after the dose (Spravato label, REMS form)",
            window_s=600.0,
        )  # fmt: skip
        review = _event_rule(
            "discharge_review", None, "advisory", "discharge_review", 7200, "low",
            "Spravato REMS: observe at least 2 h and until sedation, dissociation and "
            "respiratory depression have resolved; 2 h is a floor, never an automatic discharge",
            settle_margin=20.0,
        )  # fmt: skip
        return [*rules, check, review]
    review = _event_rule(
        "discharge_review", None, "advisory", "discharge_review", 6000, "low",
        "IV ketamine: 40 min infusion + 60 min observation, until BP and HR are back to "
        "baseline; a clinician decides discharge",
        settle_margin=20.0,
    )  # fmt: skip
    return [*rules, review]


def default_rules(protocol: str) -> RuleSet:
    """The default rule set for ``spravato`` or ``iv-ketamine``."""
    if protocol not in PROTOCOLS:
        raise RuleError(f"protocol: {protocol!r} is not one of {', '.join(PROTOCOLS)}")
    # Clinics commonly lower the HR limit for IV ketamine (110-120/min).
    hr_high = (120.0, 115.0) if protocol == "spravato" else (110.0, 105.0)
    return RuleSet(
        name=f"chairside-default-{protocol}",
        version=DEFAULTS_VERSION,
        rules=(
            *_physiological(*hr_high),
            *_respiratory(),
            *_observed(),
            *_technical(),
            *_advisories(protocol),
        ),
        nibp_interval_s=NIBP_INTERVAL_S[protocol],
        observation_interval_s=OBSERVATION_INTERVAL_S[protocol],
    )
