// Entry point: login or clinic view; wires the stream, the store and the views together.

import * as api from "./api.js";
import { MonitorsView } from "./admin.js";
import { AlertList } from "./alerts.js";
import { AlarmSound } from "./audio.js";
import { Connection } from "./connection.js";
import { setClinicLimits } from "./chart.js";
import { DetailView } from "./detail.js";
import { DischargeDialog } from "./discharge.js";
import { PRIORITY_SYMBOL, clockFormat, formatClock, formatDuration, isEscalated, setClockFormat } from "./format.js";
import { ObservationDialog } from "./observe.js";
import { ReplayView } from "./replay.js";
import { SessionControls } from "./session.js";
import { Store, priorityRank } from "./store.js";
import { ChairTile } from "./tile.js";
import { keepScreenAwake } from "./wakelock.js";

const $ = (id) => document.getElementById(id);
// A tile smaller than this is unreadable; a screen with more chairs than fit scrolls.
const MIN_TILE_WIDTH = 240;
const MIN_TILE_HEIGHT = 210;
const TILE_GAP = 8;
// Below this width the alert list is a drawer (app.css) and the tiles scroll.
const WALL_MIN_WIDTH = 1280;
const TABLET_TILE_WIDTH = 330;
const TABLET_TILE_HEIGHT = 330;
// Tiles read best about 1.1 times as wide as tall (room for the numbers and the trend).
const TILE_ASPECT = 1.1;
const CHART_HISTORY_MS = 60 * 60 * 1000;

const SOUND_RANK = { high: 4, escalated: 3, medium: 2, low: 1 };

