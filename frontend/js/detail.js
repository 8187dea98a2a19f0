// One chair in detail: the whole session's zoomable trend, the readings table, the nurse's
// observations, alert history, and the session controls (observe, dose, discharge, record).

import { listAlerts, listObservations, reportUrl, sessionReadings } from "./api.js";
import { TrendChart, limitsFor } from "./chart.js";
import { MOAAS_WORDS, PRIORITY_LABEL, PROTOCOL_LABEL, doseTimer, el, formatClock, formatClockSeconds, formatNumber } from "./format.js";

const PAGE = 20000;
const TABLE_ROWS = 500;

export class DetailView {
  constructor(root, store, controls, { canSetLimits, observe, discharge }) {
    this.root = root;
    this.store = store;
    this.controls = controls;
    this.canSetLimits = canSetLimits;
    this.observe = observe;
    this.discharge = discharge;
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
    this.tableHead = el("tr");
    this.tableNote = el("p", { class: "hint" });
    this.alertHistory = el("ol", { class: "alert-history" });
    this.observationList = el("ol", { class: "observation-list" });
    this.observationsKey = null;
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
          el("table", { class: "readings-table" }, el("thead", {}, this.tableHead), this.tableBody),
        ),
        el(
          "section",
          { class: "detail-alerts" },
          el("h3", { text: "Observations" }),
          this.observationList,
          el("h3", { text: "Alert history" }),
          this.alertHistory,
          session && this.canSetLimits() ? this.controls.limitsForm(session) : null),
      ),
    );
    this.#renderHead(false);
    this.render();
    if (!session) {
      chartBox.replaceChildren(el("p", { class: "empty", text: "No session is open on this chair." }));
      return;
    }
    this.chart = new TrendChart(chartBox, { windowMs: null, interactive: true, now: () => this.store.now() });
    this.chart.setLimits(limitsFor(session));
    this.chart.setObservations(this.store.observationsOf(session.id));
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
      // The snapshot and the stream bring them too; this covers one made before this screen.
      for (const o of await listObservations(sessionId)) this.store.applyObservation(o);
    } catch (err) {
      console.warn("could not load the observations", sessionId, err);
    }
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
    const capnography = added.some((r) => r.rr != null || r.etco2 != null);
    if (capnography && !this.capnography) {
      this.capnography = true;
      this.#renderHead(true);
      this.#renderTable();
    } else if (added.some((r) => r.sbp != null || r.dbp != null)) this.#renderTable();
  }

  /** The table's columns: RR and EtCO2 only for a session whose monitor sends them. */
  #renderHead(capnography) {
    this.capnography = capnography;
    const heads = ["Time", "SBP/DBP (MAP) mmHg", "HR /min", "SpO₂ %", ...(capnography ? ["RR /min", "EtCO₂ mmHg"] : [])];
    this.tableHead.replaceChildren(...heads.map((h) => el("th", { text: h })));
  }

  /** The session's observations, newest first, each with who and the MOAA/S words. */
  #renderObservations(session) {
    const list = session ? this.store.observationsOf(session.id) : [];
    const key = list.map((o) => o.id).join(",");
    if (key === this.observationsKey) return;
    this.observationsKey = key;
    if (this.chart) this.chart.setObservations(list);
    if (!list.length) {
      this.observationList.replaceChildren(el("li", { class: "hint", text: "No observations yet. “Observe” records sedation, dissociation and breathing." }));
      return;
    }
    this.observationList.replaceChildren(
      ...[...list].reverse().map((o) => {
        const findings = [];
        if (o.moaas !== null && o.moaas !== undefined) findings.push(el("span", { class: "obs-moaas", text: `MOAA/S ${o.moaas} — ${MOAAS_WORDS[o.moaas]}` }));
        if (o.dissociation) findings.push(el("span", { text: `Dissociation: ${o.dissociation}` }));
        if (o.respiratory) findings.push(el("span", { class: `obs-resp-${o.respiratory}`, text: `Breathing: ${o.respiratory}` }));
        return el(
          "li",
          { class: "observation-item", dataset: { observationId: o.id } },
          el("span", { class: "obs-time", text: formatClock(o.t) }),
          el("span", { class: "obs-findings" }, ...findings),
          el("span", { class: "obs-who", text: `by ${o.recorded_by || "?"}${o.note ? ` — “${o.note}”` : ""}` }),
        );
      }),
    );
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
          ...(this.capnography ? this.#breathingCells(r.t) : []),
        );
      }),
    );
  }

  #breathingCells(t) {
    const near = this.#nearest(t, (r) => r.rr != null || r.etco2 != null);
    return [
      el("td", { class: "num", text: near && near.rr != null ? formatNumber(near.rr) : "—" }),
      el("td", { class: "num", text: near && near.etco2 != null ? formatNumber(near.etco2) : "—" }),
    ];
  }

  #nearest(t, has) {
    let best = null;
    for (const r of this.readings) {
      if (!has(r) || Math.abs(r.t - t) > 30000) continue;
      if (!best || Math.abs(r.t - t) < Math.abs(best.t - t)) best = r;
    }
    return best;
  }

  #nearestPulseOx(t) {
    return this.#nearest(t, (r) => r.hr != null || r.spo2 != null);
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
    this.#renderObservations(session);
    const buttons = [];
    if (!session) buttons.push(el("button", { type: "button", class: "primary", text: "Start session", onclick: () => this.controls.startSession(chair) }));
    else {
      buttons.push(el("button", { type: "button", class: "primary observe-button", text: "Observe", onclick: () => this.observe(chair) }));
      if (!session.dose_at) buttons.push(el("button", { type: "button", class: "primary", text: "Mark dose", onclick: () => this.controls.markDose(chair) }));
      buttons.push(el("a", { class: "button-link print-record", href: reportUrl(session.id), target: "_blank", rel: "noopener", text: "Print record" }));
      buttons.push(el("button", { type: "button", class: "danger discharge-button", text: "Discharge…", onclick: () => this.discharge(chair) }));
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
