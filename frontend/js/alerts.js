// The alert list: most severe first (an acknowledged high stays above a medium), unacknowledged
// before acknowledged within a priority, then newest; clinicians and
// admins acknowledge with an optional note (nurses see who may, not a button).

import { acknowledgeAlert } from "./api.js";
import { alertLabel, el, formatClock, formatClockSeconds, formatDuration, isEscalated } from "./format.js";

const KIND_LABEL = { physiological: "Physiological", technical: "Technical", advisory: "Advisory" };
// A reading reaches the engine within a second or two; later than this it "arrived late" (a
// monitor's catch-up batch), and the alert says when it was measured as well as raised.
const LATE_MS = 5000;

export class AlertList {
  constructor(store, { list, empty, count, canAcknowledge }) {
    this.store = store;
    this.list = list;
    this.empty = empty;
    this.count = count;
    this.canAcknowledge = canAcknowledge;
    this.items = new Map(); // alert id -> {element, parts}
  }

  render() {
    const now = this.store.now();
    const alerts = this.store.sortedAlerts();
    const keep = new Set(alerts.map((a) => a.id));
    for (const [id, item] of this.items) {
      if (!keep.has(id)) {
        item.element.remove();
        this.items.delete(id);
      }
    }
    for (const alert of alerts) {
      let item = this.items.get(alert.id);
      if (!item) {
        item = this.#build(alert);
        this.items.set(alert.id, item);
      }
      this.#update(item, alert, now);
      this.list.append(item.element); // moves it into sorted order
    }
    const active = alerts.filter((a) => a.state === "active").length;
    this.empty.hidden = alerts.length > 0;
    this.count.textContent = alerts.length ? `${active} unacknowledged · ${alerts.length - active} acknowledged` : "";
  }

