// A stored session for replay: all its readings (paged), its alerts as a timeline of
// transitions and the nurse's observations, and a feed that hands them out as the replay clock
// passes their times.

import { alertHistory, listAlerts, listObservations, sessionReadings } from "./api.js";

const PAGE = 20000;
// What each transition does to the alert's state (as app/services/alerts.py applies them).
const NEXT_STATE = { raised: "active", "re-alarmed": "active", acknowledged: "acknowledged", superseded: "resolved", cleared: "resolved" };

/** Every reading of the session in time order; pages by `start` = the last measured_at. */
export async function loadReadings(sessionId, onProgress) {
  const byId = new Map();
  let start;
  for (;;) {
    const page = await sessionReadings(sessionId, start, undefined, PAGE);
    let added = 0;
    for (const r of page) {
      if (byId.has(r.id)) continue; // `start` is inclusive: the last reading comes again
      byId.set(r.id, { ...r, t: Date.parse(r.measured_at) });
      added += 1;
    }
    if (onProgress) onProgress(byId.size);
    if (page.length < PAGE || !added) break;
    start = page[page.length - 1].measured_at;
  }
  return [...byId.values()].sort((a, b) => a.t - b.t || a.id - b.id);
}

/**
 * The session's alerts as transitions in time order: {t, event, reason, alert} where `alert`
 * is the alert as a screen saw it just after that transition (the live stream's shape).
 */
export async function loadAlertEvents(sessionId) {
  const alerts = await listAlerts({ session_id: sessionId, limit: 5000 });
  const histories = await Promise.all(
    alerts.map((a) => alertHistory(a.id).catch((err) => {
      console.warn("alert history not available; using the alert's own times", a.id, err);
      return fallbackHistory(a);
    })),
  );
  const events = [];
  alerts.forEach((a, i) => events.push(...transitions(a, histories[i])));
  events.sort((x, y) => x.t - y.t || x.alert.id - y.alert.id);
  return { alerts, events };
}

/** The nurse's observations in the order they were made, each with its time `t`. */
export async function loadObservations(sessionId) {
  const list = await listObservations(sessionId);
  return list.map((o) => ({ ...o, t: Date.parse(o.at) })).sort((a, b) => a.t - b.t || a.id - b.id);
}

function fallbackHistory(a) {
  const list = [{ at: a.raised_at, event: "raised", priority: a.priority, value: a.value, message: a.message }];
  if (a.acknowledged_at) list.push({ at: a.acknowledged_at, event: "acknowledged", priority: a.priority, value: a.value, message: a.message });
  if (a.resolved_at) list.push({ at: a.resolved_at, event: "cleared", priority: a.priority, value: a.value, message: a.message });
  return list;
}

function transitions(record, history) {
  const out = [];
  let current = null;
  for (const h of history) {
    const base = current || {
      ...record,
      state: "active",
      raised_at: h.at,
      acknowledged_at: null,
      acknowledged_by: null,
      ack_note: null,
      resolved_at: null,
    };
    const next = { ...base, priority: h.priority || base.priority, updated_at: h.at, event: h.event };
    if (["raised", "re-alarmed", "escalated"].includes(h.event)) {
      next.message = h.message || base.message;
      next.value = h.value ?? base.value;
    }
    const state = NEXT_STATE[h.event];
    if (state) next.state = state;
    if (h.event === "acknowledged") {
      next.acknowledged_at = h.at;
      next.acknowledged_by = record.acknowledged_by;
      next.ack_note = record.ack_note;
    }
    if (h.event === "re-alarmed") next.acknowledged_at = null;
    if (state === "resolved") next.resolved_at = h.at;
    current = next;
    out.push({ t: Date.parse(h.at), event: h.event, reason: h.reason || null, alert: next });
  }
  return out;
}

/** Hands out readings, alert transitions and observations up to a time, once each, in order. */
export class ReplayFeed {
  constructor(readings, events, observations = []) {
    this.readings = readings;
    this.events = events;
    this.observations = observations;
    this.reset();
  }

  reset() {
    this.nextReading = 0;
    this.nextEvent = 0;
    this.nextObservation = 0;
  }

  /** Everything with a time <= t not handed out yet. */
  take(t) {
    const r0 = this.nextReading;
    while (this.nextReading < this.readings.length && this.readings[this.nextReading].t <= t) this.nextReading += 1;
    const e0 = this.nextEvent;
    while (this.nextEvent < this.events.length && this.events[this.nextEvent].t <= t) this.nextEvent += 1;
    const o0 = this.nextObservation;
    while (this.nextObservation < this.observations.length && this.observations[this.nextObservation].t <= t) this.nextObservation += 1;
    return {
      readings: this.readings.slice(r0, this.nextReading),
      events: this.events.slice(e0, this.nextEvent),
      observations: this.observations.slice(o0, this.nextObservation),
    };
  }
}
