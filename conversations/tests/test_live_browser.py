"""The chat page streaming replies over its WebSocket, in a real browser (issue 5).

Debian's Chromium driven by Playwright against a real uvicorn serving the project's
ASGI application (HTTP and WebSockets, static files through Django's
``ASGIStaticFilesHandler``, as channels' ``ChannelsLiveServerTestCase`` does). The
server runs in a thread of the test process, so it uses the test database on
PostgreSQL and on SQLite alike (an in-memory SQLite test database is not visible to
another process), with the channel layer of the settings (in memory, or Redis when
``REDIS_URL`` is set). Only the model is faked: the offline assistant, slowed down so
the reply can be watched growing. Screenshots go to ``test-artifacts/``.

Run: ``pytest conversations/tests/test_live_browser.py`` (marked ``browser``).
"""

from __future__ import annotations

import asyncio
import gc
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import pytest
import uvicorn
from channels.layers import channel_layers
from django.conf import settings
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.db import connection
from django.test import Client

from conversations import live
from conversations.assistant import AssistantError, ChatTurn, reset_assistant, set_assistant
from conversations.assistant.offline import OfflineAssistant, offline_reply
from conversations.models import Conversation, Message
from conversations.tests.assistants import FailingAssistant
from conversations.tests.factories import make_conversation

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
START_TIMEOUT = 20.0  # seconds for the server to start or stop
# The offline reply is about 20 chunks: with 0.12 s between them it takes about 2.5 s.
CHUNK_DELAY = 0.12

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


class AsgiLiveServer:
    """uvicorn serving ``chatsite.asgi:application`` on a free loopback port, in a thread."""

    def __init__(self) -> None:
        from chatsite.asgi import application

        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            ASGIStaticFilesHandler(application), lifespan="off", log_level="warning", ws="websockets-sansio"
        )
        self.server = uvicorn.Server(config)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=self._run, name="asgi-live-server", daemon=True)

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.server.serve(sockets=[self.socket]))
        finally:
            self.loop.close()

    def start(self) -> None:
        # The in-memory layer binds its queues to the loop that first uses it: this server's.
        channel_layers._reset_backends("CHANNEL_LAYERS")
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the ASGI test server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.loop is not None and self.loop.is_running():
            # Generations outlive sockets by design: end them before the test database is emptied.
            asyncio.run_coroutine_threadsafe(live.stop_all(), self.loop).result(START_TIMEOUT)
        self.server.should_exit = True
        self.thread.join(START_TIMEOUT)
        self.socket.close()
        channel_layers._reset_backends("CHANNEL_LAYERS")


def _other_sessions() -> set[int]:
    """PostgreSQL: the ids of the other sessions on the test database (empty on SQLite)."""
    if connection.vendor != "postgresql":
        return set()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return {row[0] for row in cursor.fetchall()}


@pytest.fixture
def asgi_server(transactional_db: None) -> Iterator[AsgiLiveServer]:
    before = _other_sessions()
    server = AsgiLiveServer()
    server.start()
    yield server
    server.stop()
    # Django's ASGI handler runs each request's ORM calls in a thread of its own; a
    # thread that ended may leave its connection open until garbage collection. The
    # server has stopped: end the sessions it opened so the test database can be dropped.
    gc.collect()
    left = _other_sessions() - before
    if left:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", [sorted(left)])