  #build(alert) {
    const parts = {
      badge: el("span", { class: "badge" }),
      where: el("span", { class: "alert-where" }),
      time: el("span", { class: "alert-time" }),
      message: el("div", { class: "alert-message" }),
      measured: el("div", { class: "alert-meta alert-measured", hidden: true }),
      meta: el("div", { class: "alert-meta" }),
      ackState: el("div", { class: "alert-ack-state" }),
      forwarded: el("div", { class: "alert-meta alert-forwarded", hidden: true }),
      error: el("div", { class: "form-error", role: "alert", hidden: true }),
    };
    const element = el(
      "li",
      { class: "alert-item", dataset: { alertId: alert.id } },
      el("div", { class: "alert-line" }, parts.badge, parts.where, parts.time),
      parts.message,
      parts.measured,
      parts.meta,
      parts.ackState,
      parts.forwarded,
    );
    if (this.canAcknowledge()) {
      // A sentence fits: the note wraps over the card's width as it is typed.
      const note = el("textarea", { class: "ack-note", name: "note", maxlength: "500", rows: "2", placeholder: "Note (optional), e.g. repeat cuff in 5 min", "aria-label": "Acknowledgement note" });
      const form = el(
        "form",
        { class: "ack-form", hidden: true },
        note,
        el(
          "div",
          { class: "ack-buttons" },
          el("button", { type: "submit", class: "primary", text: "Confirm" }),
          el("button", { type: "button", class: "quiet", text: "Cancel", onclick: () => { form.hidden = true; parts.ackButton.hidden = false; } }),
        ),
      );
      // The field grows with what is typed, so the whole note stays in view.
      note.addEventListener("input", () => {
        note.style.height = "auto";
        note.style.height = `${note.scrollHeight + 2}px`;
      });
      // Enter confirms (Shift+Enter starts a new line), as in a one-line field.
      note.addEventListener("keydown", (event) => {
        if (event.key === "Enter" && !event.shiftKey) {
          event.preventDefault();
          form.requestSubmit();
        }
      });
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        this.#acknowledge(alert.id, note.value.trim(), form, parts);
      });
      parts.ackButton = el("button", {
        type: "button",
        class: "ack-button",
        text: "Acknowledge",
        onclick: () => {
          parts.ackButton.hidden = true;
          form.hidden = false;
          note.focus();
        },
      });
      parts.form = form;
      element.append(el("div", { class: "alert-actions" }, parts.ackButton, form), parts.error);
    }
    return { element, parts };
  }

  async #acknowledge(alertId, note, form, parts) {
    parts.error.hidden = true;
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true;
    try {
      const answer = await acknowledgeAlert(alertId, note);
      const updated = answer && (answer.alert || (answer.id !== undefined ? answer : null));
      if (updated) this.store.applyAlert(updated);
      form.hidden = true;
    } catch (err) {
      parts.error.textContent = `Not acknowledged: ${err.message}`;
      parts.error.hidden = false;
      parts.ackButton.hidden = false;
      form.hidden = true;
    } finally {
      submit.disabled = false;
    }
  }

  /** When the reading behind the alert was measured, if it reached the engine late. */
  #showMeasured(line, alert, raised, now) {
    const measured = alert.measured_at ? Date.parse(alert.measured_at) : NaN;
    const late = raised - measured;
    line.hidden = !(late > LATE_MS);
    if (line.hidden) {
      line.textContent = "";
      return;
    }
    line.textContent = `Measured ${formatDuration(now - measured)} ago (${formatClock(measured)}), arrived ${formatDuration(late)} late`;
    line.title = `Measured ${formatClockSeconds(measured)}; raised ${formatClockSeconds(raised)}, when the reading arrived`;
  }

  #update(item, alert, now) {
    const { element, parts } = item;
    const chair = this.store.chairs.get(alert.chair_id);
    const session = chair && chair.session && chair.session.id === alert.session_id ? chair.session : null;
    const escalated = isEscalated(alert);
    element.className = `alert-item prio-${alert.priority} state-${alert.state}${escalated ? " escalated" : ""}`;
    element.dataset.state = alert.state;
    parts.badge.textContent = alertLabel(alert);
    parts.where.textContent = [chair ? chair.name : `Chair ${alert.chair_id}`, session && session.patient_label].filter(Boolean).join(" · ");
    const raised = Date.parse(alert.raised_at);
    parts.time.textContent = `${formatDuration(now - raised)} ago`;
    parts.time.title = `Raised ${formatClock(raised)}`;
    parts.message.textContent = alert.message;
    this.#showMeasured(parts.measured, alert, raised, now);
    const bits = [KIND_LABEL[alert.kind] || alert.kind];
    if (escalated) bits.push(`escalated ${formatClock(Date.parse(alert.escalated_at))}: not acknowledged in time`);
    if (alert.event === "re-alarmed") bits.push("re-alarmed — condition persists");
    if (alert.latched) bits.push("latched: condition has ended, acknowledge to clear");
    parts.meta.textContent = bits.join(" · ");
    if (alert.state === "acknowledged") {
      const who = alert.acknowledged_by || "someone";
      const at = alert.acknowledged_at ? ` at ${formatClock(Date.parse(alert.acknowledged_at))}` : "";
      parts.ackState.textContent = `✓ Acknowledged by ${who}${at}${alert.ack_note ? ` — “${alert.ack_note}”` : ""}`;
      parts.ackState.hidden = false;
    } else {
      parts.ackState.textContent = this.canAcknowledge() ? "" : "Unacknowledged — a clinician acknowledges";
      parts.ackState.hidden = !parts.ackState.textContent;
    }
    // What the hospital's Alert Manager reported (PCD-05), e.g. "sent to pager — delivered 10:42:05".
    parts.forwarded.hidden = !alert.forward_status;
    if (alert.forward_status) parts.forwarded.textContent = `sent to pager — ${alert.forward_status.toLowerCase()}${alert.forward_status_at ? ` ${formatClockSeconds(Date.parse(alert.forward_status_at))}` : ""}`;
    if (parts.ackButton) {
      const open = parts.form && !parts.form.hidden;
      parts.ackButton.hidden = alert.state !== "active" || open;
      if (alert.state !== "active" && parts.form) parts.form.hidden = true;
    }
  }
}
