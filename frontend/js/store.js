// The screen's state: chairs, their sessions and latest vitals, alerts; readings deduped by id.
// Listeners are told what changed: ("snapshot"), ("readings", chairId, readings),
// ("session", chairId), ("alert", chairId), ("device", chairId), ("observation", chairId).

// RR and EtCO2 come only from a chair whose monitor has a capnograph.
export const VITALS = ["sbp", "dbp", "map", "hr", "spo2", "rr", "etco2"];
const SEEN_IDS_MAX = 50000;
const PRIORITY_RANK = { high: 3, medium: 2, low: 1 };

export function priorityRank(priority) {
  return PRIORITY_RANK[priority] || 0;
}

export class Store {
  constructor() {
    this.user = null;
    this.clinicName = null;
    this.ruleSet = null;
    this.limits = null; // protocol -> the rule set's value limits (snapshot)
    this.clock = null; // "24h" | "12h" (snapshot)
    this.chairs = new Map(); // id -> chair
    this.alerts = new Map(); // id -> alert (not resolved)
    this.observations = new Map(); // session id -> the nurse's observations, in time order
    this.lastReadingId = 0;
    this.hasSnapshot = false;
    this.serverOffsetMs = 0; // server clock minus this screen's clock
    this.seen = new Set();
    this.listeners = new Set();
  }

  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  #emit(...change) {
    for (const listener of this.listeners) {
      try {
        listener(...change);
      } catch (err) {
        console.error("a view failed to update", change[0], err);
      }
    }
  }

  /** Where a reconnect resumes: null before the first snapshot, then the last reading id. */
  resumeFrom() {
    return this.hasSnapshot ? this.lastReadingId : null;
  }

  /** Now, on the server's clock (ages and dose timers use it). */
  now() {
    return Date.now() + this.serverOffsetMs;
  }

  setServerTime(iso) {
    const t = Date.parse(iso);
    if (!Number.isNaN(t)) this.serverOffsetMs = t - Date.now();
  }

  applySnapshot(message) {
    this.setServerTime(message.server_time);
    this.user = message.user || this.user;
    this.clinicName = message.clinic_name || null;
    // One rule set for the clinic's header: the snapshot's own, else the protocols' when they
    // agree (they are one rules file).
    const sets = message.rule_sets ? Object.values(message.rule_sets) : [];
    const same = sets.length && sets.every((r) => r.name === sets[0].name && r.version === sets[0].version);
    this.ruleSet = message.rule_set || (same ? sets[0] : null);
    if (message.limits) this.limits = message.limits;
    if (message.clock) this.clock = message.clock;
    const fresh = new Map();
    for (const c of message.chairs || []) {
      const old = this.chairs.get(c.id);
      fresh.set(c.id, {
        id: c.id,
        name: c.name,
        session: c.session || null,
        latest: { ...(old ? old.latest : {}), ...normaliseLatest(c.latest) },
        deviceLastSeenAt: c.device_last_seen_at ? Date.parse(c.device_last_seen_at) : null,
        lastReadingAt: old ? old.lastReadingAt : latestTime(c.latest),
        deviceConnected: old ? old.deviceConnected : null,
      });
    }
    this.chairs = fresh;
    if (Array.isArray(message.alerts)) {
      this.alerts = new Map();
      for (const a of message.alerts) if (a.state !== "resolved") this.alerts.set(a.id, a);
    }
    if (Array.isArray(message.observations)) {
      this.observations = new Map();
      for (const o of message.observations) this.#addObservation(o);
    }
    this.lastReadingId = Math.max(this.lastReadingId, message.last_reading_id || 0);
    this.hasSnapshot = true;
    this.#emit("snapshot");
  }

  /** Readings from the stream or from REST; returns the ones not seen before. */
  addReadings(readings) {
    const byChair = new Map();
    for (const raw of readings) {
      if (this.seen.has(raw.id)) continue;
      this.#remember(raw.id);
      const reading = normaliseReading(raw);
      if (reading.id > this.lastReadingId && raw.ts !== undefined) this.lastReadingId = reading.id;
      const chair = this.chairs.get(reading.chair_id);
      if (!chair) continue; // a chair this screen has not been told about yet; the next snapshot has it
      for (const v of VITALS) {
        if (reading[v] === undefined || reading[v] === null) continue;
        const prev = chair.latest[v];
        if (!prev || prev.at <= reading.t) chair.latest[v] = { value: reading[v], at: reading.t };
      }
      chair.lastReadingAt = Math.max(chair.lastReadingAt || 0, reading.t);
      if (!byChair.has(chair.id)) byChair.set(chair.id, []);
      byChair.get(chair.id).push(reading);
    }
    for (const [chairId, list] of byChair) this.#emit("readings", chairId, list);
  }

  #remember(id) {
    this.seen.add(id);
    if (this.seen.size > SEEN_IDS_MAX) {
      // Sets iterate in insertion order: drop the oldest tenth.
      let drop = SEEN_IDS_MAX / 10;
      for (const old of this.seen) {
        this.seen.delete(old);
        if (--drop <= 0) break;
      }
    }
  }

  applySession(session) {
    const chair = this.chairs.get(session.chair_id);
    if (!chair) return;
    if (session.ended_at) {
      if (chair.session && chair.session.id === session.id) chair.session = null;
      this.observations.delete(session.id); // the record keeps them; this screen is done
    } else {
      chair.session = session;
    }
    this.#emit("session", chair.id);
  }

  applyDevice(event) {
    const chair = this.chairs.get(event.chair_id);
    if (!chair) return;
    const what = event.event || event.state || event.type;
    if (what === "connected") {
      chair.deviceConnected = true;
      chair.deviceLastSeenAt = this.now();
    } else if (what === "disconnected" || what === "revoked") {
      chair.deviceConnected = false;
    } else if (what === "rejected") {
      chair.lastRejected = { code: event.code, at: this.now() };
    }
    this.#emit("device", chair.id);
  }

  /** A nurse's observation (from the stream, REST or a replay); each kept once. */
  applyObservation(observation) {
    if (!this.#addObservation(observation)) return;
    this.#emit("observation", observation.chair_id, observation);
  }

  #addObservation(observation) {
    const list = this.observations.get(observation.session_id) || [];
    if (list.some((o) => o.id === observation.id)) return false;
    const item = { ...observation, t: Date.parse(observation.at) };
    list.push(item);
    list.sort((a, b) => a.t - b.t || a.id - b.id);
    this.observations.set(observation.session_id, list);
    return true;
  }

  /** A session's observations in time order. */
  observationsOf(sessionId) {
    return this.observations.get(sessionId) || [];
  }

  /** The newest observation of a session that records `finding` (any finding: undefined). */
  lastObservation(sessionId, finding) {
    const list = this.observationsOf(sessionId);
    for (let i = list.length - 1; i >= 0; i--) {
      const o = list[i];
      if (finding === undefined || (o[finding] !== null && o[finding] !== undefined)) return o;
    }
    return null;
  }

  applyAlert(alert) {
    if (alert.state === "resolved") this.alerts.delete(alert.id);
    else this.alerts.set(alert.id, alert);
    this.#emit("alert", alert.chair_id, alert);
  }

  /**
   * Not-resolved alerts, most severe first: priority belongs to the condition, so an
   * acknowledged high stays above an unacknowledged medium. Within a priority: unacknowledged
   * first, escalated first, then newest.
   */
  sortedAlerts(chairId) {
    const list = [...this.alerts.values()].filter(
      (a) => chairId === undefined || a.chair_id === chairId,
    );
    return list.sort(
      (a, b) =>
        priorityRank(b.priority) - priorityRank(a.priority) ||
        (a.state === "active" ? 0 : 1) - (b.state === "active" ? 0 : 1) ||
        (b.escalated_at ? 1 : 0) - (a.escalated_at ? 1 : 0) ||
        Date.parse(b.updated_at || b.raised_at) - Date.parse(a.updated_at || a.raised_at),
    );
  }

  /** The alert a chair's tile shows: the most severe unresolved one, or null. */
  topAlert(chairId) {
    return this.sortedAlerts(chairId)[0] || null;
  }

  /**
   * The alarm state of each vital of a chair: the highest priority among its unresolved
   * physiological alerts on that vital (technical ones say the data is missing, not abnormal).
   * Returns {sbp: "high", hr: "medium", ...}; a vital with none is absent.
   */
  vitalAlarms(chairId) {
    const out = {};
    for (const a of this.alerts.values()) {
      if (a.chair_id !== chairId || a.kind !== "physiological" || !a.vital) continue;
      if (priorityRank(a.priority) > priorityRank(out[a.vital])) out[a.vital] = a.priority;
    }
    return out;
  }

  sortedChairs() {
    return [...this.chairs.values()].sort((a, b) =>
      a.name.localeCompare(b.name, undefined, { numeric: true }),
    );
  }
}

function normaliseLatest(latest) {
  const out = {};
  for (const v of VITALS) {
    const item = latest && latest[v];
    if (item) out[v] = { value: item.value, at: Date.parse(item.measured_at) };
  }
  return out;
}

function latestTime(latest) {
  let t = null;
  for (const v of VITALS) {
    const item = latest && latest[v];
    if (item) t = Math.max(t || 0, Date.parse(item.measured_at));
  }
  return t;
}

/** Stream readings carry `ts`; REST readings carry `measured_at`. */
function normaliseReading(raw) {
  const reading = { ...raw, t: Date.parse(raw.ts || raw.measured_at) };
  return reading;
}
