/* The chat page's behaviour, on top of htmx (no build step; docs/page.md).
 *
 * - Composer: Enter sends, Shift+Enter adds a line (FR-003); text that cannot be sent
 *   (blank, over 4000 characters) is not, and the page says why; a counter shows the limit.
 * - Sending: the message shows at once (FR-004), the typing indicator in the same frame
 *   (SC-009) until the reply's first text (FR-006); messages typed while a reply is being
 *   written are queued and sent in order (FR-007); the input stays usable (SC-010).
 * - Exactly once, and always recovers (issue 12): every message gets a key when it is
 *   typed and every resend of it (socket or HTTP, after a reconnect, on Retry) carries
 *   it, so the server saves it once; a message the server could not get is kept, shown
 *   as such (FR-014a, FR-017), and sent again by itself once the server is back.
 * - Live replies (issue 5): while the pane's WebSocket is open (static/js/live.js) a
 *   message goes over it and the reply grows token by token; when it ends the server's
 *   sanitised Markdown is swapped in (model text never becomes HTML here).
 * - Virtualized log: a window of pages in the DOM (SC-011); follows the newest (FR-016).
 *
 * The page works without this file: the forms post and the server re-renders.
 */
(() => {
  "use strict";

  // The page's sentences, in its language (static/js/text.js; written by the server: conversations/page_text.py).
  const T = window.pageText;
  const TEXT = T.words();
  const tooLong = (length, max) => T("tooLong", { length, max });
  // Held for these, the queue tries again by itself (with the same keys); for the others, on Retry.
  const AUTO = new Set(["connection", "unavailable", "timeout", "busy"]);
  const FINAL = new Set(["complete", "failed", "stopped"]);
  const REASONS = { "Assistant timeout": "?reason=timeout", "Assistant busy": "?reason=busy" };
  const KINDS = { // what a socket `error` means for the message it names; others: "server"
    "Validation error": "invalid", "Not found": "gone", "Reply in progress": "busy", "Service unavailable": "unavailable",
  };
  const RESUME_MAX_MS = 10000; // the longest wait between two automatic resends
  const LIVE_LOST_MS = 15000; // a socket down this long mid-reply: ask the server over HTTP how the reply ends
  const randomId = () =>
    (crypto.randomUUID && crypto.randomUUID()) || `${Date.now()}-${Math.random().toString(16).slice(2)}`;
  const PAGE_WINDOW = 6; // pages of 50 kept in the DOM: at most ~300 messages (SC-011)
  const EDGE_PX = 800; // fetch the next page when this close to an end of the log
  const NEAR_BOTTOM_PX = 80; // closer than this to the bottom counts as "reading the newest"
  const DRAFT_KEY = "chat:draft";

  const body = document.body;
  const csrfToken = () => JSON.parse(body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || ""; // rendered by base.html
  const sendTimeoutMs = () => Number(body.dataset.sendTimeoutMs || 120000);
  const loginUrl = () =>
    `${body.dataset.loginUrl || "/accounts/login/"}?next=${encodeURIComponent(location.pathname + location.search)}`;

  class Failure extends Error {
    constructor(kind, detail) {
      super(kind);
      this.kind = kind; // connection | unavailable | timeout | busy | session | invalid | gone | server
      const offline = kind === "connection" && navigator.onLine === false;
      this.detail = (offline && TEXT.offline) || detail || TEXT[kind] || TEXT.server;
    }
  }

  /** POST or GET with the htmx headers, so the server answers with fragments and 401s. */
  async function call(url, { method = "GET", data = null, headers = {}, timeoutMs = 30000 } = {}) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    let response;
    try {
      response = await fetch(url, {
        method,
        body: data,
        credentials: "same-origin",
        signal: controller.signal,
        headers: { "HX-Request": "true", "HX-Current-URL": location.href, "X-CSRFToken": csrfToken(), ...headers },
      });
    } catch (error) {
      throw new Failure(controller.signal.aborted ? "timeout" : "connection");
    } finally {
      clearTimeout(timer);
    }
    const html = await response.text().catch(() => "");
    if (response.status === 401 || response.status === 403 || /\/accounts\/login\//.test(response.url)) {
      throw new Failure("session");
    }
    return { status: response.status, html, ok: response.ok };
  }

  const parse = (html) => {
    const template = document.createElement("template");
    template.innerHTML = html;
    return template.content;
  };
  const detailOf = (html) => parse(html).querySelector(".alert p, .msg__error p")?.textContent.trim();

  /** What a page POST's answer without a turn means. */
  function failureOf(status, html) {
    const detail = detailOf(html);
    if (status === 409) return new Failure("busy", detail);
    if (status === 400 || status === 422) return new Failure("invalid", detail);
    if (status === 404) return new Failure("gone");
    if (status === 408 || status >= 502) return new Failure("unavailable"); // a proxy, or the database, is down
    return new Failure("server", detail);
  }

  const signInLink = () => Object.assign(document.createElement("a"), { href: loginUrl(), textContent: TEXT.signInAgain });

  /** Copy `text` to the clipboard (the selection way where the Clipboard API is missing: plain HTTP). Also share.js's. */
  async function copyText(text) {
    if (navigator.clipboard?.writeText) {
      try {
        await navigator.clipboard.writeText(text);
        return true;
      } catch { /* fall through to the selection way */ }
    }
    const area = Object.assign(document.createElement("textarea"), { value: text, readOnly: true });
    area.style.cssText = "position: fixed; opacity: 0";
    document.body.append(area);
    area.select();
    const done = document.execCommand("copy");
    area.remove();
    return done;
  }
  window.copyText = copyText;

  /** One conversation pane: its log window, its composer and its send queue. */
  class Pane {
    constructor(section) {
      this.el = section;
      section.chatPane = this;
      this.log = section.querySelector("#message-log");
      this.form = section.querySelector("[data-composer]");
      this.input = this.form.querySelector("textarea");
      this.sendButton = this.form.querySelector("[data-send]");
      this.counter = this.form.querySelector("[data-count]");
      this.typing = section.querySelector("[data-typing]");
      this.notices = section.querySelector("[data-notices]");
      this.jump = section.querySelector("[data-jump]");
      this.current = null; // the live send or retry waiting for its reply
      this.held = ""; // why the queue waits (a Failure's kind), "" while it flows
      this.attempts = 0; // automatic resends since the last success (their pause grows)
      this.silent = new Set(); // replies in progress that have shown no text yet (typing indicator)
      this.empty = this.log.querySelector(".empty");
      this.max = Number(this.input.dataset.max || 4000);
      this.queue = [];
      this.busy = false;
      this.loading = false;
      this.stick = true;
      this.bind();
      this.restoreDraft();
      this.refreshComposer();
      const found = section.dataset.foundId && this.log.querySelector(`.msg[data-id="${CSS.escape(section.dataset.foundId)}"]`);
      found ? found.scrollIntoView({ block: "center" }) : this.scrollToBottom(); // a search result opens at its message
      requestAnimationFrame(() => this.checkEdges());
      this.attachLive();
      section.dispatchEvent(new CustomEvent("chat:pane", { bubbles: true, detail: { pane: this } }));
    }

    get live() {
      return this.el.isConnected;
    }

    bind() {
      this.input.addEventListener("keydown", (event) => {
        if (event.key === "Enter" && !event.shiftKey && !event.isComposing && !event.altKey && !event.ctrlKey && !event.metaKey) {
          event.preventDefault();
          this.submit();
        }
      });
      this.input.addEventListener("input", () => this.refreshComposer());
      this.form.addEventListener("submit", (event) => {
        event.preventDefault();
        this.submit();
      });
      let ticking = false;
      this.log.addEventListener(
        "scroll",
        () => {
          if (ticking) return;
          ticking = true;
          requestAnimationFrame(() => {
            ticking = false;
            this.onScroll();
          });
        },
        { passive: true },
      );
      this.jump.addEventListener("click", () => this.jumpToLatest());
      this.log.addEventListener("click", (event) => this.onLogClick(event));
      this.log.addEventListener("submit", (event) => {
        const form = event.target.closest("form[data-retry]");
        if (!form) return;
        event.preventDefault();
        this.retryReply(form);
      });
    }

    // --- Composer -----------------------------------------------------------------

    refreshComposer() {
      const length = this.input.value.length;
      const blank = !this.input.value.trim();
      this.sendButton.disabled = blank;
      const left = this.max - length;
      const warn = length >= this.max * 0.8;
      this.counter.textContent = warn
        ? left > 0
          ? T.plural("charactersLeft", left, { left })
          : T("limitReached", { max: this.max })
        : `${length} / ${this.max}`;
      this.counter.classList.toggle("composer__count--warn", warn && left > 0);
      this.counter.classList.toggle("composer__count--full", left <= 0);
      // Grow with the text, up to the CSS max-height.
      this.input.style.height = "auto";
      this.input.style.height = `${this.input.scrollHeight}px`;
    }

    restoreDraft() {
      const draft = sessionStorage.getItem(DRAFT_KEY);
      if (draft && !this.input.value) {
        this.input.value = draft;
        sessionStorage.removeItem(DRAFT_KEY);
      }
    }

    keepText(text) {
      // FR-017: the typed text comes back to the composer (unless the user typed anew).
      if (!this.input.value.trim()) {
        this.input.value = text;
        this.refreshComposer();
      }
    }

    async submit() {
      const text = this.input.value;
      if (!text.trim() || text.length > this.max) {
        this.notice(text.trim() ? tooLong(text.length, this.max) : TEXT.empty); // say why nothing was sent
        this.refreshComposer();
        return;
      }
      this.input.value = "";
      this.refreshComposer();
      this.input.focus();
      // The key of this message, for every resend of it (issue 12).
      const item = { text, bubble: this.userBubble(text), key: randomId() };
      item.bubble.dataset.clientId = item.key;
      this.queue.push(item);
      this.refreshTyping(); // same frame as the bubble: well within SC-009's 500 ms
      if (this.hasNewer()) await this.resetToLatest();
      this.append(item.bubble);
      this.scrollToBottom();
      this.pump();
    }

    /** A copy of the pane's `<template data-template="...">` (or live.js's `data-live-template`) markup. */
    template(name) {
      const template = this.el.querySelector(`template[data-template="${name}"], template[data-live-template="${name}"]`);
      return template.content.firstElementChild.cloneNode(true);
    }

    userBubble(text) {
      const article = this.template("user");
      article.classList.add("msg--pending");
      article.querySelector(".msg__text").textContent = text; // escaped: text, never HTML
      return article;
    }

    // --- The send queue ---------------------------------------------------------------

    refreshTyping() {
      // Until the reply's first text (FR-006): ours, or one another tab asked for; never while
      // nothing is on its way (the queue held, the socket gone mid-reply).
      const call = this.current;
      const own = (this.busy || this.queue.length > 0) && !this.held && !call?.textArrived && !call?.lost;
      const waiting = own || this.silent.size > 0;
      if (waiting && !this.typing.firstChild) this.typing.replaceChildren(this.template("typing"));
      else if (!waiting && this.typing.firstChild) this.typing.replaceChildren();
      this.queue.forEach((item, index) => {
        const state = item.bubble?.querySelector(".msg__state");
        if (!state) return;
        const text = item.note || (index > 0 && (this.busy || this.held) ? TEXT.waiting : "");
        state.hidden = !text;
        state.textContent = text;
      });
    }

    /** Send the queue's first item, then the next: one at a time, in order (FR-007). */
    async pump() {
      if (this.busy || this.held || !this.queue.length) return this.refreshTyping();
      const item = this.queue[0];
      this.busy = true;
      this.refreshTyping();
      try {
        await this.deliver(item);
        this.queue.shift();
        this.attempts = 0;
      } catch (failure) {
        if (!(failure instanceof Failure)) throw failure;
        this.fail(item, failure);
      } finally {
        this.busy = false;
      }
      this.pump();
    }

    /** Over the socket while it is open, else over HTTP; the same key either way. */
    async deliver(item) {
      if (this.socket?.open) return this.deliverLive(item);
      const headers = { "Idempotency-Key": item.key };
      if (item.retry) return this.retryOverHttp(item, headers);
      const data = new FormData();
      data.append("text", item.text);
      const { status, html } = await call(this.el.dataset.sendUrl, { method: "POST", data, headers, timeoutMs: sendTimeoutMs() });
      if (!this.applyTurn(html, item.bubble)) throw failureOf(status, html);
    }

    /** Show a sent turn (its reply complete, failed with Retry, or still being written). */
    applyTurn(html, bubble) {
      const fragment = parse(html);
      const turn = fragment.querySelector(".turn");
      const [userMessage, ...rest] = turn?.querySelectorAll(".msg") || [];
      if (!userMessage) return false;
      this.adopt(turn, fragment.querySelector("#conv-header"));
      if (!bubble.isConnected || !this.live) return true; // its page was scrolled away: it is saved
      this.retireRetries();
      bubble.replaceWith(userMessage);
      let last = userMessage;
      rest.forEach((message) => {
        last.after(message);
        last = message;
      });
      [userMessage, ...rest].forEach((message) => this.landed(message));
      this.arrived();
      this.el.dispatchEvent(new CustomEvent("chat:turn", { bubbles: true, detail: { turn } }));
      return true;
    }

    /** A server-rendered message entered the log: copies the socket made of it go, and the socket
     *  learns how it ended; one still being written (a repeated key's) is followed to its end. */
    landed(message) {
      htmx.process(message); // its actions (issue 14) are htmx buttons
      if (message.querySelector(".msg__tools")) htmx.trigger(body, "tasks-changed"); // the assistant changed tasks
      const { id, status } = message.dataset;
      this.log.querySelectorAll(`.msg[data-id="${CSS.escape(id)}"]`).forEach((el) => el !== message && el.remove());
      if (FINAL.has(status)) this.socket?.ended(id, status);
      else this.watch(id);
    }

    /** A newer message was saved: the failed replies before it can no longer be retried (as the server shows them). */
    retireRetries() {
      this.log.querySelectorAll(".msg__error form[data-retry]").forEach((form) => {
        if (this.queue.some((queued) => queued.form === form)) return; // a Retry being sent stays
        form.previousElementSibling.textContent = TEXT.unanswered;
        form.remove();
      });
    }

    /** A first message created the conversation: the pane, URL and sidebar follow it. */
    adopt(turn, header) {
      const id = turn.dataset.conversationId;
      Object.assign(this.el.dataset, {
        conversationId: id,
        conversationUrl: turn.dataset.conversationUrl,
        sendUrl: turn.dataset.sendUrl,
        messagesUrl: turn.dataset.messagesUrl,
      });
      if (!this.live) return;
      this.form.action = turn.dataset.sendUrl;
      const current = this.el.querySelector("#conv-header");
      if (header && current) {
        current.replaceWith(header);
        window.htmx?.process(header);
        const title = header.querySelector(".pane__title")?.textContent.trim();
        if (title) document.title = `${title} · Chat`;
      }
      if (location.pathname !== turn.dataset.conversationUrl) history.replaceState({}, "", turn.dataset.conversationUrl);
      refreshSidebar(id);
    }

    /** The first item could not be delivered: say why next to it, and hold the queue until it can be. */
    fail(item, failure) {
      const { kind, detail } = failure;
      if (kind === "invalid") {
        // Not sendable as it is: give the text back to edit, and go on with the rest.
        this.queue.shift();
        item.bubble?.remove();
        item.form?.querySelector("button").removeAttribute("disabled");
        if (item.text) this.keepText(item.text);
        this.notice(detail);
        return;
      }
      this.held = kind;
      item.note = kind === "busy" && item.bubble ? TEXT.blocked : "";
      if (!item.note) this.showError(item, detail, kind);
      if (kind === "session") {
        // Kept across the sign-in so nothing typed is lost (FR-017).
        sessionStorage.setItem(DRAFT_KEY, this.queue.flatMap((queued) => queued.text || []).join("\n\n"));
        if (item.text) this.keepText(item.text);
      }
      clearTimeout(this.resumeTimer);
      if (AUTO.has(kind)) {
        this.resumeTimer = setTimeout(() => this.resume(), Math.min(RESUME_MAX_MS, 1000 * 2 ** this.attempts++));
      }
      this.refreshTyping();
    }

    showError(item, detail, kind) {
      const { bubble } = item;
      let box = item.retry?.querySelector(".msg__error");
      if (bubble) {
        bubble.classList.replace("msg--pending", "msg--unsent");
        bubble.querySelector(".msg__error")?.remove();
        box = this.template("unsent"); // the sentence and Retry ([data-resume])
        bubble.querySelector(".msg__bubble").append(box);
      }
      if (!box) return;
      const p = box.querySelector("p");
      p.textContent = detail;
      if (kind === "session") p.append(" ", signInLink());
      box.querySelector("[data-resume]")?.toggleAttribute("hidden", kind === "session");
      item.form?.querySelector("button").toggleAttribute("disabled", kind === "session");
      this.arrived();
    }

    /** Send the held queue again now (Retry, the socket or the network back, a reply finished, a timer). */
    resume() {
      clearTimeout(this.resumeTimer);
      if (!this.held) return;
      this.held = "";
      const item = this.queue[0];
      if (item) {
        item.note = "";
        item.bubble?.classList.replace("msg--unsent", "msg--pending");
        item.bubble?.querySelector(".msg__error")?.remove();
        item.form?.querySelector("button").toggleAttribute("disabled", true);
      }
      this.pump();
    }

    /** Recovery without a click: only for what the server may take now. */
    wake() {
      if (AUTO.has(this.held)) this.resume();
    }

    /** Retry on a failed reply: queued like a message, with a key of its own for its resends. */
    retryReply(form) {
      const article = form.closest(".msg");
      if (this.queue.some((queued) => queued.retry === article)) return this.resume();
      form.querySelector("button").disabled = true;
      this.queue.push({ retry: article, form, key: randomId() });
      this.pump();
    }

    async retryOverHttp({ retry: article, form }, headers) {
      const data = new FormData(form);
      const { status, html } = await call(form.action, { method: "POST", data, headers, timeoutMs: sendTimeoutMs() });
      const fragment = parse(html);
      const fresh = fragment.querySelector(".turn .msg"); // complete, failed again (with Retry), or being written
      if (fresh) {
        article.replaceWith(fresh);
        this.landed(fresh);
        this.arrived();
      } else if (fragment.querySelector('[data-error="nothing-to-retry"]')) {
        this.nothingToRetry(article, detailOf(html));
      } else {
        throw failureOf(status, html);
      }
    }

    /** A Retry of a reply that has arrived since (a second click): say so in place of the failure. */
    nothingToRetry(article, detail) {
      const alert = this.template("notice");
      alert.querySelector("p").textContent = detail;
      article.querySelector(".msg__error")?.replaceWith(alert);
    }

    notice(text, { session = false } = {}) {
      if (!this.live) return;
      const alert = this.template("notice");
      alert.querySelector("p").append(text, ...(session ? [" ", signInLink()] : []));
      this.notices.replaceChildren(alert);
      if (!session) setTimeout(() => alert.remove(), 8000);
      return alert;
    }

    // --- Live replies over the WebSocket (issue 5; protocol: docs/live.md) --------------

    /** Follow this conversation over a socket (static/js/live.js); without one the HTTP path is used. */
    attachLive() {
      if (!window.LiveChat || !("WebSocket" in window)) return;
      this.socket = window.LiveChat.attach(this.el, {
        messages: "#message-log",
        idAttribute: "data-id",
        content: ".msg__md, .msg__text",
        status: "[data-live-status]",
        place: (el) => this.place(el),
      });
      const on = (name, handler) => this.el.addEventListener(`live:${name}`, (event) => handler.call(this, event.detail));
      on("connection", this.onLiveConnection);
      on("ready", this.onLiveReady);
      on("conversation.created", this.onLiveConversation);
      on("message.created", this.onLiveMessage);
      on("reply.started", this.onLiveStarted);
      on("reply.snapshot", this.onLiveSnapshot);
      on("reply.delta", this.onLiveDelta);
      on("reply.tool_call", this.onLiveToolCall);
      on("reply.finished", this.onLiveFinished);
      on("error", this.onLiveError);
    }

    /** Send `item` over the socket; resolves with the `reply.finished` of the reply it starts. */
    deliverLive(item) {
      const action = item.retry ? { type: "retry" } : { type: "send", message: item.text, client_id: item.key };
      let call;
      const done = new Promise((resolve, reject) => {
        call = { item, resolve, reject, messageId: null, replyId: null, textArrived: false, lost: false };
      });
      this.current = call;
      if (!this.socket.send(action)) call.reject(new Failure("connection"));
      return done.finally(() => {
        if (this.current === call) this.current = null;
      });
    }

    find(id) {
      return this.log.querySelector(`.msg[data-id="${CSS.escape(id)}"]`);
    }

    /** Where a message the socket announces goes: before our own messages still waiting to be sent. */
    place(el) {
      if (this.hasNewer()) return; // the newest page is not in the DOM; it is fetched when scrolled to
      const waiting = this.queue.find((queued) => queued !== this.current?.item && queued.bubble?.isConnected);
      if (waiting) waiting.bubble.before(el);
      else this.append(el);
      this.empty.hidden = true;
      this.arrived();
    }

    /** Make reply `id`'s article show live text (plain text until the server's Markdown replaces it). */
    liveArticle(id, { clear = false } = {}) {
      const el = this.find(id);
      if (!el) return null;
      el.classList.add("msg--live");
      el.classList.remove("msg--failed");
      el.querySelectorAll(":scope .msg__note, :scope .msg__error").forEach((node) => node.remove());
      const md = el.querySelector(".msg__md") || Object.assign(document.createElement("div"), { className: "msg__md" });
      if (!md.isConnected) el.querySelector(".msg__bubble .visually-hidden")?.after(md);
      if (clear) md.textContent = "";
      return el;
    }

    onLiveConnection({ state }) {
      if (state !== "closed") return;
      this.silent.clear(); // announced again by the snapshots after reconnecting
      const call = this.current;
      if (call && !call.replyId) {
        call.reject(new Failure("connection")); // sent again, with its key, once the socket is back
      } else if (call && !call.lost) {
        // Saved and being written on the server: the reconnect's snapshot shows the rest,
        // or, if the socket stays away, the server is asked over HTTP how the reply ended.
        call.lost = true;
        this.lostNotice = this.notice(TEXT.lost);
        this.watch(call.replyId, LIVE_LOST_MS);
      }
      this.refreshTyping();
    }

    /** (Re)connected: replies that ended while the socket was away show how they ended; held messages go. */
    onLiveReady(event) {
      const going = new Set(event.replies_in_progress || []);
      const writing = '.msg--assistant[data-status="pending"], .msg--assistant[data-status="streaming"]';
      this.log.querySelectorAll(writing).forEach((el) => {
        if (el.dataset.id && !going.has(el.dataset.id)) this.watch(el.dataset.id, 0);
      });
      if (this.current) this.current.lost = false;
      this.lostNotice?.remove();
      this.refreshTyping();
      this.wake();
    }

    /** The first message created the conversation: the pane and the URL follow it at once. */
    onLiveConversation(event) {
      const url = `${this.el.dataset.chatUrl || "/chat"}/${event.conversation_id}`;
      const urls = { conversationUrl: url, sendUrl: `${url}/send`, messagesUrl: `${url}/messages` };
      this.adopt({ dataset: { conversationId: event.conversation_id, ...urls } }, null);
      const title = this.el.querySelector("#pane-title");
      if (title && event.title && this.live) {
        title.textContent = event.title; // text, never HTML
        document.title = `${event.title} · Chat`;
      }
    }

    onLiveMessage(event) {
      this.retireRetries();
      const call = this.current;
      if (call?.item.bubble && event.client_id === call.item.key) {
        call.messageId = event.message.id;
        call.item.bubble.classList.remove("msg--pending");
        call.item.bubble.id = `msg-${event.message.id}`;
      }
    }

    onLiveStarted(event) {
      const call = this.current;
      const retry = call?.item.retry;
      if (call && !call.replyId && (retry || (call.messageId && event.user_message_id === call.messageId))) {
        call.replyId = event.reply_id;
        // A retry that writes a new reply replaces the failed one.
        if (retry && retry.dataset.id !== event.reply_id) retry.remove();
      }
      this.liveArticle(event.reply_id, { clear: true });
      this.silent.add(event.reply_id);
      this.refreshTyping();
    }

    onLiveSnapshot(event) {
      this.liveArticle(event.reply_id);
      if (!event.content && !FINAL.has(event.status)) this.silent.add(event.reply_id);
      this.onLiveDelta({ ...event, delta: event.content });
    }

    /** Text arrived: the reply itself shows progress now, no more typing indicator (FR-006). */
    onLiveDelta(event) {
      if (event.delta) this.silent.delete(event.reply_id);
      if (event.delta && this.current?.replyId === event.reply_id) this.current.textArrived = true;
      this.refreshTyping();
      this.arrived();
    }

    /** A tool acted (issue 13): its line on the reply at once (the server's rendering replaces it), and the task panel follows. */
    onLiveToolCall(event) {
      const md = this.liveArticle(event.reply_id)?.querySelector(".msg__md");
      if (!md) return;
      if (!md.previousElementSibling?.matches(".msg__tools")) md.before(Object.assign(document.createElement("ul"), { className: "msg__tools" }));
      md.previousElementSibling.append(Object.assign(document.createElement("li"), { textContent: event.summary }));
      htmx.trigger(body, "tasks-changed");
    }

    async onLiveFinished(event) {
      this.silent.delete(event.reply_id);
      const call = this.current?.replyId === event.reply_id ? this.current : null;
      if (call) call.textArrived = true;
      this.refreshTyping();
      await this.swapRendered(event);
      call?.resolve(event); // failed or not, the queue goes on: the next message is sent normally
      if (this.held === "busy") this.resume(); // refused while that reply was being written: send it now
    }

    /** Replace the streamed plain text with the server-rendered, sanitised Markdown (and Retry on failure).
     *  Returns the reply's status as the server has it (null if it could not be asked). */
    async swapRendered(event) {
      const el = this.find(event.reply_id);
      const messagesUrl = this.el.dataset.messagesUrl;
      if (!el || !messagesUrl) return null;
      if (event.status) el.dataset.status = event.status;
      try {
        const url = `${messagesUrl}/${encodeURIComponent(event.reply_id)}${REASONS[event.error] || ""}`;
        const { status, html } = await call(url);
        const fragment = parse(html);
        const turn = fragment.querySelector(".turn");
        const fresh = turn?.querySelector(`.msg[data-id="${CSS.escape(event.reply_id)}"]`);
        if (status !== 200 || !fresh) return null;
        const ended = FINAL.has(fresh.dataset.status); // else still being written: the socket (or `watch`) goes on
        if (ended) this.adopt(turn, fragment.querySelector("#conv-header"));
        if (ended && el.isConnected && this.live) {
          el.replaceWith(fresh);
          // Its message too, now with its actions (Edit, Copy: issue 14).
          turn.querySelectorAll(".msg").forEach((m) => {
            if (m === fresh) return;
            this.find(m.dataset.id)?.replaceWith(m);
            htmx.process(m);
          });
          this.landed(fresh);
          this.arrived();
          this.el.dispatchEvent(new CustomEvent("chat:turn", { bubbles: true, detail: { turn } }));
        }
        return fresh.dataset.status;
      } catch (failure) {
        if (!(failure instanceof Failure)) throw failure;
        if (!event.status) return null;
        el.classList.remove("msg--live"); // the text stays as it streamed
        if (event.status === "failed") this.notice(event.detail || TEXT.failed);
        return null;
      }
    }

    /** Ask the server over HTTP how reply `id` ends (no socket says so), after `delay`, until it has. */
    watch(id, delay = 3000) {
      setTimeout(async () => {
        if (!this.live || !this.find(id)) return;
        const status = await this.swapRendered({ reply_id: id });
        if (!FINAL.has(status)) return this.watch(id, Math.min(2 * delay || 3000, RESUME_MAX_MS));
        if (this.current?.replyId === id) this.current.resolve({ status });
        if (this.held === "busy") this.resume();
      }, delay);
    }

    onLiveError(event) {
      const call = this.current;
      const retry = call?.item.retry;
      const mine = call && (event.client_id ? event.client_id === call.item.key : retry && !call.replyId);
      if (!mine) {
        if (event.detail) this.notice(event.detail);
        return;
      }
      if (event.error === "Nothing to retry") {
        this.nothingToRetry(retry, event.detail);
        call.resolve(event);
        return;
      }
      const kind = KINDS[event.error] || "server";
      call.reject(new Failure(kind, kind === "unavailable" ? "" : event.detail));
    }

    // --- The virtualized log ---------------------------------------------------------

    pages() {
      return [...this.log.querySelectorAll(":scope > .msg-page")];
    }
    hasOlder() {
      return Boolean(this.log.querySelector(":scope > [data-older]"));
    }
    hasNewer() {
      return Boolean(this.log.querySelector(":scope > [data-newer]"));
    }
    messageIds() {
      return [...this.log.querySelectorAll(".msg-page > .msg[data-id]")].map((m) => m.dataset.id);
    }
    distanceFromBottom() {
      return this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight;
    }

    append(node) {
      this.empty.hidden = true;
      const page =
        this.pages().at(-1) || this.log.appendChild(Object.assign(document.createElement("div"), { className: "msg-page" }));
      page.append(node);
    }

    /** A message arrived: follow it if the user reads the newest, else offer the jump (FR-016). */
    arrived() {
      if (!this.live) return;
      if (this.stick) this.scrollToBottom();
      else this.jump.hidden = false;
    }

    scrollToBottom() {
      this.log.scrollTop = this.log.scrollHeight;
      this.stick = true;
      this.jump.hidden = !this.hasNewer();
    }

    onScroll() {
      this.stick = !this.hasNewer() && this.distanceFromBottom() < NEAR_BOTTOM_PX;
      this.jump.hidden = this.stick;
      this.checkEdges();
    }

    checkEdges() {
      if (this.loading || !this.live) return;
      if (this.hasOlder() && this.log.scrollTop < EDGE_PX) this.loadOlder();
      else if (this.hasNewer() && this.distanceFromBottom() < EDGE_PX) this.loadNewer();
    }

    onLogClick(event) {
      if (event.target.closest("[data-resume]")) this.resume(); // Retry on an unsent message
      const copy = event.target.closest(".code__copy, [data-copy-message]");
      if (copy) {
        // A code block's text, or a message as written (a reply's Markdown source: issue 14).
        const msg = copy.closest(".msg");
        const text = copy.matches(".code__copy")
          ? copy.parentElement.querySelector("pre")?.innerText
          : (msg.querySelector(".msg__source")?.content ?? msg.querySelector(".msg__text"))?.textContent;
        const label = copy.textContent;
        copyText(text ?? "").then((ok) => {
          copy.textContent = ok ? TEXT.copied : TEXT.copyFailed;
          setTimeout(() => (copy.textContent = label), 2000);
        });
        return;
      }
      const more = event.target.closest("[data-older], [data-newer]");
      if (more) {
        event.preventDefault();
        if (more.hasAttribute("data-older")) this.loadOlder();
        else this.loadNewer();
      }
    }

    async fetchPage(query) {
      const { status, html } = await call(`${this.el.dataset.messagesUrl}${query}`);
      if (status !== 200) throw new Failure("server", detailOf(html));
      const page = parse(html).querySelector(".msg-page");
      htmx.process(page);
      return page;
    }

    /** Scroll up: the page before the first one in the DOM, scroll position kept. */
    async loadOlder() {
      const first = this.messageIds()[0];
      if (this.loading || !first) return;
      this.loading = true;
      try {
        const page = await this.fetchPage(`?before=${encodeURIComponent(first)}`);
        if (!this.live) return;
        const height = this.log.scrollHeight;
        const top = this.log.scrollTop;
        const sentinel = this.log.querySelector(":scope > [data-older]");
        (this.pages()[0] || sentinel).before(page);
        if (sentinel) page.before(sentinel);
        if (page.dataset.hasOlder !== "true") sentinel?.remove();
        this.log.scrollTop = top + (this.log.scrollHeight - height);
        this.trim("bottom");
      } catch (failure) {
        this.pageFailed(failure);
        return;
      } finally {
        this.loading = false;
      }
      requestAnimationFrame(() => this.checkEdges());
    }

    /** Scroll back down after newer pages were removed: fetch them again. */
    async loadNewer() {
      const ids = this.messageIds();
      const last = ids.at(-1);
      if (this.loading || !last) return;
      this.loading = true;
      try {
        const page = await this.fetchPage(`?after=${encodeURIComponent(last)}`);
        if (!this.live) return;
        const sentinel = this.log.querySelector(":scope > [data-newer]");
        if (sentinel) sentinel.before(page);
        else this.log.append(page);
        if (page.dataset.hasNewer !== "true") sentinel?.remove();
        this.trim("top");
        this.onScroll();
      } catch (failure) {
        this.pageFailed(failure);
        return;
      } finally {
        this.loading = false;
      }
      requestAnimationFrame(() => this.checkEdges());
    }

    /** Keep at most PAGE_WINDOW pages: drop the ones at the far `end`, leave a sentinel. */
    trim(end) {
      const pages = this.pages();
      if (pages.length <= PAGE_WINDOW) return;
      const height = this.log.scrollHeight;
      const excess = pages.length - PAGE_WINDOW;
      const dropped = end === "bottom" ? pages.slice(-excess) : pages.slice(0, excess);
      dropped.forEach((page) => page.remove());
      if (end === "bottom" && !this.hasNewer()) {
        this.log.append(this.sentinel("data-newer", TEXT.showNewer, this.el.dataset.conversationUrl));
      }
      if (end === "top") {
        if (!this.hasOlder()) {
          this.log.querySelector(".msg-page")?.before(this.sentinel("data-older", TEXT.showOlder, "#"));
        }
        // Content above the viewport went away: move up by as much to stay in place.
        this.log.scrollTop -= height - this.log.scrollHeight;
      }
    }

    sentinel(attribute, label, href) {
      const link = Object.assign(document.createElement("a"), { className: "log__more", href, textContent: label });
      link.setAttribute(attribute, "");
      return link;
    }

    /** "Jump to latest": scroll down, fetching the newest page first if it was removed. */
    async jumpToLatest() {
      if (this.hasNewer()) await this.resetToLatest();
      this.scrollToBottom();
      this.input.focus({ preventScroll: true });
    }

    async resetToLatest() {
      try {
        const page = await this.fetchPage("");
        if (!this.live) return;
        this.log.querySelectorAll(":scope > .msg-page, :scope > [data-older], :scope > [data-newer]").forEach((n) => n.remove());
        if (page.dataset.hasOlder === "true") this.log.append(this.sentinel("data-older", TEXT.showOlder, "#"));
        this.log.append(page);
        this.scrollToBottom();
      } catch (failure) {
        this.pageFailed(failure);
      }
    }

    pageFailed(failure) {
      if (!(failure instanceof Failure)) throw failure;
      const unreachable = ["connection", "timeout"].includes(failure.kind);
      this.notice(unreachable ? TEXT.unreachable : failure.detail, { session: failure.kind === "session" });
    }
  }

  // --- The sidebar and the drawer ---------------------------------------------------

  function markCurrent(id) {
    document.querySelectorAll("[data-conversation-link]").forEach((link) => {
      if (link.dataset.conversationLink === id) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    });
  }

  function refreshSidebar(id) {
    const list = document.getElementById("conversation-list");
    if (list && window.htmx) htmx.ajax("GET", `${list.dataset.sidebarUrl}?current=${encodeURIComponent(id || "")}`, { target: list, swap: "innerHTML" });
  }

  function setDrawer(open) {
    body.classList.toggle("drawer-open", open);
    document.querySelectorAll("[data-drawer-open]").forEach((b) => b.setAttribute("aria-expanded", String(open)));
    // Focus once the drawer is visible (it is `visibility: hidden` while closed).
    if (open) requestAnimationFrame(() => setTimeout(() => document.querySelector("#sidebar a")?.focus(), 0));
  }

  document.addEventListener("click", (event) => {
    if (event.target.closest("[data-drawer-open]")) setDrawer(true);
    else if (event.target.closest("[data-drawer-close]")) setDrawer(false);
    else if (event.target.closest("#sidebar a[hx-get]")) setDrawer(false);
    // Clicking elsewhere closes an open Rename/Delete popover.
    document.querySelectorAll("details.popover[open]").forEach((details) => details.contains(event.target) || (details.open = false));
  });

  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key === "k" && document.getElementById("search-q")) return event.preventDefault(), document.getElementById("search-q").focus();
    if (event.key !== "Escape") return;
    const open = document.querySelector("details.popover[open]");
    if (open) {
      open.open = false;
      open.querySelector("summary").focus();
    } else if (body.classList.contains("drawer-open")) {
      setDrawer(false);
      document.querySelector("[data-drawer-open]")?.focus();
    }
  });

  document.addEventListener("toggle", ({ target }) => target.matches?.("details.popover[open]") && target.querySelector("input, button")?.focus(), true);

  // --- Offline indicator ------------------------------------------------------------

  function showOnline() {
    const banner = document.getElementById("offline");
    if (banner) banner.hidden = navigator.onLine;
    if (navigator.onLine) currentPane()?.wake(); // back online: held messages go now
  }
  window.addEventListener("online", showOnline);
  window.addEventListener("offline", showOnline);

  // --- htmx glue -------------------------------------------------------------------

  function currentPane() {
    return document.getElementById("pane")?.chatPane;
  }

  function initPane() {
    const section = document.getElementById("pane");
    if (!section || section.chatPane) return;
    new Pane(section);
    markCurrent(section.dataset.conversationId);
  }

  document.addEventListener("htmx:load", initPane);
  document.addEventListener("htmx:afterSettle", initPane);
  document.addEventListener("htmx:responseError", (event) => {
    const { xhr } = event.detail;
    const pane = currentPane();
    if (!pane) return;
    if (xhr.status === 401 || xhr.status === 403) pane.notice(TEXT.session, { session: true });
    else pane.notice(detailOf(xhr.responseText) || TEXT.server);
  });
  document.addEventListener("htmx:sendError", () => currentPane()?.notice(TEXT.unreachable));
  document.addEventListener("htmx:timeout", () => currentPane()?.notice(TEXT.unreachable));

  const start = () => (initPane(), showOnline());
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
