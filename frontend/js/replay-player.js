// Plays one stored session on the same widgets as the live screen (a chair tile and the trend
// chart) on a simulated clock: readings, alert transitions and the nurse's observations appear
// when the clock passes their recorded times. Its own Store, never the live one; it never
// makes a sound.

import { TrendChart, limitsFor } from "./chart.js";
import { PRIORITY_LABEL, PROTOCOL_LABEL, el, formatClockSeconds, formatHms, observationSummary } from "./format.js";
import { ReplayFeed, loadAlertEvents, loadObservations, loadReadings } from "./replay-data.js";
import { Store } from "./store.js";
import { ChairTile } from "./tile.js";

export const SPEEDS = [1, 10, 60, 600];
const DEFAULT_SPEED = 60;
const FRAME_MS = 250;
const EVENT_TEXT = {
  raised: "raised",
  escalated: "escalated",
  "re-alarmed": "re-alarmed — condition persists",
  acknowledged: "acknowledged",
  superseded: "superseded by a higher alert",
  cleared: "cleared — condition ended",
};

export class ReplayPlayer {
  constructor(root, session, chair) {
    this.root = root;
    this.session = session;
    this.chair = chair; // {id, name}
    this.speed = DEFAULT_SPEED;
    this.timer = null;
    this.simNow = Date.parse(session.started_at);
    this.#buildControls();
  }

