"""The session's trend as SVG, drawn here on the server: no browser and no network, so a record
renders the same on any machine and prints as vector graphics.

Panels share one time axis: BP (the band from diastolic to systolic) with HR; SpO2; RR and
EtCO2 when the monitor sent them. Dashed lines are the session's limits (medium alerts; high ones
solid), markers above the panels are the observations (O1, O2, ...) and alerts (their numbers),
vertical lines the dose and the end of the session."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape

from app.records.clock import Clock, local, time_of_day
from app.records.data import Limit, Point, SessionFacts

WIDTH = 720.0
LEFT, RIGHT = 40.0, 40.0
MARKER_ROWS = 34.0  # observations and alerts above the first panel
AXIS = 20.0  # time labels under the last panel
GAP = 10.0
# A continuous vital's line breaks where no reading came for this long (the no-data alert's 30 s
# twice over): a gap is drawn as a gap, not as a line across it.
LINE_BREAK = timedelta(seconds=60)
# Continuous vitals are thinned to about this many columns, each drawn as its lowest and highest
# value, so a spike stays visible and a 4-hour session at 1 Hz stays a small drawing.
COLUMNS = 360
COLOURS = {
    "bp": "#c62828",
    "hr": "#2e7d32",
    "spo2": "#1565c0",
    "rr": "#6a1b9a",
    "etco2": "#e65100",
}
PRIORITY_COLOURS = {"high": "#c62828", "medium": "#e69500", "low": "#4f7fa8"}
TIME_STEPS_MIN = (5, 10, 15, 30, 60, 120, 240)
# Where a moment falls across the page.
XScale = Callable[[datetime], float]


@dataclass(frozen=True, slots=True)
class Panel:
    top: float
    height: float
    low: float
    high: float
    unit: str

    def y(self, value: float) -> float:
        span = self.high - self.low
        clamped = min(max(value, self.low), self.high)
        return self.top + self.height * (1 - (clamped - self.low) / span)


def trend_svg(facts: SessionFacts, clock: Clock) -> str:
    """The chart as an ``<svg>`` element sized to the page's width."""
    points = facts.points
    start = min([facts.started_at, *(p.at for p in points[:1])])
    end = max([facts.end, *(p.at for p in points[-1:])])
    if end - start < timedelta(minutes=10):
        end = start + timedelta(minutes=10)
    span_s = (end - start).total_seconds()
    plot_w = WIDTH - LEFT - RIGHT

    def x(at: datetime) -> float:
        return LEFT + plot_w * (at - start).total_seconds() / span_s

    panels = _panels(points)
    height = panels[-1][1].top + panels[-1][1].height + AXIS
    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="trend" viewBox="0 0 {WIDTH:g} '
        f'{height:.0f}" width="100%" font-family="DejaVu Sans, Liberation Sans, sans-serif">'
    ]
    for name, panel in panels:
        out += _frame(panel, plot_w)
        out += _limit_lines(panel, name, facts.limits, plot_w)
        if name == "bp":
            out += _bp_band(points, panel, x)
            out += _line([p for p in points if "hr" in p.values], "hr", panel, x, start, span_s)
        elif name == "spo2":
            out += _line([p for p in points if "spo2" in p.values], "spo2", panel, x, start, span_s)
        else:
            for vital in ("rr", "etco2"):
                series = [p for p in points if vital in p.values]
                out += _line(series, vital, panel, x, start, span_s, dashed=vital == "etco2")
    top, bottom = panels[0][1].top, panels[-1][1].top + panels[-1][1].height
    out += _time_axis(start, end, x, top, bottom, clock)
    if facts.dose_at is not None:
        out += _event_line(x(facts.dose_at), top, bottom, "Dose")
    if facts.ended_at is not None:
        out += _event_line(x(facts.ended_at), top, bottom, "End")
    out += _markers(facts, x)
    out.append("</svg>")
    return "\n".join(out)


def _panels(points: Sequence[Point]) -> list[tuple[str, Panel]]:
    """Each panel's place and value range: wide enough for every reading and the usual range."""

    def values(*vitals: str) -> list[float]:
        return [p.values[v] for p in points for v in vitals if v in p.values]

    panels: list[tuple[str, Panel]] = []
    top = MARKER_ROWS
    bp_values = values("sbp", "dbp", "hr")
    low = min([40.0, *bp_values])
    high = max([200.0, *bp_values])
    panels.append(("bp", Panel(top, 150, _floor(low, 20), _ceil(high, 20), "mmHg · /min")))
    top += 150 + GAP
    spo2 = values("spo2")
    panels.append(("spo2", Panel(top, 56, _floor(min([85.0, *spo2]), 5), 100, "SpO2 %")))
    top += 56 + GAP
    breathing = values("rr", "etco2")
    if breathing:
        high = _ceil(max([60.0, *breathing]), 10)
        panels.append(("breathing", Panel(top, 72, 0, high, "/min · mmHg")))
    return panels


