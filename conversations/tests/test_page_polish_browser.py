"""The page's small comforts in a real browser (issue 14, "On the page"): highlighted code in light
and dark with its Copy button, when each message was sent, drafts that survive a reload, the
composer's focus, and the keyboard shortcuts with their dialog.

Debian's Chromium through Playwright, against pytest-django's live server (the HTTP path), and for
what needs a reply being streamed (Escape stops it; highlighted code replaces the streamed text)
against test_live_browser.py's uvicorn with WebSockets. Screenshots go to ``test-artifacts/``.
Run: ``pytest conversations/tests/test_page_polish_browser.py`` (marked ``browser``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from django.utils import timezone

from conversations.assistant import set_assistant
from conversations.assistant.offline import OfflineAssistant
from conversations.models import Conversation, Message, ShareLink
from conversations.sharing import share_create
from conversations.tests import test_live_browser, test_page_browser
from conversations.tests.factories import make_conversation
from conversations.tests.test_page_browser import composer, screenshot

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# test_page_browser.py's fixtures (the owner signed in on the live server) and test_live_browser.py's
# (the owner signed in on uvicorn, with WebSockets).
context = test_page_browser.context
signed_in = test_page_browser.signed_in
asgi_server = test_live_browser.asgi_server
live_signed_in = test_live_browser.signed_in

CODE = "def greet(name):\n    return 'hi ' + name  # say hi\n"
CODE_REPLY = f"Here it is:\n\n```python\n{CODE}```\n\nCall it with **your** name."


def conversation_with(owner_id: str, *replies: str, title: str = "Code", start: Any = None) -> Conversation:
    """A conversation of ``len(replies)`` turns, its assistant messages saying ``replies``."""
    conversation = make_conversation(owner_id, title=title, messages=2 * len(replies), start=start)
    for message, text in zip(
        conversation.messages.filter(role="assistant").order_by("created_at"), replies, strict=True
    ):
        message.content = text
        message.save(update_fields=["content"])
    return conversation


def colours(page) -> dict[str, str]:
    """Computed colours in the (first) highlighted block: a keyword, a comment and plain code."""
    return page.evaluate(
        """() => {
            const code = document.querySelector('.msg__md .code pre code');
            const keyword = [...code.querySelectorAll('span.k')].find((s) => s.textContent === 'def');
            const colour = (el) => getComputedStyle(el).color;
            return { keyword: colour(keyword), comment: colour(code.querySelector('span.c1')), plain: colour(code) };
        }"""
    )


def clipboard(page) -> str:
    return page.evaluate("navigator.clipboard.readText()")


def shortcuts_dialog(page):
    return page.get_by_role("dialog", name="Keyboard shortcuts")


# --- Highlighted code ----------------------------------------------------------------------


def test_code_is_highlighted_by_the_server_in_light_and_dark(signed_in, owner_id) -> None:
    conversation = conversation_with(owner_id, CODE_REPLY)
    page = signed_in.new_page()
    page.emulate_media(color_scheme="light")
    page.goto(f"/chat/{conversation.pk}")
    block = page.locator(".msg--assistant .code")
    expect(block.locator(".code__lang")).to_have_text("python")
    expect(block.locator("pre code")).to_have_text(CODE)
    light = colours(page)
    screenshot(page, "code-light-1280")

    page.emulate_media(color_scheme="dark")
    dark = colours(page)
    screenshot(page, "code-dark-1280")
    for scheme in (light, dark):
        assert scheme["keyword"] != scheme["plain"] and scheme["comment"] != scheme["plain"], scheme
    assert light["keyword"] != dark["keyword"] and light["plain"] != dark["plain"], (light, dark)
    assert light["keyword"] == "rgb(169, 13, 145)" and dark["keyword"] == "rgb(198, 120, 221)"  # xcode, one-dark


def test_the_copy_button_copies_the_code_as_written(signed_in, owner_id, live_server) -> None:
    conversation = conversation_with(owner_id, CODE_REPLY, "Plain:\n\n```\n<b>x</b> & y\n```\n")
    signed_in.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page = signed_in.new_page()
    page.goto(f"/chat/{conversation.pk}")
    buttons = page.get_by_role("button", name="Copy code", exact=True)
    expect(buttons).to_have_count(2)
    buttons.first.click()
    expect(buttons.first).to_have_text("Copied")
    assert clipboard(page) == CODE
    buttons.last.click()
    assert clipboard(page) == "<b>x</b> & y\n"
    expect(page.locator(".msg--assistant").last.locator(".code__lang")).to_have_count(0)  # no language: no label


def test_the_shared_page_copies_code_too(browser, live_server, owner_id) -> None:
    conversation = conversation_with(owner_id, CODE_REPLY)
    link: ShareLink = share_create(conversation=conversation)
    stranger = browser.new_context(base_url=live_server.url)
    stranger.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page = stranger.new_page()
    page.goto(f"/s/{link.token}")
    expect(page.locator(".code .code__lang")).to_have_text("python")
    page.get_by_role("button", name="Copy code").click()
    expect(page.get_by_role("button", name="Copy code")).to_have_text("Copied")
    assert clipboard(page) == CODE
    stranger.close()


class CodeAssistant(OfflineAssistant):
    """Streams a reply with a code block, a word at a time."""

    async def stream(self, history: Sequence[Any], **options: Any) -> AsyncIterator[str]:
        async for chunk in self._chunks(CODE_REPLY):
            yield chunk


def test_a_streamed_reply_shows_its_code_highlighted_once_the_server_renders_it(live_signed_in) -> None:
    set_assistant(CodeAssistant(chunk_delay=0.1, words_per_chunk=1))
    page = live_signed_in.new_page()
    test_live_browser.open_live(page, "/chat/new")
    composer(page).fill("Show me code")
    composer(page).press("Enter")
    reply = test_live_browser.reply(page)
    page.wait_for_function(
        "() => document.querySelector('.msg--assistant .msg__md')?.textContent.includes('```python')"
    )
    assert reply.get_attribute("data-status") == "streaming"
    expect(reply.locator(".code")).to_have_count(0)  # plain text while it streams
    expect(reply).to_have_attribute("data-status", "complete", timeout=15_000)
    expect(reply.locator(".code .code__lang")).to_have_text("python")
    expect(reply.locator(".code span.k").first).to_have_text("def")
    expect(reply.locator(".code pre code")).to_have_text(CODE)


# --- When each message was sent ---------------------------------------------------------------


def test_each_message_shows_when_it_was_sent_and_new_ones_follow_the_clock(signed_in, owner_id) -> None:
    long_ago = timezone.now() - dt.timedelta(days=400)
    conversation = make_conversation(owner_id, title="Times", messages=2, start=long_ago)
    last = conversation.messages.order_by("created_at").last()
    recent = timezone.now() - dt.timedelta(minutes=5, seconds=30)
    Message.objects.create(
        conversation=conversation, user_id=owner_id, role="user", content="Lately", created_at=recent, parent=last
    )
    page = signed_in.new_page()
    page.clock.install()  # the real time, running, until a test moves it on
    page.goto(f"/chat/{conversation.pk}")
    times = page.locator("#message-log .msg time")
    expect(times).to_have_count(3)
    old = re.compile(rf"^\d{{1,2}} \w{{3}} {long_ago.year}$")  # the date, in the browser's time zone
    expect(times).to_have_text([old, old, "5 min ago"])
    for i in range(3):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", times.nth(i).get_attribute("datetime"))
        assert re.fullmatch(r"\w+day \d{1,2} \w+ \d{4}, \d\d:\d\d", times.nth(i).get_attribute("title"))
    assert times.nth(0).get_attribute("title").endswith(f"{long_ago:%B %Y}, {long_ago:%H:%M}")

    composer(page).fill("Now")
    composer(page).press("Enter")
    expect(page.locator(".msg--assistant")).to_have_count(2)
    expect(times).to_have_count(5)
    expect(times.nth(3)).to_have_text("just now")
    expect(times.nth(4)).to_have_text("just now")
    assert times.nth(4).get_attribute("datetime") and times.nth(4).get_attribute("title")
    page.clock.fast_forward("02:05")  # the page's minute timer fires: the words follow
    expect(times.nth(4)).to_have_text("2 min ago")
    expect(times.nth(2)).to_have_text("7 min ago")


# --- Drafts --------------------------------------------------------------------------------


def test_the_unsent_text_of_each_conversation_survives_a_reload_until_it_is_sent(signed_in, owner_id) -> None:
    alpha = make_conversation(owner_id, title="Alpha", messages=2)
    beta = make_conversation(owner_id, title="Beta", messages=2)
    page = signed_in.new_page()
    page.goto(f"/chat/{alpha.pk}")
    composer(page).fill("half a thought\nabout alpha")
    page.reload()
    expect(composer(page)).to_have_value("half a thought\nabout alpha")
    expect(page.get_by_role("button", name="Send")).to_be_enabled()

    page.locator(f"#conv-{beta.pk} a").click()  # htmx swaps the pane
    expect(page).to_have_url(re.compile(f"/chat/{beta.pk}$"))
    expect(composer(page)).to_have_value("")
    composer(page).fill("beta's own draft")
    page.locator(f"#conv-{alpha.pk} a").click()
    expect(composer(page)).to_have_value("half a thought\nabout alpha")
    composer(page).press("Enter")  # sent: forgotten
    expect(page.locator(".msg--user").last).to_contain_text("about alpha")
    expect(page.locator(".msg--assistant")).to_have_count(2)
    page.reload()
    expect(composer(page)).to_have_value("")
    page.goto(f"/chat/{beta.pk}")
    expect(composer(page)).to_have_value("beta's own draft")
    composer(page).fill("")  # emptied by hand: forgotten too
    page.reload()
    expect(composer(page)).to_have_value("")
    assert page.evaluate("Object.keys(localStorage).filter((k) => k.startsWith('chat:draft:'))") == []


def test_the_new_conversation_composer_keeps_its_draft_too(signed_in) -> None:
    page = signed_in.new_page()
    page.goto("/chat/new")
    composer(page).fill("an idea for later")
    page.reload()
    expect(composer(page)).to_have_value("an idea for later")
    composer(page).press("Enter")
    expect(page).to_have_url(re.compile(r"/chat/[0-9a-f-]{36}$"))
    expect(page.locator(".msg--assistant")).to_have_count(1)
    page.goto("/chat/new")
    expect(composer(page)).to_have_value("")


def test_signing_out_forgets_every_draft(signed_in) -> None:
    """A shared browser: the next person must not find the last one's unsent text."""
    page = signed_in.new_page()
    page.goto("/chat/new")
    composer(page).fill("something private")
    page.reload()
    expect(composer(page)).to_have_value("something private")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    assert page.evaluate("Object.keys(localStorage).filter((k) => k.startsWith('chat:draft:'))") == []


