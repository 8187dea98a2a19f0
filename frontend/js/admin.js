// The admin's monitors view: HL7 sources that sent messages nobody has bound (answered AR,
// nothing stored), each bound to a chair with one action, and the monitors registered so far.
// The header button shows how many sources wait; it exists for admins only.

import * as api from "./api.js";
import { el, formatClockSeconds, formatDate, formatDuration } from "./format.js";

const POLL_MS = 10_000;
const KIND_LABEL = { "OBX-18": "OBX-18 equipment", "MSH-3": "MSH-3 sender", "PV1-3": "PV1-3 bed" };
const NEW_CHAIR = "__new__";

const sourceKey = (source) => source.identifiers.map((i) => `${i.kind}=${i.value}`).join("|");

export class MonitorsView {
  /** options.chairsChanged(): reload the chairs (a bind may create one); may return a promise. */
  constructor(dialog, button, store, options = {}) {
    this.dialog = dialog;
    this.button = button;
    this.store = store;
    this.options = options;
    this.sources = [];
    this.devices = [];
    this.rows = new Map(); // source key -> its list item, kept while the admin types in it
    this.timer = null;
    this.active = false;
    this.failures = 0;
    this.inFlight = false;
    this.again = false;
    this.rowCount = 0;
    this.badge = el("span", { class: "count-badge", hidden: true });
    button.append(this.badge);
    button.addEventListener("click", () => this.open());
    dialog.addEventListener("close", () => {
      if (!this.button.hidden) this.button.focus();
    });
    this.#build();
  }

  start() {
    this.unsubscribe = this.store.subscribe((kind) => {
      if (kind !== "snapshot") return;
      this.#syncRole();
      if (this.dialog.open) this.#render();
    });
    this.#syncRole();
  }

  /** Logged out (or no longer an admin): no more polling, no button. */
  stop() {
    this.active = false;
    this.again = false;
    clearTimeout(this.timer);
    this.timer = null;
    this.button.hidden = true;
    if (this.dialog.open) this.dialog.close();
  }

