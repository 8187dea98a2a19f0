// The /ws/dashboard stream: reconnects with backoff, resumes with ?since=, and declares
// itself NOT LIVE when the socket drops or nothing (not even a heartbeat) arrives for 4 s.

const SILENCE_MS = 4000; // the server sends a heartbeat every 2 s
const WATCH_EVERY_MS = 250;
const CONNECT_TIMEOUT_MS = 5000;
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 10000;

export class Connection {
  /**
   * @param {object} handlers
   * @param {(message: object) => void} handlers.onMessage
   * @param {(live: boolean, since: number|null) => void} handlers.onLiveChange
   * @param {() => number|null} handlers.since  last reading id the screen holds (null: none yet)
   * @param {(attempt: number) => void} [handlers.onRetry]
   */
  constructor(handlers) {
    this.handlers = handlers;
    this.socket = null;
    this.live = false;
    this.notLiveSince = Date.now();
    this.lastMessageAt = 0;
    this.openedAt = 0;
    this.attempt = 0;
    this.retryTimer = null;
    this.watchdog = null;
    this.stopped = true;
  }

  start() {
    this.stopped = false;
    this.watchdog = setInterval(() => this.#watch(), WATCH_EVERY_MS);
    this.#open();
  }

  stop() {
    this.stopped = true;
    clearInterval(this.watchdog);
    clearTimeout(this.retryTimer);
    if (this.socket) this.socket.close(1000, "logged out");
    this.socket = null;
    this.#setLive(false);
  }

  #url() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const since = this.handlers.since();
    const query = since === null || since === undefined ? "" : `?since=${since}`;
    return `${scheme}//${location.host}/ws/dashboard${query}`;
  }

  #open() {
    if (this.stopped) return;
    let socket;
    try {
      socket = new WebSocket(this.#url());
    } catch (err) {
      console.error("dashboard socket could not be opened", err);
      this.#retry();
      return;
    }
    this.socket = socket;
    this.openedAt = Date.now();
    socket.addEventListener("message", (event) => {
      if (socket !== this.socket) return;
      this.lastMessageAt = Date.now();
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (err) {
        console.error("dashboard sent something that is not JSON", event.data);
        return;
      }
      if (message.type === "snapshot") {
        this.attempt = 0; // a full answer: the next failure starts the backoff again
        this.#setLive(true);
      }
      this.handlers.onMessage(message);
    });
    socket.addEventListener("close", (event) => {
      if (socket !== this.socket) return;
      this.socket = null;
      this.#setLive(false);
      // 4000: the server says we fell behind; come straight back with since.
      if (event.code === 4000) this.attempt = 0;
      this.#retry();
    });
    socket.addEventListener("error", () => {
      // "close" follows; nothing to add here.
    });
  }

  #retry() {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** this.attempt);
    const delay = this.attempt === 0 ? 100 : base * (0.75 + Math.random() * 0.5);
    this.attempt += 1;
    if (this.handlers.onRetry) this.handlers.onRetry(this.attempt);
    this.retryTimer = setTimeout(() => this.#open(), delay);
  }

  #watch() {
    if (!this.socket) return;
    // Live: silence means the stream is dead. Not yet live: a socket that has not brought a
    // snapshot in time (a half-open connection, a stuck proxy) is given up and retried.
    const quietFor = Date.now() - (this.live ? this.lastMessageAt : this.openedAt);
    const limit = this.live ? SILENCE_MS : CONNECT_TIMEOUT_MS;
    if (quietFor > limit) {
      console.warn(`dashboard stream silent for ${quietFor} ms; reconnecting`);
      const socket = this.socket;
      this.socket = null; // ignore whatever this socket still says
      this.#setLive(false);
      try {
        socket.close(4001, "silent");
      } catch {
        /* already closing */
      }
      this.#retry();
    }
  }

  #setLive(live) {
    if (live === this.live) return;
    this.live = live;
    if (!live) this.notLiveSince = Date.now();
    this.handlers.onLiveChange(live, this.notLiveSince);
  }
}
