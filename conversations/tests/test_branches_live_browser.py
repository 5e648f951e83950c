"""Regenerate and Edit stream live on the page when served by ASGI (issue 14), as a send does.

A real uvicorn (test_live_browser's ``asgi_server``) and Debian's Chromium: the action answers with
the pane at once, the new reply pending, and the swapped-in pane's socket shows it growing.
"""

from __future__ import annotations

import re

import pytest

from conversations.models import Message
from conversations.tests import test_live_browser as live_tests

asgi_server = live_tests.asgi_server
signed_in = live_tests.signed_in
slow_assistant = live_tests.slow_assistant
composer = live_tests.composer
reply = live_tests.reply
open_live = live_tests.open_live
lengths_while_streaming = live_tests.lengths_while_streaming
expected = live_tests.expected

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_regenerate_and_edit_stream_into_the_swapped_pane(signed_in, slow_assistant) -> None:
    page = signed_in.new_page()
    open_live(page, "/chat/new")
    composer(page).fill("Tell me a story")
    composer(page).press("Enter")
    expect(reply(page)).to_have_attribute("data-status", "complete", timeout=20_000)
    expect(page).to_have_url(re.compile(r"/chat/[0-9a-f-]{36}$"))

    reply(page).hover()
    reply(page).get_by_role("button", name="Regenerate").click()
    expect(page.locator("#pane")).to_have_attribute("data-live-connection", "open")
    expect(reply(page)).to_have_attribute("data-status", "streaming")
    grown = lengths_while_streaming(page)
    assert len(grown) >= 2 and grown[-1] > grown[0], grown  # it grows word by word
    expect(reply(page)).to_have_attribute("data-status", "complete", timeout=20_000)
    expect(reply(page).locator(".versions__count")).to_have_text("2 / 2")
    replies = Message.objects.filter(role="assistant").order_by("created_at")
    assert [(m.version, m.active) for m in replies] == [(1, False), (2, True)]

    question = page.locator("#message-log .msg--user").first
    question.hover()
    question.get_by_role("button", name="Edit").click()
    page.get_by_role("textbox", name="Edit your message").fill("Tell me a poem")
    page.get_by_role("button", name="Save and send").click()
    expect(reply(page)).to_have_attribute("data-status", "streaming")
    expect(reply(page)).to_have_attribute("data-status", "complete", timeout=20_000)
    expect(page.locator("#message-log .msg__text")).to_have_text(["Tell me a poem"])
    assert reply(page).locator(".msg__md").inner_text().startswith("You wrote: “Tell me a poem”.")
    assert Message.objects.filter(role="user").count() == 2


def test_another_page_on_the_conversation_follows_the_new_branch(signed_in, slow_assistant) -> None:
    """Issue 14: a regeneration in one tab shows in the other (no second version left beside the first)."""
    first, second = signed_in.new_page(), signed_in.new_page()
    open_live(first, "/chat/new")
    composer(first).fill("Tell me a story")
    composer(first).press("Enter")
    expect(reply(first)).to_have_attribute("data-status", "complete", timeout=20_000)
    open_live(second, first.url)
    expect(second.locator("#message-log .msg--assistant")).to_have_count(1)

    reply(first).hover()
    reply(first).get_by_role("button", name="Regenerate").click()

    expect(reply(second).locator(".versions__count")).to_have_text("2 / 2", timeout=20_000)
    expect(second.locator("#message-log .msg--assistant")).to_have_count(1)
    expect(second.locator("#message-log .msg--user")).to_have_count(1)