# --- Focus -------------------------------------------------------------------------------------


def test_the_composer_has_focus_when_a_conversation_opens(signed_in, owner_id) -> None:
    first = make_conversation(owner_id, title="First", messages=2)
    second = make_conversation(owner_id, title="Second", messages=2)
    page = signed_in.new_page()
    page.goto(f"/chat/{first.pk}")
    expect(composer(page)).to_be_focused()
    page.locator(f"#conv-{second.pk} a").click()
    expect(page.locator("#pane-title")).to_have_text("Second")
    expect(composer(page)).to_be_focused()
    page.get_by_role("link", name="New conversation").click()
    expect(page.locator("#pane-title")).to_have_text("New conversation")
    expect(composer(page)).to_be_focused()
    page.go_back()  # history reloads the page (htmx's refreshOnHistoryMiss)
    expect(page.locator("#pane-title")).to_have_text("Second")
    expect(composer(page)).to_be_focused()


# --- Keyboard shortcuts ------------------------------------------------------------------------


def test_question_mark_outside_a_text_field_lists_the_shortcuts_in_a_dialog(signed_in, owner_id) -> None:
    conversation = make_conversation(owner_id, title="Keys", messages=2)
    page = signed_in.new_page()
    page.goto(f"/chat/{conversation.pk}")
    composer(page).press("?")  # in the message box it is just a character
    expect(composer(page)).to_have_value("?")
    expect(shortcuts_dialog(page)).to_be_hidden()

    log = page.get_by_role("log", name="Messages")
    log.focus()
    page.keyboard.press("?")
    dialog = shortcuts_dialog(page)
    expect(dialog).to_be_visible()
    for action, keys in [
        ("New conversation", "Ctrl + Shift + O"),
        ("Go to the message box", "Shift + Esc"),
        ("Copy the last reply", "Ctrl + Shift + C"),
        ("Stop the reply being written", "Esc"),
    ]:
        expect(dialog.get_by_role("row", name=re.compile(f"^{action}"))).to_contain_text(keys)
    expect(dialog.get_by_role("button", name="Close")).to_be_focused()
    screenshot(page, "shortcuts-1280")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(log).to_be_focused()  # back where it was

    page.keyboard.press("?")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()