@pytest.fixture
def signed_in(browser, asgi_server, owner) -> Iterator[object]:
    """The owner's browser on the ASGI server, with a session made by Django's test client."""
    context = browser.new_context(base_url=asgi_server.url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    client = Client()
    client.force_login(owner)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": asgi_server.url}])
    yield context
    context.close()


@pytest.fixture
def slow_assistant() -> OfflineAssistant:
    assistant = OfflineAssistant(chunk_delay=CHUNK_DELAY)
    set_assistant(assistant)
    return assistant


class ThinkingAssistant(OfflineAssistant):
    """The slow offline assistant, thinking ``think`` seconds before its first word (time to first token)."""

    def __init__(self, *, think: float) -> None:
        super().__init__(chunk_delay=CHUNK_DELAY)
        self.think = think

    async def stream(
        self, history: Sequence[ChatTurn], *, toolbox: object = None, options: object = None
    ) -> AsyncIterator[str]:
        await asyncio.sleep(self.think)
        async for chunk in super().stream(history):
            yield chunk


def composer(page):
    return page.get_by_role("textbox", name="Message")


def typing(page):
    return page.get_by_role("status").filter(has_text="Assistant is typing")


def reply(page):
    """The newest assistant reply of the pane."""
    return page.locator("#message-log .msg--assistant").last


def raw_text(page) -> str:
    """The newest reply's text as the socket delivered it (while it is plain text)."""
    return page.locator("#message-log .msg--assistant .msg__md").last.evaluate("el => el.textContent")


def reply_text(page) -> str:
    return page.locator("#message-log .msg--assistant .msg__md").last.inner_text()


def open_live(page, path: str) -> None:
    """Open ``path`` and wait for the pane's socket."""
    page.goto(path)
    expect(page.locator("#pane")).to_have_attribute("data-live-connection", "open")


def watch_posts(page) -> list[str]:
    """The URLs of the POST requests the page makes (a live send makes none)."""
    posts: list[str] = []
    page.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)
    return posts


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)


def lengths_while_streaming(page, *, samples: int = 40, every_ms: int = 60) -> list[int]:
    """The reply's text length, sampled while it is still streaming (bounded)."""
    seen = []
    for _ in range(samples):
        state = reply(page).evaluate("el => [el.dataset.status, el.querySelector('.msg__md')?.textContent.length || 0]")
        if state[0] != "streaming":
            break
        seen.append(state[1])
        page.wait_for_timeout(every_ms)
    return seen


def expected(text: str, user_turns: int = 1) -> str:
    return offline_reply([ChatTurn(role="user", content="earlier")] * (user_turns - 1) + [ChatTurn("user", text)])


# --- Streaming ----------------------------------------------------------------------


def test_it_shows_the_typing_indicator_within_500_ms_until_the_first_text(signed_in) -> None:
    """FR-006, SC-009: the indicator appears at once, stays while the model thinks, leaves at its first word."""
    set_assistant(ThinkingAssistant(think=1.5))
    page = signed_in.new_page()
    open_live(page, "/chat/new")
    composer(page).fill("Are you there?")
    started = time.monotonic()
    composer(page).press("Enter")
    expect(typing(page)).to_be_visible(timeout=500)
    indicator_ms = (time.monotonic() - started) * 1000
    page.wait_for_timeout(1000)  # the model is still thinking: the indicator stays
    expect(typing(page)).to_be_visible()
    assert reply(page).locator(".msg__md").evaluate("el => el.textContent") == ""
    screenshot(page, "live-typing-1280")
    expect(reply(page)).to_have_attribute("data-status", "streaming")
    expect(reply(page).locator(".msg__md")).not_to_be_empty()
    expect(typing(page)).to_have_count(0)  # the text is there: the reply itself shows progress
    assert reply(page).get_attribute("data-status") == "streaming"  # ...before it completes
    expect(reply(page)).to_have_attribute("data-status", "complete", timeout=15_000)
    assert indicator_ms < 500, indicator_ms


def test_it_grows_the_reply_token_by_token_then_shows_the_rendered_markdown(signed_in, slow_assistant) -> None:
    """Issue 5: the reply visibly grows before it completes; a new conversation follows its URL."""
    page = signed_in.new_page()
    posts = watch_posts(page)
    open_live(page, "/chat/new")
    composer(page).fill("Stream it, please")
    composer(page).press("Enter")
    expect(page.locator(".msg--user").filter(has_text="Stream it, please")).to_be_visible(timeout=500)
    page.wait_for_function("() => (document.querySelector('.msg--assistant .msg__md')?.textContent.length || 0) > 60")
    screenshot(page, "live-streaming-1280")
    lengths = lengths_while_streaming(page)
    assert len(set(lengths)) >= 3 and lengths == sorted(lengths), lengths  # grew, several times

    expect(reply(page)).to_have_attribute("data-status", "complete", timeout=15_000)
    expect(reply(page).locator(".msg__md strong")).to_have_text("offline assistant")  # server-rendered Markdown
    expect(reply(page)).not_to_have_class(re.compile(r"msg--live"))
    conversation = Conversation.objects.get()
    saved = Message.objects.get(conversation=conversation, role="assistant")
    assert (saved.status, saved.content) == ("complete", expected("Stream it, please"))
    assert reply_text(page).startswith("You wrote: “Stream it, please”.")
    expect(page).to_have_url(re.compile(f"/chat/{conversation.pk}$"))
    expect(page.locator(f"#conv-{conversation.pk}")).to_contain_text("Stream it, please")
    expect(page.get_by_role("button", name="Stop")).to_be_hidden()
    assert posts == []  # sent over the socket, not by the form


