// Shared wording for times, ages, priorities and protocols (what a nurse reads).

export const PRIORITY_LABEL = { high: "▲ HIGH", medium: "◆ MEDIUM", low: "● LOW" };
export const PRIORITY_SYMBOL = { high: "▲", medium: "◆", low: "●" };
// A medium alert nobody acknowledged in time: its own marker, label and tone.
export const ESCALATED_LABEL = "◆◆ MEDIUM · ESCALATED";

/** The label an alert shows: its priority, or that it escalated while unacknowledged. */
export function alertLabel(alert) {
  if (isEscalated(alert)) return ESCALATED_LABEL;
  return PRIORITY_LABEL[alert.priority] || alert.priority;
}

/** Escalated and still waiting for someone (an acknowledgement ends the escalation). */
export function isEscalated(alert) {
  return !!alert && alert.state === "active" && !!alert.escalated_at;
}
export const PROTOCOL_LABEL = { spravato: "Spravato", "iv-ketamine": "IV ketamine" };

export function formatDuration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  // No line break between a number and its unit (U+00A0).
  if (s < 60) return `${s}\u00a0s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}\u00a0min`;
  const h = Math.floor(m / 60);
  const rest = m % 60;
  return rest ? `${h}\u00a0h ${rest}\u00a0min` : `${h}\u00a0h`;
}

// The clinic's one way of writing the time of day (the server's `clock` setting): 24-hour by
// default, 12-hour where the clinic chose it. Tables, charts, alert cards and the record use it.
let clock = "24h";

export function setClockFormat(format) {
  if (format === "24h" || format === "12h") clock = format;
}

export function clockFormat() {
  return clock;
}

function timeOptions(extra) {
  return { hour: clock === "12h" ? "numeric" : "2-digit", minute: "2-digit", hourCycle: clock === "12h" ? "h12" : "h23", ...extra };
}

/** "14:05" (or "2:05 PM"). */
export function formatClock(t) {
  return new Date(t).toLocaleTimeString([], timeOptions());
}

/** "14:05:09" (or "2:05:09 PM"). */
export function formatClockSeconds(t) {
  return new Date(t).toLocaleTimeString([], timeOptions({ second: "2-digit" }));
}

/** Plotly (d3) time formats for a chart's axis ticks and hover labels, in the clinic's clock. */
export function chartTimeFormats() {
  return clock === "12h" ? { tick: "%-I:%M %p", hover: "%-I:%M:%S %p" } : { tick: "%H:%M", hover: "%H:%M:%S" };
}

export function formatNumber(value) {
  return Number.isInteger(value) ? String(value) : String(Math.round(value));
}

/** Build an element: el("div", {class: "x", text: "y"}, child...). Never parses HTML. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") node.textContent = v;
    else if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

/**
 * The next protocol check after the dose (CLINICAL.md): Spravato BP at ~40 min, discharge
 * review at 2 h; IV ketamine discharge review at 100 min (40 min infusion + 60 min).
 */
export function doseTimer(session, now) {
  if (!session) return { text: "No session", due: false };
  if (!session.dose_at) return { text: "Not dosed yet", due: false };
  const since = now - Date.parse(session.dose_at);
  const min = since / 60000;
  const head = `Dose ${formatDuration(since)} ago`;
  const inTime = (atMin) => formatDuration(atMin * 60000 - since);
  if (session.protocol === "spravato") {
    if (min < 35) return { text: `${head} · BP check at 40 min (in ${inTime(40)})`, due: false };
    if (min < 45) return { text: `${head} · 40-min BP check due now`, due: true };
    if (min < 120) return { text: `${head} · discharge review at 2 h (in ${inTime(120)})`, due: false };
    return { text: `${head} · discharge review due`, due: true };
  }
  if (min < 100) return { text: `${head} · discharge review at 100 min (in ${inTime(100)})`, due: false };
  return { text: `${head} · discharge review due`, due: true };
}

/** "Tue 25 Nov 2025, 11:02": a session's date where a day matters (replay). */
export function formatDate(t) {
  return new Date(t).toLocaleString([], timeOptions({ weekday: "short", day: "numeric", month: "short", year: "numeric" }));
}

/** 1:05:09 or 5:09: a position on a replay's clock. */
export function formatHms(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

// The MOAA/S scale a nurse scores sedation on, 5 (awake) to 0, in the words of each level.
export const MOAAS_WORDS = {
  5: "Responds readily to name spoken in normal tone",
  4: "Lethargic response to name spoken in normal tone",
  3: "Responds only after name is called loudly and/or repeatedly",
  2: "Responds only after mild prodding or shaking",
  1: "Responds only after painful trapezius squeeze",
  0: "No response after painful trapezius squeeze",
};
export const DISSOCIATION_LEVELS = ["none", "mild", "moderate", "severe"];
export const RESPIRATORY_STATES = ["normal", "depressed"];

/** "MOAA/S 5 · dissoc. mild · resp. normal": the findings of one observation, short. */
export function observationSummary(observation) {
  const parts = [];
  if (observation.moaas !== null && observation.moaas !== undefined) parts.push(`MOAA/S ${observation.moaas}`);
  if (observation.dissociation) parts.push(`dissoc. ${observation.dissociation}`);
  if (observation.respiratory) parts.push(`resp. ${observation.respiratory}`);
  return parts.join(" · ");
}
