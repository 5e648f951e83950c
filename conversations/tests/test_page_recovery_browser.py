"""The chat page never traps (issue 12, "A page that never traps"), in a real browser.

Debian's Chromium driven by Playwright against the project under a real uvicorn
process (``RestartableServer``: stopped and started again on the same port, so the
page can lose its server and get it back), on the test's PostgreSQL database, with
the fake OpenAI server (``fake_openai.py``) as the model. Screenshots go to
``test-artifacts/``.

* After a failed reply, the next message is sent normally: no "Waiting to send…", no Retry.
* With the server gone, the page says "The server cannot be reached." and what happens
  next, keeps the unsent message and what is being typed, shows no typing indicator; with
  the server back it sends the message by itself, with the key it was given when typed,
  and it is stored exactly once.
* A reply whose server died mid-way shows as failed, with Retry, once the server is back.

Run: ``DATABASE_URL=postgres://... pytest conversations/tests/test_page_recovery_browser.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections
from django.test import Client

from conversations.models import Conversation, Message
from conversations.tests.fake_openai import DEFAULT_REPLY, FakeOpenAI
from conversations.tests.servers import database_url_of_tests, free_port, throwaway_redis, wait_listening

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
UNREACHABLE = "The server cannot be reached. Your message is kept and will be sent when it is back."
FAILED = "The assistant could not answer right now. Please try again."
BACK_MS = 30_000  # the page's own backoff (socket: at most 15 s, resends: at most 10 s) and a server start

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


class RestartableServer:
    """``uvicorn chatsite.asgi:application`` as a subprocess on one loopback port, stopped and started again.

    Unlike ``servers.uvicorn_project`` the port is kept across restarts, as a real
    server's is: the page reconnects to the same address.
    """

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.env = {
            **os.environ,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "PYTHONUNBUFFERED": "1",
            "LIVE_SWEEP_SECONDS": "5",  # the suite turns it off for its own process (pytest.ini)
            "DJANGO_SETTINGS_MODULE": "conversations.tests.uvicorn_settings",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "chatsite.asgi:application", "--host", "127.0.0.1",
                 "--port", str(self.port), "--lifespan", "off", "--log-level", "warning"],
                cwd=settings.BASE_DIR, env=self.env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            wait_listening(self.port, process=self.process, what="uvicorn")
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}:\n{self.log.read_text(errors='replace')}") from None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """End the process (SIGTERM: a graceful stop; SIGKILL: a crash) and wait for it (at most 10 s)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(sig)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def server(request, on_postgres: None, fake_openai: FakeOpenAI, tmp_path: Path) -> Iterator[RestartableServer]:
    """The project under uvicorn; ``indirect`` param ``"redis"``: with a throwaway Redis (layer and cache)."""
    env = {
        "DATABASE_URL": database_url_of_tests(),
        "DATABASE_POOL": "0",
        # Static files from the finders (no collectstatic in a test); nothing else depends on it here.
        "DJANGO_DEBUG": "1",
        "ASSISTANT_BACKEND": "openai",
        "OPENAI_BASE_URL": fake_openai.base_url,
        "OPENAI_API_KEY": "test-key",
        "ASSISTANT_MAX_RETRIES": "0",
    }
    with contextlib.ExitStack() as stack:
        if getattr(request, "param", "") == "redis":
            # Heartbeats in Redis outlive the process that wrote them: a crashed server's reply is
            # seen as dead 1.5 s after its last beat, and swept every second (issue 12).
            redis = stack.enter_context(throwaway_redis())
            env.update(REDIS_URL=redis.url, LIVE_HEARTBEAT_SECONDS="0.5", LIVE_SWEEP_SECONDS="1")
        server = RestartableServer(env, tmp_path / "uvicorn.log")
        stack.callback(server.stop)
        server.start()
        yield server
    connections.close_all()


@pytest.fixture
def signed_in(browser, server: RestartableServer, owner) -> Iterator[object]:
    """The owner's browser on the server, with a session made by Django's test client (in the shared database)."""
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    client = Client()
    client.force_login(owner)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": server.url}])
    yield context
    context.close()


def composer(page):
    return page.get_by_role("textbox", name="Message")


def typing(page):
    return page.get_by_role("status").filter(has_text="Assistant is typing")


def replies(page, text: str = DEFAULT_REPLY[:25]):
    return page.locator("#message-log .msg--assistant[data-status=complete]").filter(has_text=text)


def open_live(page, path: str) -> None:
    page.goto(path)
    expect(page.locator("#pane")).to_have_attribute("data-live-connection", "open")


