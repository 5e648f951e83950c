/* Live replies over a WebSocket (issue "Live replies"; protocol and DOM hooks: docs/live.md).
 *
 * Vanilla, no build step. Every element with `data-live-chat` is attached on load
 * (and after htmx swaps); pages may also call `LiveChat.attach(root, options)`.
 * Without WebSocket support, or while the socket is down, nothing is intercepted:
 * the form posts normally and the reply arrives whole.
 *
 * Text is only ever set with textContent (never innerHTML): the page may swap in
 * its server-rendered markdown on the `live:reply-finished` event.
 */
(function () {
  "use strict";

  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 15000;
  const WATCHDOG_MS = 20000; // a streaming reply silent this long: ask for a snapshot
  const FINAL = new Set(["complete", "failed", "stopped"]);
  // The page's words, in its language (static/js/text.js); without them, the socket's own English.
  const T = window.pageText || Object.assign(() => "", { detail: (text) => text });
  const NO_RECONNECT = new Map([
    [4401, () => T("session") || "Your session has expired. Please sign in again."],
    [4404, () => T("notFound") || "This conversation was not found."],
  ]);

  const DEFAULTS = {
    path: "/ws/chat", // or root's data-ws-path
    messages: "[data-live-messages]",
    form: "form[data-live-form]",
    input: "textarea[name=message], input[name=message], textarea[name=text]",
    idAttribute: "data-message-id",
    content: ".content",
    status: "[data-live-status]",
    place: null, // function (element, role): insert a new message (default: append to `messages`)
  };

  function randomId() {
    return (crypto.randomUUID && crypto.randomUUID()) || String(Date.now()) + Math.random().toString(16).slice(2);
  }

  class LiveChat {
    constructor(root, options = {}) {
      this.root = root;
      this.o = { ...DEFAULTS, path: root.dataset.wsPath || DEFAULTS.path, ...options };
      this.conversationId = root.dataset.conversationId || null;
      this.ws = null;
      this.attempts = 0;
      this.closedForGood = false;
      this.replies = new Map(); // reply id -> { seq: number|null, syncing: bool, status }
      this.mine = new Set(); // client ids of messages this tab sent
      this.lastEventAt = Date.now();
      this.onSubmit = this.onSubmit.bind(this);
      this.onClick = this.onClick.bind(this);
      this.onOnline = this.onOnline.bind(this);
      root.addEventListener("submit", this.onSubmit);
      root.addEventListener("click", this.onClick);
      window.addEventListener("online", this.onOnline);
      this.watchdog = setInterval(() => this.checkSilence(), 5000);
      this.connect();
    }

    // --- The socket -------------------------------------------------------------

    get open() {
      return Boolean(this.ws && this.ws.readyState === WebSocket.OPEN);
    }

    url() {
      const scheme = location.protocol === "https:" ? "wss:" : "ws:";
      const id = this.conversationId ? "/" + encodeURIComponent(this.conversationId) : "";
      return `${scheme}//${location.host}${this.o.path}${id}`;
    }

    connect() {
      if (!("WebSocket" in window) || this.closedForGood) return;
      this.setConnection("connecting");
      const ws = new WebSocket(this.url());
      this.ws = ws;
      ws.onopen = () => {
        this.attempts = 0;
        this.setConnection("open");
      };
      ws.onmessage = (message) => {
        let event;
        try {
          event = JSON.parse(message.data);
        } catch (_) {
          return;
        }
        this.lastEventAt = Date.now();
        if (event && event.detail) event.detail = T.detail(event.detail); // sent in English (the protocol's wording)
        this.handle(event);
      };
      ws.onclose = (close) => {
        if (this.ws !== ws) return;
        this.ws = null;
        this.setConnection("closed", close.code);
        if (NO_RECONNECT.has(close.code)) {
          this.closedForGood = true;
          this.notice(NO_RECONNECT.get(close.code)());
          return;
        }
        // Replies in progress are resynchronised by the snapshot after reconnecting.
        for (const state of this.replies.values()) state.syncing = true;
        const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempts++);
        this.retryTimer = setTimeout(() => this.connect(), delay * (0.5 + Math.random() / 2));
      };
    }

    /** The network is back: reconnect now rather than at the end of the backoff. */
    onOnline() {
      if (this.ws || this.closedForGood) return;
      clearTimeout(this.retryTimer);
      this.connect();
    }

    send(action) {
      if (!this.open) return false;
      this.ws.send(JSON.stringify(action));
      return true;
    }

    /** Stop following: close the socket for good (e.g. before the page swaps this root out). */
    detach() {
      this.closedForGood = true;
      clearInterval(this.watchdog);
      clearTimeout(this.retryTimer);
      this.root.removeEventListener("submit", this.onSubmit);
      this.root.removeEventListener("click", this.onClick);
      window.removeEventListener("online", this.onOnline);
      if (this.ws) this.ws.close(1000);
      delete this.root.liveChat;
    }

    setConnection(state, code) {
      this.root.dataset.liveConnection = state;
      this.emit("live:connection", { state, code: code ?? null });
    }

    checkSilence() {
      const streaming = [...this.replies.values()].some((r) => !FINAL.has(r.status));
      if (streaming && Date.now() - this.lastEventAt > WATCHDOG_MS) {
        this.lastEventAt = Date.now();
        this.send({ type: "sync" });
      }
    }

    // --- What the person does -----------------------------------------------------

    onSubmit(event) {
      const form = event.target.closest(this.o.form);
      if (!form || !this.open) return; // no socket: the form posts as usual
      const input = form.querySelector(this.o.input);
      if (!input) return;
      event.preventDefault();
      const clientId = randomId();
      this.mine.add(clientId);
      this.pendingInput = input;
      // FR-004: the message shows at once; FR-017: the text stays in the input until saved.
      const el = this.messageElement("user", null, input.value);
      el.dataset.clientId = clientId;
      el.dataset.status = "sending";
      this.send({ type: "send", message: input.value, client_id: clientId });
    }

    onClick(event) {
      const stop = event.target.closest('[data-action="stop"]');
      if (stop && this.open) {
        event.preventDefault();
        const replyId = stop.dataset.replyId || this.streamingReplyId();
        if (replyId) this.send({ type: "stop", reply_id: replyId });
        return;
      }
      const retry = event.target.closest('[data-action="retry"]');
      if (retry && this.open && this.send({ type: "retry" })) event.preventDefault();
    }

    streamingReplyId() {
      for (const [id, state] of this.replies) if (!FINAL.has(state.status)) return id;
      return null;
    }

    // --- What the server says -------------------------------------------------------

    handle(event) {
      const handler = {
        ready: this.onReady,
        "conversation.created": this.onConversationCreated,
        "message.created": this.onMessageCreated,
        "reply.started": this.onReplyStarted,
        "reply.delta": this.onReplyDelta,
        "reply.snapshot": this.onReplySnapshot,
        "reply.finished": this.onReplyFinished,
        error: this.onError,
      }[event.type];
      if (handler) handler.call(this, event);
      this.emit("live:" + event.type, event);
    }

    onReady(event) {
      this.conversationId = event.conversation_id || this.conversationId;
      // Replies that ended while the socket was away are no longer streaming (the page asks how they ended).
      const going = new Set(event.replies_in_progress || []);
      for (const [id, state] of this.replies) if (!FINAL.has(state.status) && !going.has(id)) this.replies.delete(id);
      this.updateStreaming();
    }

    /** The page learnt otherwise (over HTTP) that reply `id` ended with `status`. */
    ended(id, status) {
      const state = this.replies.get(id);
      if (state) state.status = status;
      this.updateStreaming();
    }

    onConversationCreated(event) {
      this.conversationId = event.conversation_id;
      this.root.dataset.conversationId = event.conversation_id;
    }

    onMessageCreated(event) {
      const m = event.message;
      let el = this.find(m.id);
      if (!el && event.client_id) el = this.root.querySelector(`[data-client-id="${CSS.escape(event.client_id)}"]`);
      if (!el) el = this.messageElement(m.role, m.id, m.content);
      el.setAttribute(this.o.idAttribute, m.id);
      el.dataset.status = m.status;
      if (event.client_id && this.mine.delete(event.client_id) && this.pendingInput) {
        this.pendingInput.value = "";
        this.pendingInput.dispatchEvent(new Event("input", { bubbles: true }));
      }
    }

    onReplyStarted(event) {
      this.reply(event.reply_id, "streaming");
      this.replies.get(event.reply_id).seq = 0;
      this.updateStreaming();
    }

    onReplyDelta(event) {
      const state = this.replies.get(event.reply_id) || { seq: null, syncing: false, status: "streaming" };
      if (!this.replies.has(event.reply_id)) {
        this.replies.set(event.reply_id, state);
        this.reply(event.reply_id, "streaming");
      }
      if (state.syncing) return; // a snapshot is on its way
      if (state.seq !== null && event.seq <= state.seq) return; // already shown
      if (state.seq !== null && event.seq !== state.seq + 1) {
        state.syncing = true; // a delta was lost: ask for the text so far
        this.send({ type: "sync" });
        return;
      }
      const content = this.contentOf(this.reply(event.reply_id));
      content.textContent += event.delta;
      state.seq = event.seq;
      this.scroll();
    }

    onReplySnapshot(event) {
      const el = this.reply(event.reply_id, event.status);
      this.contentOf(el).textContent = event.content;
      const state = this.replies.get(event.reply_id);
      state.seq = event.seq; // null: position unknown, the next delta is taken as it comes
      state.syncing = false;
      this.updateStreaming();
      this.scroll();
    }

    onReplyFinished(event) {
      const el = this.reply(event.reply_id, event.status);
      if (event.error) el.dataset.error = event.detail;
      this.updateStreaming();
      if (event.detail) this.notice(event.detail);
    }

    onError(event) {
      if (event.client_id && this.mine.delete(event.client_id)) {
        // A message of onSubmit's, not saved: the text stays in the input. (A page that sends on its own keeps its own.)
        const el = this.root.querySelector(`[data-client-id="${CSS.escape(event.client_id)}"]`);
        if (el && !el.hasAttribute(this.o.idAttribute)) el.remove();
      }
      this.notice(event.detail);
    }

    // --- The page -----------------------------------------------------------------

    find(id) {
      return id ? this.root.querySelector(`[${this.o.idAttribute}="${CSS.escape(id)}"]`) : null;
    }

    contentOf(el) {
      let content = el.querySelector(this.o.content);
      if (!content) {
        content = document.createElement("div");
        // The first selector of `content` must be a class selector (".content", ".msg__text").
        const first = this.o.content.split(",")[0].trim();
        content.className = first.startsWith(".") ? first.slice(1).replace(/\./g, " ") : "content";
        el.append(content);
      }
      return content;
    }

    /** The element of reply `id` (created from the page's template if missing), with its status. */
    reply(id, status) {
      if (!this.replies.has(id)) this.replies.set(id, { seq: null, syncing: false, status });
      const state = this.replies.get(id);
      if (status) state.status = status;
      const el = this.find(id) || this.messageElement("assistant", id, "");
      el.dataset.replyId = id;
      if (status) el.dataset.status = status;
      return el;
    }

    messageElement(role, id, text) {
      const template = this.root.querySelector(`template[data-live-template="${role}"]`);
      let el;
      if (template && template.content.firstElementChild) {
        el = template.content.firstElementChild.cloneNode(true);
      } else {
        el = document.createElement("article");
        el.dataset.role = role;
      }
      if (id) el.setAttribute(this.o.idAttribute, id);
      this.contentOf(el).textContent = text;
      if (this.o.place) {
        this.o.place(el, role); // the page decides where a new message goes
      } else {
        const container = this.root.querySelector(this.o.messages) || this.root;
        container.append(el);
        this.scroll();
      }
      return el;
    }

    updateStreaming() {
      const id = this.streamingReplyId();
      this.root.dataset.streaming = id ? "true" : "false";
      this.root.querySelectorAll('[data-action="stop"]').forEach((button) => {
        button.hidden = !id;
        if (id) button.dataset.replyId = id;
        else delete button.dataset.replyId;
      });
    }

    scroll() {
      const box = this.root.querySelector(this.o.messages);
      if (!box) return;
      // FR-016: follow the newest text unless the person scrolled up to read.
      if (box.scrollHeight - box.scrollTop - box.clientHeight < 120) box.scrollTop = box.scrollHeight;
    }

    notice(text) {
      if (!text) return;
      const status = this.root.querySelector(this.o.status);
      if (status) status.textContent = text;
    }

    emit(name, detail) {
      this.root.dispatchEvent(new CustomEvent(name, { detail, bubbles: true }));
    }

    static attach(root, options) {
      if (!root.liveChat) root.liveChat = new LiveChat(root, options);
      return root.liveChat;
    }
  }

  function attachAll() {
    document.querySelectorAll("[data-live-chat]").forEach((root) => LiveChat.attach(root));
  }

  window.LiveChat = LiveChat;
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", attachAll);
  else attachAll();
  document.addEventListener("htmx:afterSettle", attachAll);
  // A root swapped out by htmx stops following its conversation.
  document.addEventListener("htmx:beforeCleanupElement", (event) => {
    const root = event.target;
    if (root && root.liveChat) root.liveChat.detach();
  });
})();
