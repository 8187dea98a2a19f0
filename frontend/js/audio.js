// Alarm tones with Web Audio: high = fast-repeating 10-pulse burst, escalated medium = two
// 3-pulse groups every 7 s, medium = 3 pulses every 15 s, low = 2 pulses once. Browsers may
// block audio until a click or key: the screen says so across its width while alerts wait.

const PATTERNS = {
  // [frequency Hz, pulse s, gaps between pulses s], repeat every s (0 = once per new alert)
  high: { freq: 880, pulse: 0.12, gaps: [0.08, 0.08, 0.3, 0.08, 0.6, 0.08, 0.08, 0.3, 0.08], repeat: 5 },
  escalated: { freq: 740, pulse: 0.16, gaps: [0.1, 0.1, 0.45, 0.1, 0.1], repeat: 7 },
  medium: { freq: 660, pulse: 0.18, gaps: [0.12, 0.12], repeat: 15 },
  low: { freq: 520, pulse: 0.2, gaps: [0.2], repeat: 0 },
};
const NOT_LIVE_REPEAT_S = 20;
export const SILENCE_MS = 2 * 60 * 1000;
const RANK = { high: 4, escalated: 3, medium: 2, low: 1 };
const rank = (priority) => RANK[priority] || 0;

export class AlarmSound {
  constructor(button, silenceButton) {
    this.button = button;
    this.silenceButton = silenceButton || null;
    // "Silence 2 min" pauses the tone only (alerts stay on screen). It ends after 2 min, or at
    // once when a new alert of the silenced priority or higher arrives, or NOT LIVE begins.
    this.silencedUntil = 0;
    this.silencedLevel = null;
    this.silencedIds = new Set();
    this.silencedNotLive = false;
    this.active = [];
    this.tones = 0; // tones started on this screen (tests read it)
    this.context = null;
    this.wanted = true; // the user has not switched sound off
    this.level = null; // highest unacknowledged priority
    this.lastPlayed = 0;
    this.notLive = false;
    this.lowSeen = new Set();
    this.listeners = new Set();
    button.addEventListener("click", () => this.toggle());
    if (this.silenceButton) {
      this.silenceButton.addEventListener("click", () => (this.silenced ? this.resume() : this.silence()));
    }
    this.#show();
  }

  get silenced() {
    return this.silencedUntil > performance.now();
  }

  /** Pause the alarm tone for `ms` (audio only: every alert stays displayed). */
  silence(ms = SILENCE_MS) {
    this.silencedUntil = performance.now() + ms;
    this.silencedLevel = this.level;
    this.silencedIds = new Set(this.active.map((a) => a.id));
    this.silencedNotLive = this.notLive;
    this.#show();
  }

  resume() {
    this.silencedUntil = 0;
    this.lastPlayed = 0; // the tone comes back at once
    this.#show();
  }

  get on() {
    return !!this.context && this.context.state === "running" && this.wanted;
  }

  /**
   * What the screen's sound is doing: "on"; "blocked" (the browser has not let it start:
   * no click or key yet); "off" (switched off on this screen); "silenced" (paused, `leftMs`).
   */
  status() {
    if (!this.wanted) return { state: "off" };
    if (!this.on) return { state: "blocked" };
    const leftMs = this.silencedUntil - performance.now();
    return leftMs > 0 ? { state: "silenced", leftMs } : { state: "on" };
  }

  /** Call `listener()` whenever the sound's state changes (the banner redraws). */
  onChange(listener) {
    this.listeners.add(listener);
  }