def send(page, text: str) -> None:
    composer(page).fill(text)
    composer(page).press("Enter")


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)


def keys_sent(page) -> dict[str, list[tuple[str, str]]]:
    """Message text -> each time the page sent it: ``("socket", client_id)`` for a socket ``send``,
    ``("http", Idempotency-Key)`` for a post (filled in as the page works)."""
    seen: dict[str, list[tuple[str, str]]] = {}

    def frame(payload: str | bytes) -> None:
        action = json.loads(payload)
        if action.get("type") == "send":
            seen.setdefault(action["message"], []).append(("socket", action["client_id"]))

    def request(request) -> None:
        if request.method == "POST" and request.url.endswith("/send"):
            text = dict(re.findall(r'name="(\w+)"\r\n\r\n([^\r]*)', request.post_data or "")).get("text", "")
            seen.setdefault(text, []).append(("http", request.headers.get("idempotency-key")))

    page.on("websocket", lambda ws: ws.on("framesent", frame))
    page.on("request", request)
    return seen


def test_after_a_failed_reply_the_next_message_is_sent_normally(signed_in, owner_id) -> None:
    """Issue 12: a failed reply does not hold the messages after it (no "Waiting to send…", no Retry needed)."""
    page = signed_in.new_page()
    open_live(page, "/chat/new")
    send(page, "[fake:error500] Please fail")
    failed = page.locator("#message-log .msg--assistant[data-status=failed]")
    expect(failed).to_contain_text(FAILED)
    expect(failed.get_by_role("button", name="Retry")).to_be_visible()
    expect(typing(page)).to_have_count(0)
    send(page, "And now a normal question")
    expect(page.get_by_text("Waiting to send…")).to_have_count(0)
    expect(replies(page)).to_have_count(1)
    # As the server shows it: only the newest failed reply can be retried.
    expect(failed).to_contain_text("The assistant could not answer this message.")
    expect(failed.get_by_role("button", name="Retry")).to_have_count(0)
    screenshot(page, "recovery-after-failed-reply")
    messages = Message.objects.filter(user_id=owner_id).order_by("created_at", "id")
    assert [(m.role, m.status, m.content[:26]) for m in messages] == [
        ("user", "complete", "[fake:error500] Please fai"),
        ("assistant", "failed", ""),
        ("user", "complete", "And now a normal question"),
        ("assistant", "complete", DEFAULT_REPLY[:26]),
    ]


def test_a_message_refused_while_another_tab_s_reply_is_written_says_so_and_goes_after_it(
    signed_in, fake_openai: FakeOpenAI, owner_id
) -> None:
    """Issue 12: one reply at a time; the refused message waits next to its sentence, then goes by itself."""
    first, second = signed_in.new_page(), signed_in.new_page()
    open_live(first, "/chat/new")
    send(first, "Hello there")
    expect(replies(first)).to_have_count(1)
    open_live(second, f"/chat/{Conversation.objects.get().pk}")
    fake_openai.chunk_delay = 0.6  # five chunks: about three seconds of streaming
    send(first, "A slow answer, please")
    expect(first.locator("#message-log .msg--assistant[data-status=streaming] .msg__md")).not_to_be_empty()
    send(second, "Me too")
    waiting = second.locator("#message-log .msg--user").filter(has_text="Me too")
    expect(waiting).to_contain_text("A reply is still being written. This message will be sent when it finishes.")
    screenshot(second, "recovery-reply-in-progress")
    expect(replies(second)).to_have_count(3, timeout=20_000)
    expect(waiting).not_to_contain_text("A reply is still being written")
    messages = Message.objects.filter(user_id=owner_id).order_by("created_at", "id")
    assert [(m.role, m.status, m.content[:21]) for m in messages][2:] == [
        ("user", "complete", "A slow answer, please"),
        ("assistant", "complete", DEFAULT_REPLY[:21]),
        ("user", "complete", "Me too"),
        ("assistant", "complete", DEFAULT_REPLY[:21]),
    ]


def test_it_says_why_a_blank_or_too_long_message_is_not_sent(signed_in) -> None:
    """Issue 12: Enter on such text used to do nothing, silently."""
    page = signed_in.new_page()
    open_live(page, "/chat/new")
    send(page, "   \n  ")
    expect(page.get_by_role("alert")).to_have_text("Nothing to send: a message cannot be empty or only spaces.")
    # Over the limit (the box's maxlength stops typing, not a restored draft): set as a draft would be.
    composer(page).evaluate("(box) => { box.value = 'x'.repeat(4001); }")
    composer(page).press("Enter")
    expect(page.get_by_role("alert")).to_have_text(
        "Not sent: your message has 4001 characters, the limit is 4000. Shorten it, then send it."
    )
    expect(composer(page)).to_have_value("x" * 4001)  # kept, to shorten
    expect(page.locator("#message-log .msg")).to_have_count(0)
    assert not Message.objects.exists()