def _floor(value: float, step: float) -> float:
    return float(int(value // step) * step)


def _ceil(value: float, step: float) -> float:
    return -_floor(-value, step)


def _frame(panel: Panel, plot_w: float) -> list[str]:
    """The panel's box, its value grid and labels on the left."""
    out = [
        f'<rect x="{LEFT}" y="{panel.top:.1f}" width="{plot_w:.1f}" height="{panel.height:.1f}" '
        'fill="none" stroke="#999" stroke-width="0.6"/>'
    ]
    step = _value_step(panel.high - panel.low)
    value = panel.low
    while value <= panel.high + 1e-9:
        y = panel.y(value)
        out.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w:.1f}" y1="{y:.1f}" y2="{y:.1f}" '
            'stroke="#e3e3e3" stroke-width="0.5"/>'
        )
        out.append(
            f'<text x="{LEFT - 3}" y="{y + 2.5:.1f}" font-size="7" text-anchor="end" '
            f'fill="#444">{value:g}</text>'
        )
        value += step
    out.append(
        f'<text x="{LEFT - 30}" y="{panel.top + panel.height / 2:.1f}" font-size="7" '
        f'fill="#444" transform="rotate(-90 {LEFT - 30} {panel.top + panel.height / 2:.1f})" '
        f'text-anchor="middle">{escape(panel.unit)}</text>'
    )
    return out


def _value_step(span: float) -> float:
    for step in (5.0, 10.0, 20.0, 40.0, 50.0, 100.0):
        if span / step <= 8:
            return step
    return 200.0


# Which panel shows each vital's limits.
PANEL_VITALS = {"bp": ("sbp", "dbp", "hr"), "spo2": ("spo2",), "breathing": ("rr", "etco2")}


VITAL_NAMES = {"sbp": "SBP", "dbp": "DBP", "hr": "HR", "spo2": "SpO2", "rr": "RR"}
LABEL_GAP = 6.5  # the least distance between two limit labels, so none overlaps another


def _limit_lines(panel: Panel, name: str, limits: Iterable[Limit], plot_w: float) -> list[str]:
    """Each limit as a line across the panel, labelled in the right margin (labels that would
    overlap are moved apart, top to bottom)."""
    out: list[str] = []
    labels: list[tuple[float, str, str]] = []
    for limit in limits:
        if limit.vital not in PANEL_VITALS[name] or not panel.low < limit.value < panel.high:
            continue
        colour = COLOURS["bp" if limit.vital in ("sbp", "dbp") else limit.vital]
        y = panel.y(limit.value)
        dash = "" if limit.priority == "high" else ' stroke-dasharray="4 3"'
        out.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w:.1f}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{colour}" stroke-width="0.6" stroke-opacity="0.7"{dash}/>'
        )
        labels.append((y, f"{VITAL_NAMES.get(limit.vital, 'EtCO2')} {limit.value:g}", colour))
    placed = -1e9
    for y, label, colour in sorted(labels):
        placed = max(y, placed + LABEL_GAP)
        out.append(
            f'<text x="{LEFT + plot_w + 3:.1f}" y="{placed + 2.3:.1f}" font-size="6" '
            f'fill="{colour}">{escape(label)}</text>'
        )
    return out


def _bp_band(points: Sequence[Point], panel: Panel, x: XScale) -> list[str]:
    """NIBP as a band from diastolic to systolic with a dot at each reading."""
    bp = [p for p in points if "sbp" in p.values and "dbp" in p.values]
    if not bp:
        return []
    colour = COLOURS["bp"]
    upper = [(x(p.at), panel.y(p.values["sbp"])) for p in bp]
    lower = [(x(p.at), panel.y(p.values["dbp"])) for p in bp]
    out: list[str] = []
    if len(bp) > 1:
        outline = " ".join(f"{px:.1f},{py:.1f}" for px, py in [*upper, *reversed(lower)])
        out.append(
            f'<polygon points="{outline}" fill="{colour}" fill-opacity="0.14" stroke="none"/>'
        )
        for edge in (upper, lower):
            line = " ".join(f"{px:.1f},{py:.1f}" for px, py in edge)
            out.append(
                f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="0.9"/>'
            )
    for (ux, uy), (_, ly) in zip(upper, lower, strict=True):
        out.append(
            f'<line x1="{ux:.1f}" x2="{ux:.1f}" y1="{uy:.1f}" y2="{ly:.1f}" stroke="{colour}" '
            'stroke-width="0.8"/>'
        )
        out.append(f'<circle cx="{ux:.1f}" cy="{uy:.1f}" r="1.6" fill="{colour}"/>')
        out.append(f'<circle cx="{ux:.1f}" cy="{ly:.1f}" r="1.6" fill="{colour}"/>')
    return out