def test_it_queues_rapid_messages_and_answers_them_in_order(signed_in, owner_id, slow_assistant) -> None:
    """FR-007, SC-010: the server takes one reply at a time; the page sends the next after each."""
    conversation = make_conversation(owner_id, title="Rapid")
    page = signed_in.new_page()
    open_live(page, f"/chat/{conversation.pk}")
    for word in ("first", "second", "third"):
        composer(page).fill(word)
        composer(page).press("Enter")
        expect(composer(page)).to_be_enabled()
    expect(page.locator(".msg--user").nth(2)).to_have_text(re.compile("third"))
    expect(page.locator(".msg--assistant[data-status=complete]")).to_have_count(3, timeout=20_000)
    texts = [t.split("\n")[0] for t in page.locator("#message-log .msg__text, #message-log .msg__md").all_inner_texts()]
    assert texts[0::2] == ["first", "second", "third"]
    assert [t[:19] for t in texts[1::2]] == ["You wrote: “first”.", "You wrote: “second”", "You wrote: “third”."]
    users = Message.objects.filter(conversation=conversation, role="user").order_by("created_at")
    assert [m.content for m in users] == ["first", "second", "third"]


def test_a_refresh_mid_reply_shows_the_text_so_far_then_the_whole_reply_saved_once(signed_in, slow_assistant) -> None:
    """Issue 5, SC-004: the generation goes on without the page; the new page catches up live."""
    page = signed_in.new_page()
    open_live(page, "/chat/new")
    composer(page).fill("Survive a refresh")
    composer(page).press("Enter")
    expect(page).to_have_url(re.compile(r"/chat/[0-9a-f-]{36}$"))
    page.wait_for_function("() => (document.querySelector('.msg--assistant .msg__md')?.textContent.length || 0) > 20")
    page.reload()
    expect(reply(page)).to_have_attribute("data-status", "streaming")
    expect(reply(page)).to_have_class(re.compile(r"msg--live"))  # following the socket, not the saved page
    partial = raw_text(page)
    assert len(partial) > 20 and expected("Survive a refresh").startswith(partial), partial
    expect(page.get_by_role("button", name="Stop")).to_be_visible()
    grown = lengths_while_streaming(page)
    assert grown and grown[-1] > len(partial), (len(partial), grown)  # continues live
    expect(reply(page)).to_have_attribute("data-status", "complete", timeout=15_000)
    conversation = Conversation.objects.get()
    assert reply_text(page).startswith("You wrote: “Survive a refresh”.")
    messages = list(Message.objects.filter(conversation=conversation).order_by("created_at"))
    assert [(m.role, m.status) for m in messages] == [("user", "complete"), ("assistant", "complete")]
    assert messages[1].content == expected("Survive a refresh")
    expect(page.locator("#message-log .msg")).to_have_count(2)


def test_stop_keeps_the_partial_text_marked_stopped(signed_in, slow_assistant) -> None:
    """Issue 5: Stop ends the generation; the partial reply is kept and marked stopped."""
    page = signed_in.new_page()
    open_live(page, "/chat/new")
    stop = page.get_by_role("button", name="Stop")
    expect(stop).to_be_hidden()
    composer(page).fill("Please stop midway")
    composer(page).press("Enter")
    page.wait_for_function("() => (document.querySelector('.msg--assistant .msg__md')?.textContent.length || 0) > 15")
    expect(stop).to_be_visible()
    stop.click()
    expect(reply(page)).to_have_attribute("data-status", "stopped")
    expect(reply(page).get_by_text("Stopped.")).to_be_visible()
    expect(stop).to_be_hidden()
    saved = Message.objects.get(role="assistant")
    assert saved.status == "stopped"
    assert 15 < len(saved.content) < len(expected("Please stop midway"))
    shown = reply_text(page)
    assert shown.replace("\n", "")[:15] == saved.content.replace("\n", "")[:15]
    screenshot(page, "live-stopped-1280")
    page.reload()
    expect(reply(page).get_by_text("Stopped.")).to_be_visible()
    expect(composer(page)).to_be_enabled()