class Clinic {
  constructor(user, sound) {
    this.store = new Store();
    this.store.user = user;
    this.sound = sound;
    this.tiles = new Map();
    this.historyLoaded = new Set();
    this.unknownTypes = new Set();
    this.controls = new SessionControls($("session-dialog"), this.store);
    this.observeDialog = new ObservationDialog($("observe-dialog"), this.store);
    this.dischargeDialog = new DischargeDialog($("discharge-dialog"), this.store);
    this.monitors = new MonitorsView($("monitors-dialog"), $("monitors-button"), this.store, { chairsChanged: () => this.#refreshChairs() });
    const canAck = () => ["clinician", "admin"].includes((this.store.user || {}).role);
    this.alertList = new AlertList(this.store, { list: $("alert-list"), empty: $("alerts-empty"), count: $("alert-count"), canAcknowledge: canAck });
    this.detail = new DetailView($("detail-view"), this.store, this.controls, {
      canSetLimits: canAck,
      observe: (chair) => this.observeDialog.open(chair),
      discharge: (chair) => this.dischargeDialog.open(chair),
    });
    this.replay = new ReplayView($("replay-view"), {
      chairNames: () => new Map([...this.store.chairs.values()].map((c) => [c.id, c.name])),
      headerLink: $("replay-link"),
    });
    this.connection = new Connection({
      onMessage: (m) => this.#dispatch(m),
      onLiveChange: () => this.#renderLive(),
      since: () => this.store.resumeFrom(),
      onRetry: (attempt) => this.#checkLogin(attempt),
    });
    this.store.subscribe((...change) => this.#changed(...change));
  }

  start() {
    this.#renderUser();
    this.#renderLive();
    this.connection.start();
    this.monitors.start();
    this.ticker = setInterval(() => this.#tick(), 1000);
    window.addEventListener("hashchange", () => this.#route());
    window.addEventListener("resize", () => this.#layout());
    if (typeof ResizeObserver !== "undefined") new ResizeObserver(() => this.#layout()).observe($("tiles"));
    $("alert-summary").addEventListener("click", () => this.#toggleAlerts());
    $("alerts-close").addEventListener("click", () => this.#toggleAlerts(false));
    this.sound.onChange(() => this.#renderSoundBanner());
    $("sound-banner-fix").addEventListener("click", () => this.sound.fix());
    this.#route();
  }

  /** On a tablet the alert list is a drawer over the tiles, opened from the summary strip. */
  #toggleAlerts(open = !document.body.classList.contains("alerts-open")) {
    document.body.classList.toggle("alerts-open", open);
    $("alert-summary").setAttribute("aria-expanded", String(open));
    $("alert-summary-action").textContent = open ? "Hide alerts" : "Show alerts";
  }

  /** Every server message goes through this one switch. */
  #dispatch(message) {
    switch (message.type) {
      case "snapshot":
        this.store.applySnapshot(message);
        this.#showForwarding(message.forwarding);
        break;
      case "forwarding":
        this.#showForwarding(message);
        break;
      case "readings":
        this.store.addReadings(message.readings || []);
        break;
      case "reading":
        this.store.addReadings([message]);
        break;
      case "session":
        if (!this.store.chairs.has(message.session.chair_id)) this.#refreshChairs();
        this.store.applySession(message.session);
        break;
      case "alert":
        this.store.applyAlert(message.alert);
        break;
      case "observation":
        this.store.applyObservation(message.observation);
        break;
      case "device":
      case "connected":
      case "disconnected":
      case "rejected":
      case "revoked":
        this.store.applyDevice(message);
        break;
      case "heartbeat":
        this.store.setServerTime(message.server_time);
        break;
      case "resync":
        console.info("server asked for a resync; reconnecting with since", message.since);
        break;
      default:
        this.#reportUnknown(message);
    }
  }

  /** Alarm forwarding to the hospital's Alert Manager (null: none configured). When it is
   * down, pagers get nothing: every screen says so until it is back. */
  #showForwarding(status) {
    const down = Boolean(status) && status.state === "unavailable";
    $("forwarding-banner").hidden = !down;
    document.body.classList.toggle("forwarding-down", down);
    if (down) $("forwarding-detail").textContent = `Alarms are not reaching pagers: ${status.detail}`;
  }

  #reportUnknown(message) {
    console.warn("dashboard: unknown message type", message.type, message);
    this.unknownTypes.add(String(message.type));
    document.body.dataset.unknownTypes = [...this.unknownTypes].join(" ");
  }

  #changed(kind, chairId, payload) {
    if (kind === "snapshot") {
      const clock = clockFormat();
      setClockFormat(this.store.clock);
      setClinicLimits(this.store.limits);
      if (clockFormat() !== clock) for (const tile of this.tiles.values()) tile.chart.needsRebuild = true;
      this.#syncTiles();
      this.#renderUser();
      this.#loadHistory();
      this.alertList.render();
      this.detail.render();
      this.#renderSound();
      this.#renderSummary();
      return;
    }
    if (kind === "readings") {
      const tile = this.tiles.get(chairId);
      if (tile) {
        tile.addReadings(payload);
        tile.render();
      }
      if (this.detail.openChairId === chairId) this.detail.addReadings(payload);
      return;
    }
    if (kind === "session") this.#loadHistory();
    const tile = this.tiles.get(chairId);
    if (tile) tile.render();
    if (kind === "alert") {
      this.alertList.render();
      this.#renderSound();
      this.#renderSummary();
    }
    if (this.detail.openChairId === chairId) this.detail.render();
  }

  #syncTiles() {
    const container = $("tiles");
    const chairs = this.store.sortedChairs();
    const ids = new Set(chairs.map((c) => c.id));
    for (const [id, tile] of this.tiles) {
      if (!ids.has(id)) {
        tile.destroy();
        this.tiles.delete(id);
      }
    }
    for (const chair of chairs) {
      let tile = this.tiles.get(chair.id);
      if (!tile) {
        tile = new ChairTile(chair, this.store, {
          openDetail: (id) => { location.hash = `#chair/${id}`; },
          startSession: (c) => this.controls.startSession(c),
          markDose: (c) => this.controls.markDose(c),
          observe: (c) => this.observeDialog.open(c),
        });
        this.tiles.set(chair.id, tile);
      }
      container.append(tile.element);
      tile.render();
    }
    if (!chairs.length) {
      container.replaceChildren(Object.assign(document.createElement("p"), { className: "empty", textContent: "No chairs yet. An admin registers chairs and their monitors." }));
    } else container.querySelector(":scope > p.empty")?.remove();
    this.#layout();
  }

  /**
   * Columns and rows so every tile fits the screen when it can (a wall screen never scrolls),
   * as large and as close to the tile's shape as the screen allows; else rows of the smallest
   * readable height that scroll.
   */
  #layout() {
    const container = $("tiles");
    const n = Math.max(1, this.tiles.size);
    const style = getComputedStyle(container);
    const width = container.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    const height = container.clientHeight - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom);
    if (!(width > 0)) return;
    if (window.innerWidth < WALL_MIN_WIDTH) {
      // A tablet or a small laptop is held close and scrolled: fewer, larger tiles.
      const cols = Math.max(1, Math.min(n, Math.floor((width + TILE_GAP) / (TABLET_TILE_WIDTH + TILE_GAP))));
      container.style.setProperty("--cols", String(cols));
      container.style.setProperty("--row-h", `${TABLET_TILE_HEIGHT}px`);
      container.dataset.fits = String(Math.ceil(n / cols) * (TABLET_TILE_HEIGHT + TILE_GAP) <= height + TILE_GAP);
      return;
    }
    const maxCols = Math.max(1, Math.floor((width + TILE_GAP) / (MIN_TILE_WIDTH + TILE_GAP)));
    let best = null;
    for (let cols = 1; cols <= Math.min(n, maxCols); cols++) {
      const rows = Math.ceil(n / cols);
      const w = (width - (cols - 1) * TILE_GAP) / cols;
      const h = (height - (rows - 1) * TILE_GAP) / rows;
      const fits = h >= MIN_TILE_HEIGHT;
      // Where all fit: the largest usable tile (its width, or its height times the aspect).
      // Where none does: as many columns as stay readable, so the least is out of sight.
      const score = fits ? 1e6 + Math.min(w, h * TILE_ASPECT) : cols;
      if (!best || score > best.score) best = { cols, rows, fits, h, score };
    }
    const rowHeight = best.fits ? Math.min(best.h, 720) : Math.max(MIN_TILE_HEIGHT, Math.min(300, height));
    container.style.setProperty("--cols", String(best.cols));
    container.style.setProperty("--row-h", `${Math.floor(rowHeight)}px`);
    container.dataset.fits = String(best.fits);
  }

  /** Tile charts start with the last hour of each open session. */
  async #loadHistory() {
    for (const chair of this.store.chairs.values()) {
      const session = chair.session;
      if (!session || this.historyLoaded.has(session.id)) continue;
      this.historyLoaded.add(session.id);
      const start = new Date(this.store.now() - CHART_HISTORY_MS).toISOString();
      try {
        this.store.addReadings(await api.sessionReadings(session.id, start));
      } catch (err) {
        console.warn("could not load chart history", session.id, err);
        this.historyLoaded.delete(session.id);
      }
    }
  }

  async #refreshChairs() {
    if (this.refreshing) return;
    this.refreshing = true;
    try {
      const chairs = await api.chairs();
      this.store.applySnapshot({ server_time: null, chairs, alerts: undefined, last_reading_id: 0, user: this.store.user, clinic_name: this.store.clinicName, rule_set: this.store.ruleSet });
    } catch (err) {
      console.warn("could not refresh chairs", err);
    } finally {
      this.refreshing = false;
    }
  }

