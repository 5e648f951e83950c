"""Share links in a real browser (issue 15, "Share"): Debian's Chromium driven by Playwright.

The owner opens the Share dialog from the conversation's header, copies the link, a stranger
(another browser context, no session) reads the shared page, then "Stop sharing" turns the link
into the 404 page. The fixtures are test_page_browser.py's. Screenshots go to ``test-artifacts/``.

The header (templates/conversations/_header.html) is another change's file: until it includes
``conversations/_share.html``, ``share_button`` puts that same partial, rendered by Django, where
the include goes, and htmx processes it as it would the header's. Everything after that (the
partial's markup, htmx, static/js/share.js, the views) is the real thing.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.template.loader import render_to_string

from conversations.models import Conversation, ShareLink
from conversations.tests import test_page_browser
from conversations.tests.factories import make_conversation
from conversations.tests.test_page_browser import screenshot

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# test_page_browser.py's fixtures: a browser context on the live server, and the owner signed in to it.
context = test_page_browser.context
signed_in = test_page_browser.signed_in

SHARED_URL = re.compile(r"^http://[^/]+/s/[A-Za-z0-9_-]{43}$")


def share_button(tab: Any, conversation: Conversation) -> Any:
    """The header's Share button; the partial is put in the header first if it does not include it yet."""
    if tab.locator("#conv-header #share-dialog").count() == 0:
        partial = render_to_string("conversations/_share.html", {"conversation": conversation})
        tab.evaluate(
            """(html) => {
                const actions = document.querySelector("#conv-header .pane__actions");
                actions.insertAdjacentHTML("afterbegin", html);
                htmx.process(actions.firstElementChild);
            }""",
            partial,
        )
    return tab.locator("#conv-header").get_by_role("button", name="Share", exact=True)


@pytest.fixture
def conversation(owner_id: str) -> Conversation:
    conversation = make_conversation(owner_id, title="Trip to Lisbon", messages=4)
    reply = conversation.messages.order_by("created_at").last()
    reply.content = "Pack **light** and try `pastéis de nata`."
    reply.save(update_fields=["content"])
    return conversation


def test_it_shares_copies_shows_the_snapshot_to_a_stranger_and_stops_sharing(
    signed_in, browser, live_server, conversation
) -> None:
    signed_in.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    tab = signed_in.new_page()
    tab.goto(f"/chat/{conversation.pk}")
    expect(tab.locator("#pane-title")).to_have_text("Trip to Lisbon")

    share_button(tab, conversation).click()
    dialog = tab.get_by_role("dialog", name="Share “Trip to Lisbon”")
    expect(dialog).to_be_visible()
    assert tab.evaluate("document.querySelector('#share-dialog').matches(':modal')")
    link = dialog.get_by_label("Link")
    expect(link).to_have_value(SHARED_URL)
    url = link.input_value()
    assert url.endswith(ShareLink.objects.get(conversation=conversation).token)
    screenshot(tab, "share-dialog-1280")

    dialog.get_by_role("button", name="Copy").click()
    expect(dialog.get_by_role("status")).to_have_text("Link copied.")
    assert tab.evaluate("navigator.clipboard.readText()") == url

    # A stranger: another browser context, no session.
    stranger = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        shared = stranger.new_page()
        shared.goto(url)
        expect(shared.get_by_text("Shared conversation", exact=True)).to_be_visible()
        expect(shared.get_by_role("heading", level=1)).to_have_text("Trip to Lisbon")
        expect(shared.locator(".msg")).to_have_count(4)
        expect(shared.locator(".msg__md strong")).to_have_text("light")
        expect(shared.get_by_role("button", name="Sign out")).to_have_count(0)
        assert shared.locator('meta[name="robots"]').get_attribute("content") == "noindex"
        screenshot(shared, "shared-page-390")

        # Stop sharing: the dialog says so and stays open; the link is the 404 page.
        dialog.get_by_role("button", name="Stop sharing").click()
        expect(dialog.get_by_text("Not shared.")).to_be_visible()
        expect(dialog.get_by_role("button", name="Create link")).to_be_visible()
        assert not ShareLink.objects.filter(conversation=conversation).exists()
        response = shared.goto(url)
        assert response is not None and response.status == 404
        expect(shared.get_by_role("heading", name="Not found")).to_be_visible()
        expect(shared.get_by_text("Trip to Lisbon")).to_have_count(0)
    finally:
        stranger.close()

    dialog.get_by_role("button", name="Close").click()
    expect(tab.locator("#share-dialog")).to_be_hidden()


def test_reopening_keeps_the_link_and_update_link_replaces_it(signed_in, conversation) -> None:
    tab = signed_in.new_page()
    tab.goto(f"/chat/{conversation.pk}")
    share_button(tab, conversation).click()
    dialog = tab.get_by_role("dialog")
    link = dialog.get_by_label("Link")
    expect(link).to_have_value(SHARED_URL)
    first = link.input_value()
    tab.keyboard.press("Escape")
    expect(tab.locator("#share-dialog")).to_be_hidden()

    share_button(tab, conversation).click()
    expect(tab.get_by_role("dialog").get_by_label("Link")).to_have_value(first)

    tab.get_by_role("dialog").get_by_role("button", name="Update link").click()
    expect(tab.get_by_role("dialog").get_by_label("Link")).not_to_have_value(first)
    expect(tab.get_by_role("dialog").get_by_label("Link")).to_have_value(SHARED_URL)
    assert (
        ShareLink.objects.get(conversation=conversation).token
        in tab.get_by_role("dialog").get_by_label("Link").input_value()
    )
