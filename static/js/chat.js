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
 * The page works without this file: the forms post and the server re-renders.
 * Issue 5 (live streaming) can listen for the "chat:pane" and "chat:turn" events.
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
  };
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
      const waiting = (this.busy || this.queue.length > 0) && !this.paused;
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