  #syncRole() {
    const admin = (this.store.user || {}).role === "admin";
    if (!admin) {
      this.stop();
      return;
    }
    this.button.hidden = false;
    if (!this.active) {
      this.active = true;
      this.#poll();
    }
  }

  /** One request at a time: asked again while one is out, it asks once more when that is in. */
  async #poll() {
    if (!this.active) return;
    if (this.inFlight) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.inFlight = true;
    try {
      const [sources, devices] = await Promise.all([
        api.unboundHl7Sources(),
        this.dialog.open ? api.devices() : Promise.resolve(null),
      ]);
      if (this.failures) console.info("monitors: the unbound HL7 sources are reachable again");
      this.failures = 0;
      this.sources = sources || [];
      if (devices) this.devices = devices;
      this.listError = null;
    } catch (err) {
      if (err.status === 401 || err.status === 403) {
        // Logged out elsewhere, or no longer an admin: stop asking.
        this.stop();
        return;
      }
      this.failures += 1;
      if (this.failures === 1) console.warn("monitors: could not fetch the unbound HL7 sources", err.message);
      this.listError = `Could not refresh the list: ${err.message}. Retrying every ${POLL_MS / 1000} s.`;
    } finally {
      this.inFlight = false;
    }
    if (!this.active) return;
    this.#renderBadge();
    if (this.dialog.open) this.#render();
    if (this.again) {
      this.again = false;
      this.#poll();
      return;
    }
    this.timer = setTimeout(() => this.#poll(), POLL_MS);
  }

  #renderBadge() {
    const n = this.sources.length;
    this.badge.hidden = n === 0;
    this.badge.textContent = String(n);
    const what = `${n} unbound HL7 source${n === 1 ? "" : "s"}`;
    this.button.setAttribute("aria-label", n ? `Monitors: ${what}` : "Monitors");
    this.button.title = n ? `${what} waiting to be bound to a chair` : "Registered monitors and unbound HL7 sources";
    this.button.dataset.unbound = String(n);
  }

  #build() {
    this.status = el("p", { class: "form-status monitors-status", role: "status" });
    this.error = el("p", { class: "form-error", role: "alert", hidden: true });
    this.sourceCount = el("span", { class: "monitors-count" });
    this.sourceList = el("ol", { class: "hl7-sources" });
    this.sourcesEmpty = el("p", { class: "hint", text: "No unbound HL7 sources. A monitor whose messages no device is bound to appears here after its first message." });
    this.deviceBody = el("tbody");
    this.devicesEmpty = el("p", { class: "hint", text: "No monitors registered yet." });
    this.deviceTable = el(
      "table",
      { class: "devices-table" },
      el("thead", {}, el("tr", {}, ...["Monitor", "Source", "Status", "Last seen"].map((h) => el("th", { scope: "col", text: h })))),
      this.deviceBody,
    );
    const close = el("button", { type: "button", class: "quiet", text: "✕ Close", onclick: () => this.dialog.close() });
    this.dialog.replaceChildren(
      el(
        "div",
        { class: "dialog-form monitors-form" },
        el("div", { class: "monitors-head" }, el("h2", { id: "monitors-title", text: "Monitors" }), close),
        this.status,
        this.error,
        el(
          "section",
          { class: "monitors-section", "aria-labelledby": "hl7-sources-title" },
          el("h3", { id: "hl7-sources-title" }, "Unbound HL7 sources ", this.sourceCount),
          el("p", { class: "hint", text: "These sent HL7 messages that were refused (AR) because no monitor is bound to them; nothing of theirs was stored. Bind one to a chair and its next message is stored." }),
          this.sourceList,
          this.sourcesEmpty,
        ),
        el(
          "section",
          { class: "monitors-section", "aria-labelledby": "devices-title" },
          el("h3", { id: "devices-title", text: "Registered monitors" }),
          this.deviceTable,
          this.devicesEmpty,
        ),
      ),
    );
  }

  open() {
    this.status.textContent = "";
    this.#render();
    if (!this.dialog.open) this.dialog.showModal();
    const first = this.sourceList.querySelector("select");
    if (first) first.focus();
    this.#poll(); // fresh lists now, then every POLL_MS
  }

  #render() {
    this.error.hidden = !this.listError;
    this.error.textContent = this.listError || "";
    this.#renderSources();
    this.#renderDevices();
  }

  /** Rows keep their place while the list refreshes (moving a node would take the focus out
   * of a field the admin is typing in); a newly heard source comes in at the top. */
  #renderSources() {
    const keys = new Set();
    const fresh = [];
    for (const source of this.sources) {
      const key = sourceKey(source);
      keys.add(key);
      let row = this.rows.get(key);
      if (!row) {
        row = this.#sourceRow(source);
        this.rows.set(key, row);
        fresh.push(row.element);
      }
      row.update(source);
    }
    for (const [key, row] of this.rows) {
      // A row the admin is binding stays until the answer is in.
      if (keys.has(key) || row.busy) continue;
      this.rows.delete(key);
      row.element.remove();
    }
    for (const row of this.rows.values()) row.updateChairs();
    if (fresh.length) this.sourceList.prepend(...fresh);
    const count = this.rows.size;
    this.sourcesEmpty.hidden = count > 0;
    this.sourceCount.textContent = count ? `(${count})` : "";
  }

  #chairNames() {
    return this.store.sortedChairs().map((c) => c.name);
  }

  #sourceRow(source) {
    const n = (this.rowCount += 1);
    const identifiers = source.identifiers.map((identifier, index) => {
      const radio = el("input", { type: "radio", name: `hl7-identifier-${n}`, value: identifier.value, checked: index === 0 });
      return el(
        "label",
        { class: "hl7-identifier" },
        radio,
        el("span", { class: "hl7-kind", text: KIND_LABEL[identifier.kind] || identifier.kind }),
        el("code", { class: "hl7-value", text: identifier.value }),
        index === 0 && source.identifiers.length > 1 ? el("span", { class: "hint", text: "most specific" }) : null,
      );
    });
    const meta = el("p", { class: "hl7-meta" });
    const chair = el("select", { name: "chair", class: "bind-chair", id: `bind-chair-${n}` });
    const newName = el("input", { name: "new_chair", class: "bind-new-chair", id: `bind-new-chair-${n}`, maxlength: "64", autocomplete: "off", placeholder: "e.g. Chair 3" });
    const field = (control, text) => el("div", { class: "bind-field" }, el("label", { for: control.id, text }), control);
    const newLabel = field(newName, "New chair name");
    const bind = el("button", { type: "submit", class: "primary", text: "Bind" });
    const error = el("p", { class: "form-error", role: "alert", hidden: true });
    const form = el(
      "form",
      { class: "bind-form", "aria-label": `Bind the HL7 source ${source.identifiers[0].value}` },
      el("fieldset", { class: "hl7-identifiers" }, el("legend", { text: "Identifier to bind" }), ...identifiers),
      meta,
      el("div", { class: "bind-row" }, field(chair, "Chair"), newLabel, bind),
      error,
    );
    const element = el("li", { class: "hl7-source", dataset: { source: source.identifiers[0].value } }, form);
    const showNew = () => {
      newLabel.hidden = chair.value !== NEW_CHAIR;
    };
    chair.addEventListener("change", () => {
      showNew();
      if (chair.value === NEW_CHAIR) newName.focus();
    });
    let chairsKey = null;
    const row = {
      element,
      busy: false,
      update: (s) => {
        const heard = Date.parse(s.last_seen);
        const parts = [
          `Last heard ${formatDuration(this.store.now() - heard)} ago (${formatClockSeconds(heard)})`,
          `${s.messages} message${s.messages === 1 ? "" : "s"} refused`,
          `from ${s.peer}`,
          `first heard ${formatClockSeconds(Date.parse(s.first_seen))}`,
        ];
        meta.replaceChildren(...parts.map((p) => el("span", { text: p })));
      },
      updateChairs: () => {
        const names = this.#chairNames();
        const key = names.join("\n");
        if (key === chairsKey) return;
        chairsKey = key;
        const was = chair.value;
        chair.replaceChildren(
          names.length ? el("option", { value: "", text: "Choose a chair…" }) : null,
          ...names.map((name) => el("option", { value: name, text: name })),
          el("option", { value: NEW_CHAIR, text: "New chair…" }),
        );
        chair.value = names.includes(was) || was === NEW_CHAIR ? was : names.length ? "" : NEW_CHAIR;
        showNew();
      },
    };
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.hidden = true;
      const picked = form.querySelector(`input[name="hl7-identifier-${n}"]:checked`);
      const name = chair.value === NEW_CHAIR ? newName.value.trim() : chair.value;
      if (!name) {
        error.textContent = chair.value === NEW_CHAIR ? "Type the new chair's name." : "Choose the chair this monitor is at.";
        error.hidden = false;
        (chair.value === NEW_CHAIR ? newName : chair).focus();
        return;
      }
      bind.disabled = true;
      row.busy = true;
      try {
        await api.bindHl7Source(name, picked.value);
      } catch (err) {
        error.textContent = `Not bound: ${err.message}`;
        error.hidden = false;
        bind.disabled = false;
        row.busy = false;
        return;
      }
      // The chair may be new: this screen learns of it before the monitor's next message.
      try {
        await this.options.chairsChanged?.();
      } catch (err) {
        console.warn("monitors: could not reload the chairs", err);
      }
      row.busy = false;
      for (const [key, r] of this.rows) if (r === row) this.rows.delete(key);
      element.remove();
      this.sources = this.sources.filter((s) => !s.identifiers.some((i) => i.value === picked.value));
      this.status.textContent = `Bound to ${name} — its next message will be stored`;
      this.#renderBadge();
      this.#render();
      const next = this.sourceList.querySelector("select");
      (next || this.dialog.querySelector(".monitors-head button")).focus();
      this.#poll();
    });
    return row;
  }

  #renderDevices() {
    const chairs = new Map([...this.store.chairs.values()].map((c) => [c.id, c.name]));
    const now = this.store.now();
    const when = (iso) => {
      const t = Date.parse(iso);
      return `${formatDuration(now - t)} ago (${formatClockSeconds(t)})`;
    };
    // Monitors in service first (a revoked one stays listed, for the record, below them).
    const rows = [...this.devices]
      .sort((a, b) => Boolean(a.revoked_at) - Boolean(b.revoked_at) || (chairs.get(a.chair_id) || "").localeCompare(chairs.get(b.chair_id) || "", undefined, { numeric: true }) || a.id - b.id)
      .map((d) => {
        const revoked = Boolean(d.revoked_at);
        return el(
          "tr",
          { class: revoked ? "revoked" : "", dataset: { deviceId: String(d.id) } },
          el("td", {}, el("span", { class: "device-chair", text: chairs.get(d.chair_id) || `Chair #${d.chair_id}` }), el("span", { class: "device-label", text: d.label })),
          el("td", { class: "device-source" }, d.hl7_source ? el("span", {}, el("span", { class: "hl7-kind", text: "HL7 " }), el("code", { class: "hl7-value", text: d.hl7_source })) : "websocket"),
          el("td", { text: revoked ? `Revoked ${formatDate(Date.parse(d.revoked_at))}` : `Registered ${formatDate(Date.parse(d.created_at))}` }),
          el("td", { text: d.last_seen_at ? when(d.last_seen_at) : "never" }),
        );
      });
    this.deviceBody.replaceChildren(...rows);
    this.deviceTable.hidden = rows.length === 0;
    this.devicesEmpty.hidden = rows.length > 0;
  }
}
