/* The chat page's behaviour, on top of htmx (no build step).
 *
 * - Composer: Enter sends, Shift+Enter adds a line (FR-003); empty text cannot be sent;
 *   a counter shows the 4000-character limit before it is reached.
 * - Sending: the message shows at once (FR-004); the typing indicator appears in the
 *   same frame (SC-009) and stays until the reply arrives (FR-006); messages typed
 *   while waiting are queued and sent one after another, in order (FR-007); the
 *   input stays usable (SC-010).
 * - Failures are shown in the pane with the typed text kept (FR-014a, FR-017).
 * - Virtualized log: only a window of pages is in the DOM; older pages load when
 *   scrolling up, pages far out of view are removed and fetched again when scrolled
 *   back to (SC-011). Auto-scroll to the newest unless the user scrolled up (FR-016).
 *
 * - Live replies (issue 5): while the pane's WebSocket is open (static/js/live.js), a
 *   message is sent over it and the reply grows token by token; Stop ends it; other
 *   tabs on the conversation see the same; a reply in progress when the page opens
 *   continues live. When it finishes, the server-rendered Markdown is swapped in
 *   (model text is never turned into HTML here). Without a socket: the HTTP path.
 *
 * The page works without this file: the forms post and the server re-renders.
 */
(() => {
  "use strict";

  const TEXT = {
    connection: "Connection lost. Check your internet or try again.",
    timeout: "Request timed out. Please try again.",
    session: "Your session has expired. Please sign in again.",
    server: "Something went wrong on our side. Please try again.",
    typing: "Assistant is typing…",
    waiting: "Waiting to send…",
    failed: "The assistant could not answer right now.",
  };
  const LIVE_LOST_MS = 15000; // a socket down this long mid-reply: stop waiting for it (the reply is saved)
  const LIVE_RESENDS = 5; // times a send refused by a reply in progress is sent again after it
  const randomId = () =>
    (crypto.randomUUID && crypto.randomUUID()) || `${Date.now()}-${Math.random().toString(16).slice(2)}`;
  const PAGE_WINDOW = 6; // pages of 50 kept in the DOM: at most ~300 messages (SC-011)
  const EDGE_PX = 800; // fetch the next page when this close to an end of the log
  const NEAR_BOTTOM_PX = 80; // closer than this to the bottom counts as "reading the newest"
  const DRAFT_KEY = "chat:draft";

  const body = document.body;
  const csrfToken = () => {
    try {
      return JSON.parse(body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch {
      return "";
    }
  };
  const sendTimeoutMs = () => Number(body.dataset.sendTimeoutMs || 120000);
  const loginUrl = () =>
    `${body.dataset.loginUrl || "/accounts/login/"}?next=${encodeURIComponent(location.pathname + location.search)}`;

  class Failure extends Error {
    constructor(kind, detail) {
      super(kind);
      this.kind = kind; // connection | timeout | session | invalid | gone | server
      this.detail = detail || TEXT[kind] || TEXT.server;
    }
  }

  /** POST or GET with the htmx headers, so the server answers with fragments and 401s. */
  async function call(url, { method = "GET", data = null, timeoutMs = 30000 } = {}) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    let response;
    try {
      response = await fetch(url, {
        method,
        body: data,
        credentials: "same-origin",
        signal: controller.signal,
        headers: { "HX-Request": "true", "HX-Current-URL": location.href, "X-CSRFToken": csrfToken() },
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

  /** Add a copy button to each code block of assistant replies under `root`. */
  function decorate(root) {
    root.querySelectorAll?.(".msg__md pre").forEach((pre) => {
      if (pre.parentElement.classList.contains("code")) return;
      const wrap = document.createElement("div");
      wrap.className = "code";
      pre.replaceWith(wrap);
      wrap.append(pre);
      const button = document.createElement("button");
      button.type = "button";
      button.className = "btn btn--small code__copy";
      button.textContent = "Copy";
      button.setAttribute("aria-label", "Copy code");
      wrap.append(button);
    });
  }

  async function copyText(text) {
    if (navigator.clipboard?.writeText) {
      try {
        await navigator.clipboard.writeText(text);
        return true;
      } catch {
        /* fall through to the selection way */
      }
    }
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.append(area);
    area.select();
    const done = document.execCommand("copy");
    area.remove();
    return done;
  }

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
      this.silent = new Set(); // replies in progress that have shown no text yet (typing indicator)
      this.empty = this.log.querySelector(".empty");
      this.max = Number(this.input.dataset.max || 4000);
      this.queue = [];
      this.busy = false;
      this.paused = false;
      this.loading = false;
      this.stick = true;
      this.bind();
      this.restoreDraft();
      this.refreshComposer();
      decorate(this.log);
      this.scrollToBottom();
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
          ? `${left} characters left`
          : `Limit reached: ${this.max} characters`
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
        this.refreshComposer();
        return;
      }
      this.input.value = "";
      this.refreshComposer();
      this.input.focus();
      const bubble = this.userBubble(text);
      const item = { text, bubble };
      this.queue.push(item);
      this.refreshTyping(); // same frame as the bubble: well within SC-009's 500 ms
      if (this.hasNewer()) await this.resetToLatest();
      this.append(bubble);
      this.scrollToBottom();
      this.pump();
    }

    userBubble(text) {
      const article = document.createElement("article");
      article.className = "msg msg--user msg--pending";
      article.innerHTML =
        '<div class="msg__bubble"><span class="visually-hidden">You said:</span><div class="msg__text"></div><span class="msg__state" hidden></span></div>';
      article.querySelector(".msg__text").textContent = text; // escaped: text, never HTML
      return article;
    }

    // --- The send queue ---------------------------------------------------------------

    refreshTyping() {
      // Until the reply's first text (FR-006): ours, or one another tab asked for.
      const own = (this.busy || this.queue.length > 0) && !this.paused && !this.current?.textArrived;
      const waiting = own || this.silent.size > 0;
      if (waiting && !this.typing.firstChild) {
        this.typing.innerHTML =
          '<span class="typing"><span class="typing__dots" aria-hidden="true"><span></span><span></span><span></span></span><span></span></span>';
        this.typing.querySelector(".typing > span:last-child").textContent = TEXT.typing;
      } else if (!waiting && this.typing.firstChild) {
        this.typing.replaceChildren();
      }
      this.queue.forEach((item, index) => {
        const state = item.bubble.querySelector(".msg__state");
        if (!state) return;
        const show = this.paused || (index > 0 && this.busy);
        state.hidden = !show;
        state.textContent = show ? TEXT.waiting : "";
      });
    }

    async pump() {
      if (this.busy || this.paused || !this.queue.length) {
        this.refreshTyping();
        return;
      }
      const item = this.queue[0];
      this.busy = true;
      this.refreshTyping();
      try {
        await this.deliver(item);
        this.queue.shift();
      } catch (failure) {
        if (!(failure instanceof Failure)) throw failure;
        this.fail(item, failure);
      } finally {
        this.busy = false;
        this.refreshTyping();
      }
      if (!this.paused) this.pump();
    }

    async deliver(item) {
      if (this.socket?.open) return this.deliverLive(item);
      const data = new FormData();
      data.append("text", item.text);
      data.append("csrfmiddlewaretoken", csrfToken());
      const { status, html } = await call(this.el.dataset.sendUrl, {
        method: "POST",
        data,
        timeoutMs: sendTimeoutMs(),
      });
      if (status === 200 || status === 503 || status === 504) {
        this.applyTurn(html, item.bubble);
        if (status !== 200) this.paused = true; // Retry on the failed reply resumes the queue
        return;
      }
      if (status === 400) throw new Failure("invalid", detailOf(html));
      if (status === 404) throw new Failure("gone", detailOf(html));
      throw new Failure("server");
    }

    applyTurn(html, bubble) {
      const fragment = parse(html);
      const turn = fragment.querySelector(".turn");
      if (!turn) return;
      this.adopt(turn, fragment.querySelector("#conv-header"));
      const [userMessage, ...rest] = turn.querySelectorAll(".msg");
      if (!bubble.isConnected || !this.live) return; // its page was scrolled away: it is saved
      bubble.replaceWith(userMessage);
      let last = userMessage;
      rest.forEach((message) => {
        last.after(message);
        last = message;
        decorate(message);
      });
      this.arrived();
      this.el.dispatchEvent(new CustomEvent("chat:turn", { bubbles: true, detail: { turn } }));
    }

    /** A first message created the conversation: the pane, URL and sidebar follow it. */
    adopt(turn, header) {
      const id = turn.dataset.conversationId;
      const isNew = this.el.dataset.conversationId !== id;
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
      if (isNew && location.pathname !== turn.dataset.conversationUrl) {
        history.replaceState({}, "", turn.dataset.conversationUrl);
      }
      refreshSidebar(id);
    }

    fail(item, failure) {
      const { bubble, text } = item;
      if (failure.kind === "invalid") {
        // Not sendable as it is: give the text back to edit, and go on with the rest.
        this.queue.shift();
        bubble.remove();
        this.keepText(text);
        this.notice(failure.detail);
        return;
      }
      this.paused = true;
      bubble.classList.add("msg--unsent");
      bubble.classList.remove("msg--pending");
      const box = document.createElement("div");
      box.className = "msg__error";
      box.setAttribute("role", "alert");
      const p = document.createElement("p");
      p.textContent = failure.detail;
      box.append(p);
      if (failure.kind === "session") {
        const link = document.createElement("a");
        link.href = loginUrl();
        link.textContent = "Sign in again";
        p.append(" ", link);
        // Kept across the sign-in so nothing typed is lost (FR-017).
        sessionStorage.setItem(DRAFT_KEY, this.queue.map((queued) => queued.text).join("\n\n"));
      } else {
        const retry = document.createElement("button");
        retry.type = "button";
        retry.className = "btn btn--small";
        retry.textContent = "Retry";
        retry.addEventListener("click", () => {
          box.remove();
          bubble.classList.remove("msg--unsent");
          bubble.classList.add("msg--pending");
          if (this.input.value === text) {
            this.input.value = "";
            this.refreshComposer();
          }
          this.paused = false;
          this.pump();
        });
        box.append(retry);
      }
      bubble.querySelector(".msg__error")?.remove();
      bubble.querySelector(".msg__bubble").append(box);
      this.keepText(text);
      this.arrived();
    }

    async retryReply(form) {
      const article = form.closest(".msg");
      const box = form.closest(".msg__error");
      const button = form.querySelector("button");
      button.disabled = true;
      this.busy = true;
      this.paused = false;
      this.refreshTyping();
      try {
        if (this.socket?.open) {
          const finished = await this.liveCall({ type: "retry" }, { retry: article });
          if (finished.status === "failed") this.paused = true; // Retry on it again resumes the queue
        } else {
          await this.retryOverHttp(form, article, box);
        }
      } catch (failure) {
        if (!(failure instanceof Failure)) throw failure;
        this.paused = true;
        button.disabled = false;
        const p = box.querySelector("p");
        p.textContent = failure.detail;
        if (failure.kind === "session") {
          const link = document.createElement("a");
          link.href = loginUrl();
          link.textContent = "Sign in again";
          p.append(" ", link);
        }
      } finally {
        this.busy = false;
        this.refreshTyping();
      }
      if (!this.paused) this.pump();
    }

    async retryOverHttp(form, article, box) {
      const data = new FormData(form);
      const { status, html } = await call(form.action, { method: "POST", data, timeoutMs: sendTimeoutMs() });
      const fragment = parse(html);
      const fresh = fragment.querySelector(".turn .msg");
      if (status === 200 && fresh) {
        article.replaceWith(fresh);
        decorate(fresh);
        this.arrived();
      } else if (status === 503 || status === 504) {
        this.paused = true;
        const again = fragment.querySelector(".msg__error");
        if (again) box.replaceWith(again);
      } else if (status === 409) {
        box.replaceWith(...parse(html).childNodes);
      } else {
        throw new Failure("server", detailOf(html));
      }
    }

    notice(text, { session = false } = {}) {
      if (!this.live) return;
      const alert = document.createElement("div");
      alert.className = "alert";
      alert.setAttribute("role", "alert");
      const p = document.createElement("p");
      p.textContent = text;
      if (session) {
        const link = document.createElement("a");
        link.href = loginUrl();
        link.textContent = "Sign in again";
        p.append(" ", link);
      }
      alert.append(p);
      this.notices.replaceChildren(alert);
      if (!session) setTimeout(() => alert.remove(), 8000);
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
      on("conversation.created", this.onLiveConversation);
      on("message.created", this.onLiveMessage);
      on("reply.started", this.onLiveStarted);
      on("reply.snapshot", this.onLiveSnapshot);
      on("reply.delta", this.onLiveDelta);
      on("reply.finished", this.onLiveFinished);
      on("error", this.onLiveError);
    }

    /** Send `action` over the socket; resolves with the `reply.finished` of the reply it starts. */
    liveCall(action, info) {
      let call;
      const done = new Promise((resolve, reject) => {
        call = { ...info, action, resolve, reject, messageId: null, replyId: null, textArrived: false, resends: 0 };
      });
      this.current = call;
      if (!this.socket.send(action)) {
        this.current = null;
        return Promise.reject(new Failure("connection"));
      }
      return done.finally(() => {
        clearTimeout(call.lostTimer);
        if (this.current === call) this.current = null;
      });
    }

    async deliverLive(item) {
      const clientId = randomId();
      item.bubble.dataset.clientId = clientId;
      const finished = await this.liveCall({ type: "send", message: item.text, client_id: clientId }, { clientId, item });
      if (finished.status === "failed") this.paused = true; // Retry on the failed reply resumes the queue
    }

    find(id) {
      return this.log.querySelector(`.msg[data-id="${CSS.escape(id)}"]`);
    }

    /** Where a message the socket announces goes: before our own messages still waiting to be sent. */
    place(el) {
      if (this.hasNewer()) return; // the newest page is not in the DOM; it is fetched when scrolled to
      const waiting = this.queue.find((queued) => queued !== this.current?.item && queued.bubble.isConnected);
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
      let md = el.querySelector(".msg__md");
      if (!md) {
        md = document.createElement("div");
        md.className = "msg__md";
        el.querySelector(".msg__bubble .visually-hidden")?.after(md);
      }
      if (clear) md.textContent = "";
      return el;
    }

    textArrived(replyId) {
      const changed = this.silent.delete(replyId);
      if (this.current?.replyId === replyId && !this.current.textArrived) {
        this.current.textArrived = true;
        this.refreshTyping();
      } else if (changed) {
        this.refreshTyping();
      }
    }

    onLiveConnection({ state }) {
      const call = this.current;
      if (!call) return;
      if (state === "closed" && !call.messageId && !call.replyId) {
        call.reject(new Failure("connection")); // not confirmed: Retry sends it again
      } else if (state === "closed" && !call.lostTimer) {
        // Saved and being written on the server: a reconnect shows the rest (snapshot).
        call.lostTimer = setTimeout(() => {
          this.notice(TEXT.connection);
          call.resolve({ status: "unknown" });
        }, LIVE_LOST_MS);
      } else if (state === "open") {
        clearTimeout(call.lostTimer);
        call.lostTimer = null;
      }
    }

    /** The first message created the conversation: the pane and the URL follow it at once. */
    onLiveConversation(event) {
      const base = this.el.dataset.chatUrl || "/chat";
      const url = `${base}/${event.conversation_id}`;
      Object.assign(this.el.dataset, {
        conversationId: event.conversation_id,
        conversationUrl: url,
        sendUrl: `${url}/send`,
        messagesUrl: `${url}/messages`,
      });
      if (!this.live) return;
      this.form.action = this.el.dataset.sendUrl;
      if (location.pathname !== url) history.replaceState({}, "", url);
      refreshSidebar(event.conversation_id);
      const title = this.el.querySelector("#pane-title");
      if (title && event.title) {
        title.textContent = event.title; // text, never HTML
        document.title = `${event.title} · Chat`;
      }
    }

    onLiveMessage(event) {
      const call = this.current;
      if (call?.clientId && event.client_id === call.clientId) {
        call.messageId = event.message.id;
        call.item.bubble.classList.remove("msg--pending");
        call.item.bubble.id = `msg-${event.message.id}`;
      }
    }

    onLiveStarted(event) {
      const call = this.current;
      if (call && !call.replyId && (call.retry || (call.messageId && event.user_message_id === call.messageId))) {
        call.replyId = event.reply_id;
        // A retry that writes a new reply replaces the failed one.
        if (call.retry && call.retry.dataset.id !== event.reply_id) call.retry.remove();
      }
      this.liveArticle(event.reply_id, { clear: true });
      this.silent.add(event.reply_id);
      this.refreshTyping();
    }

    onLiveSnapshot(event) {
      this.liveArticle(event.reply_id);
      if (event.content) this.textArrived(event.reply_id);
      else if (event.status === "pending" || event.status === "streaming") {
        this.silent.add(event.reply_id);
        this.refreshTyping();
      }
      this.arrived();
    }

    onLiveDelta(event) {
      this.textArrived(event.reply_id);
      this.arrived();
    }

    async onLiveFinished(event) {
      this.silent.delete(event.reply_id);
      const call = this.current?.replyId === event.reply_id ? this.current : null;
      if (call) call.textArrived = true;
      this.refreshTyping();
      await this.swapRendered(event);
      call?.resolve(event);
      const blocked = this.current?.blocked ? this.current : null;
      if (blocked) {
        // Refused while that reply was being written: send it now.
        blocked.blocked = false;
        blocked.resends += 1;
        if (!this.socket.send(blocked.action)) blocked.reject(new Failure("connection"));
      }
    }

    /** Replace the streamed plain text with the server-rendered, sanitised Markdown (and Retry on failure). */
    async swapRendered(event) {
      const el = this.find(event.reply_id);
      const messagesUrl = this.el.dataset.messagesUrl;
      if (!el || !messagesUrl) return;
      el.dataset.status = event.status;
      const reason = event.error === "Assistant timeout" ? "?reason=timeout" : "";
      try {
        const { status, html } = await call(`${messagesUrl}/${encodeURIComponent(event.reply_id)}${reason}`);
        const fragment = parse(html);
        const turn = fragment.querySelector(".turn");
        const fresh = turn?.querySelector(".msg");
        if (status !== 200 || !fresh) return;
        this.adopt(turn, fragment.querySelector("#conv-header"));
        if (!el.isConnected || !this.live) return;
        el.replaceWith(fresh);
        decorate(fresh);
        this.arrived();
        this.el.dispatchEvent(new CustomEvent("chat:turn", { bubbles: true, detail: { turn } }));
      } catch (failure) {
        if (!(failure instanceof Failure)) throw failure;
        el.classList.remove("msg--live"); // the text stays as it streamed
        if (event.status === "failed") this.notice(event.error === "Assistant timeout" ? TEXT.timeout : TEXT.failed);
      }
    }

    onLiveError(event) {
      const call = this.current;
      const mine =
        call && ((call.clientId && event.client_id === call.clientId) || (call.retry && !event.client_id && !call.replyId));
      if (!mine) {
        if (event.detail) this.notice(event.detail);
        return;
      }
      if (event.error === "Reply in progress" && call.clientId && call.resends < LIVE_RESENDS && this.socket.streamingReplyId()) {
        call.blocked = true; // another tab's reply is being written: sent again when it finishes
        return;
      }
      const kind = { "Validation error": "invalid", "Not found": "gone" }[event.error] || "server";
      call.reject(new Failure(kind, event.detail));
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
      let page = this.pages().at(-1);
      if (!page) {
        page = document.createElement("div");
        page.className = "msg-page";
        this.log.append(page);
      }
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
      const copy = event.target.closest(".code__copy");
      if (copy) {
        const code = copy.parentElement.querySelector("pre")?.innerText ?? "";
        copyText(code).then((ok) => {
          copy.textContent = ok ? "Copied" : "Copy failed";
          setTimeout(() => (copy.textContent = "Copy"), 2000);
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
      decorate(page);
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
        this.log.append(this.sentinel("data-newer", "Show newer messages", this.el.dataset.conversationUrl));
      }
      if (end === "top") {
        if (!this.hasOlder()) {
          this.log.querySelector(".msg-page")?.before(this.sentinel("data-older", "Show older messages", "#"));
        }
        // Content above the viewport went away: move up by as much to stay in place.
        this.log.scrollTop -= height - this.log.scrollHeight;
      }
    }

    sentinel(attribute, label, href) {
      const link = document.createElement("a");
      link.className = "log__more";
      link.setAttribute(attribute, "");
      link.href = href;
      link.textContent = label;
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
        if (page.dataset.hasOlder === "true") this.log.append(this.sentinel("data-older", "Show older messages", "#"));
        this.log.append(page);
        this.scrollToBottom();
      } catch (failure) {
        this.pageFailed(failure);
      }
    }

    pageFailed(failure) {
      if (!(failure instanceof Failure)) throw failure;
      this.notice(failure.detail, { session: failure.kind === "session" });
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
    if (!list || !window.htmx) return;
    const url = `${list.dataset.sidebarUrl}?current=${encodeURIComponent(id || "")}`;
    htmx.ajax("GET", url, { target: list, swap: "innerHTML" });
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
    document.querySelectorAll("details.popover[open]").forEach((details) => {
      if (!details.contains(event.target)) details.open = false;
    });
  });

  document.addEventListener("keydown", (event) => {
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

  document.addEventListener("toggle", (event) => {
    const details = event.target;
    if (details.matches?.("details.popover") && details.open) details.querySelector("input, button")?.focus();
  }, true);

  // --- Offline indicator ------------------------------------------------------------

  function showOnline() {
    const banner = document.getElementById("offline");
    if (banner) banner.hidden = navigator.onLine;
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
  document.addEventListener("htmx:sendError", () => currentPane()?.notice(TEXT.connection));
  document.addEventListener("htmx:timeout", () => currentPane()?.notice(TEXT.timeout));

  document.addEventListener("DOMContentLoaded", () => {
    initPane();
    showOnline();
  });
  if (document.readyState !== "loading") {
    initPane();
    showOnline();
  }
})();