  #buildControls() {
    this.playButton = el("button", { type: "button", class: "primary replay-play", text: "▶ Play", disabled: true, onclick: () => this.toggle() });
    this.restartButton = el("button", { type: "button", class: "replay-restart", text: "⟲ Restart", disabled: true, onclick: () => this.restart() });
    this.speedButtons = SPEEDS.map((s) =>
      el("button", { type: "button", class: "speed", text: `${s}×`, dataset: { speed: s }, "aria-pressed": String(s === this.speed), onclick: () => this.setSpeed(s) }),
    );
    this.slider = el("input", { type: "range", class: "replay-seek", min: "0", max: "1", step: "1000", value: "0", disabled: true, "aria-label": "Position in the session" });
    this.slider.addEventListener("input", () => this.seek(this.t0 + Number(this.slider.value)));
    this.clock = el("span", { class: "replay-clock", role: "timer" });
    this.status = el("span", { class: "replay-status", role: "status", text: "Loading the session…" });
    this.tileBox = el("div", { class: "replay-tile" });
    this.chartBox = el("div", { class: "replay-chart" });
    this.log = el("ol", { class: "replay-log", "aria-live": "off" });
    this.logCount = el("span", { class: "hint" });
    this.root.dataset.state = "loading";
    this.root.replaceChildren(
      el(
        "div",
        { class: "replay-controls" },
        this.playButton,
        this.restartButton,
        el("span", { class: "speeds", role: "group", "aria-label": "Speed" }, el("span", { class: "hint", text: "Speed" }), ...this.speedButtons),
        this.slider,
        this.clock,
        this.status,
      ),
      el(
        "div",
        { class: "replay-stage" },
        el("div", { class: "replay-side" }, this.tileBox, el("h3", {}, "Alerts and observations as they happened ", this.logCount), this.log),
        this.chartBox,
      ),
    );
  }

  async load() {
    try {
      const [readings, alerts, observations] = await Promise.all([
        loadReadings(this.session.id, (n) => { this.status.textContent = `Loading… ${n} readings`; }),
        loadAlertEvents(this.session.id).catch((err) => {
          console.warn("replay: alerts not available", err);
          return { alerts: [], events: [], error: err };
        }),
        loadObservations(this.session.id).catch((err) => {
          console.warn("replay: observations not available", err);
          return [];
        }),
      ]);
      if (this.destroyed) return;
      this.feed = new ReplayFeed(readings, alerts.events, observations);
      const times = [Date.parse(this.session.started_at), ...(readings.length ? [readings[0].t] : [])];
      this.t0 = Math.min(...times);
      const ends = [this.session.ended_at ? Date.parse(this.session.ended_at) : this.t0 + 60000];
      if (readings.length) ends.push(readings[readings.length - 1].t);
      if (alerts.events.length) ends.push(alerts.events[alerts.events.length - 1].t);
      if (observations.length) ends.push(observations[observations.length - 1].t);
      // A whole number of the slider's 1 s steps, so its end is the session's end.
      this.t1 = this.t0 + Math.ceil((Math.max(...ends) - this.t0) / 1000) * 1000;
      this.alertCount = alerts.alerts.length;
      this.alertsError = alerts.error || null;
      this.slider.max = String(this.t1 - this.t0);
      this.readingCount = readings.length;
      this.#fresh();
      this.playButton.disabled = false;
      this.restartButton.disabled = false;
      this.slider.disabled = false;
      this.#setState("ready");
      this.#frame();
    } catch (err) {
      if (this.destroyed) return;
      this.status.textContent = `Could not load the session: ${err.message}`;
      this.#setState("error");
    }
  }

  /** A new Store, tile and chart at the start of the session. */
  #fresh() {
    this.#teardown();
    this.simNow = this.t0;
    this.feed.reset();
    const store = new Store();
    store.now = () => this.simNow; // ages, dose timer and the tile's chart window run on replay time
    store.chairs.set(this.chair.id, { id: this.chair.id, name: this.chair.name, session: this.#sessionAt(this.t0), latest: {}, deviceLastSeenAt: null, lastReadingAt: null, deviceConnected: null });
    this.store = store;
    this.tile = new ChairTile(store.chairs.get(this.chair.id), store, { replay: true });
    this.tileBox.replaceChildren(this.tile.element);
    this.chart = new TrendChart(this.chartBox, { windowMs: null, interactive: true, now: () => this.simNow, xRange: [this.t0, this.t1] });
    this.chart.setLimits(limitsFor(this.session));
    store.subscribe((kind, chairId, readings) => {
      if (kind === "observation") this.chart.setObservations(store.observationsOf(this.session.id));
      if (kind !== "readings") return;
      this.tile.addReadings(readings);
      this.chart.add(readings);
    });
    this.log.replaceChildren();
    this.raised = new Set();
  }

  /** The session as it stood at replay time t: not dosed before its dose, never ended. */
  #sessionAt(t) {
    const dosed = this.session.dose_at && Date.parse(this.session.dose_at) <= t;
    return { ...this.session, dose_at: dosed ? this.session.dose_at : null, ended_at: null };
  }

  toggle() {
    if (this.timer) this.pause();
    else this.play();
  }

  play() {
    if (!this.feed || this.timer) return;
    if (this.simNow >= this.t1) this.#fresh();
    this.lastFrameAt = performance.now();
    this.timer = setInterval(() => this.#tick(), FRAME_MS);
    this.#setState("playing");
  }

  pause() {
    clearInterval(this.timer);
    this.timer = null;
    if (this.feed) this.#setState(this.simNow >= this.t1 ? "ended" : "paused");
  }

  restart() {
    if (!this.feed) return;
    const playing = !!this.timer;
    this.pause();
    this.#fresh();
    this.#frame();
    if (playing) this.play();
    else this.#setState("ready");
  }

  setSpeed(speed) {
    this.speed = speed;
    for (const b of this.speedButtons) b.setAttribute("aria-pressed", String(Number(b.dataset.speed) === speed));
    if (this.timer) this.#setState("playing");
  }

  /** Jump to replay time t (backwards replays from the start, without waiting). */
  seek(t) {
    if (!this.feed) return;
    const target = Math.max(this.t0, Math.min(this.t1, t));
    if (target < this.simNow) this.#fresh();
    this.#advance(target);
    if (!this.timer) this.#setState(target >= this.t1 ? "ended" : "paused");
  }

  #tick() {
    const now = performance.now();
    const elapsed = now - this.lastFrameAt;
    this.lastFrameAt = now;
    this.#advance(this.simNow + elapsed * this.speed);
    if (this.simNow >= this.t1) {
      this.pause();
      this.#setState("ended");
    }
  }

  #advance(t) {
    this.simNow = Math.min(t, this.t1);
    const { readings, events, observations } = this.feed.take(this.simNow);
    const chair = this.store.chairs.get(this.chair.id);
    chair.session = this.#sessionAt(this.simNow);
    if (readings.length) this.store.addReadings(readings);
    // In time order, so the log (newest on top) reads as the session ran.
    const happened = [...observations.map((o) => ({ t: o.t, observation: o })), ...events.map((e) => ({ t: e.t, event: e }))];
    happened.sort((a, b) => a.t - b.t);
    for (const item of happened) {
      if (item.observation) {
        this.store.applyObservation(item.observation);
        this.#logObservation(item.observation);
      } else {
        this.store.applyAlert(item.event.alert);
        this.#logEvent(item.event);
      }
    }
    this.#frame();
  }

  #frame() {
    this.tile.render();
    this.tile.flushChart();
    this.chart.flush();
    this.#renderClock();
  }

  #logEvent(e) {
    const a = e.alert;
    let what = EVENT_TEXT[e.event] || e.event;
    if (e.event === "acknowledged" && a.acknowledged_by) what += ` by ${a.acknowledged_by}${a.ack_note ? ` — “${a.ack_note}”` : ""}`;
    this.log.prepend(
      el(
        "li",
        { class: `prio-${a.priority} event-${e.event}`, dataset: { alertId: a.id, event: e.event } },
        el("span", { class: "replay-log-time", text: formatClockSeconds(e.t) }),
        el("span", { class: "badge", text: PRIORITY_LABEL[a.priority] || a.priority }),
        el("span", { class: "replay-log-text", text: `${a.message} · ${what}` }),
      ),
    );
    this.raised.add(a.id);
  }

  #logObservation(o) {
    this.log.prepend(
      el(
        "li",
        { class: "observation-event", dataset: { observationId: o.id } },
        el("span", { class: "replay-log-time", text: formatClockSeconds(o.t) }),
        el("span", { class: "badge obs-badge", text: "Observed" }),
        el("span", { class: "replay-log-text", text: `${observationSummary(o)}${o.recorded_by ? ` · by ${o.recorded_by}` : ""}${o.note ? ` — “${o.note}”` : ""}` }),
      ),
    );
  }

  #renderClock() {
    if (this.t0 === undefined) return;
    const into = this.simNow - this.t0;
    this.clock.textContent = `${formatClockSeconds(this.simNow)} recorded · ${formatHms(into)} / ${formatHms(this.t1 - this.t0)}`;
    this.slider.value = String(Math.round(into));
    this.root.dataset.replayTime = new Date(this.simNow).toISOString();
    this.logCount.textContent = this.alertsError
      ? "(not available from this server)"
      : `(${this.raised.size} of ${this.alertCount} so far)`;
  }

  #setState(state) {
    this.root.dataset.state = state;
    this.playButton.textContent = state === "playing" ? "❚❚ Pause" : "▶ Play";
    const what = { ready: "Ready", playing: `Playing at ${this.speed}×`, paused: "Paused", ended: "End of the recorded session" }[state];
    if (what) this.status.textContent = `${what} · ${this.readingCount} readings · ${PROTOCOL_LABEL[this.session.protocol] || this.session.protocol}`;
  }

  #teardown() {
    if (this.chart) this.chart.destroy();
    if (this.tile) this.tile.destroy();
    this.chart = null;
    this.tile = null;
  }

  destroy() {
    this.destroyed = true;
    this.pause();
    this.#teardown();
    this.root.replaceChildren();
  }
}
