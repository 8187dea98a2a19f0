// Alarm tones with Web Audio: high = fast-repeating 10-pulse burst, medium = 3 pulses,
// low = 2 pulses once. Browsers block audio until a click, so the header shows when it is off.

const PATTERNS = {
  // [frequency Hz, pulse s, gaps between pulses s], repeat every s (0 = once per new alert)
  high: { freq: 880, pulse: 0.12, gaps: [0.08, 0.08, 0.3, 0.08, 0.6, 0.08, 0.08, 0.3, 0.08], repeat: 5 },
  medium: { freq: 660, pulse: 0.18, gaps: [0.12, 0.12], repeat: 15 },
  low: { freq: 520, pulse: 0.2, gaps: [0.2], repeat: 0 },
};
const NOT_LIVE_REPEAT_S = 20;

export class AlarmSound {
  constructor(button) {
    this.button = button;
    this.context = null;
    this.wanted = true; // the user has not switched sound off
    this.level = null; // highest unacknowledged priority
    this.lastPlayed = 0;
    this.notLive = false;
    this.lowSeen = new Set();
    button.addEventListener("click", () => this.toggle());
    this.#show();
  }

  get on() {
    return !!this.context && this.context.state === "running" && this.wanted;
  }

  /** Call from a user gesture (a click, the login submit). */
  enable() {
    this.wanted = true;
    try {
      if (!this.context) this.context = new AudioContext();
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
      this.#show();
    } else this.enable();
  }

  /** @param {{level: string|null, notLive: boolean, newLowIds: number[]}} state */
  update(state) {
    this.#show();
    const nowS = performance.now() / 1000;
    const changed = state.level !== this.level || state.notLive !== this.notLive;
    this.level = state.level;
    this.notLive = state.notLive;
    if (!this.on) return;
    if (this.level === "high" || this.level === "medium") {
      const repeat = PATTERNS[this.level].repeat;
      if (changed || nowS - this.lastPlayed >= repeat) this.#play(this.level, nowS);
    } else if (this.notLive) {
      if (changed || nowS - this.lastPlayed >= NOT_LIVE_REPEAT_S) this.#play("medium", nowS);
    }
    const fresh = state.newLowIds.filter((id) => !this.lowSeen.has(id));
    for (const id of state.newLowIds) this.lowSeen.add(id);
    if (fresh.length && this.level !== "high" && this.level !== "medium") this.#play("low", nowS);
  }

  #play(priority, nowS) {
    this.lastPlayed = nowS;
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
    const on = this.on;
    this.button.dataset.sound = on ? "on" : "off";
    this.button.textContent = on ? "♪ Sound on" : "✕ Sound off — click to enable";
    this.button.title = on ? "Click to switch alarm sound off" : "Browsers keep sound off until you click";
  }
}
