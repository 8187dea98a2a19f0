// Plotly trend of one chair: BP band (SBP/DBP), HR, SpO2, with rule limit lines; RR and EtCO2
// in a third panel once the chair's monitor sends them; the nurse's observations as marks on
// the time axis. Live points are appended with Plotly.extendTraces (batched, at most once a
// second); a figure is rebuilt only when points arrive out of time order, the limits or the
// observations change, or the first capnography point arrives.

import { chartTimeFormats, formatClock, observationSummary } from "./format.js";

const COLOURS = {
  bp: "#e5e7eb", bpFill: "rgba(229,231,235,0.16)", hr: "#4ade80", spo2: "#60a5fa",
  rr: "#f472b6", etco2: "#fb923c", observation: "#e9d5ff",
};
const LIMIT_COLOURS = { high: "#ef4444", medium: "#facc15" };
const CONTINUOUS_STEP_MS = 5000; // a tile plots 1 Hz pulse oximetry and capnography every 5 s
const CONTINUOUS = ["hr", "spo2", "rr", "etco2"];
const MAX_POINTS = { sbp: 200, dbp: 200, hr: 2000, spo2: 2000, rr: 2000, etco2: 2000 };
// CLINICAL.md defaults; a session's limit_overrides replace them.
export const DEFAULT_LIMITS = [
  { rule: "sbp_critical", vital: "sbp", condition: "above", threshold: 180, priority: "high" },
  { rule: "sbp_high", vital: "sbp", condition: "above", threshold: 160, priority: "medium" },
  { rule: "hr_high", vital: "hr", condition: "above", threshold: 120, priority: "medium" },
  { rule: "spo2_low", vital: "spo2", condition: "below", threshold: 92, priority: "medium" },
  { rule: "spo2_critical", vital: "spo2", condition: "below", threshold: 88, priority: "high" },
  { rule: "rr_low", vital: "rr", condition: "below", threshold: 8, priority: "medium" },
  { rule: "etco2_high", vital: "etco2", condition: "above", threshold: 50, priority: "medium" },
];
const TRACE_OF = { sbp: 0, dbp: 1, hr: 2, spo2: 3, rr: 4, etco2: 5 };
const AXIS_OF = { spo2: "y2", rr: "y3", etco2: "y3" };
// Each panel's tick labels, densest first; a chart takes the densest that fits its height.
const TICKS = {
  bp: [[40, 60, 80, 100, 120, 140, 160, 180, 200], [40, 80, 120, 160, 200], [60, 120, 180], [60, 180], [120]],
  spo2: [[80, 85, 90, 95, 100], [80, 90, 100], [90, 100], [90]],
  resp: [[0, 10, 20, 30, 40, 50, 60, 70], [0, 20, 40, 60], [10, 30, 50], [10, 50], [30]],
};
const LIMIT_NAME = { sbp: "SBP", dbp: "DBP", hr: "HR", spo2: "SpO₂", rr: "RR", etco2: "EtCO₂" };
// The limit lines a chart draws (the others would crowd it; the tile marks every limit).
const CHART_RULES = new Set(DEFAULT_LIMITS.map((l) => l.rule));

// The server's limits per protocol (snapshot `limits`): {rule, vital, condition, threshold, priority}.
let clinicLimits = null;

export function setClinicLimits(limits) {
  if (limits && typeof limits === "object") clinicLimits = limits;
}

/** Every value limit of a session's rules, a session's per-patient thresholds applied. */
export function valueLimits(session) {
  const base = (clinicLimits && session && clinicLimits[session.protocol]) || null;
  const list = base || DEFAULT_LIMITS;
  const overrides = (session && session.limit_overrides) || {};
  return list.map((l) => {
    const o = overrides[l.rule];
    return o && typeof o.threshold === "number" ? { ...l, threshold: o.threshold } : l;
  });
}

/** The limits a session's chart draws as lines. */
export function limitsFor(session) {
  return valueLimits(session).filter((l) => CHART_RULES.has(l.rule));
}

function plotly() {
  return window.Plotly;
}