  /**
   * Try to start sound without a gesture: a wall screen nobody clicks stays audible where the
   * browser allows it (a kiosk started with --autoplay-policy=no-user-gesture-required).
   */
  tryAutostart() {
    if (this.context || typeof AudioContext === "undefined") return;
    try {
      this.context = new AudioContext();
      this.context.addEventListener("statechange", () => this.#show());
    } catch (err) {
      console.warn("audio is not available", err);
    }
    this.#show();
  }

  /** The one-click (or one-key) fix the banner offers: resume a silence, else turn sound on. */
  fix() {
    if (this.silenced) this.resume();
    else this.enable();
  }

  /** Call from a user gesture (a click, the login submit). */
  enable() {
    this.wanted = true;
    try {
      if (!this.context) {
        this.context = new AudioContext();
        this.context.addEventListener("statechange", () => this.#show());
      }
      const resumed = this.context.resume();
      if (resumed) resumed.then(() => this.#show(), () => this.#show());
    } catch (err) {
      console.warn("audio is not available", err);
    }
    this.#show();
  }

  toggle() {
    if (this.on) {
      this.wanted = false;
      this.silencedUntil = 0;
      this.#show();
    } else this.enable();
  }

  /**
   * @param {{level: string|null, notLive: boolean, newLowIds: number[],
   *   active?: {id: number, priority: string}[]}} state  active: the unacknowledged alerts
   */
  update(state) {
    const nowS = performance.now() / 1000;
    const changed = state.level !== this.level || state.notLive !== this.notLive;
    this.level = state.level;
    this.notLive = state.notLive;
    this.active = state.active || [];
    if (this.silenced && this.#silenceBroken()) this.resume();
    this.#show();
    if (!this.on) return;
    if (this.silenced) {
      for (const id of state.newLowIds) this.lowSeen.add(id);
      return;
    }
    if (this.level === "high" || this.level === "escalated" || this.level === "medium") {
      const repeat = PATTERNS[this.level].repeat;
      if (changed || nowS - this.lastPlayed >= repeat) this.#play(this.level, nowS);
    } else if (this.notLive) {
      if (changed || nowS - this.lastPlayed >= NOT_LIVE_REPEAT_S) this.#play("medium", nowS);
    }
    const fresh = state.newLowIds.filter((id) => !this.lowSeen.has(id));
    for (const id of state.newLowIds) this.lowSeen.add(id);
    if (fresh.length && rank(this.level) <= RANK.low) this.#play("low", nowS);
  }

  /** A new alert at the silenced priority or above, a higher level, or a new NOT LIVE. */
  #silenceBroken() {
    const floor = Math.max(1, rank(this.silencedLevel));
    const fresh = this.active.some((a) => !this.silencedIds.has(a.id) && rank(a.priority) >= floor);
    return fresh || rank(this.level) > rank(this.silencedLevel) || (this.notLive && !this.silencedNotLive);
  }

  #play(priority, nowS) {
    this.lastPlayed = nowS;
    this.tones += 1;
    const p = PATTERNS[priority];
    const ctx = this.context;
    let t = ctx.currentTime + 0.02;
    const gaps = [...p.gaps, 0];
    for (const gap of gaps) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = "square";
      osc.frequency.value = p.freq;
      gain.gain.setValueAtTime(0, t);
      gain.gain.linearRampToValueAtTime(0.18, t + 0.01);
      gain.gain.setValueAtTime(0.18, t + p.pulse - 0.02);
      gain.gain.linearRampToValueAtTime(0, t + p.pulse);
      osc.connect(gain).connect(ctx.destination);
      osc.start(t);
      osc.stop(t + p.pulse + 0.01);
      t += p.pulse + gap;
    }
  }

  #show() {
    for (const listener of this.listeners) listener();
    const on = this.on;
    this.button.dataset.sound = on ? "on" : "off";
    this.button.textContent = on ? "♪ Sound on" : "✕ Sound off — click to enable";
    this.button.title = on ? "Click to switch alarm sound off" : "Browsers keep sound off until you click";
    const b = this.silenceButton;
    if (!b) return;
    b.hidden = !on;
    const left = this.silencedUntil - performance.now();
    const silenced = on && left > 0;
    b.dataset.silenced = String(silenced);
    b.setAttribute("aria-pressed", String(silenced));
    if (silenced) {
      const s = Math.ceil(left / 1000);
      b.textContent = `⊘ Tone silenced ${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")} — resume`;
      b.title = "Alarm tone paused on this screen; alerts stay shown. A new alert brings it back.";
    } else {
      b.textContent = "⊘ Silence 2 min";
      b.title = "Pause the alarm tone on this screen for 2 minutes (alerts stay shown)";
    }
  }
}