  async #checkLogin(attempt) {
    if (attempt < 2) return;
    try {
      await api.me();
    } catch (err) {
      if (err.status === 401) location.reload(); // logged out elsewhere or expired: show login
    }
  }

  #tick() {
    for (const tile of this.tiles.values()) {
      tile.render();
      tile.flushChart();
    }
    this.detail.render();
    this.detail.flushChart();
    this.alertList.render();
    this.#renderLive();
    this.#renderSound();
    this.#renderSummary();
    $("clock").textContent = formatClock(this.store.now());
  }

  /** The tablet's strip: how many alerts wait, by priority, and the way to the list. */
  #renderSummary() {
    const counts = { high: 0, medium: 0, low: 0 };
    let waiting = 0;
    let top = null;
    for (const a of this.store.alerts.values()) {
      counts[a.priority] = (counts[a.priority] || 0) + 1;
      if (a.state === "active") waiting += 1;
      if (priorityRank(a.priority) > priorityRank(top)) top = a.priority;
    }
    const names = { high: "HIGH", medium: "MEDIUM", low: "LOW" };
    const parts = ["high", "medium", "low"].filter((p) => counts[p]).map((p) => `${PRIORITY_SYMBOL[p]} ${counts[p]} ${names[p]}`);
    const strip = $("alert-summary");
    strip.dataset.priority = top || "none";
    $("alert-summary-counts").textContent = parts.length ? `Alerts: ${parts.join(" · ")} · ${waiting} unacknowledged` : "No active alerts";
  }

  /** Only live alerts reach the alarm tone; a replay has its own store and never sounds. */
  #renderSound() {
    let level = null;
    const lows = [];
    const active = [];
    const tone = (a) => (isEscalated(a) ? "escalated" : a.priority);
    for (const a of this.store.alerts.values()) {
      if (a.state !== "active") continue;
      if (SOUND_RANK[tone(a)] > (SOUND_RANK[level] || 0)) level = tone(a);
      if (a.priority === "low") lows.push(a.id);
      active.push({ id: a.id, priority: a.priority });
    }
    this.waiting = active;
    this.sound.update({ level, notLive: !this.connection.live, newLowIds: lows, active });
    this.replay.renderLive(active.length);
    this.#renderSoundBanner();
  }

  /**
   * While alerts wait (or the screen is not live) and this screen makes no sound, a banner
   * across the screen says so in the alerts' colour, and how to fix it with one click or key.
   */
  #renderSoundBanner() {
    const banner = $("sound-banner");
    const waiting = this.waiting || [];
    const notLive = !this.connection.live;
    const status = this.sound.status();
    if (status.state === "on" || (!waiting.length && !notLive)) {
      banner.hidden = true;
      return;
    }
    let top = null;
    for (const a of waiting) if (priorityRank(a.priority) > priorityRank(top)) top = a.priority;
    banner.dataset.priority = top || (notLive ? "medium" : "none");
    banner.dataset.sound = status.state;
    const what = waiting.length
      ? `${waiting.length} unacknowledged alert${waiting.length > 1 ? "s" : ""}`
      : "the lost connection";
    let text;
    let fix;
    if (status.state === "silenced") {
      const s = Math.ceil(status.leftMs / 1000);
      text = `⊘ ALARM TONE SILENCED ${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")} — ${what}, silent here until then (a new alert ends the silence).`;
      fix = "Resume sound now (S)";
    } else if (status.state === "off") {
      text = `⚠ ALARM SOUND IS OFF ON THIS SCREEN — ${what}, silent here.`;
      fix = "Turn sound on (S)";
    } else {
      text = `⚠ ALARM SOUND BLOCKED BY THE BROWSER — ${what}, silent until someone clicks or presses a key here.`;
      fix = "Turn sound on (S)";
    }
    $("sound-banner-text").textContent = text;
    $("sound-banner-fix").textContent = fix;
    banner.hidden = false;
  }

  #renderLive() {
    const live = this.connection.live;
    document.body.classList.toggle("not-live", !live);
    const pill = $("live-state");
    pill.dataset.live = String(live);
    pill.textContent = live ? "● LIVE" : "✕ NOT LIVE";
    const banner = $("not-live-banner");
    banner.hidden = live;
    if (!live) {
      const since = formatDuration(Date.now() - this.connection.notLiveSince);
      $("not-live-detail").textContent = `No data from the server for ${since}. Values shown are NOT current. Reconnecting automatically…`;
    }
  }

  #renderUser() {
    const user = this.store.user;
    $("user-badge").textContent = user ? `${user.name} · ${user.role}` : "";
    $("clinic-name").textContent = this.store.clinicName || "Chairside";
    const rules = this.store.ruleSet;
    const name = rules ? `${rules.name}${rules.version ? ` v${rules.version}` : ""}` : "Default rules";
    $("rule-set").textContent = `${name} · supports, never replaces, clinical judgement`;
  }

  #route() {
    const replay = /^#replay(?:\/(\d+))?$/.exec(location.hash);
    if (replay) {
      if (this.detail.openChairId !== null) this.detail.close();
      this.replay.show(replay[1] ? Number(replay[1]) : null);
      return;
    }
    if (this.replay.isOpen) {
      this.replay.close();
      for (const tile of this.tiles.values()) tile.chart.needsRebuild = true;
    }
    const match = /^#chair\/(\d+)$/.exec(location.hash);
    if (match) {
      const id = Number(match[1]);
      if (this.detail.openChairId !== id) this.detail.open(id);
    } else if (this.detail.openChairId !== null) {
      this.detail.close();
      for (const tile of this.tiles.values()) tile.chart.needsRebuild = true; // sizes may have changed
    }
  }
}

