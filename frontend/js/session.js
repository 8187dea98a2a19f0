// Nurse controls (start a session, mark the dose) and clinician per-patient limits; a session
// ends with the signed discharge (discharge.js). Every action is confirmed in a dialog; server
// errors are shown as the server said them.

import { markDose, setLimits, startSession } from "./api.js";
import { PROTOCOL_LABEL, el } from "./format.js";

// The limits a clinician may set per patient (rule id -> what it means).
const LIMIT_RULES = [
  { rule: "sbp_critical", label: "SBP high alarm (mmHg)", default: 180 },
  { rule: "sbp_high", label: "SBP warning (mmHg)", default: 160 },
  { rule: "dbp_critical", label: "DBP high alarm (mmHg)", default: 110 },
  { rule: "dbp_high", label: "DBP warning (mmHg)", default: 100 },
  { rule: "hr_critical_high", label: "HR high alarm (/min)", default: 140 },
  { rule: "hr_high", label: "HR warning (/min)", default: 120 },
  { rule: "spo2_low", label: "SpO₂ warning (%)", default: 92 },
  { rule: "spo2_critical", label: "SpO₂ low alarm (%)", default: 88 },
];

export class SessionControls {
  constructor(dialog, store) {
    this.dialog = dialog;
    this.store = store;
  }

  /** Show a dialog; `run` does the work and throws to keep it open with the error shown. */
  #ask(title, body, confirmText, run) {
    const error = el("p", { class: "form-error", role: "alert", hidden: true });
    const confirm = el("button", { type: "submit", class: "primary", text: confirmText });
    const cancel = el("button", { type: "button", class: "quiet", text: "Cancel", onclick: () => this.dialog.close() });
    const form = el("form", { class: "dialog-form" }, el("h2", { text: title }), ...body, error, el("div", { class: "dialog-buttons" }, cancel, confirm));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      confirm.disabled = true;
      error.hidden = true;
      try {
        await run(form);
        this.dialog.close();
      } catch (err) {
        error.textContent = err.message;
        error.hidden = false;
      } finally {
        confirm.disabled = false;
      }
    });
    this.dialog.replaceChildren(form);
    this.dialog.showModal();
    const first = form.querySelector("input, select");
    if (first) first.focus();
  }

  startSession(chair) {
    const protocol = el(
      "select",
      { name: "protocol", required: true },
      el("option", { value: "spravato", text: PROTOCOL_LABEL.spravato }),
      el("option", { value: "iv-ketamine", text: PROTOCOL_LABEL["iv-ketamine"] }),
    );
    const label = el("input", { name: "patient_label", required: true, maxlength: "64", autocomplete: "off", placeholder: "Initials or pseudonymous id" });
    // Optional: the cuff's cycle, so "BP overdue" waits for the interval the monitor is set to.
    const nibp = el("input", { name: "nibp_interval_min", type: "number", min: "1", max: "240", step: "0.5", placeholder: "protocol default" });
    this.#ask(
      `Start a session on ${chair.name}`,
      [
        el("label", {}, "Protocol ", protocol),
        el("label", {}, "Patient ", label),
        el("p", { class: "hint", text: "Initials or a pseudonymous id — never a full name." }),
        el("label", {}, "NIBP interval (min) ", nibp),
      ],
      "Start session",
      async () => {
        const minutes = nibp.value.trim();
        const intervalS = minutes === "" ? null : Math.round(Number(minutes) * 60);
        const session = await startSession(chair.id, protocol.value, label.value.trim(), intervalS);
        this.store.applySession(session);
      },
    );
  }

  markDose(chair) {
    const session = chair.session;
    this.#ask(
      `Mark dose now — ${chair.name} · ${session.patient_label}`,
      [el("p", { text: `${PROTOCOL_LABEL[session.protocol] || session.protocol}: the dose time is set to now; the protocol checks count from it.` })],
      "Mark dose now",
      async () => this.store.applySession(await markDose(session.id)),
    );
  }

  /** The clinician's per-patient limits form (an element for the detail view). */
  limitsForm(session, onError) {
    const overrides = session.limit_overrides || {};
    const inputs = LIMIT_RULES.map((r) => {
      const current = overrides[r.rule] && overrides[r.rule].threshold;
      return {
        rule: r.rule,
        input: el("input", { type: "number", step: "1", name: r.rule, placeholder: `default ${r.default}`, value: current ?? "" }),
        label: r.label,
      };
    });
    const status = el("p", { class: "form-status", role: "status" });
    const form = el(
      "form",
      { class: "limits-form" },
      el("h3", { text: "Per-patient limits" }),
      el("p", { class: "hint", text: "Leave blank to use the clinic default. The server checks each value against the bounds an admin set." }),
      el("div", { class: "limits-grid" }, ...inputs.map((i) => el("label", {}, i.label, i.input))),
      el("button", { type: "submit", class: "primary", text: "Save limits" }),
      status,
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = {};
      for (const { rule, input } of inputs) {
        if (input.value.trim() !== "") body[rule] = { threshold: Number(input.value) };
      }
      status.className = "form-status";
      status.textContent = "Saving…";
      try {
        this.store.applySession(await setLimits(session.id, body));
        status.textContent = "Saved.";
      } catch (err) {
        status.className = "form-error";
        status.textContent = `Not saved: ${err.message}`;
        if (onError) onError(err);
      }
    });
    return form;
  }
}
