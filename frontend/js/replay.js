// The replay view (#replay, #replay/<session id>): pick a stored session, then play it.
// A striped violet REPLAY banner stays on top the whole time so it is never taken for live;
// live alerts that need attention meanwhile are named in the banner (and still sound).

import { chairs as fetchChairs, getSession, listSessions } from "./api.js";
import { PROTOCOL_LABEL, el, formatClock, formatDate, formatDuration } from "./format.js";
import { ReplayPlayer } from "./replay-player.js";

export class ReplayView {
  constructor(root, { chairNames, headerLink }) {
    this.root = root;
    this.chairNames = chairNames; // () => Map id -> name (the live store's chairs)
    this.headerLink = headerLink;
    this.player = null;
    this.sessionId = undefined; // undefined: closed; null: the list; a number: that session
    this.what = el("span", { class: "replay-what", text: "pick a stored session" });
    this.liveNote = el("a", { class: "replay-live-note", href: "#", hidden: true });
    this.banner = el(
      "div",
      { class: "replay-banner", role: "status" },
      el("strong", { text: "⟲ REPLAY" }),
      el("span", { text: " — not live — " }),
      this.what,
      this.liveNote,
    );
    this.body = el("div", { class: "replay-body" });
  }

  get isOpen() {
    return this.sessionId !== undefined;
  }

  /** Open the list (sessionId null) or one session. */
  show(sessionId) {
    if (this.sessionId === sessionId) return;
    this.#stopPlayer();
    this.sessionId = sessionId;
    this.root.hidden = false;
    document.body.classList.add("replay-open");
    this.headerLink.textContent = "● Back to live";
    this.headerLink.href = "#";
    this.headerLink.classList.add("to-live");
    this.root.replaceChildren(this.banner, this.body);
    if (sessionId === null) this.#showList();
    else this.#showSession(sessionId);
  }

  close() {
    this.#stopPlayer();
    this.sessionId = undefined;
    this.root.hidden = true;
    this.root.replaceChildren();
    document.body.classList.remove("replay-open");
    this.headerLink.textContent = "⟲ Replay";
    this.headerLink.href = "#replay";
    this.headerLink.classList.remove("to-live");
  }

  /** Called every second with the live screen's unacknowledged alerts. */
  renderLive(activeCount) {
    if (!this.isOpen) return;
    this.liveNote.hidden = !activeCount;
    this.liveNote.textContent = activeCount ? `LIVE: ${activeCount} alert${activeCount > 1 ? "s need" : " needs"} attention — back to live` : "";
  }

  #stopPlayer() {
    if (this.player) this.player.destroy();
    this.player = null;
  }

  async #names() {
    const names = this.chairNames();
    if (names.size) return names;
    try {
      return new Map((await fetchChairs()).map((c) => [c.id, c.name]));
    } catch {
      return names;
    }
  }

  async #showList() {
    this.what.textContent = "pick a stored session to play back";
    const status = el("p", { class: "hint", text: "Loading sessions…" });
    const tbody = el("tbody");
    this.body.replaceChildren(
      el("h2", { class: "replay-title", text: "Stored sessions" }),
      el("p", { class: "hint", text: "Newest first. A replay shows the recorded readings and alerts on a simulated clock; it never sounds an alarm." }),
      status,
      el(
        "table",
        { class: "sessions-table" },
        el("thead", {}, el("tr", {}, ...["Started", "Chair", "Patient", "Protocol", "Dose", "Length", ""].map((h) => el("th", { text: h })))),
        tbody,
      ),
    );
    try {
      const [sessions, names] = await Promise.all([listSessions({ limit: 100 }), this.#names()]);
      if (this.sessionId !== null) return;
      status.textContent = sessions.length ? `${sessions.length} session${sessions.length > 1 ? "s" : ""}` : "No stored sessions yet.";
      tbody.replaceChildren(...sessions.map((s) => this.#row(s, names)));
    } catch (err) {
      status.textContent = `Could not load the sessions: ${err.message}`;
      status.className = "form-error";
    }
  }

  #row(s, names) {
    const started = Date.parse(s.started_at);
    const length = s.ended_at ? formatDuration(Date.parse(s.ended_at) - started) : "still open";
    return el(
      "tr",
      { dataset: { sessionId: s.id } },
      el("td", { text: formatDate(started) }),
      el("td", { text: names.get(s.chair_id) || `Chair #${s.chair_id}` }),
      el("td", { class: "patient-cell", text: s.patient_label }),
      el("td", { text: PROTOCOL_LABEL[s.protocol] || s.protocol }),
      el("td", { text: s.dose_at ? formatClock(Date.parse(s.dose_at)) : "—" }),
      el("td", { text: length }),
      el("td", {}, el("a", { class: "button-link", href: `#replay/${s.id}`, text: "▶ Replay" })),
    );
  }

  async #showSession(sessionId) {
    this.what.textContent = "loading the session…";
    const host = el("section", { class: "replay-player" });
    const title = el("h2", { class: "replay-title" });
    this.body.replaceChildren(
      el("header", { class: "replay-head" }, el("a", { class: "back", href: "#replay", text: "← All stored sessions" }), title),
      host,
    );
    let session;
    let names;
    try {
      [session, names] = await Promise.all([getSession(sessionId), this.#names()]);
    } catch (err) {
      if (this.sessionId === sessionId) host.replaceChildren(el("p", { class: "form-error", text: `Could not load session ${sessionId}: ${err.message}` }));
      return;
    }
    if (this.sessionId !== sessionId) return;
    const chairName = names.get(session.chair_id) || `Chair #${session.chair_id}`;
    const started = Date.parse(session.started_at);
    this.what.textContent = `session of ${formatDate(started)} · ${chairName} · ${session.patient_label}`;
    title.textContent = `${chairName} · ${session.patient_label} · ${PROTOCOL_LABEL[session.protocol] || session.protocol}`;
    this.player = new ReplayPlayer(host, session, { id: session.chair_id, name: chairName });
    await this.player.load();
  }
}
