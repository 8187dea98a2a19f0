"""What a nurse reads: the wording of every alert message, with values and units."""

from __future__ import annotations

from app.alerts.rules import Rule

LABELS = {
    "sbp": "SBP",
    "dbp": "DBP",
    "map": "MAP",
    "hr": "HR",
    "spo2": "SpO2",
    "rr": "RR",
    "etco2": "EtCO2",
}
# SpO2 reads best with the unit on each number ("87 % ≤ 88 %"), the others with it once at the end.
_EACH = {"spo2": " %"}
_TAIL = {
    "sbp": " mmHg",
    "dbp": " mmHg",
    "map": " mmHg",
    "hr": "/min",
    "rr": "/min",
    "etco2": " mmHg",
}
# The Modified Observer's Assessment of Alertness/Sedation scale (Chernik et al., J Clin
# Psychopharmacol 1990), in the words a nurse scores it by.
MOAAS_WORDS = {
    5: "responds readily to name spoken in normal tone",
    4: "lethargic response to name spoken in normal tone",
    3: "responds only after name is called loudly and/or repeatedly",
    2: "responds only after mild prodding or shaking",
    1: "responds only after painful trapezius squeeze",
    0: "no response after painful trapezius squeeze",
}


def number(value: float) -> str:
    """172 not 172.0; one decimal at most."""
    rounded = round(float(value), 1)
    return str(int(rounded)) if rounded.is_integer() else f"{rounded:.1f}"


def duration(seconds: float) -> str:
    """30 s, 7.5 min, 100 min, 2 h."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{number(seconds / 3600)} h"
    if seconds >= 60:
        return f"{number(seconds / 60)} min"
    return f"{number(seconds)} s"


def _quantity(vital: str, value: float) -> str:
    return number(value) + _EACH.get(vital, "")


def bp(sbp: float | None, dbp: float | None) -> str:
    return f"{'-' if sbp is None else number(sbp)}/{'-' if dbp is None else number(dbp)}"


def threshold_text(rule: Rule, value: float, baseline: float | None, clearing: bool) -> str:
    """'SBP 172 ≥ 160 mmHg', 'SpO2 87 % ≤ 88 % for 10 s', 'SBP 172 mmHg: +44 from baseline
    128 (≥ +40)'; with ``clearing``, the text of the condition that ended it."""
    vital = rule.vital or ""
    label, tail = LABELS.get(vital, vital), _TAIL.get(vital, "")
    threshold = rule.threshold if rule.threshold is not None else 0.0
    limit = threshold
    if clearing and rule.clear_threshold is not None:
        limit = rule.clear_threshold
    hold = rule.clear_hold_s if clearing else rule.persist_s
    if rule.condition == "rise_above_baseline" and baseline is not None:
        rise = value - baseline
        op = "<" if clearing else "≥"
        text = (
            f"{label} {number(value)}{tail}: {'+' if rise >= 0 else ''}{number(rise)} "
            f"from baseline {number(baseline)} ({op} +{number(limit)})"
        )
    else:
        upward = rule.condition == "above"
        op = ("<" if clearing else "≥") if upward else (">" if clearing else "≤")
        text = f"{label} {_quantity(vital, value)} {op} {_quantity(vital, limit)}{tail}"
    return f"{text} for {duration(hold)}" if hold else text


def no_data(rule: Rule) -> str:
    return f"No data from monitor for {duration(rule.threshold or 0)}"


def monitor_disconnected(rule: Rule) -> str:
    return f"Monitor disconnected for {duration(rule.threshold or 0)}"


def bp_overdue(rule: Rule, cycle_s: float, source: str) -> str:
    """``source``: where the cycle comes from, "session", "protocol" or "measured"."""
    overdue = (rule.threshold or 0) * cycle_s
    how = {"protocol": ", protocol default", "measured": ", as measured"}.get(source, "")
    return f"No BP reading for {duration(overdue)} (cuff cycle {duration(cycle_s)}{how})"


