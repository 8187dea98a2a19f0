// The discharge review as a checklist the clinician signs: Chairside pre-fills each item from
// the session's data (met, not met, cannot tell), the clinician confirms what it could not
// find met, and the signature ends the session. A nurse sees the same list, read-only.

import { dischargeChecklist, getSession, signDischarge } from "./api.js";
import { el, formatClock } from "./format.js";

const STATE = {
  true: { mark: "✓", text: "met" },
  false: { mark: "✗", text: "not met" },
  null: { mark: "?", text: "cannot tell from the data" },
};

export class DischargeDialog {
  constructor(dialog, store) {
    this.dialog = dialog;
    this.store = store;
  }

  async open(chair) {
    const session = chair.session;
    if (!session) return;
    const title = el("h2", { text: `Discharge — ${chair.name} · ${session.patient_label}` });
    const status = el("p", { class: "hint", role: "status", text: "Loading the checklist…" });
    const close = el("button", { type: "button", class: "quiet", text: "Close", onclick: () => this.dialog.close() });
    this.dialog.replaceChildren(el("div", { class: "dialog-form discharge-form" }, title, status, el("div", { class: "dialog-buttons" }, close)));
    this.dialog.showModal();
    let view;
    try {
      view = await dischargeChecklist(session.id);
    } catch (err) {
      status.className = "form-error";
      status.textContent = `Could not load the checklist: ${err.status === 404 ? "this server has no discharge checklist" : err.message}`;
      return;
    }
    if (!this.dialog.open) return;
    this.#render(chair, session, view, title);
  }

  #render(chair, session, view, title) {
    const canSign = !!view.can_sign;
    const boxes = [];
    const items = (view.items || []).map((item) => {
      const state = STATE[String(item.ok)] || STATE.null;
      const box = canSign
        ? el("input", { type: "checkbox", name: "confirm", value: item.id, checked: item.ok === true, "aria-label": `Confirm: ${item.label}` })
        : null;
      if (box) boxes.push(box);
      return el(
        "li",
        { class: "discharge-item", dataset: { item: item.id, ok: String(item.ok) } },
        el("span", { class: "discharge-mark", title: state.text, text: state.mark }),
        el("span", { class: "discharge-text" }, el("strong", { text: item.label }), el("span", { class: "discharge-detail", text: item.detail || state.text })),
        box ? el("label", { class: "discharge-confirm" }, box, item.ok === true ? "Confirmed" : "I have checked this") : null,
      );
    });
    const list = el("ol", { class: "discharge-items" }, ...items);
    const error = el("p", { class: "form-error", role: "alert", hidden: true });
    const close = el("button", { type: "button", class: "quiet", text: canSign ? "Cancel" : "Close", onclick: () => this.dialog.close() });
    const parts = [title];
    if (view.signed) {
      const at = view.signed.at ? formatClock(Date.parse(view.signed.at)) : "";
      parts.push(el("p", { class: "discharge-signed", text: `Signed by ${view.signed.by} at ${at}${view.signed.note ? ` — “${view.signed.note}”` : ""}` }));
    } else if (!canSign) {
      parts.push(el("p", { class: "hint", text: session.ended_at ? "The session has ended." : "A clinician reviews and signs the discharge." }));
    } else {
      parts.push(el("p", { class: "hint", text: "Chairside has filled in what the data shows. Check each item; signing ends the session." }));
    }
    parts.push(list);
    const buttons = [close];
    let form;
    if (canSign) {
      const note = el("textarea", { class: "discharge-note", name: "note", maxlength: "500", rows: "2", placeholder: "Note (optional)", "aria-label": "Discharge note" });
      const sign = el("button", { type: "submit", class: "primary", text: "Sign discharge and end session" });
      const update = () => { sign.disabled = !boxes.every((b) => b.checked); };
      for (const b of boxes) b.addEventListener("change", update);
      update();
      parts.push(note);
      buttons.push(sign);
      form = el("form", { class: "dialog-form discharge-form" }, ...parts, error, el("div", { class: "dialog-buttons" }, ...buttons));
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        sign.disabled = true;
        error.hidden = true;
        try {
          await signDischarge(session.id, boxes.filter((b) => b.checked).map((b) => b.value), note.value.trim());
          this.store.applySession(await getSession(session.id));
          this.dialog.close();
        } catch (err) {
          error.textContent = `Not signed: ${err.message}`;
          error.hidden = false;
          update();
        }
      });
    } else {
      form = el("div", { class: "dialog-form discharge-form" }, ...parts, el("div", { class: "dialog-buttons" }, ...buttons));
    }
    this.dialog.replaceChildren(form);
  }
}
