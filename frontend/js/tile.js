// One chair's tile: latest vitals with their ages (RR and EtCO2 when a capnograph sends them),
// session and dose timer, the nurse's last observation, alert state, trend.

import { TrendChart, limitsFor, valueLimits } from "./chart.js";
import { PRIORITY_SYMBOL, PROTOCOL_LABEL, alertLabel, doseTimer, el, formatClock, formatDuration, formatNumber, isEscalated, observationSummary } from "./format.js";
import { priorityRank } from "./store.js";

const TILE_WINDOW_MS = 60 * 60 * 1000;
// A value older than "ageing" is greyed; older than "stale" is struck through and never current.
const FRESHNESS = {
  bp: { ageing: 5 * 60000, stale: 20 * 60000 },
  pulseOx: { ageing: 10000, stale: 30000 },
};
const MONITOR_SILENT_MS = 30000;
// How far a tile's text may shrink to fit (see #fit), in steps.
const FIT_MIN = 0.6;
const FIT_STEP = 0.05;

function freshness(kind, age) {
  const f = FRESHNESS[kind];
  if (age >= f.stale) return "stale";
  if (age >= f.ageing) return "ageing";
  return "fresh";
}

function vitalBox(name, label, unit) {
  const value = el("span", { class: "value", text: "—" });
  const sub = el("span", { class: "sub" });
  const age = el("span", { class: "age" });
  // The alarm's priority symbol before the label, an arrow after a value beyond its limit:
  // colour is never the only sign.
  const alarm = el("span", { class: "alarm-mark", "aria-hidden": "true" });
  const beyond = el("span", { class: "beyond-mark" });
  const box = el(
    "div",
    { class: `vital vital-${name}`, dataset: { vital: name, freshness: "none", alarm: "none", beyond: "none" } },
    el("span", { class: "label" }, alarm, el("span", { text: label }), el("span", { class: "unit", text: unit })),
    el("span", { class: "reading" }, value, beyond, sub),
    age,
  );
  return { box, value, sub, age, alarm, beyond };
}

const VITAL_NAMES = { sbp: "SBP", dbp: "DBP", map: "MAP", hr: "HR", spo2: "SpO₂", rr: "RR", etco2: "EtCO₂" };
const VITAL_UNITS = { sbp: "mmHg", dbp: "mmHg", map: "mmHg", hr: "/min", spo2: "%", rr: "/min", etco2: "mmHg" };
// The rules an observation raises: the last observation carries their alarm state.
const OBSERVATION_RULES = new Set(["sedation_deep", "sedation_moderate", "respiratory_depressed"]);

/** The most severe limit a value is beyond (above: ≥ threshold, below: ≤), or null. */
function beyondLimit(limits, vital, value) {
  let worst = null;
  for (const l of limits) {
    if (l.vital !== vital || typeof l.threshold !== "number") continue;
    const out = l.condition === "below" ? value <= l.threshold : value >= l.threshold;
    if (out && (!worst || priorityRank(l.priority) > priorityRank(worst.priority))) worst = l;
  }
  return worst;
}

