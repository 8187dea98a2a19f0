// The nurse's observation in two or three taps: sedation (MOAA/S 5-0, each level in its words),
// dissociation, breathing, an optional note and when. Saved through the REST API; the stream
// then brings it to every screen (this one shows it at once).

import { recordObservation } from "./api.js";
import { DISSOCIATION_LEVELS, MOAAS_WORDS, RESPIRATORY_STATES, el, formatClock } from "./format.js";

const WORDS = { none: "None", mild: "Mild", moderate: "Moderate", severe: "Severe", normal: "Normal", depressed: "Depressed" };
// "Observed …": now, or written down a little after the fact.
const WHEN_MINUTES = [0, 5, 10, 15];

/** A group of buttons of which at most one is chosen; choosing it again clears it. */
function choice(options, onChange) {
  let value = null;
  const buttons = options.map(({ value: v, label, className }) =>
    el("button", {
      type: "button",
      class: `choice ${className || ""}`.trim(),
      "aria-pressed": "false",
      dataset: { value: String(v) },
      onclick: () => set(value === v ? null : v),
    }, ...label),
  );
  const set = (v) => {
    value = v;
    for (const b of buttons) b.setAttribute("aria-pressed", String(b.dataset.value === String(v)));
    onChange();
  };
  return { buttons, get value() { return value; } };
}

export class ObservationDialog {
  constructor(dialog, store) {
    this.dialog = dialog;
    this.store = store;
  }

  /** Open for a chair's open session. */
  open(chair) {
    const session = chair.session;
    if (!session) return;
    const save = el("button", { type: "submit", class: "primary", text: "Save observation", disabled: true });
    const update = () => {
      save.disabled = moaas.value === null && dissociation.value === null && respiratory.value === null;
    };
    const moaas = choice(
      [5, 4, 3, 2, 1, 0].map((level) => ({
        value: level,
        className: `moaas moaas-${level}`,
        label: [el("span", { class: "moaas-level", text: String(level) }), el("span", { class: "moaas-words", text: MOAAS_WORDS[level] })],
      })),
      update,
    );
    const dissociation = choice(DISSOCIATION_LEVELS.map((v) => ({ value: v, label: [WORDS[v]] })), update);
    const respiratory = choice(RESPIRATORY_STATES.map((v) => ({ value: v, label: [WORDS[v]], className: `resp-${v}` })), update);
    const note = el("textarea", { class: "observe-note", name: "note", maxlength: "500", rows: "2", placeholder: "Note (optional)", "aria-label": "Note" });
    const now = this.store.now();
    const when = el(
      "select",
      { name: "when", "aria-label": "When observed" },
      ...WHEN_MINUTES.map((m) => el("option", { value: String(m), text: m ? `${m} min ago (${formatClock(now - m * 60000)})` : "Now" })),
    );
    const error = el("p", { class: "form-error", role: "alert", hidden: true });
    const cancel = el("button", { type: "button", class: "quiet", text: "Cancel", onclick: () => this.dialog.close() });
    const form = el(
      "form",
      { class: "dialog-form observe-form" },
      el("h2", { text: `Observe — ${chair.name} · ${session.patient_label}` }),
      el("fieldset", { class: "observe-group" }, el("legend", { text: "Sedation (MOAA/S)" }), el("div", { class: "moaas-choices" }, ...moaas.buttons)),
      el("fieldset", { class: "observe-group" }, el("legend", { text: "Dissociation" }), el("div", { class: "row-choices" }, ...dissociation.buttons)),
      el("fieldset", { class: "observe-group" }, el("legend", { text: "Breathing" }), el("div", { class: "row-choices" }, ...respiratory.buttons)),
      el("div", { class: "observe-extra" }, note, el("label", { class: "observe-when" }, "Observed ", when)),
      error,
      el("div", { class: "dialog-buttons" }, cancel, save),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      save.disabled = true;
      error.hidden = true;
      const minutes = Number(when.value);
      const body = { moaas: moaas.value, dissociation: dissociation.value, respiratory: respiratory.value, note: note.value.trim() || null };
      if (minutes) body.at = new Date(this.store.now() - minutes * 60000).toISOString();
      try {
        this.store.applyObservation(await recordObservation(session.id, body));
        this.dialog.close();
      } catch (err) {
        error.textContent = `Not saved: ${err.message}`;
        error.hidden = false;
        update();
      }
    });
    this.dialog.replaceChildren(form);
    this.dialog.showModal();
    moaas.buttons[0].focus();
  }
}
