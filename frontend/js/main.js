// Entry point: login or clinic view; wires the stream, the store and the views together.

import * as api from "./api.js";
import { AlertList } from "./alerts.js";
import { AlarmSound } from "./audio.js";
import { Connection } from "./connection.js";
import { DetailView } from "./detail.js";
import { formatDuration } from "./format.js";
import { ReplayView } from "./replay.js";
import { SessionControls } from "./session.js";
import { Store, priorityRank } from "./store.js";
import { ChairTile } from "./tile.js";
import { keepScreenAwake } from "./wakelock.js";

const $ = (id) => document.getElementById(id);
const MIN_TILE_WIDTH = 290;
const CHART_HISTORY_MS = 60 * 60 * 1000;

class Clinic {
  constructor(user, sound) {
    this.store = new Store();
    this.store.user = user;
    this.sound = sound;
    this.tiles = new Map();
    this.historyLoaded = new Set();
    this.unknownTypes = new Set();
    this.controls = new SessionControls($("session-dialog"), this.store);
    const canAck = () => ["clinician", "admin"].includes((this.store.user || {}).role);
    this.alertList = new AlertList(this.store, { list: $("alert-list"), empty: $("alerts-empty"), count: $("alert-count"), canAcknowledge: canAck });
    this.detail = new DetailView($("detail-view"), this.store, this.controls, { canSetLimits: canAck });
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
    this.ticker = setInterval(() => this.#tick(), 1000);
    window.addEventListener("hashchange", () => this.#route());
    window.addEventListener("resize", () => this.#layout());
    this.#route();
  }

  /** Every server message goes through this one switch. */
  #dispatch(message) {
    switch (message.type) {
      case "snapshot":
        this.store.applySnapshot(message);
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

  #reportUnknown(message) {
    console.warn("dashboard: unknown message type", message.type, message);
    this.unknownTypes.add(String(message.type));
    document.body.dataset.unknownTypes = [...this.unknownTypes].join(" ");
  }

  #changed(kind, chairId, payload) {
    if (kind === "snapshot") {
      this.#syncTiles();
      this.#renderUser();
      this.#loadHistory();
      this.alertList.render();
      this.detail.render();
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

  /** Columns and rows so every tile fits the screen when it can (wall screen), else scroll. */
  #layout() {
    const container = $("tiles");
    const n = Math.max(1, this.tiles.size);
    const width = container.clientWidth || window.innerWidth;
    const fit = Math.max(1, Math.floor(width / MIN_TILE_WIDTH));
    const cols = Math.min(fit, n <= 4 ? 2 : n <= 9 ? 3 : n <= 16 ? 4 : 6);
    container.style.setProperty("--cols", String(Math.min(cols, n)));
    container.style.setProperty("--rows", String(Math.ceil(n / Math.min(cols, n))));
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
  }

  /** Only live alerts reach the alarm tone; a replay has its own store and never sounds. */
  #renderSound() {
    let level = null;
    const lows = [];
    const active = [];
    for (const a of this.store.alerts.values()) {
      if (a.state !== "active") continue;
      if (priorityRank(a.priority) > priorityRank(level)) level = a.priority;
      if (a.priority === "low") lows.push(a.id);
      active.push({ id: a.id, priority: a.priority });
    }
    this.sound.update({ level, notLive: !this.connection.live, newLowIds: lows, active });
    this.replay.renderLive(active.length);
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

async function boot() {
  const sound = new AlarmSound($("sound-toggle"), $("silence"));
  // Any click on the page counts as permission for sound (browsers need one).
  document.addEventListener("pointerdown", (event) => {
    if (event.target.closest("#sound-toggle")) return; // that button decides for itself
    if (!sound.on && sound.wanted) sound.enable();
  });
  if (!window.Plotly) console.error("plotly.js did not load: charts are off");
  try {
    showClinic(await api.me(), sound);
  } catch (err) {
    if (err.status !== 401) console.warn("could not check the login", err);
    showLogin(sound);
  }
}

boot();
