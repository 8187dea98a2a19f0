"""Alerts per chair-hour on the real recorded traces, and the share a nurse would act on.

``python -m bench.alert_rates [TRACE_DIR]`` replays every trace offline as both protocols with
the README's rule file for 1-minute traces (no data and lost vitals after 90 s) and prints a
Markdown table. "Would act on": every physiological alert, and the technical ones that say a
signal is missing (``no_data``, a lost vital); ``bp_overdue`` is counted as not actionable (a
cuff on a slower cycle than the session expects is a setting, not a patient problem).
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from app.alerts import RuleSet, default_rules
from app.trace import run_offline, scan_trace

PROTOCOLS = ("spravato", "iv-ketamine")
MINUTE_WINDOWS = ("no_data", "hr_lost", "spo2_lost")
NOT_ACTIONABLE = frozenset({"bp_overdue"})
DEFAULT_TRACES = Path(__file__).resolve().parents[1] / "tests" / "data" / "traces"


def minute_rules(protocol: str) -> RuleSet:
    rules = default_rules(protocol)
    present = {rule.id for rule in rules}
    return rules.with_overrides({r: {"threshold": 90} for r in MINUTE_WINDOWS if r in present})


def raised_per_rule(trace: Path, protocol: str) -> Counter[str]:
    events = run_offline(trace, protocol, None, minute_rules(protocol), lambda *_: None)
    return Counter(e["rule"] for e in events if e["event"] == "raised")


def hours_of(trace: Path) -> float:
    """The span of the trace's rows, whatever the ingest would make of them."""
    times = [row.t_s for row in scan_trace(trace)]
    return (times[-1] - times[0]) / 3600 if len(times) > 1 else 0.0


def table(trace_dir: Path) -> str:
    lines = [
        "| trace (hours) | protocol | alerts raised | per chair-hour | would act on |",
        "| --- | --- | --- | --- | --- |",
    ]
    for trace in sorted(trace_dir.glob("*.csv")):
        hours = hours_of(trace)
        for protocol in PROTOCOLS:
            raised = raised_per_rule(trace, protocol)
            total = sum(raised.values())
            acted = sum(n for rule, n in raised.items() if rule not in NOT_ACTIONABLE)
            rate = f"{total / hours:.2f}" if hours else "-"
            share = f"{acted / total:.0%}" if total else "-"
            lines.append(
                f"| `{trace.stem}` ({hours:.2f} h) | {protocol} | {total} | {rate} | {share} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    print(table(Path(args[0]) if args else DEFAULT_TRACES))
    return 0


if __name__ == "__main__":
    sys.exit(main())
