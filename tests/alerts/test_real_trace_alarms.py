"""What the real recordings (tests/data/traces) now alarm, where the issue "Real monitor data"
quoted numbers: the desaturation alarm within its persistence, bp_overdue once per late cuff
reading on the hourly-cuff record, a lost HR while SpO2 goes on. (The 45/28 patient's high
low-BP alerts: test_real_traces.py.)"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Any

from app.alerts import default_rules
from app.trace import read_trace
from tests.alerts.test_real_traces import minute_rules, replay, trace_slice
from tests.support import TRACES

S25047 = TRACES / "mimic2_s25047_numerics_1min.csv"
S00001 = TRACES / "mimic2_s00001_numerics_1min.csv"


def moments(events: list[dict[str, Any]], rule: str) -> list[tuple[float, str]]:
    return [(e["t_s"], e["event"]) for e in events if e["rule"] == rule]


def test_the_desaturation_to_71_percent_alarms_high_within_its_persistence() -> None:
    # Measured before: the high SpO2 alert came 3 minutes after SpO2 was already 71 %.
    rows = list(read_trace(S25047))
    first_low = next(r for r in rows if r.spo2 is not None and r.spo2 <= 88)
    assert (first_low.t_s, first_low.spo2) == (2400.0, 71.1)
    events, _ = replay(S25047, rules=minute_rules())
    critical = next(e for e in events if e["event"] == "raised" and e["rule"] == "spo2_critical")
    persist_s = default_rules("spravato").get("spo2_critical").persist_s
    assert critical["t_s"] == first_low.t_s + persist_s == 2410.0
    assert (critical["priority"], critical["message"]) == ("high", "SpO2 71.1 % ≤ 88 % for 10 s")


def test_hr_lost_for_the_last_27_minutes_while_spo2_goes_on_is_one_lost_vital_alert() -> None:
    # HR's last value is at 2640 s; SpO2 goes on every minute to the end of the record.
    events, _ = replay(S25047, rules=minute_rules())
    # Raised once; unacknowledged, it escalates after 2 min; HR never comes back: never cleared.
    assert moments(events, "hr_lost") == [(2760.0, "raised"), (2880.0, "escalated")]
    lost = next(e for e in events if e["rule"] == "hr_lost")
    assert (lost["priority"], lost["kind"], lost["vital"]) == ("medium", "technical", "hr")
    assert lost["message"] == "HR not received for 1.5 min — leads or probe off?"
    # With the live 30 s window, a vital sampled once a minute was never arriving "about once
    # a second": no lost-vital alert (while no_data at 90 s still covers the empty minutes).
    live_window = default_rules("spravato").with_overrides({"no_data": {"threshold": 90}})
    events, _ = replay(S25047, rules=live_window)
    assert [e for e in events if e["rule"] in ("hr_lost", "spo2_lost")] == []


def nibp_times(path: Path) -> list[float]:
    return [r.t_s for r in read_trace(path) if r.sbp is not None or r.map is not None]


def test_the_hourly_cuff_record_raises_bp_overdue_at_most_once_per_late_reading() -> None:
    # Measured before: bp_overdue raised and cleared 124 times in these 32 h. The session sets
    # no cuff cycle: the engine expects the protocol's 5 min, or the longer cycle it sees.
    events, _ = replay(S00001, rules=minute_rules())
    times = nibp_times(S00001)
    starts = [0.0, *times]  # the session starts at the record's first row (t 0)
    raised = [e["t_s"] for e in events if e["rule"] == "bp_overdue" and e["event"] == "raised"]
    cleared = [e["t_s"] for e in events if e["rule"] == "bp_overdue" and e["event"] == "cleared"]
    gaps = []
    for t in raised:
        before = max(s for s in starts if s < t)
        after = min(s for s in times if s > t)
        gaps.append((before, after))
        previous = [b - a for a, b in pairwise(starts) if b <= before]
        # Late against the cycle the cuff had just been running (or the protocol's 5 min).
        assert after - before >= 1.5 * max([300.0, *previous[-1:]]), (before, after)
    assert len(set(gaps)) == len(gaps)  # never twice between two readings: no flapping
    assert cleared == [after for _, after in gaps]  # each cleared by the next reading
    assert len(raised) == 5


def test_a_two_hour_ten_minute_cuff_section_is_overdue_at_most_once(tmp_path: Path) -> None:
    # Measured before: a 10-minute cycle raised bp_overdue 11 times in 2 hours. Minutes
    # 613-733 of s00001: a cuff reading every 10 min.
    section = trace_slice(tmp_path, S00001, 613 * 60, 733 * 60)
    assert {b - a for a, b in pairwise(nibp_times(section))} == {600.0}
    # Spravato expects 5 min until it has seen the cuff's cycle: once, at 7.5 min.
    events, _ = replay(section, rules=minute_rules())
    assert moments(events, "bp_overdue") == [(37230.0, "raised"), (37380.0, "cleared")]
    # IV ketamine expects 10 min; a nurse who sets the session's interval to 10 min: never.
    events, _ = replay(section, rules=minute_rules("iv-ketamine"), protocol="iv-ketamine")
    assert moments(events, "bp_overdue") == []
    events, _ = replay(section, rules=minute_rules(), nibp_cycle_s=600.0)
    assert moments(events, "bp_overdue") == []