def test_without_its_server_the_page_says_so_keeps_the_text_and_recovers_by_itself(
    signed_in, server: RestartableServer, owner_id
) -> None:
    """Issue 12: "The server cannot be reached.", the unsent message kept and sent once when it is back."""
    page = signed_in.new_page()
    keys = keys_sent(page)
    open_live(page, "/chat/new")
    send(page, "Hello while it is up")
    expect(replies(page)).to_have_count(1)

    server.stop()
    expect(page.locator("#pane")).not_to_have_attribute("data-live-connection", "open")
    send(page, "Sent while the server is down")
    unsent = page.locator("#message-log .msg--unsent")
    expect(unsent).to_contain_text("Sent while the server is down")
    expect(unsent.get_by_role("alert")).to_contain_text(UNREACHABLE)
    expect(unsent.get_by_role("button", name="Retry")).to_be_visible()
    expect(typing(page)).to_have_count(0)
    composer(page).fill("Typed, not sent yet")
    page.wait_for_timeout(2500)  # the page's own resends fail meanwhile: still kept, still no typing indicator
    expect(unsent).to_contain_text("Sent while the server is down")
    expect(typing(page)).to_have_count(0)
    screenshot(page, "recovery-server-unreachable")

    server.start()  # no click from here on
    expect(replies(page)).to_have_count(2, timeout=BACK_MS)
    expect(page.locator("#message-log .msg--unsent")).to_have_count(0)
    expect(page.get_by_text("The server cannot be reached")).to_have_count(0)
    expect(composer(page)).to_have_value("Typed, not sent yet")
    expect(page.locator("#pane")).to_have_attribute("data-live-connection", "open", timeout=BACK_MS)
    screenshot(page, "recovery-server-back")
    users = Message.objects.filter(user_id=owner_id, role="user", content="Sent while the server is down")
    assert users.count() == 1  # exactly once
    reply = Message.objects.filter(conversation=users[0].conversation, created_at__gt=users[0].created_at).get()
    assert (reply.role, reply.status, reply.content) == ("assistant", "complete", DEFAULT_REPLY)
    attempts = keys["Sent while the server is down"]
    assert len(attempts) >= 3, attempts  # refused while down (at least the first and one resend), then sent
    assert len({key for _, key in attempts}) == 1, attempts  # every resend carried the key it got when typed


@pytest.mark.parametrize("server", ["redis"], indirect=True)
def test_a_reply_whose_server_died_shows_as_failed_with_retry_once_it_is_back(
    signed_in, server: RestartableServer, fake_openai: FakeOpenAI, owner_id
) -> None:
    """Issue 12: never "still writing" with no way out; the pane re-syncs to the reply's real state."""
    fake_openai.chunk_delay = 1.0  # five chunks: about five seconds of streaming
    page = signed_in.new_page()
    open_live(page, "/chat/new")
    send(page, "Answer slowly")
    streaming = page.locator("#message-log .msg--assistant[data-status=streaming]")
    expect(streaming.locator(".msg__md")).not_to_be_empty()

    server.stop(signal.SIGKILL)  # a crash: nothing closes the reply
    expect(page.get_by_text("The server cannot be reached. The reply will show when it is back.")).to_be_visible()
    expect(typing(page)).to_have_count(0)
    saved = Message.objects.get(user_id=owner_id, role="assistant")
    assert saved.status in ("pending", "streaming")  # the dead server's reply, left open

    fake_openai.chunk_delay = 0.0
    server.start()  # its sweep closes the dead reply as failed; the page learns it without a click
    failed = page.locator("#message-log .msg--assistant[data-status=failed]")
    expect(failed).to_contain_text(FAILED, timeout=BACK_MS)
    expect(failed.get_by_role("button", name="Retry")).to_be_visible()
    expect(page.locator("#message-log .msg--assistant[data-status=streaming]")).to_have_count(0)
    screenshot(page, "recovery-dead-reply-failed")
    failed.get_by_role("button", name="Retry").click()
    expect(replies(page)).to_have_count(1)
    assert Message.objects.filter(user_id=owner_id, role="user").count() == 1
    assert list(Message.objects.filter(user_id=owner_id, role="assistant").values_list("status", flat=True)) == [
        "complete"
    ]
