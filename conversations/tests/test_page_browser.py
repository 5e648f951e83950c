"""The chat page in a real browser: Debian's Chromium driven by Playwright (issue 4).

Runs against pytest-django's ``live_server`` (a threaded WSGI server; the async
send view runs through ``async_to_sync``). Only the model is faked, with the
offline assistant slowed down or a backend that fails. Screenshots go to
``test-artifacts/`` (gitignored). Run: ``pytest -m browser``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from conversations.assistant import AssistantError, AssistantTimeout, reset_assistant, set_assistant
from conversations.assistant.offline import OfflineAssistant
from conversations.models import Conversation, Message
from conversations.tests.assistants import FailingAssistant
from conversations.tests.conftest import PASSWORD
from conversations.tests.factories import make_conversation

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def context(browser, live_server) -> Iterator[object]:
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.fixture
def page(context) -> object:
    return context.new_page()


@pytest.fixture
def signed_in(context, live_server, owner) -> object:
    """The owner's browser, with a session made by Django's test client."""
    client = Client()
    client.force_login(owner)
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    return context


@pytest.fixture
def slow_assistant() -> None:
    """The offline assistant taking about a second per reply."""
    set_assistant(OfflineAssistant(chunk_delay=0.05))


def composer(page):
    return page.get_by_role("textbox", name="Message")


def messages_text(page) -> list[str]:
    return page.locator("#message-log .msg .msg__text, #message-log .msg .msg__md").all_inner_texts()


def typing(page):
    return page.get_by_role("status").filter(has_text="Assistant is typing")


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)


# --- Signing in ---------------------------------------------------------------------


def test_it_sends_anonymous_visitors_to_login_and_back_to_chat(page, owner) -> None:
    """SC-005, FR-001."""
    page.goto("/chat")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/chat$"))
    screenshot(page, "login-1280")
    page.get_by_label("Username").fill("owner")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/chat$"))
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Chat")).to_be_visible()
    expect(page.get_by_text("Welcome! How can I help you today?")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/"))


# --- Sending ------------------------------------------------------------------------


def test_it_sends_with_enter_and_the_button_showing_the_indicator_then_the_reply(signed_in, slow_assistant) -> None:
    """FR-003, FR-004, FR-006, FR-007, SC-009."""
    page = signed_in.new_page()
    page.goto("/chat")
    box = composer(page)
    expect(page.get_by_role("button", name="Send")).to_be_disabled()  # empty cannot be sent
    box.press("Enter")
    expect(page.locator("#message-log .msg")).to_have_count(0)

    box.fill("Hello with Enter")
    started = time.monotonic()
    box.press("Enter")
    expect(page.locator(".msg--user").filter(has_text="Hello with Enter")).to_be_visible(timeout=500)
    expect(typing(page)).to_be_visible(timeout=500)
    indicator_ms = (time.monotonic() - started) * 1000
    screenshot(page, "typing-1280")
    expect(box).to_have_value("")
    expect(page.locator(".msg--assistant").filter(has_text="You wrote: “Hello with Enter”")).to_be_visible()
    expect(typing(page)).to_have_count(0)
    assert indicator_ms < 500
    expect(page).to_have_url(re.compile(r"/chat/[0-9a-f-]{36}$"))
    expect(page.locator(".conv-item").filter(has_text="Hello with Enter")).to_be_visible()

    box.fill("Hello with the button")
    page.get_by_role("button", name="Send").click()
    expect(typing(page)).to_be_visible(timeout=500)
    expect(page.locator(".msg--assistant").filter(has_text="You wrote: “Hello with the button”")).to_be_visible()
    texts = messages_text(page)
    assert [t.split("\n")[0][:25] for t in texts] == [
        "Hello with Enter",
        "You wrote: “Hello with En",
        "Hello with the button",
        "You wrote: “Hello with th",
    ]


def test_it_adds_a_line_with_shift_enter_and_shows_the_limit_before_it_is_reached(signed_in) -> None:
    """FR-003; the 4000-character limit is visible before it is reached."""
    page = signed_in.new_page()
    page.goto("/chat/new")
    box = composer(page)
    box.type("line one")
    box.press("Shift+Enter")
    box.type("line two")
    expect(box).to_have_value("line one\nline two")
    box.fill("x" * 3900)
    expect(page.locator("#composer-count")).to_have_text("100 characters left")
    box.fill("line one\nline two")
    box.press("Enter")
    expect(page.locator(".msg--user .msg__text").first).to_have_text("line one\nline two")
    # Wait for the turn to finish, so no request outlives this test's database.
    expect(page.locator(".msg--assistant")).to_have_count(1)


def test_it_keeps_the_input_usable_and_processes_rapid_messages_in_order(signed_in, slow_assistant) -> None:
    """SC-010, FR-007; the edge case "rapid messages are processed in order"."""
    page = signed_in.new_page()
    page.goto("/chat/new")
    box = composer(page)
    for word in ("first", "second", "third"):
        box.fill(word)
        box.press("Enter")
        expect(box).to_be_enabled()
    expect(page.locator(".msg--assistant").filter(has_text="“third”")).to_be_visible(timeout=15_000)
    texts = [t.split("\n")[0] for t in messages_text(page)]
    assert texts[0::2] == ["first", "second", "third"]
    assert [t[:19] for t in texts[1::2]] == ["You wrote: “first”.", "You wrote: “second”", "You wrote: “third”."]
    conversation = Conversation.objects.get()
    saved = [(m.role, m.content[:18]) for m in Message.objects.filter(conversation=conversation)]
    assert [c for r, c in saved if r == "user"] == ["first", "second", "third"]


def test_it_restores_the_whole_conversation_on_refresh(signed_in, owner_id) -> None:
    """SC-004, FR-009."""
    page = signed_in.new_page()
    page.goto("/chat/new")
    for word in ("alpha", "beta"):
        composer(page).fill(word)
        composer(page).press("Enter")
        expect(page.locator(".msg--assistant").filter(has_text=f"“{word}”")).to_be_visible()
    before = messages_text(page)
    page.reload()
    expect(page.locator("#message-log .msg")).to_have_count(4)
    assert messages_text(page) == before
    expect(page.locator("#pane-title")).to_have_text("alpha")


# --- Conversations ------------------------------------------------------------------


def test_it_switches_conversations_without_reloading_and_supports_back(signed_in, owner_id) -> None:
    """US3, SC-004: deep links, pane swapped in place, back/forward."""
    import datetime as dt

    from django.utils import timezone

    older = make_conversation(owner_id, title="Older chat", messages=3, start=timezone.now() - dt.timedelta(days=2))
    newer = make_conversation(owner_id, title="Newer chat", messages=5, start=timezone.now() - dt.timedelta(hours=2))
    page = signed_in.new_page()
    page.goto("/chat")
    expect(page).to_have_url(re.compile(f"/chat/{newer.pk}$"))
    titles = page.locator(".conv-item__title").all_inner_texts()
    assert titles == ["Newer chat", "Older chat"]
    expect(page.locator(".conv-item__time").first).to_contain_text("ago")
    page.evaluate("window.sameDocument = true")
    page.get_by_role("link", name=re.compile("Older chat")).click()
    expect(page).to_have_url(re.compile(f"/chat/{older.pk}$"))
    expect(page.locator("#pane-title")).to_have_text("Older chat")
    expect(page.locator("#message-log .msg")).to_have_count(3)
    assert page.evaluate("window.sameDocument") is True  # swapped, not reloaded
    expect(page.locator(f'[data-conversation-link="{older.pk}"]')).to_have_attribute("aria-current", "page")
    expect(page).to_have_title("Older chat · Chat")

    page.go_back()
    expect(page).to_have_url(re.compile(f"/chat/{newer.pk}$"))
    expect(page.locator("#pane-title")).to_have_text("Newer chat")
    expect(page.locator("#message-log .msg")).to_have_count(5)
    page.go_forward()
    expect(page.locator("#pane-title")).to_have_text("Older chat")

    page.get_by_role("link", name="New conversation").click()
    expect(page).to_have_url(re.compile("/chat/new$"))
    expect(page.get_by_text("Welcome! How can I help you today?")).to_be_visible()


def test_it_loads_more_conversations_as_the_sidebar_scrolls(signed_in, owner_id) -> None:
    for i in range(45):
        make_conversation(owner_id, title=f"Conversation {i:02d}")
    page = signed_in.new_page()
    page.goto("/chat/new")
    expect(page.locator(".conv-item")).to_have_count(30)
    page.locator(".conv-item").nth(29).scroll_into_view_if_needed()
    expect(page.locator(".conv-item")).to_have_count(45)
    expect(page.get_by_text("Conversation 00")).to_be_visible()


def test_it_renames_and_deletes_a_conversation(signed_in, owner_id) -> None:
    conv = make_conversation(owner_id, title="Draft name", messages=2)
    keep = make_conversation(owner_id, title="Keep me", messages=1)
    page = signed_in.new_page()
    page.goto(f"/chat/{conv.pk}")
    page.locator("summary", has_text="Rename").click()
    page.get_by_label("New title").fill("Holiday plans")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#pane-title")).to_have_text("Holiday plans")
    expect(page.locator(f"#conv-{conv.pk}")).to_contain_text("Holiday plans")

    page.locator("summary", has_text="Delete").click()
    expect(page.get_by_text("Delete this conversation and all its messages?")).to_be_visible()
    page.get_by_role("button", name="Delete conversation").click()
    expect(page).to_have_url(re.compile(f"/chat/{keep.pk}$"))
    expect(page.locator(f"#conv-{conv.pk}")).to_have_count(0)
    assert not Conversation.objects.filter(pk=conv.pk).exists()


# --- Failures -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "sentence"),
    [
        (AssistantError("down"), "The assistant could not answer right now."),
        (AssistantTimeout("slow"), "Request timed out. Please try again."),
    ],
)
def test_it_explains_an_assistant_failure_and_retries_without_duplicating(signed_in, error, sentence) -> None:
    """FR-014a, FR-017: the message is kept; Retry asks again."""
    set_assistant(FailingAssistant(error))
    page = signed_in.new_page()
    page.goto("/chat/new")
    composer(page).fill("Please answer")
    composer(page).press("Enter")
    expect(page.get_by_text(sentence)).to_be_visible()
    expect(typing(page)).to_have_count(0)
    screenshot(page, f"error-{type(error).__name__}")
    reset_assistant()
    page.get_by_role("button", name="Retry").click()
    expect(page.locator(".msg--assistant").filter(has_text="You wrote: “Please answer”")).to_be_visible()
    expect(page.get_by_text(sentence)).to_have_count(0)
    expect(page.locator(".msg--user")).to_have_count(1)
    assert Message.objects.filter(role="user").count() == 1
    page.reload()
    expect(page.locator("#message-log .msg")).to_have_count(2)


def test_it_says_the_connection_was_lost_and_keeps_the_text(signed_in) -> None:
    """FR-014a, FR-017: the server cannot be reached; Retry resends; so does the page by itself (issue 12)."""
    page = signed_in.new_page()
    page.goto("/chat/new")
    page.route("**/send", lambda route: route.abort("connectionrefused"))
    composer(page).fill("Are you still there?")
    composer(page).press("Enter")
    expect(page.get_by_text("The server cannot be reached. Your message is kept")).to_be_visible()
    expect(page.locator(".msg--unsent")).to_contain_text("Are you still there?")  # kept, in the log (issue 12)
    page.get_by_role("button", name="Retry").click()  # still unreachable: kept again
    expect(page.get_by_text("The server cannot be reached. Your message is kept")).to_be_visible()
    page.unroute("**/send")  # no click needed from here (issue 12)
    expect(page.locator(".msg--assistant").filter(has_text="“Are you still there?”")).to_be_visible()
    expect(composer(page)).to_have_value("")
    assert Message.objects.filter(role="user").count() == 1


def test_it_shows_an_indicator_when_the_browser_goes_offline(signed_in) -> None:
    page = signed_in.new_page()
    page.goto("/chat/new")
    offline = page.get_by_text("You are offline.")
    expect(offline).to_be_hidden()
    signed_in.set_offline(True)
    expect(offline).to_be_visible()
    composer(page).fill("sent while offline")
    composer(page).press("Enter")
    expect(page.get_by_text("Connection lost. Check your internet connection.")).to_be_visible()
    signed_in.set_offline(False)
    expect(offline).to_be_hidden()
    expect(page.locator(".msg--assistant").filter(has_text="“sent while offline”")).to_be_visible()  # issue 12


def test_it_asks_to_sign_in_again_when_the_session_expired(signed_in) -> None:
    """FR-014a, FR-017: the text survives the sign-in."""
    page = signed_in.new_page()
    page.goto("/chat/new")
    signed_in.clear_cookies()
    composer(page).fill("Do not lose me")
    composer(page).press("Enter")
    expect(page.get_by_text("Your session has expired. Please sign in again.")).to_be_visible()
    expect(composer(page)).to_have_value("Do not lose me")
    page.get_by_role("link", name="Sign in again").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=%2Fchat%2Fnew$"))
    page.get_by_label("Username").fill("owner")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/chat/new$"))
    expect(composer(page)).to_have_value("Do not lose me")


# --- The virtualized pane -------------------------------------------------------------


def test_it_opens_a_huge_conversation_with_few_elements_and_loads_older_pages(signed_in, owner_id) -> None:
    """SC-011: 10,000 messages; the DOM holds a bounded window."""
    conv = make_conversation(owner_id, title="Huge", messages=10_000)
    page = signed_in.new_page()
    started = time.monotonic()
    page.goto(f"/chat/{conv.pk}")
    expect(page.locator(".msg--assistant").filter(has_text="message 9999")).to_be_visible()
    opened_s = time.monotonic() - started
    count = page.locator("#message-log .msg").count()
    assert 50 <= count <= 300, count
    assert opened_s < 5, opened_s
    log = page.locator("#message-log")
    seen_oldest = []
    for _ in range(12):
        log.evaluate("el => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')) }")
        page.wait_for_timeout(150)
        page.wait_for_function("() => !document.getElementById('pane').chatPane.loading")
        seen_oldest.append(page.locator("#message-log .msg__text, #message-log .msg__md").first.inner_text())
        assert page.locator("#message-log .msg").count() <= 300
    numbers = [int(text.split()[-1]) for text in seen_oldest]
    assert numbers == sorted(numbers, reverse=True) and numbers[-1] < 9_500, numbers
    expect(page.get_by_text("message 9999")).to_have_count(0)  # the newest pages left the DOM
    page.get_by_role("button", name="Jump to latest").click()
    expect(page.get_by_text("message 9999")).to_be_visible()
    assert page.locator("#message-log .msg").count() <= 300


def test_it_follows_new_messages_unless_the_user_scrolled_up(signed_in, owner_id) -> None:
    """FR-016."""
    conv = make_conversation(owner_id, title="Scroll", messages=60)
    page = signed_in.new_page()
    page.goto(f"/chat/{conv.pk}")
    log = page.locator("#message-log")
    at_bottom = "el => el.scrollHeight - el.scrollTop - el.clientHeight < 80"
    assert log.evaluate(at_bottom)
    expect(page.get_by_role("button", name="Jump to latest")).to_be_hidden()
    log.evaluate("el => { el.scrollTop = el.scrollHeight / 2; }")
    expect(page.get_by_role("button", name="Jump to latest")).to_be_visible()
    page.get_by_role("button", name="Jump to latest").click()
    page.wait_for_function(
        "() => { const el = document.getElementById('message-log'); return el.scrollHeight - el.scrollTop - el.clientHeight < 80 }"
    )
    composer(page).fill("newest")
    composer(page).press("Enter")
    expect(page.locator(".msg--assistant").filter(has_text="“newest”")).to_be_visible()
    assert log.evaluate(at_bottom)


def test_it_renders_markdown_replies_with_a_copy_button(signed_in, owner_id) -> None:
    conv = make_conversation(owner_id, title="Code")
    Message.objects.create(conversation=conv, user_id=owner_id, role="user", content="<b>not bold</b>")
    Message.objects.create(
        conversation=conv,
        user_id=owner_id,
        role="assistant",
        content="Here:\n\n```python\nprint('hi')\n```\n\n<script>window.pwned=1</script>",
    )
    page = signed_in.new_page()
    page.goto(f"/chat/{conv.pk}")
    expect(page.locator(".msg--user .msg__text")).to_have_text("<b>not bold</b>")
    expect(page.locator(".msg__md pre code")).to_have_text("print('hi')\n")
    expect(page.get_by_role("button", name="Copy code")).to_be_visible()
    assert page.evaluate("window.pwned") is None
    signed_in.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name="Copy code").click()
    expect(page.get_by_role("button", name="Copy code")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == "print('hi')\n"


# --- Looks --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height"),
    [(320, 640), (768, 1024), (1920, 1080), (640, 400)],
    ids=["phone-320", "tablet-768", "desktop-1920", "desktop-1280-at-200pct-zoom"],
)
def test_it_never_scrolls_sideways(signed_in, owner_id, width, height) -> None:
    """SC-003, FR-015: no horizontal scrolling from 320 px to 1920 px; screenshots kept.

    A 1280x800 window at 200 % zoom lays out like a 640x400 one.
    """
    conv = make_conversation(owner_id, title="A rather long conversation title that must be cut nicely on phones")
    for i in range(4):
        make_conversation(owner_id, title=f"Earlier conversation {i}")
    Message.objects.create(
        conversation=conv, user_id=owner_id, role="user", content="Show me code and a very-long-word-" + "x" * 120
    )
    Message.objects.create(
        conversation=conv,
        user_id=owner_id,
        role="assistant",
        content="Sure! Here it is:\n\n```python\n"
        + "result = compute("
        + ", ".join(f"argument_{i}" for i in range(30))
        + ")\n```\n\n"
        "| a | b | c |\n|---|---|---|\n| " + "wide " * 40 + "| 2 | 3 |\n\nAnd a **bold** word with `inline code`.",
    )
    page = signed_in.new_page()
    page.set_viewport_size({"width": width, "height": height})
    page.goto(f"/chat/{conv.pk}")
    composer(page).fill("Draft message")
    screenshot(page, f"chat-{width}x{height}")
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    wide = page.evaluate(
        "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > innerWidth + 1)"
        ".map(e => e.tagName + '.' + e.className).slice(0, 5)"
    )
    assert overflow <= 0, wide
    if width < 800:
        page.get_by_role("button", name="Show conversations").click()
        expect(page.locator("#sidebar")).to_be_visible()
        expect(page.get_by_role("link", name="New conversation")).to_be_focused()
        screenshot(page, f"chat-{width}x{height}-drawer")
        page.keyboard.press("Escape")
        expect(page.locator("#sidebar")).to_be_hidden()
    else:
        expect(page.locator("#sidebar")).to_be_visible()
    expect(composer(page)).to_be_in_viewport()
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0


def test_it_offers_the_empty_state_in_dark_mode(browser, live_server, owner) -> None:
    context = browser.new_context(
        base_url=live_server.url, color_scheme="dark", viewport={"width": 1280, "height": 800}
    )
    client = Client()
    client.force_login(owner)
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    page = context.new_page()
    page.goto("/chat")
    expect(page.get_by_text("Welcome! How can I help you today?")).to_be_visible()
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(15, 18, 22)"
    screenshot(page, "empty-dark-1280")
    context.close()


def test_it_can_be_used_with_the_keyboard_only(signed_in, owner_id) -> None:
    """Visible focus and keyboard use throughout: the composer has focus when the conversation opens
    (issue 14); every control before it, up to "Skip to content", is reached with Shift+Tab; send."""
    make_conversation(owner_id, title="Keyboard", messages=2)
    page = signed_in.new_page()
    page.goto("/chat")
    expect(composer(page)).to_be_focused()
    skip = page.get_by_role("link", name="Skip to content")
    for _ in range(40):
        page.keyboard.press("Shift+Tab")
        if skip.evaluate("el => el === document.activeElement"):
            break
    expect(skip).to_be_focused()
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"
    composer(page).focus()
    page.keyboard.type("typed with keys")
    page.keyboard.press("Enter")
    expect(page.locator(".msg--assistant").filter(has_text="“typed with keys”")).to_be_visible()
