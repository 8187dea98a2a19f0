"""The session record as an HTML document for print (A4), laid out so that a clinic can copy it
into the Spravato REMS Patient Monitoring Form: each line that answers a question of the form
names that question beside it. Every name, label and note is escaped: it is shown as the text
that was typed, never read as markup."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from html import escape

from app.models.observation import MOAAS_WORDS
from app.records.chart import COLOURS, trend_svg
from app.records.clock import Clock, date, minutes, time_of_day, zone
from app.records.data import ObservationLine, Point, SessionFacts

PROTOCOL_NAMES = {"spravato": "Spravato (esketamine nasal spray)", "iv-ketamine": "IV ketamine"}
IN_PROGRESS = "in progress"
# A reading that raised an alert this much after it was measured (a monitor's catch-up batch)
# has its measurement time shown beside the alert's.
LATE = timedelta(minutes=1)
# A time of day as the record writes it ("—" for none).
TimeText = Callable[[datetime | None], str]
Concern = Callable[[ObservationLine], bool]
STYLE = """
@page {
  size: A4; margin: 13mm 13mm 15mm 13mm;
  @bottom-left { content: element(footer); width: 75%; }
  @bottom-right { content: "page " counter(page) " of " counter(pages); font-size: 7pt;
    color: #555; font-family: "DejaVu Sans", "Liberation Sans", sans-serif; }
}
body { font-family: "DejaVu Sans", "Liberation Sans", sans-serif; font-size: 8.4pt;
  color: #111; line-height: 1.3; }
.footer { position: running(footer); font-size: 7pt; color: #555; }
h1 { font-size: 14pt; margin: 0 0 1mm 0; }
h2 { font-size: 9.5pt; margin: 4mm 0 1.2mm 0; border-bottom: 0.6pt solid #888;
  padding-bottom: 0.6mm; break-after: avoid; }
.sub { color: #444; margin: 0 0 2mm 0; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: 0.7mm 1.4mm;
  border-bottom: 0.4pt solid #ddd; }
th { font-weight: bold; background: #f2f2f2; }
table.facts th { width: 36%; background: none; }
.form { display: block; color: #666; font-size: 6.6pt; font-weight: normal; }
.two { display: flex; gap: 5mm; }
.two > div { flex: 1; }
.status { font-weight: bold; }
.open { color: #a15c00; }
.concern { color: #a15c00; font-weight: bold; }
.chart { break-inside: avoid; }
.legend { font-size: 7pt; color: #333; margin-top: 0.8mm; }
.legend span { margin-right: 3mm; white-space: nowrap; }
.swatch { display: inline-block; width: 3mm; height: 1.6mm; margin-right: 0.8mm; }
.none { color: #555; font-style: italic; }
td.time { white-space: nowrap; }
tr { break-inside: avoid; }
.section { break-inside: avoid; }
thead { display: table-header-group; }
"""


def render_html(facts: SessionFacts, clock: Clock) -> str:
    """The whole record as one HTML document (no external resources)."""

    def t(at: datetime | None) -> str:
        return "—" if at is None else time_of_day(at, clock)

    status = "ended" if facts.ended_at else IN_PROGRESS
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Session record {facts.session_id}</title><style>{STYLE}</style></head><body>",
        f'<div class="footer">{_footer(facts, clock)}</div>',
        f"<h1>Treatment session record — {escape(facts.clinic)}</h1>",
        f'<p class="sub">Session {facts.session_id} · patient {escape(facts.patient_label)} · '
        f'<span class="status{"" if facts.ended_at else " open"}">{status}</span> · '
        f"times are {zone(facts.generated_at)}</p>",
        '<div class="two"><div>',
        "<h2>Session</h2>",
        _facts_table(_session_rows(facts, t)),
        "</div><div>",
        "<h2>Blood pressure</h2>",
        _facts_table(_bp_rows(facts, t)),
        "<h2>Sedation, dissociation, respiratory depression</h2>",
        _facts_table(_finding_rows(facts, t)),
        "</div></div>",
        '<div class="chart"><h2>Trend</h2>',
        trend_svg(facts, clock),
        _legend(facts),
        "</div>",
        _section("Observations", _observations(facts, t)),
        _section("Alerts", _alerts(facts, t)),
        _section("Discharge", _discharge(facts, clock)),
        "</body></html>",
    ]
    return "\n".join(parts)


def _section(title: str, body: str) -> str:
    """A heading and its table, kept on one page when they fit on one."""
    return f'<div class="section"><h2>{escape(title)}</h2>{body}</div>'


def _footer(facts: SessionFacts, clock: Clock) -> str:
    made = f"{time_of_day(facts.generated_at, clock)} on {date(facts.generated_at)}"
    return escape(
        f"Chairside session record · session {facts.session_id} · {facts.patient_label} · "
        f"printed {made}"
    )


def _facts_table(rows: Iterable[tuple[str, str, str]]) -> str:
    """Rows of (label, value as HTML, the REMS form's question it answers or ""); the
    question is written under the label."""
    body = "".join(
        f"<tr><th>{escape(label)}{_form(form)}</th><td>{value}</td></tr>"
        for label, value, form in rows
    )
    return f'<table class="facts">{body}</table>'


def _form(question: str) -> str:
    return f'<span class="form">REMS: {escape(question)}</span>' if question else ""


def _session_rows(facts: SessionFacts, t: TimeText) -> list[tuple[str, str, str]]:
    day = facts.dose_at or facts.started_at
    rule_set = f"{escape(facts.rule_set)}, version {escape(facts.rule_set_version)}"
    if facts.patient_limits:
        rule_set += f" (patient limits: {escape(', '.join(facts.patient_limits))})"
    if facts.ended_at is None:
        ended = f'<span class="open">{IN_PROGRESS}</span>'
    else:
        ended = t(facts.ended_at)
    return [
        ("Clinic", escape(facts.clinic), "Healthcare setting name"),
        ("Chair", escape(facts.chair), ""),
        ("Patient label", escape(facts.patient_label), "Patient (match to the patient)"),
        ("Protocol", escape(PROTOCOL_NAMES.get(facts.protocol, facts.protocol)), ""),
        ("Rule set", rule_set, ""),
        ("Date of treatment", escape(date(day)), "Treatment date"),
        ("Session opened", t(facts.started_at), ""),
        ("Dose", t(facts.dose_at) if facts.dose_at else "not marked", "Administration"),
        ("Monitoring ended", ended, "Treatment session completion"),
        ("Monitoring duration", _duration(facts), "Treatment duration, total minutes"),
    ]


def _duration(facts: SessionFacts) -> str:
    """Minutes from the dose (the REMS form's total time) and in the chair."""
    end = facts.ended_at
    chair = minutes((end or facts.generated_at) - facts.started_at)
    if end is None:
        since = (
            f"{minutes(facts.generated_at - facts.dose_at)} min since the dose so far, "
            if facts.dose_at
            else ""
        )
        return f'<span class="open">{IN_PROGRESS}</span> ({since}{chair} min in the chair)'
    if facts.dose_at is None:
        return f"{chair} min in the chair (no dose marked)"
    return f"<b>{minutes(end - facts.dose_at)} min</b> from the dose ({chair} min in the chair)"


def _bp(point: Point | None, facts: SessionFacts, t: TimeText, missing: str) -> str:
    if point is None:
        return f'<span class="none">{escape(missing)}</span>'
    sbp, dbp = point.values.get("sbp"), point.values.get("dbp")
    text = f"<b>{_n(sbp)}/{_n(dbp)} mmHg</b> at {t(point.at)}"
    if facts.dose_at is not None:
        offset = (point.at - facts.dose_at).total_seconds() / 60
        when = "before" if offset < 0 else "after"
        text += f" ({abs(round(offset))} min {when} the dose)"
    return text


def _n(value: float | None) -> str:
    if value is None:
        return "-"
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _bp_rows(facts: SessionFacts, t: TimeText) -> list[tuple[str, str, str]]:
    no_dose = "no dose marked"
    last_label = "Last before discharge" if facts.ended_at else "Latest (in progress)"
    return [
        (
            "Before the dose",
            _bp(
                facts.bp_before,
                facts,
                t,
                no_dose if not facts.dose_at else "none in the 30 min before the dose",
            ),
            "BP prior to administration",
        ),
        (
            "About 40 min after",
            _bp(facts.bp_40, facts, t, no_dose if not facts.dose_at else "none after the dose"),
            "BP 40 min post-administration",
        ),
        (
            last_label,
            _bp(facts.bp_last, facts, t, "no BP reading"),
            "BP prior to session completion",
        ),
    ]


def _finding_rows(facts: SessionFacts, t: TimeText) -> list[tuple[str, str, str]]:
    seen = facts.observations
    rows = [
        _finding("Sedation", seen, "moaas", lambda o: o.moaas is not None and o.moaas < 5, t),
        _finding(
            "Dissociation",
            seen,
            "dissociation",
            lambda o: o.dissociation not in (None, "none"),
            t,
        ),
        _finding(
            "Respiratory depression",
            seen,
            "respiratory",
            lambda o: o.respiratory == "depressed",
            t,
        ),
    ]
    resolved = _all_resolved(facts)
    rows.append(
        (
            "All resolved by",
            resolved,
            "evaluation question, ready to leave (min from the start of administration)",
        )
    )
    return rows


def _finding(
    label: str, seen: list[ObservationLine], field: str, concern: Concern, t: TimeText
) -> tuple[str, str, str]:
    """Whether any observation showed it, the worst, and when it resolved (the first
    observation after the last one that showed it)."""
    recorded = [o for o in seen if getattr(o, field) is not None]
    form = f"Did the patient experience {label.lower()}?"
    if not recorded:
        return label, '<span class="none">not observed</span>', form
    shown = [o for o in recorded if concern(o)]
    if not shown:
        return label, f"No ({len(recorded)} observation{'s' if len(recorded) > 1 else ''})", form
    worst = _worst(shown, field)
    after = [o for o in recorded if o.at > shown[-1].at]
    value = f'<span class="concern">Yes</span> — {escape(worst)}'
    if after:
        value += f"; resolved at {t(after[0].at)}"
    else:
        value += '; <span class="concern">not resolved</span> at the last observation'
    return label, value, form


def _worst(shown: list[ObservationLine], field: str) -> str:
    if field == "moaas":
        lowest = min(shown, key=lambda o: o.moaas if o.moaas is not None else 5)
        return f"lowest MOAA/S {lowest.moaas}"
    if field == "dissociation":
        order = ("none", "mild", "moderate", "severe")
        top = max(shown, key=lambda o: order.index(o.dissociation or "none"))
        return f"{top.dissociation} at worst"
    return f"depressed at {len(shown)} observation{'s' if len(shown) > 1 else ''}"


def _all_resolved(facts: SessionFacts) -> str:
    """The first observation from which sedation, dissociation and breathing stayed resolved,
    in minutes after the dose: what Chairside can offer for the REMS evaluation question."""
    seen = facts.observations
    if not seen or facts.dose_at is None:
        return '<span class="none">not known (no observation or no dose)</span>'

    def clear(o: ObservationLine) -> bool:
        return (
            (o.moaas is None or o.moaas == 5)
            and o.dissociation in (None, "none")
            and o.respiratory in (None, "normal")
        )

    if not clear(seen[-1]):
        return '<span class="concern">not resolved</span> at the last observation'
    index = len(seen) - 1
    while index > 0 and clear(seen[index - 1]):
        index -= 1
    first = seen[index]
    after = minutes(first.at - facts.dose_at) if first.at >= facts.dose_at else 0
    return f"{after} min after the dose (observation {index + 1})"


def _legend(facts: SessionFacts) -> str:
    entries = [
        (COLOURS["bp"], "BP band (diastolic–systolic), mmHg"),
        (COLOURS["hr"], "HR /min"),
        (COLOURS["spo2"], "SpO2 %"),
    ]
    if any("rr" in p.values for p in facts.points):
        entries.append((COLOURS["rr"], "RR /min"))
    if any("etco2" in p.values for p in facts.points):
        entries.append((COLOURS["etco2"], "EtCO2 mmHg (dashed)"))
    shown = "".join(
        f'<span><i class="swatch" style="background:{colour}"></i>{escape(text)}</span>'
        for colour, text in entries
    )
    return (
        f'<div class="legend">{shown}<span>dashed lines: medium-alert limits; solid: high</span>'
        "<span>circles: observations; triangles: alerts (by number)</span></div>"
    )


def _observations(facts: SessionFacts, t: TimeText) -> str:
    if not facts.observations:
        return '<p class="none">No observation recorded.</p>'
    rows = []
    for number, o in enumerate(facts.observations, start=1):
        moaas = "—" if o.moaas is None else f"{o.moaas} — {escape(MOAAS_WORDS.get(o.moaas, ''))}"
        if o.moaas is not None and o.moaas < 5:
            moaas = f'<span class="concern">{moaas}</span>'
        rows.append(
            f'<tr><td>{number}</td><td class="time">{t(o.at)}</td><td>{moaas}</td>'
            f"<td>{escape(o.dissociation or '—')}</td><td>{escape(o.respiratory or '—')}</td>"
            f"<td>{escape(o.note or '')}</td><td>{escape(o.by)}</td></tr>"
        )
    head = (
        "<thead><tr><th>#</th><th>Time</th><th>Sedation (MOAA/S)</th><th>Dissociation</th>"
        "<th>Breathing</th><th>Note</th><th>By</th></tr></thead>"
    )
    return f"<table>{head}{''.join(rows)}</table>"


def _alerts(facts: SessionFacts, t: TimeText) -> str:
    if not facts.alerts:
        return '<p class="none">No alert was raised.</p>'
    rows = []
    for a in facts.alerts:
        priority = escape(a.priority)
        if a.kind != "physiological":
            priority += f" · {escape(a.kind)}"
        if a.escalated_at is not None:
            priority += f"<br>escalated {t(a.escalated_at)}"
        if a.acknowledged_at is not None:
            who = escape(a.acknowledged_by or "unknown")
            acked = f"{t(a.acknowledged_at)} by {who}"
        else:
            acked = "—"
        resolved = t(a.resolved_at) if a.resolved_at else '<span class="open">open</span>'
        raised = t(a.raised_at)
        if a.measured_at is not None and a.raised_at - a.measured_at > LATE:
            raised += f'<br><span class="form">measured {t(a.measured_at)}</span>'
        rows.append(
            f'<tr><td>{a.number}</td><td class="time">{raised}</td><td>{priority}</td>'
            f"<td>{escape(a.message)}</td><td>{acked}</td><td>{escape(a.note or '')}</td>"
            f"<td>{resolved}</td></tr>"
        )
    head = (
        "<thead><tr><th>#</th><th>Raised</th><th>Priority</th><th>Alert</th>"
        "<th>Acknowledged</th><th>Note</th><th>Resolved</th></tr></thead>"
    )
    return f"<table>{head}{''.join(rows)}</table>"


def _discharge(facts: SessionFacts, clock: Clock) -> str:
    signed = facts.discharge
    if signed is None:
        if facts.ended_at is None:
            return f'<p class="open">Discharge checklist: {IN_PROGRESS} (not signed yet).</p>'
        return '<p class="none">The session ended without a signed discharge checklist.</p>'
    judged = {True: "met", False: "not met", None: "cannot tell"}
    rows = []
    for item in signed["items"]:
        ok = item.get("ok")
        confirmed = item.get("confirmed")
        clinician = "confirmed" if confirmed else ("signed as met" if ok is True else "—")
        mark = judged.get(ok, "cannot tell")
        cell = mark if ok is True else f'<span class="concern">{mark}</span>'
        rows.append(
            f"<tr><td>{escape(str(item.get('label', item.get('id', ''))))}</td><td>{cell}</td>"
            f"<td>{escape(str(item.get('detail', '')))}</td><td>{clinician}</td></tr>"
        )
    head = (
        "<thead><tr><th>Item</th><th>Chairside</th><th>From the data</th><th>Clinician</th>"
        "</tr></thead>"
    )
    at = datetime.fromisoformat(signed["at"].replace("Z", "+00:00"))
    sentence = (
        f"<p>Signed by <b>{escape(signed['by'])}</b> at {time_of_day(at, clock)} on "
        f"{escape(date(at))}.</p>"
    )
    note = f"<p>Note: {escape(signed['note'])}</p>" if signed.get("note") else ""
    return f"<table>{head}{''.join(rows)}</table>{sentence}{note}"