function showLogin(sound) {
  document.body.classList.remove("booting");
  $("clinic-view").hidden = true;
  $("login-view").hidden = false;
  const form = $("login-form");
  const error = $("login-error");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    sound.enable(); // the submit is a user gesture: audio may start now
    error.hidden = true;
    try {
      const user = await api.login($("login-name").value.trim(), $("login-password").value);
      showClinic(user, sound);
    } catch (err) {
      error.textContent = err.status === 401 ? "Wrong name or password." : err.message;
      error.hidden = false;
    }
  });
  $("login-name").focus();
}

function showClinic(user, sound) {
  document.body.classList.remove("booting");
  $("login-view").hidden = true;
  $("clinic-view").hidden = false;
  const clinic = new Clinic(user, sound);
  window.chairside = clinic; // for debugging from the console
  $("logout").addEventListener("click", async () => {
    clinic.connection.stop();
    clinic.monitors.stop();
    try {
      await api.logout();
    } catch (err) {
      console.warn("logout failed", err);
    }
    location.hash = "";
    location.reload();
  });
  clinic.start();
  keepScreenAwake($("wake-lock"));
}

/** The header's height, wherever it wraps (the detail view sits below it). */
function trackHeaderHeight() {
  const topbar = document.querySelector(".topbar");
  const set = () => document.documentElement.style.setProperty("--header-h", `${topbar.offsetHeight}px`);
  if (typeof ResizeObserver !== "undefined") new ResizeObserver(set).observe(topbar);
  set();
}

async function boot() {
  const sound = new AlarmSound($("sound-toggle"), $("silence"));
  sound.tryAutostart();
  trackHeaderHeight();
  // "S" turns sound on, or resumes a silence (never while typing in a field).
  document.addEventListener("keydown", (event) => {
    if (event.key !== "s" && event.key !== "S") return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.closest && event.target.closest("input, textarea, select, [contenteditable]")) return;
    if (sound.status().state !== "on") sound.fix();
  });
  // Any click on the page counts as permission for sound (browsers need one). On the click,
  // not the press: the sound banner goes away then, and the page must not move between the
  // press and the release of what the nurse tapped.
  document.addEventListener(
    "click",
    (event) => {
      if (event.target.closest("#sound-toggle, #sound-banner-fix")) return; // they decide
      if (!sound.on && sound.wanted) sound.enable();
    },
    { capture: true },
  );
  if (!window.Plotly) console.error("plotly.js did not load: charts are off");
  try {
    showClinic(await api.me(), sound);
  } catch (err) {
    if (err.status !== 401) console.warn("could not check the login", err);
    showLogin(sound);
  }
}

boot();