export class ChairTile {
  constructor(chair, store, actions) {
    this.chairId = chair.id;
    this.store = store;
    this.actions = actions;
    // A replay tile (actions.replay) shows recorded data: no controls, never says "live".
    this.replay = !!actions.replay;
    this.name = this.replay
      ? el("span", { class: "chair-name" })
      : el("button", { class: "chair-name", type: "button", title: "Open this chair's session", onclick: () => actions.openDetail(this.chairId) });
    this.patient = el("span", { class: "patient" });
    this.protocol = el("span", { class: "protocol" });
    this.alert = el("div", { class: "tile-alert", hidden: true });
    this.bp = vitalBox("bp", "BP", "mmHg");
    this.map = el("span", { class: "map" });
    this.bp.box.querySelector(".label").append(this.map);
    this.hr = vitalBox("hr", "HR", "/min");
    this.spo2 = vitalBox("spo2", "SpO₂", "%");
    // Breathing from a capnograph: a compact row, shown only while this session's monitor has sent it.
    this.rr = vitalBox("rr", "RR", "/min");
    this.etco2 = vitalBox("etco2", "EtCO₂", "mmHg");
    this.resp = el("div", { class: "resp", hidden: true }, this.rr.box, this.etco2.box);
    this.timer = el("div", { class: "tile-timer" });
    this.observation = el("div", { class: "tile-obs", hidden: true, dataset: { alarm: "none" } });
    this.chartBox = el("div", { class: "tile-chart" });
    this.monitor = el("span", { class: "monitor" });
    this.action = el("button", { class: "tile-action", type: "button", hidden: true, onclick: () => this.#act() });
    this.observe = el("button", { class: "tile-observe", type: "button", hidden: true, text: "Observe", title: "Record sedation, dissociation and breathing", onclick: () => this.#observe() });
    this.element = el(
      "article",
      { class: "tile", dataset: { chairId: chair.id }, "aria-label": chair.name },
      el("header", { class: "tile-head" }, this.name, this.patient, this.protocol),
      this.alert,
      el("div", { class: "vitals" }, this.bp.box, this.hr.box, this.spo2.box),
      this.resp,
      this.timer,
      this.observation,
      this.chartBox,
      el("footer", { class: "tile-foot" }, this.monitor, el("span", { class: "tile-buttons" }, this.observe, this.action)),
    );
    this.chart = new TrendChart(this.chartBox, { windowMs: TILE_WINDOW_MS, interactive: false, now: () => store.now() });
    this.render();
  }

  #act() {
    const chair = this.store.chairs.get(this.chairId);
    if (!chair) return;
    if (!chair.session) this.actions.startSession(chair);
    else if (!chair.session.dose_at) this.actions.markDose(chair);
  }

  #observe() {
    const chair = this.store.chairs.get(this.chairId);
    if (chair && chair.session && this.actions.observe) this.actions.observe(chair);
  }

  addReadings(readings) {
    this.chart.add(readings);
  }

  /** Re-render text and state; cheap, called every second and on each change. */
  render() {
    const chair = this.store.chairs.get(this.chairId);
    if (!chair) return;
    const now = this.store.now();
    const session = chair.session;
    this.name.textContent = chair.name;
    this.element.setAttribute("aria-label", chair.name);
    this.patient.textContent = session ? session.patient_label : "";
    this.protocol.textContent = session ? PROTOCOL_LABEL[session.protocol] || session.protocol : "No session";
    this.element.classList.toggle("no-session", !session);
    this.#renderVitals(chair, now);
    const timer = doseTimer(session, now);
    this.timer.textContent = session ? timer.text : "";
    this.timer.classList.toggle("due", timer.due);
    this.#renderMonitor(chair, now, session);
    this.#renderAlert();
    this.#renderAction(session);
    this.#renderObservation(session, now);
    this.chart.setLimits(limitsFor(session));
    this.chart.setObservations(session ? this.store.observationsOf(session.id) : []);
    this.#fit();
  }

  /**
   * Shrink the tile's text until everything fits with the chart's share (the strip and the
   * timer wrap rather than cut a value off); grow it back when there is room again. Measured
   * only when the text or the tile's size changed.
   */
  #fit() {
    const box = this.element;
    const key = `${box.clientWidth}x${box.clientHeight}|${box.textContent}`;
    if (key === this.fitKey || !box.isConnected || !box.clientHeight) return;
    const readings = [...box.querySelectorAll(".reading, .tile-head")];
    const overflows = () => box.scrollHeight > box.clientHeight + 1 || readings.some((r) => r.scrollWidth > r.clientWidth + 1);
    let fit = 1;
    box.style.setProperty("--fit", "1");
    while (overflows() && fit > FIT_MIN) {
      fit = Math.round((fit - FIT_STEP) * 100) / 100;
      box.style.setProperty("--fit", String(fit));
    }
    box.dataset.fit = String(fit);
    this.fitKey = key;
  }

  #renderVitals(chair, now) {
    const { sbp, dbp, map, hr, spo2 } = chair.latest;
    if (sbp || dbp) {
      const at = (sbp || dbp).at;
      this.#show(this.bp, `${sbp ? formatNumber(sbp.value) : "—"}/${dbp ? formatNumber(dbp.value) : "—"}`, "", "bp", now - at);
      this.map.textContent = map ? `MAP ${formatNumber(map.value)}` : "";
    } else {
      this.#empty(this.bp);
      this.map.textContent = "";
    }
    if (hr) this.#show(this.hr, formatNumber(hr.value), "", "pulseOx", now - hr.at);
    else this.#empty(this.hr);
    if (spo2) this.#show(this.spo2, formatNumber(spo2.value), "", "pulseOx", now - spo2.at);
    else this.#empty(this.spo2);
    this.#renderBreathing(chair, now);
    this.#markAlarms(chair);
  }

