// One chair's tile: latest vitals with their ages, session and dose timer, alert state, trend.

import { TrendChart, limitsFor } from "./chart.js";
import { PRIORITY_LABEL, PROTOCOL_LABEL, doseTimer, el, formatDuration, formatNumber } from "./format.js";

const TILE_WINDOW_MS = 60 * 60 * 1000;
// A value older than "ageing" is greyed; older than "stale" is struck through and never current.
const FRESHNESS = {
  bp: { ageing: 5 * 60000, stale: 20 * 60000 },
  pulseOx: { ageing: 10000, stale: 30000 },
};
const MONITOR_SILENT_MS = 30000;

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
  const box = el(
    "div",
    { class: `vital vital-${name}`, dataset: { vital: name, freshness: "none" } },
    el("span", { class: "label" }, el("span", { text: label }), el("span", { class: "unit", text: unit })),
    el("span", { class: "reading" }, value, sub),
    age,
  );
  return { box, value, sub, age };
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
    this.timer = el("div", { class: "tile-timer" });
    this.chartBox = el("div", { class: "tile-chart" });
    this.monitor = el("span", { class: "monitor" });
    this.action = el("button", { class: "tile-action", type: "button", hidden: true, onclick: () => this.#act() });
    this.element = el(
      "article",
      { class: "tile", dataset: { chairId: chair.id }, "aria-label": chair.name },
      el("header", { class: "tile-head" }, this.name, this.patient, this.protocol),
      this.alert,
      el("div", { class: "vitals" }, this.bp.box, this.hr.box, this.spo2.box),
      this.timer,
      this.chartBox,
      el("footer", { class: "tile-foot" }, this.monitor, this.action),
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
    this.chart.setLimits(limitsFor(session));
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
    const top = this.store.topAlert(this.chairId);
    for (const p of ["high", "medium", "low"]) this.element.classList.toggle(`prio-${p}`, !!top && top.priority === p);
    const unacked = !!top && top.state === "active";
    this.element.classList.toggle("alarming", unacked);
    this.element.classList.toggle("acknowledged", !!top && !unacked);
    this.element.dataset.priority = top ? top.priority : "none";
    if (!top) {
      this.alert.hidden = true;
      this.alert.textContent = "";
      return;
    }
    const more = this.store.sortedAlerts(this.chairId).length - 1;
    const ack = unacked ? "" : "✓ ACK · ";
    this.alert.hidden = false;
    this.alert.textContent = `${PRIORITY_LABEL[top.priority] || top.priority} · ${ack}${top.message}${more > 0 ? ` (+${more})` : ""}`;
  }

  #renderAction(session) {
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