export class TrendChart {
  /**
   * @param {HTMLElement} element
   * @param {{windowMs: number|null, interactive: boolean, now: () => number, xRange?: number[]}} options
   *   windowMs null: show everything (the detail view); else a sliding window (tiles).
   *   xRange [t0, t1]: a fixed time axis that fills in (the replay's whole-session chart).
   */
  constructor(element, options) {
    this.element = element;
    this.windowMs = options.windowMs;
    this.interactive = options.interactive;
    this.now = options.now;
    this.xRange = options.xRange || null;
    this.points = { sbp: [], dbp: [], hr: [], spo2: [], rr: [], etco2: [] }; // [t, value], time order
    this.pending = { sbp: [], dbp: [], hr: [], spo2: [], rr: [], etco2: [] };
    this.lastPlotted = {}; // vital -> time of its last point a tile plotted
    this.capnography = false; // RR or EtCO2 seen: the third panel is drawn
    this.observations = [];
    this.limits = limitsFor(null);
    this.needsRebuild = true;
    this.drawn = false;
    this.lastRangeAt = 0;
    // The box changes size without a window resize (an alert strip appears in a tile, the
    // grid reflows): fit the figure again, or it spills over the tile's footer.
    if (typeof ResizeObserver !== "undefined") {
      this.resizer = new ResizeObserver(() => {
        if (!this.drawn || !this.element.isConnected || !this.element.clientHeight) return;
        // Fewer tick labels fit a shorter chart: redraw when the number that fits changes.
        if (this.#tickKey() !== this.drawnTickKey) this.needsRebuild = true;
        else plotly().Plots.resize(this.element);
      });
      this.resizer.observe(element);
    }
  }

  setLimits(limits) {
    const same = JSON.stringify(limits) === JSON.stringify(this.limits);
    if (same) return;
    this.limits = limits;
    this.needsRebuild = true;
  }

  /** The nurse's observations ({t, moaas, dissociation, respiratory, ...}), marked on the time axis. */
  setObservations(observations) {
    const marks = observations.map((o) => ({ t: o.t, label: observationLabel(o), hover: observationHover(o) }));
    if (JSON.stringify(marks) === JSON.stringify(this.observations)) return;
    this.observations = marks;
    this.needsRebuild = true;
  }

  add(readings) {
    for (const r of readings) {
      for (const v of ["sbp", "dbp"]) if (r[v] != null) this.#push(v, r.t, r[v]);
      for (const v of CONTINUOUS) {
        if (r[v] == null) continue;
        // Thin 1 Hz values on tiles; the detail view keeps every point.
        if (this.windowMs !== null && Math.abs(r.t - (this.lastPlotted[v] ?? -Infinity)) < CONTINUOUS_STEP_MS) continue;
        this.lastPlotted[v] = r.t;
        if ((v === "rr" || v === "etco2") && !this.capnography) {
          this.capnography = true;
          this.needsRebuild = true; // the third panel appears
        }
        this.#push(v, r.t, r[v]);
      }
    }
  }

  #push(vital, t, value) {
    const series = this.points[vital];
    const last = series.length ? series[series.length - 1][0] : -Infinity;
    if (t < last) {
      // Late (catch-up) point: insert in order and redraw once at the next flush.
      let i = series.length;
      while (i > 0 && series[i - 1][0] > t) i -= 1;
      series.splice(i, 0, [t, value]);
      this.needsRebuild = true;
    } else {
      series.push([t, value]);
      this.pending[vital].push([t, value]);
    }
    if (series.length > MAX_POINTS[vital] * 1.5 && this.windowMs !== null) {
      series.splice(0, series.length - MAX_POINTS[vital]);
    }
  }

  /** Draw what arrived since the last flush (called about once a second). */
  flush() {
    const Plotly = plotly();
    if (!Plotly || !this.element.isConnected) return;
    if (this.needsRebuild || !this.drawn) {
      this.#rebuild();
      return;
    }
    const vitals = Object.keys(this.pending).filter((v) => this.pending[v].length);
    if (vitals.length) {
      const update = { x: [], y: [] };
      for (const v of vitals) {
        update.x.push(this.pending[v].map((p) => new Date(p[0])));
        update.y.push(this.pending[v].map((p) => p[1]));
        this.pending[v] = [];
      }
      const max = this.windowMs === null ? undefined : vitals.map((v) => MAX_POINTS[v]);
      Plotly.extendTraces(this.element, update, vitals.map((v) => TRACE_OF[v]), max);
    }
    this.#slideWindow(false);
  }

  #slideWindow(force) {
    if (this.windowMs === null) return;
    const now = this.now();
    if (!force && now - this.lastRangeAt < 15000) return;
    this.lastRangeAt = now;
    plotly().relayout(this.element, { "xaxis.range": this.#range(now) });
  }

  #range(now) {
    return [new Date(now - this.windowMs), new Date(now + 60000)];
  }