def test_ctrl_shift_o_opens_a_new_conversation_and_shift_escape_goes_to_the_message_box(signed_in, owner_id) -> None:
    conversation = make_conversation(owner_id, title="Somewhere", messages=2)
    page = signed_in.new_page()
    page.goto(f"/chat/{conversation.pk}")
    page.get_by_role("log", name="Messages").focus()
    page.keyboard.press("Shift+Escape")
    expect(composer(page)).to_be_focused()

    composer(page).press("Control+Shift+O")
    expect(page).to_have_url(re.compile(r"/chat/new$"))
    expect(page.locator("#pane-title")).to_have_text("New conversation")
    expect(composer(page)).to_be_focused()
    page.get_by_role("searchbox", name="Search conversations").focus()
    page.keyboard.press("Shift+Escape")
    expect(composer(page)).to_be_focused()


def test_ctrl_shift_c_copies_the_last_reply_as_written(signed_in, owner_id, live_server) -> None:
    newest = "The **second** answer, with `code` and a [link](https://example.com)."
    conversation = conversation_with(owner_id, "The first answer.", newest)
    signed_in.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page = signed_in.new_page()
    page.goto(f"/chat/{conversation.pk}")
    page.keyboard.press("Control+Shift+C")
    expect(page.locator("[data-shortcut-status]")).to_have_text("The last reply was copied.")
    assert clipboard(page) == newest  # the Markdown, not the rendered text


