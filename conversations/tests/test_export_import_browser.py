"""Export and import on the settings page, in a real browser (issue 15, "Export and import").

Debian's Chromium driven by Playwright against pytest-django's ``live_server``, signed in
as in ``test_page_browser.py`` (its fixtures are reused). "Export all" downloads the
chat-export document; "Import" takes a ChatGPT ``conversations.json`` and the new
conversation is then in the chat's sidebar.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conversations.models import Conversation
from conversations.tests.factories import make_conversation
from conversations.tests.test_api_export_import import chatgpt_export

# The signed-in browser of the page's own browser tests (a session made by Django's test client).
from conversations.tests.test_page_browser import context, page, screenshot, signed_in  # noqa: F401

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_reaches_settings_from_the_top_bar(signed_in) -> None:  # noqa: F811
    browser_page = signed_in.new_page()
    browser_page.goto("/chat")
    browser_page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
    expect(browser_page).to_have_url(re.compile(r"/chat/settings$"))
    expect(browser_page.get_by_role("heading", name="Settings", level=1)).to_be_visible()
    expect(browser_page.get_by_role("link", name="Settings")).to_have_attribute("aria-current", "page")


def test_export_all_downloads_every_conversation_as_json(signed_in, owner_id, tmp_path: Path) -> None:  # noqa: F811
    make_conversation(owner_id, title="Packing list", messages=4)
    make_conversation(owner_id, title="Tax questions", messages=2)
    browser_page = signed_in.new_page()
    browser_page.goto("/chat/settings")

    with browser_page.expect_download() as download_info:
        browser_page.get_by_role("link", name="Export all").click()
    download = download_info.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)

    assert re.fullmatch(r"conversations-\d{4}-\d{2}-\d{2}\.json", download.suggested_filename)
    document = json.loads(saved.read_text())
    assert document["format"] == "chat-export" and document["version"] == 1
    assert sorted(c["title"] for c in document["conversations"]) == ["Packing list", "Tax questions"]
    assert sorted(len(c["messages"]) for c in document["conversations"]) == [2, 4]


def test_it_imports_a_chatgpt_file_and_the_conversation_shows_in_the_sidebar(
    signed_in,  # noqa: F811
    owner_id,
    tmp_path: Path,
) -> None:
    upload = tmp_path / "conversations.json"
    upload.write_text(json.dumps(chatgpt_export()[:1]))
    browser_page = signed_in.new_page()
    browser_page.goto("/chat/settings")

    browser_page.get_by_label("Conversations file").set_input_files(str(upload))
    browser_page.get_by_role("button", name="Import").click()

    expect(browser_page.get_by_role("status")).to_have_text("Imported 1 conversation and 4 messages.")
    screenshot(browser_page, "settings-imported-1280")
    assert Conversation.objects.filter(user_id=owner_id, title="Weekend in Lisbon").count() == 1

    browser_page.get_by_role("link", name="Go to your conversations").click()
    sidebar = browser_page.get_by_role("complementary", name="Conversations")
    expect(sidebar.get_by_role("link", name=re.compile("Weekend in Lisbon"))).to_be_visible()
    expect(browser_page.locator("#pane-title")).to_have_text("Weekend in Lisbon")

    # The same file again: nothing new, and the page says so.
    browser_page.goto("/chat/settings")
    browser_page.get_by_label("Conversations file").set_input_files(str(upload))
    browser_page.get_by_role("button", name="Import").click()
    expect(browser_page.get_by_role("status")).to_contain_text("Imported 0 conversations and 0 messages.")
    assert Conversation.objects.filter(user_id=owner_id).count() == 1


def test_a_malformed_file_shows_what_is_wrong(signed_in, owner_id, tmp_path: Path) -> None:  # noqa: F811
    upload = tmp_path / "conversations.json"
    upload.write_text('[{"title": "no mapping"}]')
    browser_page = signed_in.new_page()
    browser_page.goto("/chat/settings")

    browser_page.get_by_label("Conversations file").set_input_files(str(upload))
    browser_page.get_by_role("button", name="Import").click()

    expect(browser_page.get_by_role("alert")).to_have_text(
        "The file could not be imported: conversations[0].mapping is missing"
    )
    assert not Conversation.objects.filter(user_id=owner_id).exists()