  #rebuild() {
    for (const v of Object.keys(this.pending)) this.pending[v] = [];
    const xs = (v) => this.points[v].map((p) => new Date(p[0]));
    const ys = (v) => this.points[v].map((p) => p[1]);
    const traces = [
      { name: "SBP", x: xs("sbp"), y: ys("sbp"), mode: "lines+markers", line: { color: COLOURS.bp, width: 2 }, marker: { size: 5 }, hovertemplate: "SBP %{y}<extra></extra>" },
      { name: "DBP", x: xs("dbp"), y: ys("dbp"), mode: "lines+markers", line: { color: COLOURS.bp, width: 2 }, marker: { size: 5 }, fill: "tonexty", fillcolor: COLOURS.bpFill, hovertemplate: "DBP %{y}<extra></extra>" },
      { name: "HR", x: xs("hr"), y: ys("hr"), mode: "lines", line: { color: COLOURS.hr, width: 1.5 }, hovertemplate: "HR %{y}<extra></extra>" },
      { name: "SpO₂", x: xs("spo2"), y: ys("spo2"), mode: "lines", yaxis: "y2", line: { color: COLOURS.spo2, width: 1.5 }, hovertemplate: "SpO₂ %{y}<extra></extra>" },
    ];
    if (this.capnography) {
      // After the four above (TRACE_OF); a chart without a capnograph has just those.
      traces.push(
        { name: "RR", x: xs("rr"), y: ys("rr"), mode: "lines", yaxis: "y3", line: { color: COLOURS.rr, width: 1.5 }, hovertemplate: "RR %{y}<extra></extra>" },
        { name: "EtCO₂", x: xs("etco2"), y: ys("etco2"), mode: "lines", yaxis: "y3", line: { color: COLOURS.etco2, width: 1.5 }, hovertemplate: "EtCO₂ %{y}<extra></extra>" },
      );
    }
    for (const t of traces) t.type = "scatter";
    Plotly.react(this.element, traces, this.#layout(), {
      staticPlot: !this.interactive,
      displayModeBar: this.interactive,
      displaylogo: false,
      responsive: true,
      scrollZoom: this.interactive,
    });
    this.needsRebuild = false;
    this.drawn = true;
    this.lastRangeAt = this.now();
    this.element.dataset.observations = String(this.observations.length);
    this.element.dataset.capnography = String(this.capnography);
  }

  #limitLine(l) {
    const axis = AXIS_OF[l.vital] || "y";
    return {
      type: "line", xref: "paper", x0: 0, x1: 1, yref: axis, y0: l.threshold, y1: l.threshold,
      line: { color: LIMIT_COLOURS[l.priority], width: 1, dash: l.vital === "hr" ? "dot" : "dash" },
    };
  }

  /**
   * Each panel's share of the plot, bottom to top, with gaps so their labels never meet: the
   * BP/HR panel on top, SpO2 below it, and RR/EtCO2 at the bottom when a capnograph sends.
   */
  #domains() {
    if (!this.capnography) return { bp: [0.42, 1], spo2: [0, 0.3], resp: [0, 0] };
    return { bp: [0.52, 1], spo2: [0.27, 0.44], resp: [0, 0.2] };
  }

  /**
   * The y tick labels that fit this chart's height without meeting: a label needs about
   * 18 px of its panel. A tile shows three labels a panel at most (read from across the room).
   */
  #ticks() {
    const plot = Math.max(0, (this.element.clientHeight || 0) - (this.interactive ? 110 : 32));
    const d = this.#domains();
    const pick = (choices, domain) => {
      const room = Math.floor((plot * (domain[1] - domain[0])) / 18);
      return (this.interactive ? choices : choices.slice(2)).find((c) => c.length <= room) || [];
    };
    return {
      bp: pick(TICKS.bp, d.bp),
      spo2: pick(TICKS.spo2, d.spo2),
      resp: this.capnography ? pick(TICKS.resp, d.resp) : [],
    };
  }

  #tickKey() {
    const t = this.#ticks();
    return `${t.bp.join(",")}|${t.spo2.join(",")}|${t.resp.join(",")}`;
  }

  /** The times the x axis spans (about: a detail chart fits its data). */
  #timeSpan() {
    if (this.xRange) return this.xRange;
    if (this.windowMs !== null) return this.#range(this.now()).map(Number);
    let lo = Infinity;
    let hi = -Infinity;
    for (const series of Object.values(this.points)) {
      if (!series.length) continue;
      lo = Math.min(lo, series[0][0]); // each series is in time order
      hi = Math.max(hi, series[series.length - 1][0]);
    }
    for (const o of this.observations) {
      lo = Math.min(lo, o.t);
      hi = Math.max(hi, o.t);
    }
    return lo <= hi ? [lo, hi] : [0, 0];
  }

  /**
   * A dotted line at each observation, its label on the time axis (short on a tile), on the
   * side of the line towards the middle so it never runs off the plot or over a limit's label.
   */
  #observationMarks(shapes, annotations, small) {
    const from = this.windowMs === null ? -Infinity : this.now() - this.windowMs;
    const [lo, hi] = this.#timeSpan();
    for (const o of this.observations) {
      if (o.t < from) continue; // off a tile's window
      const x = new Date(o.t);
      const late = hi > lo && (o.t - lo) / (hi - lo) > 0.5;
      shapes.push({ type: "line", xref: "x", x0: x, x1: x, yref: "paper", y0: 0, y1: 1, line: { color: COLOURS.observation, width: 1, dash: "dot" } });
      annotations.push({
        xref: "x", x, yref: "paper", y: 0, yanchor: "bottom", xanchor: late ? "right" : "left", showarrow: false,
        text: small ? o.label.short : o.label.long, hovertext: o.hover,
        font: { size: small ? 11 : 13, color: COLOURS.observation }, bgcolor: "rgba(11,15,23,0.75)",
      });
    }
  }

  #layout() {
    const small = !this.interactive;
    const shapes = [];
    const annotations = [];
    for (const l of this.limits) {
      const axis = AXIS_OF[l.vital] || "y";
      // A tile's breathing panel is a glimpse of the trend: its limits are marked on the values.
      if (axis === "y3" && (!this.capnography || small)) continue;
      shapes.push(this.#limitLine(l));
      if (small) continue;
      annotations.push({
        xref: "paper", x: 1, xanchor: "right", yref: axis, y: l.threshold, yanchor: "bottom",
        text: `${LIMIT_NAME[l.vital] || l.vital} ${l.threshold}`, showarrow: false,
        font: { size: 13, color: LIMIT_COLOURS[l.priority] },
      });
    }
    this.#observationMarks(shapes, annotations, small);
    // Readable from across the room: tick labels 13 px on a tile, 15 px in the detail view.
    const axisFont = { size: small ? 13 : 15, color: "#cbd5e1" };
    const ticks = this.#ticks();
    this.drawnTickKey = this.#tickKey();
    const times = chartTimeFormats();
    const domains = this.#domains();
    const layout = {
      margin: small ? { l: 36, r: 6, t: 6, b: 26 } : { l: 64, r: 24, t: 10, b: 44 },
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
      showlegend: !small,
      legend: { orientation: "h", y: 1.08, font: { color: "#e5e7eb", size: 15 } },
      font: { color: "#e5e7eb" },
      xaxis: { type: "date", anchor: this.capnography ? "y3" : "y2", tickformat: times.tick, hoverformat: times.hover, tickfont: axisFont, gridcolor: "#1f2937", nticks: small ? 3 : 8 },
      // The BP/HR panel and the SpO2 panel below it, with a gap so their labels never meet;
      // fixed ticks keep the labels few and far apart at any height.
      yaxis: { domain: domains.bp, range: [40, 200], tickfont: axisFont, gridcolor: "#1f2937", fixedrange: small, tickvals: ticks.bp, title: small ? undefined : { text: "mmHg · /min", font: { size: 14 } } },
      yaxis2: { domain: domains.spo2, range: [80, 101], tickfont: axisFont, gridcolor: "#1f2937", fixedrange: small, tickvals: ticks.spo2, title: small ? undefined : { text: "SpO₂ %", font: { size: 14 } } },
      shapes,
      annotations,
      hovermode: this.interactive ? "x unified" : false,
      dragmode: this.interactive ? "zoom" : false,
    };
    if (this.capnography) {
      // RR (/min) and EtCO2 (mmHg) share one scale: both read 0-70 at a glance.
      layout.yaxis3 = { domain: domains.resp, range: [0, 70], tickfont: axisFont, gridcolor: "#1f2937", fixedrange: small, tickvals: ticks.resp, title: small ? undefined : { text: "RR · EtCO₂", font: { size: 14 } } };
    }
    if (this.windowMs !== null) {
      layout.xaxis.range = this.#range(this.now());
      layout.xaxis.fixedrange = true;
    } else {
      layout.xaxis.rangeslider = { visible: true, thickness: 0.06, bgcolor: "#111827" };
      if (this.xRange) layout.xaxis.range = this.xRange.map((t) => new Date(t));
    }
    return layout;
  }

  destroy() {
    if (this.resizer) this.resizer.disconnect();
    const Plotly = plotly();
    if (Plotly && this.drawn) Plotly.purge(this.element);
  }
}

/** An observation's mark on a chart: short on a tile ("M3"), longer in the detail view. */
function observationLabel(o) {
  const hasScore = o.moaas !== null && o.moaas !== undefined;
  const short = hasScore ? `M${o.moaas}` : o.respiratory === "depressed" ? "Resp↓" : "Obs";
  const long = hasScore ? `MOAA/S ${o.moaas}` : o.dissociation ? `Dissoc. ${o.dissociation}` : `Resp. ${o.respiratory}`;
  return { short, long };
}

function observationHover(o) {
  return `${formatClock(o.t)} ${observationSummary(o)}${o.recorded_by ? ` · ${o.recorded_by}` : ""}${o.note ? ` — ${o.note}` : ""}`;
}