def test_ctrl_shift_c_says_so_when_there_is_no_reply(signed_in) -> None:
    page = signed_in.new_page()
    page.goto("/chat/new")
    page.keyboard.press("Control+Shift+C")
    expect(page.locator("[data-shortcut-status]")).to_have_text("There is no reply to copy yet.")


def test_escape_stops_the_reply_being_written_but_first_closes_what_is_open(live_signed_in, owner_id) -> None:
    conversation = make_conversation(owner_id, title="Long answer", messages=2)
    set_assistant(OfflineAssistant(chunk_delay=test_live_browser.CHUNK_DELAY))
    page = live_signed_in.new_page()
    test_live_browser.open_live(page, f"/chat/{conversation.pk}")
    composer(page).fill("Write a lot")
    composer(page).press("Enter")
    stop = page.get_by_role("button", name="Stop")
    expect(stop).to_be_visible()
    reply = test_live_browser.reply(page)

    page.locator("#conv-header summary", has_text="More").click()  # a popover: Escape closes it, nothing else
    page.keyboard.press("Escape")
    expect(page.locator("#conv-header details.popover[open]")).to_have_count(0)
    assert reply.get_attribute("data-status") == "streaming"

    composer(page).focus()
    page.keyboard.press("Escape")
    expect(reply).to_have_attribute("data-status", "stopped")
    expect(reply.get_by_text("Stopped.")).to_be_visible()
    expect(stop).to_be_hidden()
    assert Message.objects.get(conversation=conversation, role="assistant", status="stopped")
