// Plotly trend of one chair: BP band (SBP/DBP), HR, SpO2, with rule limit lines.
// Live points are appended with Plotly.extendTraces (batched, at most once a second); a figure
// is rebuilt only when points arrive out of time order or the limits change.

import { chartTimeFormats } from "./format.js";

const COLOURS = { bp: "#e5e7eb", bpFill: "rgba(229,231,235,0.16)", hr: "#4ade80", spo2: "#60a5fa" };
const LIMIT_COLOURS = { high: "#ef4444", medium: "#facc15" };
const PULSE_OX_STEP_MS = 5000; // a tile plots 1 Hz pulse oximetry every 5 s
const MAX_POINTS = { sbp: 200, dbp: 200, hr: 2000, spo2: 2000 };
// CLINICAL.md defaults; a session's limit_overrides replace them.
export const DEFAULT_LIMITS = [
  { rule: "sbp_critical", vital: "sbp", threshold: 180, priority: "high" },
  { rule: "sbp_high", vital: "sbp", threshold: 160, priority: "medium" },
  { rule: "hr_high", vital: "hr", threshold: 120, priority: "medium" },
  { rule: "spo2_low", vital: "spo2", threshold: 92, priority: "medium" },
  { rule: "spo2_critical", vital: "spo2", threshold: 88, priority: "high" },
];
const TRACE_OF = { sbp: 0, dbp: 1, hr: 2, spo2: 3 };
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
  const list = base || DEFAULT_LIMITS.map((l) => ({ ...l, condition: l.vital === "spo2" ? "below" : "above" }));
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
    this.points = { sbp: [], dbp: [], hr: [], spo2: [] }; // [t, value], time order
    this.pending = { sbp: [], dbp: [], hr: [], spo2: [] };
    this.lastPulseOxPlot = 0;
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

  add(readings) {
    for (const r of readings) {
      for (const v of ["sbp", "dbp"]) if (r[v] != null) this.#push(v, r.t, r[v]);
      if (r.hr != null || r.spo2 != null) {
        // Thin 1 Hz pulse oximetry on tiles; the detail view keeps every point.
        if (this.windowMs !== null && Math.abs(r.t - this.lastPulseOxPlot) < PULSE_OX_STEP_MS) continue;
        this.lastPulseOxPlot = r.t;
        if (r.hr != null) this.#push("hr", r.t, r.hr);
        if (r.spo2 != null) this.#push("spo2", r.t, r.spo2);
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
  }

  #limitLine(l) {
    const axis = l.vital === "spo2" ? "y2" : "y";
    return {
      type: "line", xref: "paper", x0: 0, x1: 1, yref: axis, y0: l.threshold, y1: l.threshold,
      line: { color: LIMIT_COLOURS[l.priority], width: 1, dash: l.vital === "hr" ? "dot" : "dash" },
    };
  }

  /**
   * The y tick labels that fit this chart's height without meeting: a label needs about
   * 18 px; the BP/HR panel is 58 % of the plot, the SpO2 panel 30 %.
   */
  #ticks() {
    if (this.interactive) return { bp: [40, 60, 80, 100, 120, 140, 160, 180, 200], spo2: [80, 85, 90, 95, 100] };
    const plot = Math.max(0, (this.element.clientHeight || 0) - 32);
    const fit = (share) => Math.floor((plot * share) / 18);
    const bpRoom = fit(0.58);
    const spo2Room = fit(0.3);
    const bp = bpRoom >= 3 ? [60, 120, 180] : bpRoom === 2 ? [60, 180] : bpRoom === 1 ? [120] : [];
    const spo2 = spo2Room >= 2 ? [90, 100] : spo2Room === 1 ? [90] : [];
    return { bp, spo2 };
  }

  #tickKey() {
    const t = this.#ticks();
    return `${t.bp.join(",")}|${t.spo2.join(",")}`;
  }

  #layout() {
    const small = !this.interactive;
    const shapes = [];
    const annotations = [];
    for (const l of this.limits) {
      if (small) {
        shapes.push(this.#limitLine(l));
        continue;
      }
      const axis = l.vital === "spo2" ? "y2" : "y";
      shapes.push(this.#limitLine(l));
      annotations.push({
        xref: "paper", x: 1, xanchor: "right", yref: axis, y: l.threshold, yanchor: "bottom",
        text: `${l.vital.toUpperCase().replace("SPO2", "SpO₂")} ${l.threshold}`, showarrow: false,
        font: { size: 13, color: LIMIT_COLOURS[l.priority] },
      });
    }
    // Readable from across the room: tick labels 13 px on a tile, 15 px in the detail view.
    const axisFont = { size: small ? 13 : 15, color: "#cbd5e1" };
    const ticks = this.#ticks();
    this.drawnTickKey = this.#tickKey();
    const times = chartTimeFormats();
    const layout = {
      margin: small ? { l: 36, r: 6, t: 6, b: 26 } : { l: 64, r: 24, t: 10, b: 44 },
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
      showlegend: !small,
      legend: { orientation: "h", y: 1.08, font: { color: "#e5e7eb", size: 15 } },
      font: { color: "#e5e7eb" },
      xaxis: { type: "date", anchor: "y2", tickformat: times.tick, hoverformat: times.hover, tickfont: axisFont, gridcolor: "#1f2937", nticks: small ? 3 : 8 },
      // The BP/HR panel and the SpO2 panel below it, with a gap so their labels never meet;
      // fixed ticks keep the labels few and far apart at any height.
      yaxis: { domain: [0.42, 1], range: [40, 200], tickfont: axisFont, gridcolor: "#1f2937", fixedrange: small, tickvals: ticks.bp, title: small ? undefined : { text: "mmHg · /min", font: { size: 14 } } },
      yaxis2: { domain: [0, 0.3], range: [80, 101], tickfont: axisFont, gridcolor: "#1f2937", fixedrange: small, tickvals: ticks.spo2, title: small ? undefined : { text: "SpO₂ %", font: { size: 14 } } },
      shapes,
      annotations,
      hovermode: this.interactive ? "x unified" : false,
      dragmode: this.interactive ? "zoom" : false,
    };
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
