// Shared wording for times, ages, priorities and protocols (what a nurse reads).

export const PRIORITY_LABEL = { high: "▲ HIGH", medium: "◆ MEDIUM", low: "● LOW" };
export const PROTOCOL_LABEL = { spravato: "Spravato", "iv-ketamine": "IV ketamine" };

export function formatDuration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  const rest = m % 60;
  return rest ? `${h} h ${rest} min` : `${h} h`;
}

export function formatClock(t) {
  return new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

export function formatClockSeconds(t) {
  return new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
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
  return new Date(t).toLocaleString([], { weekday: "short", day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" });
}

/** 1:05:09 or 5:09: a position on a replay's clock. */
export function formatHms(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}
