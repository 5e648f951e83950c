"""Message actions in a real browser (issue 14, "On the page"): Copy, Edit, Regenerate and the
version switcher, by mouse and by keyboard. Debian's Chromium through Playwright."""

from __future__ import annotations

import pytest

from conversations.assistant import set_assistant
from conversations.models import Message
from conversations.tests import test_page_browser as page_tests
from conversations.tests.test_api_branches import Counting

context = page_tests.context
signed_in = page_tests.signed_in
composer = page_tests.composer
screenshot = page_tests.screenshot

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_text(page) -> list[str]:
    return page.locator("#message-log .msg .msg__text, #message-log .msg .msg__md").all_inner_texts()


def send(page, text: str) -> None:
    composer(page).fill(text)
    composer(page).press("Enter")


def test_regenerate_edit_and_switch_versions(signed_in) -> None:
    set_assistant(Counting())
    page = signed_in.new_page()
    page.goto("/chat/new")
    send(page, "first question")
    expect(page.locator("#message-log .msg--assistant .msg__md")).to_have_text(["reply 1 to first question"])
    send(page, "second question")
    expect(page.locator("#message-log .msg--assistant .msg__md")).to_have_count(2)
    expect(page.locator("#message-log .msg--assistant .msg__md").last).to_have_text("reply 2 to second question")

    # Regenerate: only on the newest reply; the earlier reply stays as version 1.
    replies = page.locator("#message-log .msg--assistant")
    expect(replies.first.get_by_role("button", name="Regenerate")).to_be_hidden()
    replies.last.hover()
    replies.last.get_by_role("button", name="Regenerate").click()
    expect(page.locator("#message-log .msg--assistant .msg__md").last).to_have_text("reply 3 to second question")
    switcher = page.locator("#message-log .msg--assistant").last.locator(".versions")
    expect(switcher.locator(".versions__count")).to_have_text("2 / 2")
    switcher.get_by_role("button", name="Previous version").click()
    expect(page.locator("#message-log .msg--assistant .msg__md").last).to_have_text("reply 2 to second question")
    # Focus stays on the switcher (the pane was swapped whole): now on "Next version", "Previous" being disabled.
    expect(page.locator("#message-log .msg--assistant").last.get_by_role("button", name="Next version")).to_be_focused()
    expect(page.locator("#message-log .msg--assistant").last.locator(".versions__count")).to_have_text("1 / 2")

    # Edit the first message (not the last): its branch replaces the rest, which comes back by switching.
    first = page.locator("#message-log .msg--user").first
    first.hover()
    first.get_by_role("button", name="Edit").click()
    editor = page.get_by_role("textbox", name="Edit your message")
    expect(editor).to_have_value("first question")
    editor.fill("first question, edited")
    page.get_by_role("button", name="Save and send").click()
    expect(page.locator("#message-log .msg__text")).to_have_text(["first question, edited"])
    expect(page.locator("#message-log .msg__md")).to_have_text(["reply 4 to first question, edited"])
    screenshot(page, "branches-edited")
    user = page.locator("#message-log .msg--user").first
    expect(user.locator(".versions__count")).to_have_text("2 / 2")
    user.get_by_role("button", name="Previous version").click()
    expect(page.locator("#message-log .msg__text")).to_have_text(["first question", "second question"])

    # Remembered after a reload.
    page.reload()
    expect(page.locator("#message-log .msg__text")).to_have_text(["first question", "second question"])
    expect(page.locator("#message-log .msg__md").last).to_have_text("reply 2 to second question")


def test_the_actions_are_reachable_by_keyboard_and_copy_the_text_as_written(signed_in, owner_id) -> None:
    from conversations.tests.factories import make_conversation

    conversation = make_conversation(owner_id, title="Copy")
    question = Message.objects.create(conversation=conversation, user_id=owner_id, role="user", content="Say *hi*")
    Message.objects.create(
        conversation=conversation, user_id=owner_id, role="assistant", content="**Hi** there", parent=question
    )
    signed_in.grant_permissions(["clipboard-read", "clipboard-write"])
    page = signed_in.new_page()
    page.goto(f"/chat/{conversation.pk}")
    reply = page.locator("#message-log .msg--assistant")
    expect(reply.locator("strong")).to_have_text("Hi")
    copy = reply.get_by_role("button", name="Copy")
    copy.focus()
    expect(copy).to_be_focused()
    expect(reply.locator(".msg__actions")).to_have_css("opacity", "1")  # shown on focus, not only on hover
    page.keyboard.press("Enter")
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == "**Hi** there"  # the Markdown source
    page.keyboard.press("Tab")
    expect(reply.get_by_role("button", name="Regenerate")).to_be_focused()
    page.locator("#message-log .msg--user").get_by_role("button", name="Copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == "Say *hi*"
