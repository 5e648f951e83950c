"""The chat page in a real browser: open the 100,000-message conversation (issue 6; the page: issue 4).

Debian's Chromium driven by Playwright, launched like the browser tests
(``conversations.tests.conftest``: ``CHROMIUM``, ``CHROMIUM_ARGS``), against the production
serve command (collected static files served by WhiteNoise, as ``make serve`` does). Each
visit uses a fresh browser context (empty cache, a session cookie of the bench's Django
user) and measures:

* **interactive**: from navigation start (the page's ``performance.timeOrigin``) to the
  ``input`` event of a keystroke typed into the message box, sent as soon as the page is
  ready: the newest message visible in the pane, ``chat.js``'s pane set up, the box enabled.
  Read with ``performance.now()`` in the page; it includes Playwright's round trips, so it
  is an upper bound. The Navigation Timing marks and the wall time around ``page.goto``
  and the waits are kept beside it.
* **message elements**: ``#message-log .msg`` after opening and after each scroll.
* **scrolling up**: ``scrolls`` times, the log is scrolled to the top and the time until
  the older page is in the DOM is taken in the page; the messages shown must be
  consecutive messages of the conversation (their ids are ``dataset.long_message_id``),
  each scroll must reach further back, and the oldest one's text must be the database's.

The page identifies its user as ``str(request.user.pk)`` (``conversations.auth.user_id_of``),
which can never be ``dataset.LONG_USER`` ("bench-long"); so the long conversation is lent
to a Django user (``bench-browser``) for the visits and given back afterwards.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import psycopg

from bench import dataset
from bench.server import ROOT

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Request

BROWSER_USER = "bench-browser"  # the Django username the page is opened as
PAGE_SIZE = 50  # messages per page of the pane (conversations.views.MESSAGE_PAGE)
SCROLLS = 20
SCROLL_TIMEOUT_MS = 10_000
VIEWPORT = {"width": 1280, "height": 800}
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
# Nothing but loopback: names do not resolve (the server is reached by its IP address).
NO_NETWORK_ARGS = ["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"]

# Runs in every document before its own scripts: marks the first frame in which the page is
# ready (newest message visible in the log, the pane's script set up, the box enabled) and
# the first keystroke that reaches the message box.
_PROBE = """
(() => {
  const newest = %s;
  const marks = (window.__bench = { ready: null, keydown: null, typed: null });
  const visible = (el, box) => {
    const r = el.getBoundingClientRect();
    const b = box.getBoundingClientRect();
    return r.height > 0 && r.bottom > b.top && r.top < b.bottom;
  };
  const ready = () => {
    const pane = document.getElementById("pane");
    const log = document.getElementById("message-log");
    const box = document.getElementById("composer-text");
    const message = log && log.querySelector(`.msg[data-id="${newest}"]`);
    return Boolean(pane && pane.chatPane && box && !box.disabled && !box.readOnly && message && visible(message, log));
  };
  const poll = () => {
    if (ready()) marks.ready = performance.now();
    else requestAnimationFrame(poll);
  };
  requestAnimationFrame(poll);
  addEventListener("keydown", (event) => {
    if (event.target.id === "composer-text" && marks.keydown === null) marks.keydown = event.timeStamp;
  }, true);
  addEventListener("input", (event) => {
    if (event.target.id === "composer-text" && marks.typed === null) marks.typed = performance.now();
  }, true);
})();
"""

# Scroll the log to the top; resolve once the older page is in and the pane is idle (or on timeout).
_SCROLL_UP = """
async (timeoutMs) => {
  const log = document.getElementById("message-log");
  const pane = document.getElementById("pane").chatPane;
  const ids = () => [...log.querySelectorAll(".msg-page > .msg[data-id]")].map((m) => m.dataset.id);
  const before = ids()[0];
  const began = performance.now();
  log.scrollTop = 0;
  log.dispatchEvent(new Event("scroll"));
  let loaded = false;
  while (performance.now() - began < timeoutMs) {
    await new Promise((resolve) => requestAnimationFrame(resolve));
    if (ids()[0] !== before && !pane.loading) {
      loaded = true;
      break;
    }
  }
  const oldest = log.querySelector(".msg-page > .msg[data-id]");
  return {
    loaded,
    ms: performance.now() - began,
    ids: ids(),
    elements: log.querySelectorAll(".msg").length,
    oldest_text: oldest ? oldest.querySelector(".msg__text, .msg__md").innerText : null,
  };
}
"""


@dataclass
class Scroll:
    """One scroll to the top: whether an older page came (and how fast), and the pane after it."""

    loaded: bool
    ms: float
    elements: int
    oldest: int | None  # dataset index of the oldest message in the pane (0 = the conversation's first)
    consecutive: bool


@dataclass
class Visit:
    """One opening of the conversation in a fresh browser context; times in ms from navigation start."""

    ttfb_ms: float
    dom_content_loaded_ms: float
    ready_ms: float
    keydown_ms: float  # the keystroke reaching the page (its keydown's timeStamp)
    interactive_ms: float
    load_ms: float
    wall_ms: float
    elements_open: int
    dom_nodes_open: int
    scrolls: list[Scroll] = field(default_factory=list)
    oldest_id: str | None = None  # the oldest message reached, and its text in the pane
    oldest_text: str | None = None
    oldest_text_matches: bool = False
    outside_requests: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)  # uncaught exceptions and console errors

    @property
    def max_elements(self) -> int:
        return max([self.elements_open, *(s.elements for s in self.scrolls)])

    @property
    def scrolls_ok(self) -> int:
        oldest = [s.oldest if s.loaded and s.consecutive else None for s in self.scrolls]
        return scrolls_that_worked(oldest, start=dataset.LONG_MESSAGES - PAGE_SIZE)

    @property
    def messages_back(self) -> int:
        """How far back from the newest message the oldest one reached is (0 when no scroll worked)."""
        reached = [s.oldest for s in self.scrolls if s.oldest is not None]
        return dataset.LONG_MESSAGES - min(reached) if reached else 0

    @property
    def page_ms(self) -> float:
        """Median time from scrolling to the top to the older page in the DOM."""
        times = [s.ms for s in self.scrolls if s.loaded]
        return statistics.median(times) if times else float("nan")

    def as_dict(self) -> dict[str, object]:
        return {
            **asdict(self),
            "max_elements": self.max_elements,
            "scrolls_ok": self.scrolls_ok,
            "messages_back": self.messages_back,
            "page_ms": self.page_ms,
        }


# --- Pure helpers (tested in conversations/tests/test_bench.py) -----------------------------


def pane_window(ids: Sequence[str], index_of: Mapping[str, int]) -> tuple[int | None, bool]:
    """Where the pane is in the conversation.

    Args:
        ids: the ``data-id`` of the pane's messages, top to bottom.
        index_of: message id -> its index in the conversation (0 = oldest).

    Returns:
        ``(oldest, consecutive)``: the index of the pane's first message (``None`` when the
        pane is empty or shows a message not in ``index_of``), and whether the pane shows
        consecutive messages in order, without gaps or repeats.
    """
    indices = [index_of.get(i) for i in ids]
    if not indices or None in indices:
        return None, False
    first = indices[0]
    return first, indices == list(range(first, first + len(indices)))


def scrolls_that_worked(oldest: Sequence[int | None], *, start: int) -> int:
    """How many scrolls in a row, from the first, brought older messages into the pane.

    Args:
        oldest: the index of the pane's oldest message after each scroll (``None``: the
            scroll loaded nothing, or the pane was wrong).
        start: the index of the oldest message after opening.
    """
    done, previous = 0, start
    for index in oldest:
        if index is None or index >= previous:
            break
        done, previous = done + 1, index
    return done


def long_conversation_index() -> dict[str, int]:
    """Message id (text) -> index in the 100,000-message conversation."""
    return {str(dataset.long_message_id(i)): i for i in range(dataset.LONG_MESSAGES)}


# --- Setting up: static files, the Django user and its session, the lent conversation --------


def collect_static(env: Mapping[str, str]) -> None:
    """``manage.py collectstatic``, as ``make serve`` does: production serves the hashed files (WhiteNoise)."""
    cmd = [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"]
    subprocess.run(cmd, cwd=ROOT, env=dict(env), check=True)


def sign_in() -> tuple[str, str]:
    """The bench's Django user (made when missing) and a new session of it.

    Must run before Playwright starts (the ORM refuses to run beside its event loop).

    Returns:
        ``(user_id, session_key)``: the page's user id (``str(user.pk)``) and the value of
        the session cookie.
    """
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model

    user, created = get_user_model().objects.get_or_create(username=BROWSER_USER)
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    # What django.contrib.auth.login() stores, without a request to log in from.
    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session[SESSION_KEY] = user._meta.pk.value_to_string(user)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return str(user.pk), session.session_key


def sign_out(session_key: str) -> None:
    from importlib import import_module

    from django.conf import settings

    import_module(settings.SESSION_ENGINE).SessionStore(session_key).delete()


@contextmanager
def long_conversation_lent(dsn: str, *, to: str) -> Iterator[None]:
    """Make ``to`` the owner of the 100,000-message conversation while the block runs.

    Ownership is the conversation row's ``user_id`` (``selectors.conversation_get_for_user``);
    the messages are not touched. The owner is ``dataset.LONG_USER`` again afterwards, even
    when the block fails, so the other scenarios find it as ``bench.dataset`` made it.
    """
    conversation_id = dataset.long_conversation_id()
    update = "UPDATE conversations_conversation SET user_id = %s WHERE id = %s"
    with psycopg.connect(dsn, autocommit=True) as conn:
        if conn.execute(update, (to, conversation_id)).rowcount != 1:
            raise RuntimeError(f"the long conversation {conversation_id} is missing (bench.dataset)")
        try:
            yield
        finally:
            conn.execute(update, (dataset.LONG_USER, conversation_id))


# --- The visits ---------------------------------------------------------------------------------


def measure(*, base_url: str, session_key: str, dsn: str, runs: int, scrolls: int = SCROLLS) -> list[Visit]:
    """One untimed warm-up visit, then ``runs`` visits, each in a fresh browser context.

    Args:
        base_url: the server under test (``http://127.0.0.1:<port>``).
        session_key: a session of the conversation's owner (``sign_in``).
        dsn: the bench database (to read back the oldest message's text).
        runs: timed visits.
        scrolls: scrolls to the top per visit.
    """
    from playwright.sync_api import sync_playwright

    from conversations.tests.conftest import CHROMIUM, CHROMIUM_ARGS

    index_of = long_conversation_index()
    url = f"{base_url}/chat/{dataset.long_conversation_id()}"
    cookie = {"name": _session_cookie_name(), "value": session_key, "url": base_url}
    visits = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, *NO_NETWORK_ARGS]
        )
        try:
            for run in range(runs + 1):
                context = browser.new_context(viewport=VIEWPORT)
                try:
                    context.set_default_timeout(30_000)
                    context.add_cookies([cookie])
                    visit = _visit(context, url, index_of, scrolls=scrolls if run else 2)
                finally:
                    context.close()
                if run:
                    visits.append(visit)
        finally:
            browser.close()
    _check_oldest_texts(dsn, visits)
    return visits


def _session_cookie_name() -> str:
    from django.conf import settings

    return settings.SESSION_COOKIE_NAME


def _visit(context: BrowserContext, url: str, index_of: Mapping[str, int], *, scrolls: int) -> Visit:
    newest = str(dataset.long_message_id(dataset.LONG_MESSAGES - 1))
    context.add_init_script(_PROBE % json.dumps(newest))
    outside: list[str] = []

    def note(request: Request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.hostname not in LOCAL_HOSTS:
            outside.append(request.url)

    context.on("request", note)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    began = time.perf_counter()
    response = page.goto(url, wait_until="commit")
    if response is None or response.status != 200 or urlsplit(page.url).path != urlsplit(url).path:
        raise RuntimeError(f"opening {url} answered {response and response.status} at {page.url}")
    # Focus the box in the frame the page is ready in, so that only the keystroke is left to send.
    page.wait_for_function(
        "() => window.__bench.ready !== null && (document.getElementById('composer-text').focus(), true)",
        polling="raf",
    )
    page.keyboard.press("x")
    box = page.locator("#composer-text")
    if box.input_value() != "x":
        raise RuntimeError(f"the message box did not take the keystroke: {box.input_value()!r}")
    wall_ms = (time.perf_counter() - began) * 1000
    elements_open = page.locator("#message-log .msg").count()
    page.wait_for_load_state("load")
    marks = page.evaluate(
        """() => {
          const nav = performance.getEntriesByType("navigation")[0];
          return { ...window.__bench, ttfb: nav.responseStart, dcl: nav.domContentLoadedEventEnd,
                   load: nav.loadEventEnd, nodes: document.getElementsByTagName("*").length };
        }"""
    )
    if marks["typed"] is None:
        raise RuntimeError("the keystroke's input event was not seen")
    visit = Visit(
        ttfb_ms=marks["ttfb"],
        dom_content_loaded_ms=marks["dcl"],
        ready_ms=marks["ready"],
        keydown_ms=marks["keydown"],
        interactive_ms=marks["typed"],
        load_ms=marks["load"],
        wall_ms=wall_ms,
        elements_open=elements_open,
        dom_nodes_open=marks["nodes"],
    )
    box.fill("")  # nothing is sent; an empty box keeps no draft
    for _ in range(scrolls):
        result = page.evaluate(_SCROLL_UP, SCROLL_TIMEOUT_MS)
        oldest, consecutive = pane_window(result["ids"], index_of)
        visit.scrolls.append(Scroll(result["loaded"], result["ms"], result["elements"], oldest, consecutive))
        visit.oldest_id = result["ids"][0] if result["ids"] else None
        visit.oldest_text = result["oldest_text"]
        if not result["loaded"]:
            break  # it stopped loading: the failure is what this visit shows
    visit.outside_requests = outside
    visit.page_errors = errors
    return visit


def _check_oldest_texts(dsn: str, visits: list[Visit]) -> None:
    """Compare the text of the oldest message each visit reached with the database's."""
    sql = "SELECT content FROM conversations_message WHERE id = %s"
    with psycopg.connect(dsn) as conn:
        for visit in visits:
            if visit.oldest_id is None or visit.oldest_text is None:
                continue
            stored = conn.execute(sql, (uuid.UUID(visit.oldest_id),)).fetchone()
            visit.oldest_text_matches = stored is not None and visit.oldest_text.split() == stored[0].split()
