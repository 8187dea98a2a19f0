// One chair in detail: the whole session's zoomable trend, the readings table, alert history,
// and the session controls.

import { listAlerts, sessionReadings } from "./api.js";
import { TrendChart, limitsFor } from "./chart.js";
import { PRIORITY_LABEL, PROTOCOL_LABEL, doseTimer, el, formatClock, formatClockSeconds, formatNumber } from "./format.js";

const PAGE = 20000;
const TABLE_ROWS = 500;

export class DetailView {
  constructor(root, store, controls, { canSetLimits }) {
    this.root = root;
    this.store = store;
    this.controls = controls;
    this.canSetLimits = canSetLimits;
    this.chairId = null;
    this.sessionId = null;
    this.chart = null;
    this.readings = [];
  }

  get openChairId() {
    return this.chairId;
  }

  open(chairId) {
    this.close();
    this.chairId = chairId;
    this.root.hidden = false;
    document.body.classList.add("detail-open");
    this.#build();
  }

  close() {
    if (this.chart) this.chart.destroy();
    this.chart = null;
    this.chairId = null;
    this.sessionId = null;
    this.readings = [];
    this.root.hidden = true;
    this.root.replaceChildren();
    document.body.classList.remove("detail-open");
  }

  #build() {
    const chair = this.store.chairs.get(this.chairId);
    if (!chair) {
      this.root.replaceChildren(el("p", { text: "This chair is not known to the server." }));
      return;
    }
    const session = chair.session;
    this.sessionId = session ? session.id : null;
    this.title = el("h2", { class: "detail-title" });
    this.timer = el("p", { class: "detail-timer" });
    const back = el("a", { class: "back", href: "#", text: "← All chairs" });
    const actions = el("div", { class: "detail-actions" });
    this.actions = actions;
    this.message = el("p", { class: "form-error", role: "alert", hidden: true });
    const chartBox = el("div", { class: "detail-chart" });
    this.tableBody = el("tbody");
    this.tableNote = el("p", { class: "hint" });
    this.alertHistory = el("ol", { class: "alert-history" });
    this.root.replaceChildren(
      el("header", { class: "detail-head" }, back, this.title, this.timer, actions),
      this.message,
      chartBox,
      el(
        "div",
        { class: "detail-columns" },
        el(
          "section",
          { class: "detail-readings" },
          el("h3", { text: "Blood pressure readings" }),
          this.tableNote,
          el(
            "table",
            { class: "readings-table" },
            el("thead", {}, el("tr", {}, ...["Time", "SBP/DBP (MAP) mmHg", "HR /min", "SpO₂ %"].map((h) => el("th", { text: h })))),
            this.tableBody,
          ),
        ),
        el("section", { class: "detail-alerts" }, el("h3", { text: "Alert history" }), this.alertHistory,
          session && this.canSetLimits() ? this.controls.limitsForm(session) : null),
      ),
    );
    this.render();
    if (!session) {
      chartBox.replaceChildren(el("p", { class: "empty", text: "No session is open on this chair." }));
      return;
    }
    this.chart = new TrendChart(chartBox, { windowMs: null, interactive: true, now: () => this.store.now() });
    this.chart.setLimits(limitsFor(session));
    this.#load(session.id);
  }

  async #load(sessionId) {
    try {
      let start;
      for (;;) {
        const page = await sessionReadings(sessionId, start);
        if (this.sessionId !== sessionId) return;
        this.#take(page);
        if (page.length < PAGE) break;
        start = page[page.length - 1].measured_at;
      }
    } catch (err) {
      this.#error(`Could not load the session's readings: ${err.message}`);
    }
    this.chart.flush();
    try {
      const alerts = await listAlerts({ session_id: sessionId });
      if (this.sessionId === sessionId) this.#showAlerts(alerts);
    } catch (err) {
      this.alertHistory.replaceChildren(el("li", { class: "hint", text: err.status === 404 ? "Alert history is not available from this server yet." : `Could not load alert history: ${err.message}` }));
    }
  }

  /** Readings for this chair (from REST or the live stream). */
  addReadings(readings) {
    if (!this.sessionId) return;
    this.#take(readings.filter((r) => r.session_id === this.sessionId));
  }

  #take(readings) {
    const fresh = readings.map((r) => ({ ...r, t: r.t ?? Date.parse(r.ts || r.measured_at) }));
    const seen = new Set(this.readings.map((r) => r.id));
    const added = fresh.filter((r) => !seen.has(r.id));
    if (!added.length) return;
    this.readings.push(...added);
    this.readings.sort((a, b) => a.t - b.t);
    if (this.chart) this.chart.add(added);
    if (added.some((r) => r.sbp != null || r.dbp != null)) this.#renderTable();
  }

  #renderTable() {
    const bp = this.readings.filter((r) => r.sbp != null || r.dbp != null);
    const rows = bp.slice(-TABLE_ROWS).reverse();
    this.tableNote.textContent = bp.length > TABLE_ROWS ? `Newest ${TABLE_ROWS} of ${bp.length}` : `${bp.length} readings · newest first`;
    this.tableBody.replaceChildren(
      ...rows.map((r) => {
        const near = this.#nearestPulseOx(r.t);
        return el(
          "tr",
          {},
          el("td", { text: formatClockSeconds(r.t) }),
          el("td", { class: "num", text: `${r.sbp != null ? formatNumber(r.sbp) : "—"}/${r.dbp != null ? formatNumber(r.dbp) : "—"}${r.map != null ? ` (${formatNumber(r.map)})` : ""}` }),
          el("td", { class: "num", text: near && near.hr != null ? formatNumber(near.hr) : "—" }),
          el("td", { class: "num", text: near && near.spo2 != null ? formatNumber(near.spo2) : "—" }),
        );
      }),
    );
  }

  #nearestPulseOx(t) {
    let best = null;
    for (const r of this.readings) {
      if (r.hr == null && r.spo2 == null) continue;
      if (Math.abs(r.t - t) > 30000) continue;
      if (!best || Math.abs(r.t - t) < Math.abs(best.t - t)) best = r;
    }
    return best;
  }

  #showAlerts(alerts) {
    const list = Array.isArray(alerts) ? alerts : alerts.alerts || [];
    if (!list.length) {
      this.alertHistory.replaceChildren(el("li", { class: "hint", text: "No alerts in this session." }));
      return;
    }
    this.alertHistory.replaceChildren(
      ...list.map((a) =>
        el(
          "li",
          { class: `prio-${a.priority} state-${a.state}` },
          el("span", { class: "badge", text: PRIORITY_LABEL[a.priority] || a.priority }),
          ` ${formatClock(Date.parse(a.raised_at))} ${a.message} — ${a.state}`,
          a.acknowledged_by ? ` by ${a.acknowledged_by}${a.ack_note ? ` (“${a.ack_note}”)` : ""}` : "",
        ),
      ),
    );
  }

  #error(text) {
    this.message.textContent = text;
    this.message.hidden = false;
  }

  /** Update header text; rebuild when the session changed under us. */
  render() {
    if (this.chairId === null) return;
    const chair = this.store.chairs.get(this.chairId);
    if (!chair) return;
    const session = chair.session;
    if ((session ? session.id : null) !== this.sessionId) {
      this.#build();
      return;
    }
    this.title.textContent = session
      ? `${chair.name} · ${session.patient_label} · ${PROTOCOL_LABEL[session.protocol] || session.protocol}`
      : `${chair.name} · no session`;
    this.timer.textContent = session
      ? `Started ${formatClock(Date.parse(session.started_at))} · ${doseTimer(session, this.store.now()).text}`
      : "";
    if (this.chart && session) this.chart.setLimits(limitsFor(session));
    const buttons = [];
    if (!session) buttons.push(el("button", { type: "button", class: "primary", text: "Start session", onclick: () => this.controls.startSession(chair) }));
    else {
      if (!session.dose_at) buttons.push(el("button", { type: "button", class: "primary", text: "Mark dose", onclick: () => this.controls.markDose(chair) }));
      buttons.push(el("button", { type: "button", class: "danger", text: "End session", onclick: () => this.controls.endSession(chair) }));
    }
    const key = buttons.map((b) => b.textContent).join("|");
    if (this.actions.dataset.key !== key) {
      this.actions.dataset.key = key;
      this.actions.replaceChildren(...buttons);
    }
  }

  flushChart() {
    if (this.chart) this.chart.flush();
  }
}