def _line(
    points: Sequence[Point],
    vital: str,
    panel: Panel,
    x: XScale,
    start: datetime,
    span_s: float,
    dashed: bool = False,
) -> list[str]:
    """A continuous vital: each column's lowest and highest value, broken at gaps."""
    if not points:
        return []
    column_s = span_s / COLUMNS
    runs: list[list[Point]] = [[]]
    previous: Point | None = None
    for point in points:
        if previous is not None and point.at - previous.at > LINE_BREAK:
            runs.append([])
        runs[-1].append(point)
        previous = point
    dash = ' stroke-dasharray="3 1.5"' if dashed else ""
    out: list[str] = []
    for run in runs:
        thinned = _thin(run, vital, start, column_s)
        coords = " ".join(f"{x(p.at):.1f},{panel.y(p.values[vital]):.1f}" for p in thinned)
        if len(thinned) == 1:
            only = thinned[0]
            out.append(
                f'<circle cx="{x(only.at):.1f}" cy="{panel.y(only.values[vital]):.1f}" r="1.2" '
                f'fill="{COLOURS[vital]}"/>'
            )
            continue
        out.append(
            f'<polyline points="{coords}" fill="none" stroke="{COLOURS[vital]}" '
            f'stroke-width="0.9" stroke-linejoin="round"{dash}/>'
        )
    return out


def _thin(run: Sequence[Point], vital: str, start: datetime, column_s: float) -> list[Point]:
    """Per column, the lowest and the highest reading, in time order."""
    columns: dict[int, list[Point]] = {}
    for point in run:
        columns.setdefault(int((point.at - start).total_seconds() // column_s), []).append(point)
    out: list[Point] = []
    for column in columns.values():
        low = min(column, key=lambda p: p.values[vital])
        high = max(column, key=lambda p: p.values[vital])
        out += sorted({id(low): low, id(high): high}.values(), key=lambda p: p.at)
    return out


def _time_axis(
    start: datetime, end: datetime, x: XScale, top: float, bottom: float, clock: Clock
) -> list[str]:
    """Ticks at round times of the clinic's clock (every 5 min to 4 h, ten at most)."""
    span_min = (end - start).total_seconds() / 60
    step = next((s for s in TIME_STEPS_MIN if span_min / s <= 10), TIME_STEPS_MIN[-1])
    moment = local(start)
    first = moment.replace(second=0, microsecond=0) - timedelta(
        minutes=(moment.hour * 60 + moment.minute) % step
    )
    out: list[str] = []
    tick = first
    while tick <= end:
        if tick >= start:
            tx = x(tick)
            out.append(
                f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{top:.1f}" y2="{bottom:.1f}" '
                'stroke="#ececec" stroke-width="0.5"/>'
            )
            out.append(
                f'<text x="{tx:.1f}" y="{bottom + 10:.1f}" font-size="7" text-anchor="middle" '
                f'fill="#333">{escape(time_of_day(tick, clock))}</text>'
            )
        tick += timedelta(minutes=step)
    return out


def _event_line(at_x: float, top: float, bottom: float, label: str) -> list[str]:
    return [
        f'<line x1="{at_x:.1f}" x2="{at_x:.1f}" y1="{top:.1f}" y2="{bottom:.1f}" stroke="#222" '
        'stroke-width="0.8" stroke-dasharray="2 2"/>',
        f'<text x="{at_x + 2:.1f}" y="{top + 8:.1f}" font-size="7" fill="#222">{escape(label)}</text>',
    ]


def _markers(facts: SessionFacts, x: XScale) -> list[str]:
    """Observations (O1, O2, ...; amber when anything was not resolved) in the first row, alerts
    (their numbers, in their priority's colour) in the second."""
    out: list[str] = [
        '<text x="2" y="11" font-size="6.5" fill="#555">Observ.</text>',
        '<text x="2" y="26" font-size="6.5" fill="#555">Alerts</text>',
    ]
    for number, seen in enumerate(facts.observations, start=1):
        concern = (
            (seen.moaas is not None and seen.moaas < 5)
            or seen.dissociation not in (None, "none")
            or seen.respiratory == "depressed"
        )
        colour = "#e69500" if concern else "#5a8f5a"
        cx = x(seen.at)
        out.append(f'<circle cx="{cx:.1f}" cy="9" r="4.2" fill="{colour}"/>')
        out.append(
            f'<text x="{cx:.1f}" y="11.2" font-size="5" text-anchor="middle" fill="#fff">'
            f"{number}</text>"
        )
    for alert in facts.alerts:
        cx = x(alert.measured_at or alert.raised_at)
        colour = PRIORITY_COLOURS.get(alert.priority, "#777")
        out.append(
            f'<path d="M {cx - 4.2:.1f} 28 L {cx + 4.2:.1f} 28 L {cx:.1f} 19.5 Z" fill="{colour}"/>'
        )
        out.append(
            f'<text x="{cx:.1f}" y="27" font-size="4.6" text-anchor="middle" fill="#fff">'
            f"{alert.number}</text>"
        )
    return out
