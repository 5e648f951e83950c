"""The "Model" select, the conversation settings dialog and a generated title, in a real browser.

Issue 14, "Models and instructions" and "Titles": Debian's Chromium through Playwright, against the
project's ASGI application under uvicorn (HTTP and the page's WebSocket; ``test_live_browser``), with
the fake OpenAI server on loopback as the model server. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import pytest
from django.core.cache import cache

from conversations import services
from conversations.assistant import reset_assistant
from conversations.models import Conversation, Preference
from conversations.tests import test_live_browser as live_browser
from conversations.tests.fake_openai import DEFAULT_REPLY, FakeOpenAI

asgi_server = live_browser.asgi_server
signed_in = live_browser.signed_in
composer, open_live, reply, screenshot = (
    live_browser.composer,
    live_browser.open_live,
    live_browser.reply,
    live_browser.screenshot,
)

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def model_server(settings, fake_openai: FakeOpenAI) -> FakeOpenAI:  # type: ignore[no-untyped-def]
    settings.ASSISTANT_BACKEND = "openai"
    settings.OPENAI_BASE_URL = fake_openai.base_url
    settings.OPENAI_MODEL = "fake-model"
    settings.ASSISTANT_MODELS = []
    settings.ASSISTANT_AUTO_TITLES = True
    cache.clear()
    reset_assistant()
    yield fake_openai
    cache.clear()


def test_the_model_select_the_instructions_dialog_and_the_title_that_follows(
    signed_in, owner_id, model_server: FakeOpenAI
) -> None:  # type: ignore[no-untyped-def]
    conversation = services.conversation_create(user_id=owner_id)
    model_server.completion_reply = "Weekend in Lisbon"
    page = signed_in.new_page()
    open_live(page, f"/chat/{conversation.pk}")

    # The "Model" select in the header: the server's models, the default chosen; a change is saved at once.
    select = page.get_by_label("Model", exact=True)
    expect(select).to_have_value("fake-model")
    expect(select.locator("option")).to_have_text(["fake-model", "fake-large", "fake-small", "fake-vision"])
    select.select_option("fake-large")
    expect(page.locator("#model-picker [role=status]")).to_have_text("Model set to fake-large.")
    expect(page.get_by_label("Model", exact=True)).to_have_value("fake-large")
    assert Conversation.objects.get(pk=conversation.pk).model == "fake-large"
    assert Preference.objects.get(user_id=owner_id).model == "fake-large"

    # The conversation settings dialog, from the header's "More" menu: an error shows by the field.
    page.locator("#conv-header summary", has_text="More").click()
    page.get_by_role("link", name="Conversation settings").click()
    dialog = page.get_by_role("dialog", name="Conversation settings")
    expect(dialog).to_be_visible()
    field = dialog.get_by_label("Instructions")
    field.evaluate("el => el.removeAttribute('maxlength')")  # as a client without the limit would send
    field.fill("x" * 4001)
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.locator("#conversation-instructions-error")).to_contain_text("the limit is 4000")
    expect(dialog.get_by_label("Instructions")).to_have_attribute("aria-invalid", "true")
    dialog.get_by_label("Instructions").fill("Answer like a travel agent.")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.get_by_role("status")).to_have_text("Instructions saved.")
    screenshot(page, "conversation-settings-dialog")
    dialog.get_by_role("button", name="Close").click()
    expect(page.get_by_role("dialog", name="Conversation settings")).to_be_hidden()
    assert Conversation.objects.get(pk=conversation.pk).instructions == "Answer like a travel agent."

    # The first message goes to the chosen model with the instructions; after the reply, the
    # model's title reaches the header, the sidebar and the tab.
    composer(page).fill("We have three days in Lisbon in May, what should we see?")
    composer(page).press("Enter")
    expect(reply(page)).to_contain_text(DEFAULT_REPLY.split(".")[0])
    expect(page.locator("#pane-title")).to_have_text("Weekend in Lisbon")
    expect(page.locator(f"#conv-{conversation.pk} .conv-item__title")).to_have_text("Weekend in Lisbon")
    expect(page).to_have_title("Weekend in Lisbon · Chat")
    screenshot(page, "model-select-and-title")
    chat, title = (
        [body for body in model_server.requests if body.get("stream")],
        [body for body in model_server.requests if not body.get("stream")],
    )
    assert [body["model"] for body in chat + title] == ["fake-large", "fake-large"]
    assert chat[0]["messages"][0]["role"] == "system"
    assert chat[0]["messages"][0]["content"].endswith("\n\nAnswer like a travel agent.")
