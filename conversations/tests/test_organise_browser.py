"""Pin and archive in a real browser (issue 15, "Organise"): Debian's Chromium through Playwright."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from conversations.models import Conversation
from conversations.tests import test_page_browser as page_tests
from conversations.tests.factories import make_conversation

context = page_tests.context
signed_in = page_tests.signed_in
screenshot = page_tests.screenshot

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sidebar(page):
    return page.locator("#conversation-list")


def test_pin_and_archive_move_the_conversation_in_the_sidebar_without_a_reload(signed_in, owner_id) -> None:
    now = timezone.now()
    older = make_conversation(owner_id, title="Older plans", messages=2, start=now - dt.timedelta(days=3))
    make_conversation(owner_id, title="Fresh chat", messages=2, start=now - dt.timedelta(minutes=5))
    page = signed_in.new_page()
    page.goto(f"/chat/{older.pk}")
    page.evaluate("window.sameDocument = true")
    items = sidebar(page).locator(".conv-item__title")
    expect(items).to_have_text(["Fresh chat", "Older plans"])
    expect(sidebar(page).locator(".conv-group__title")).to_have_text(["Today", "Previous 7 days"])

    page.locator("#conv-header summary", has_text="More").click()
    page.get_by_role("button", name="Pin", exact=True).click()
    expect(items).to_have_text(["Older plans", "Fresh chat"])
    expect(sidebar(page).locator(".conv-group__title").first).to_have_text("Pinned")
    page.locator("#conv-header summary", has_text="More").click()
    expect(page.get_by_role("button", name="Unpin")).to_be_visible()
    page.get_by_role("button", name="Archive", exact=True).click()
    expect(items).to_have_text(["Fresh chat"])
    expect(page.locator("#conv-header .badge--muted")).to_have_text("Archived")
    screenshot(page, "organise-archived")

    sidebar(page).get_by_role("link", name="Archived").click()
    expect(items).to_have_text(["Older plans"])
    sidebar(page).get_by_role("link", name="All conversations").click()
    expect(items).to_have_text(["Fresh chat"])
    assert page.evaluate("window.sameDocument") is True
    older.refresh_from_db()
    assert (older.pinned, older.archived) == (True, True)
    assert Conversation.objects.filter(archived=False).count() == 1
