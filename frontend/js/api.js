// REST calls to the Chairside server; a failure becomes an ApiError with a plain message.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function describe(detail) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    // FastAPI validation errors: [{loc: [...], msg}]
    return detail
      .map((d) => `${(d.loc || []).filter((p) => p !== "body").join(".")}: ${d.msg}`)
      .join("; ");
  }
  return JSON.stringify(detail);
}

async function request(method, path, body) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, "Cannot reach the Chairside server.");
  }
  if (response.status === 204) return null;
  let payload = null;
  const text = await response.text();
  try {
    payload = text ? JSON.parse(text) : null;
  } catch {
    payload = null;
  }
  if (!response.ok) {
    const message = payload && payload.detail !== undefined
      ? describe(payload.detail)
      : `${response.status} ${response.statusText || "error"}`;
    throw new ApiError(response.status, message);
  }
  return payload;
}

const q = (params) => {
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null) search.set(k, v);
  const s = search.toString();
  return s ? `?${s}` : "";
};

export const login = (name, password) => request("POST", "/api/auth/login", { name, password });
export const logout = () => request("POST", "/api/auth/logout");
export const me = () => request("GET", "/api/auth/me");
export const chairs = () => request("GET", "/api/chairs");
export const startSession = (chairId, protocol, patientLabel, nibpIntervalS = null) =>
  request("POST", "/api/sessions", {
    chair_id: chairId,
    protocol,
    patient_label: patientLabel,
    ...(nibpIntervalS === null ? {} : { nibp_interval_s: nibpIntervalS }),
  });
export const markDose = (sessionId) => request("POST", `/api/sessions/${sessionId}/dose`, {});
export const setLimits = (sessionId, overrides) =>
  request("PUT", `/api/sessions/${sessionId}/limits`, { limit_overrides: overrides });
export const sessionReadings = (sessionId, start, end, limit) =>
  request("GET", `/api/sessions/${sessionId}/readings${q({ start, end, limit })}`);
export const listSessions = (params) => request("GET", `/api/sessions${q(params)}`);
export const getSession = (sessionId) => request("GET", `/api/sessions/${sessionId}`);
export const acknowledgeAlert = (alertId, note) =>
  request("POST", `/api/alerts/${alertId}/ack`, { note: note || null });
export const listAlerts = (params) => request("GET", `/api/alerts${q(params)}`);
export const alertHistory = (alertId) => request("GET", `/api/alerts/${alertId}/history`);
export const recordObservation = (sessionId, observation) =>
  request("POST", `/api/sessions/${sessionId}/observations`, observation);
export const listObservations = (sessionId) => request("GET", `/api/sessions/${sessionId}/observations`);
export const dischargeChecklist = (sessionId) => request("GET", `/api/sessions/${sessionId}/discharge`);
export const signDischarge = (sessionId, confirm, note) =>
  request("POST", `/api/sessions/${sessionId}/discharge`, { confirm, note: note || null });
export const reportUrl = (sessionId) => `/api/sessions/${sessionId}/report.pdf`;
export const devices = () => request("GET", "/api/devices");
export const unboundHl7Sources = () => request("GET", "/api/hl7/unbound");
/** Registers a monitor at ``chair`` (created if new) whose HL7 messages carry ``source``. */
export const bindHl7Source = (chair, source) =>
  request("POST", "/api/devices", { chair, hl7_source: source });