def test_two_pages_on_one_conversation_both_see_the_message_and_the_streaming_reply(
    signed_in, owner_id, slow_assistant
) -> None:
    """Issue 5: two tabs follow one conversation."""
    conversation = make_conversation(owner_id, title="Shared", messages=2)
    sender, watcher = signed_in.new_page(), signed_in.new_page()
    open_live(sender, f"/chat/{conversation.pk}")
    open_live(watcher, f"/chat/{conversation.pk}")
    composer(sender).fill("Seen twice")
    composer(sender).press("Enter")
    expect(watcher.locator(".msg--user").filter(has_text="Seen twice")).to_be_visible()
    expect(reply(watcher).locator(".msg__md")).not_to_be_empty()
    growing = lengths_while_streaming(watcher)
    assert len(set(growing)) >= 2, growing
    for page in (sender, watcher):
        expect(reply(page)).to_have_attribute("data-status", "complete", timeout=15_000)
        expect(reply(page)).not_to_have_class(re.compile(r"msg--live"))  # the rendered Markdown is in
        expect(page.locator("#message-log .msg")).to_have_count(4)
    assert reply_text(watcher) == reply_text(sender)
    assert reply_text(watcher).startswith("You wrote: “Seen twice”.")
    assert Message.objects.filter(conversation=conversation).count() == 4


# --- Failures and fallbacks ---------------------------------------------------------


def test_a_failed_reply_offers_retry_over_the_socket_without_a_second_user_message(signed_in) -> None:
    """FR-014a, FR-017."""
    set_assistant(FailingAssistant(AssistantError("connection reset"), "Half an", " answer"))
    page = signed_in.new_page()
    posts = watch_posts(page)
    open_live(page, "/chat/new")
    composer(page).fill("Please answer")
    composer(page).press("Enter")
    expect(page.get_by_text("The assistant could not answer right now.")).to_be_visible()
    expect(typing(page)).to_have_count(0)
    reset_assistant()
    page.get_by_role("button", name="Retry").click()
    expect(reply(page)).to_have_attribute("data-status", "complete")
    expect(reply(page)).to_contain_text("You wrote: “Please answer”")
    expect(page.get_by_text("The assistant could not answer right now.")).to_have_count(0)
    assert Message.objects.filter(role="user").count() == 1
    assert list(Message.objects.filter(role="assistant").values_list("status", flat=True)) == ["complete"]
    assert posts == []


def test_without_a_websocket_the_form_posts_and_the_reply_arrives_whole(signed_in) -> None:
    """Issue 5: a blocked socket leaves the page working over HTTP."""
    page = signed_in.new_page()
    page.route_web_socket(re.compile(r"/ws/"), lambda ws: ws.close())
    posts = watch_posts(page)
    page.goto("/chat/new")
    composer(page).fill("No socket here")
    composer(page).press("Enter")
    expect(reply(page)).to_contain_text("You wrote: “No socket here”")
    expect(reply(page)).to_have_attribute("data-status", "complete")
    assert any(url.endswith("/chat/send") for url in posts), posts
    assert Message.objects.filter(role="user").count() == 1


def test_switching_conversations_closes_the_old_socket_and_opens_the_new_one(signed_in, owner_id) -> None:
    """Issue 5: one socket per open conversation, also across htmx swaps."""
    first = make_conversation(owner_id, title="First", messages=2)
    second = make_conversation(owner_id, title="Second", messages=2)
    page = signed_in.new_page()
    sockets = []
    page.on("websocket", lambda ws: sockets.append(ws))
    open_live(page, f"/chat/{second.pk}")
    page.get_by_role("link", name=re.compile("First")).click()
    expect(page).to_have_url(re.compile(f"/chat/{first.pk}$"))
    expect(page.locator("#pane")).to_have_attribute("data-live-connection", "open")
    assert [ws.url.split("/ws/")[1] for ws in sockets] == [f"chat/{second.pk}", f"chat/{first.pk}"]
    deadline = time.monotonic() + 5
    while not sockets[0].is_closed() and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert sockets[0].is_closed() and not sockets[1].is_closed()