  /** RR and EtCO2, only when this session's monitor has sent them (no capnograph: as before). */
  #renderBreathing(chair, now) {
    const session = chair.session;
    const since = session ? Date.parse(session.started_at) : Infinity;
    const { rr, etco2 } = chair.latest;
    const sent = (v) => !!v && v.at >= since;
    this.resp.hidden = !(sent(rr) || sent(etco2));
    if (this.resp.hidden) return;
    if (sent(rr)) this.#show(this.rr, formatNumber(rr.value), "", "pulseOx", now - rr.at);
    else this.#empty(this.rr);
    if (sent(etco2)) this.#show(this.etco2, formatNumber(etco2.value), "", "pulseOx", now - etco2.at);
    else this.#empty(this.etco2);
  }

  /** "MOAA/S 5 · dissoc. mild · 12 min ago", in the colour of the alert it raised, if open. */
  #renderObservation(session, now) {
    const last = session ? this.store.lastObservation(session.id) : null;
    this.observation.hidden = !last;
    if (!last) {
      this.observation.textContent = "";
      return;
    }
    this.observation.textContent = `${observationSummary(last)} · ${formatDuration(now - last.t)} ago`;
    this.observation.title = `Observed ${formatClock(last.t)}${last.recorded_by ? ` by ${last.recorded_by}` : ""}${last.note ? ` — ${last.note}` : ""}`;
    let alarm = null;
    for (const a of this.store.sortedAlerts(this.chairId)) {
      if (OBSERVATION_RULES.has(a.rule) && priorityRank(a.priority) > priorityRank(alarm)) alarm = a.priority;
    }
    this.observation.dataset.alarm = alarm || "none";
  }

  /** Each vital in its own alarm colour; a value beyond a limit gets an arrow saying which. */
  #markAlarms(chair) {
    const alarms = this.store.vitalAlarms(this.chairId);
    const limits = valueLimits(chair.session);
    const groups = [
      [this.bp, ["sbp", "dbp", "map"]],
      [this.hr, ["hr"]],
      [this.spo2, ["spo2"]],
      [this.rr, ["rr"]],
      [this.etco2, ["etco2"]],
    ];
    for (const [box, vitals] of groups) {
      let alarm = null;
      for (const v of vitals) if (priorityRank(alarms[v]) > priorityRank(alarm)) alarm = alarms[v];
      box.box.dataset.alarm = alarm || "none";
      box.alarm.textContent = alarm ? PRIORITY_SYMBOL[alarm] : "";
      let worst = null;
      for (const v of vitals) {
        const latest = chair.latest[v];
        const hit = latest ? beyondLimit(limits, v, latest.value) : null;
        if (hit && (!worst || priorityRank(hit.priority) > priorityRank(worst.hit.priority))) worst = { v, hit, value: latest.value };
      }
      box.box.dataset.beyond = worst ? worst.hit.condition : "none";
      box.beyond.textContent = worst ? (worst.hit.condition === "below" ? "↓" : "↑") : "";
      box.beyond.title = worst
        ? `${VITAL_NAMES[worst.v]} ${formatNumber(worst.value)} is ${worst.hit.condition === "below" ? "at or below the low" : "at or above the high"} limit ${worst.hit.threshold} ${VITAL_UNITS[worst.v]} (${worst.hit.priority})`
        : "";
      box.beyond.setAttribute("aria-label", box.beyond.title || "");
    }
  }

  #show(box, value, sub, kind, age) {
    const state = freshness(kind, age);
    box.value.textContent = value;
    box.sub.textContent = sub;
    box.box.dataset.freshness = state;
    const ago = formatDuration(age);
    box.age.textContent = state === "stale" ? `⚠ ${ago} old` : `${ago} ago`;
    box.box.title = state === "stale" ? "Not current: measured " + ago + " ago" : "";
  }

  #empty(box) {
    box.value.textContent = "—";
    box.sub.textContent = "";
    box.age.textContent = "no reading";
    box.box.dataset.freshness = "none";
  }

  #renderMonitor(chair, now, session) {
    const last = chair.lastReadingAt;
    let text = "";
    let state = "ok";
    // The engine's word that the link is down counts too (a screen opened after the disconnect
    // has not seen the device message itself).
    const linkDown = this.store
      .sortedAlerts(this.chairId)
      .some((a) => a.rule === "monitor_disconnected" && a.state !== "resolved");
    if (chair.deviceConnected === false || (linkDown && !this.replay)) {
      text = last ? `⚠ Monitor disconnected · last data ${formatDuration(now - last)} ago` : "⚠ Monitor disconnected";
      state = session ? "silent" : "idle";
    } else if (!last) {
      text = session ? "⚠ No data from the monitor yet" : "No monitor data";
      state = session ? "silent" : "idle";
    } else if (now - last > MONITOR_SILENT_MS) {
      text = `⚠ Monitor silent ${formatDuration(now - last)}`;
      state = session ? "silent" : "idle";
    } else {
      text = this.replay ? "Monitor sending (recorded)" : "Monitor live";
    }
    this.monitor.textContent = text;
    this.element.dataset.monitor = state;
  }

  #renderAlert() {
    const alerts = this.store.sortedAlerts(this.chairId);
    const top = alerts[0] || null;
    for (const p of ["high", "medium", "low"]) this.element.classList.toggle(`prio-${p}`, !!top && top.priority === p);
    // The chair keeps the colour of its most severe condition whether or not someone has
    // acknowledged it; it flashes and sounds only while an alert of that priority waits.
    const waiting = !!top && alerts.some((a) => a.state === "active" && a.priority === top.priority);
    this.element.classList.toggle("alarming", waiting);
    this.element.classList.toggle("acknowledged", !!top && !waiting);
    this.element.classList.toggle("escalated", alerts.some(isEscalated));
    this.element.dataset.priority = top ? top.priority : "none";
    if (!top) {
      this.alert.hidden = true;
      this.alert.replaceChildren();
      return;
    }
    const parts = [el("strong", { class: "tile-alert-label", text: alertLabel(top) }), " ", el("span", { class: "tile-alert-message", text: top.message })];
    if (top.state === "acknowledged") {
      const at = top.acknowledged_at ? ` ${formatClock(Date.parse(top.acknowledged_at))}` : "";
      parts.push(" ", el("span", { class: "tile-alert-ack", text: `✓ ack ${top.acknowledged_by || ""}${at}`.replace("  ", " ") }));
    }
    const others = alerts.slice(1);
    if (others.length) {
      const waitingOthers = others.filter((a) => a.state === "active").length;
      parts.push(" ", el("span", { class: "tile-alert-more", text: `+${others.length} more${waitingOthers ? ` (${waitingOthers} unacknowledged)` : ""}` }));
    }
    this.alert.hidden = false;
    this.alert.dataset.state = top.state;
    this.alert.replaceChildren(...parts);
  }

  #renderAction(session) {
    this.observe.hidden = this.replay || !session || !this.actions.observe;
    if (this.replay) {
      this.action.hidden = true;
    } else if (!session) {
      this.action.hidden = false;
      this.action.textContent = "Start session";
    } else if (!session.dose_at) {
      this.action.hidden = false;
      this.action.textContent = "Mark dose";
    } else {
      this.action.hidden = true;
    }
  }

  flushChart() {
    this.chart.flush();
  }

  destroy() {
    this.chart.destroy();
    this.element.remove();
  }
}