# Where a lost vital comes from: ECG leads or the oximeter probe (pulse rate), the
# capnograph's nasal cannula or sampling line.
_LOST_HINT = {
    "hr": "leads or probe off?",
    "spo2": "probe off?",
    "rr": "cannula or sampling line off?",
    "etco2": "cannula or sampling line off?",
}


def vital_lost(rule: Rule) -> str:
    vital = rule.vital or ""
    hint = _LOST_HINT.get(vital, "sensor off?")
    return f"{LABELS.get(vital, vital)} not received for {duration(rule.threshold or 0)} — {hint}"


def remeasure_bp(limit: str, window_s: float) -> str:
    return (
        f"Re-measure BP now to confirm {limit} (alert if not re-measured in {duration(window_s)})"
    )


def rejected_readings(count: int, window_s: float, code: str) -> str:
    return f"{count} readings rejected in {duration(window_s)} (last: {code})"


def predose_bp_missing(window_s: float) -> str:
    return f"No BP in the {duration(window_s)} before the dose: no baseline, rise alerts off"


def predose_bp_elevated(rule: Rule, sbp: float | None, dbp: float | None) -> str:
    limit = bp(rule.threshold, rule.dbp_threshold)
    return f"Pre-dose BP {bp(sbp, dbp)} mmHg above {limit}: prescriber review"


def postdose_check_due(rule: Rule) -> str:
    # The window is centred on the check time: 35-45 min is "the 40 min check".
    centre = (rule.threshold or 0) - (rule.window_s or 0) / 2
    return f"Post-dose BP check ({duration(centre)}) not done"


def discharge_review(
    rule: Rule, sbp: float | None, baseline_sbp: float | None, bp_since_dose: bool
) -> str:
    """Says whether BP has settled toward baseline; never says the patient may leave."""
    head = f"Discharge review due ({duration(rule.threshold or 0)} after the dose)"
    margin = rule.settle_margin
    if not bp_since_dose or sbp is None:
        return f"{head}: no BP since the dose"
    if baseline_sbp is None or margin is None:
        return f"{head}: latest SBP {number(sbp)} mmHg, no baseline to compare"
    above = sbp - baseline_sbp
    if abs(above) <= margin:
        return (
            f"{head}: BP settled, SBP {number(sbp)} within {number(margin)} mmHg "
            f"of baseline {number(baseline_sbp)}"
        )
    sign = "+" if above >= 0 else ""
    return (
        f"{head}: BP not settled, SBP {number(sbp)} is {sign}{number(above)} "
        f"from baseline {number(baseline_sbp)}"
    )


def apnoea(rule: Rule, rr: float | None, etco2: float | None, clearing: bool) -> str:
    """'No breath for 20 s: RR 0/min, EtCO2 2 mmHg'; with ``clearing``, 'Breathing again ...'."""
    seen = []
    if rr is not None:
        seen.append(f"RR {number(rr)}/min")
    if etco2 is not None:
        seen.append(f"EtCO2 {number(etco2)} mmHg")
    values = f": {', '.join(seen)}" if seen else ""
    if clearing:
        return f"Breathing again for {duration(rule.clear_hold_s)}{values}"
    return f"Apnoea: no breath for {duration(rule.persist_s)}{values}"


def moaas(score: int) -> str:
    """'MOAA/S 2 (responds only after mild prodding or shaking)'."""
    return f"MOAA/S {score} ({MOAAS_WORDS.get(score, 'unknown score')})"


def sedation(rule: Rule, score: int, clearing: bool) -> str:
    limit = number(rule.threshold or 0)
    if clearing:
        return f"Sedation observed: {moaas(score)}, no longer ≤ {limit}"
    return f"Sedation observed: {moaas(score)} ≤ {limit}"


def respiratory_depressed(clearing: bool) -> str:
    if clearing:
        return "Respiratory status observed: normal"
    return "Respiratory depression observed by the nurse"


def observation_due(interval_s: float, since_dose: bool) -> str:
    since = "the dose" if since_dose else "the last observation"
    return (
        f"Observation due: no sedation/dissociation/breathing check for "
        f"{duration(interval_s)} since {since}"
    )
