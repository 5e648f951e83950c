"""Search in a real browser (issue 15): type in the sidebar, choose a result, land on the message."""

from __future__ import annotations

import re

import pytest
from django.db import connection

from conversations.models import Message
from conversations.tests import test_page_browser as page_tests
from conversations.tests.factories import make_conversation

context = page_tests.context
signed_in = page_tests.signed_in
screenshot = page_tests.screenshot

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_search_result_opens_the_conversation_at_its_message_far_back(signed_in, owner_id) -> None:
    make_conversation(owner_id, title="Something recent", messages=2)
    long = make_conversation(owner_id, title="The long one", messages=400)
    target = Message.objects.filter(conversation=long).order_by("created_at", "id")[120]
    Message.objects.filter(pk=target.pk).update(content="We saw a zebra at the crossing")
    page = signed_in.new_page()
    page.goto("/chat")
    page.evaluate("window.sameDocument = true")

    page.keyboard.press("Control+k")
    search = page.get_by_role("searchbox", name="Search conversations")
    expect(search).to_be_focused()
    # "zebras" finds "zebra" by stemming on PostgreSQL; the SQLite fallback matches words as typed.
    search.press_sequentially("zebras" if connection.vendor == "postgresql" else "zebra", delay=20)
    result = page.locator("#search-results a").first
    expect(result.locator(".search__title")).to_have_text("The long one")
    expect(result.locator("mark")).to_have_text("zebra")
    screenshot(page, "search-results")

    result.click()
    found = page.locator(f"#msg-{target.pk}")
    expect(found).to_have_class(re.compile(r"\bmsg--found\b"))
    expect(found).to_be_in_viewport()
    expect(page).to_have_url(re.compile(rf"/chat/{long.pk}\?at={target.pk}"))
    assert page.evaluate("window.sameDocument") is True
    # The pane pages on both ways from there.
    expect(page.locator("#message-log [data-newer]")).to_have_count(1)
