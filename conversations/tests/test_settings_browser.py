"""The settings page in a real browser (issue 16, "Settings"): change password, the defaults of new
conversations, delete my account.

Debian's Chromium driven by Playwright against pytest-django's ``live_server``, signed in as in
``test_page_browser.py`` (its fixtures are reused); the defaults use the fake OpenAI server on
loopback as the model server (``test_models_and_titles.model_server``). axe-core checks the page with its errors showing
(``test_a11y_browser``; the page as it opens is checked there). The sign-in form is found by
its labels and button, whichever of Django's or allauth's login pages serves ``LOGIN_URL``.
Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model

from conversations import settings_views
from conversations.models import Conversation, Message, Preference
from conversations.tests.conftest import PASSWORD
from conversations.tests.factories import make_conversation
from conversations.tests.fake_openai import DEFAULT_REPLY, FakeOpenAI
from conversations.tests.test_a11y_browser import assert_no_violations
from conversations.tests.test_models_and_titles import chat_requests, model_server, system_of  # noqa: F401

# The signed-in browser of the page's own browser tests (a session made by Django's test client).
from conversations.tests.test_page_browser import composer, context, page, screenshot, signed_in  # noqa: F401
from tasks import services as task_services

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NEW_PASSWORD = "a much longer passphrase 2"
LOGIN_PATH = re.compile(r"/accounts/login/")


def sign_in(browser_page, username: str, password: str) -> None:  # type: ignore[no-untyped-def]
    browser_page.get_by_label(re.compile(r"^Username")).fill(username)
    browser_page.get_by_label("Password", exact=True).fill(password)
    browser_page.get_by_role("button", name=re.compile(r"^Sign in$", re.IGNORECASE)).click()


def test_it_changes_the_password_and_then_signs_in_with_it(signed_in, owner) -> None:  # noqa: F811
    browser_page = signed_in.new_page()
    browser_page.goto("/chat/settings")

    # A wrong current password: the reason next to the field, nothing changed.
    browser_page.get_by_label("Current password").fill("not my password")
    browser_page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    browser_page.get_by_label("New password again").fill(NEW_PASSWORD)
    browser_page.get_by_role("button", name="Change password").click()
    expect(browser_page.locator("#password-current-error")).to_have_text(
        "Your old password was entered incorrectly. Please enter it again."
    )
    expect(browser_page.get_by_label("Current password")).to_have_attribute("aria-invalid", "true")
    assert_no_violations(browser_page, "the settings page with a refused password")

    browser_page.get_by_label("Current password").fill(PASSWORD)
    browser_page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    browser_page.get_by_label("New password again").fill(NEW_PASSWORD)
    browser_page.get_by_role("button", name="Change password").click()
    expect(browser_page.get_by_role("status")).to_have_text(settings_views.PASSWORD_CHANGED)
    expect(browser_page).to_have_url(re.compile(r"/chat/settings#password-title$"))
    screenshot(browser_page, "settings-password-changed-1280")

    # Still signed in here; then out, and in again with the new password.
    browser_page.goto("/chat")
    browser_page.get_by_role("button", name="Sign out").click()
    expect(browser_page).to_have_url(LOGIN_PATH)
    sign_in(browser_page, "owner", NEW_PASSWORD)
    expect(browser_page).to_have_url(re.compile(r"/chat$"))
    expect(browser_page.get_by_role("button", name="Sign out")).to_be_visible()


def test_new_conversations_take_the_default_model_and_instructions(
    signed_in,  # noqa: F811
    owner_id,
    model_server: FakeOpenAI,  # noqa: F811
) -> None:
    browser_page = signed_in.new_page()
    browser_page.goto("/chat/settings")
    select = browser_page.get_by_label("Default model")
    expect(select).to_have_value("fake-model")
    expect(select.locator("option")).to_have_text(["fake-model", "fake-large", "fake-small", "fake-vision"])

    # Too long first: the reason next to the field, nothing saved.
    select.select_option("fake-large")
    field = browser_page.get_by_label("Default instructions")
    field.evaluate("el => el.removeAttribute('maxlength')")  # as a client without the limit would send
    field.fill("x" * 4001)
    browser_page.get_by_role("button", name="Save defaults").click()
    expect(browser_page.locator("#default-instructions-error")).to_contain_text("the limit is 4000")
    expect(browser_page.get_by_label("Default instructions")).to_have_attribute("aria-invalid", "true")
    assert not Preference.objects.filter(user_id=owner_id).exists()

    browser_page.get_by_label("Default model").select_option("fake-large")
    browser_page.get_by_label("Default instructions").fill("Answer like a travel agent.")
    browser_page.get_by_role("button", name="Save defaults").click()
    expect(browser_page.get_by_role("status")).to_have_text(settings_views.DEFAULTS_SAVED)
    expect(browser_page.get_by_label("Default model")).to_have_value("fake-large")
    expect(browser_page.get_by_label("Default instructions")).to_have_value("Answer like a travel agent.")
    screenshot(browser_page, "settings-defaults-saved-1280")

    # A new conversation takes both: the select in its header, and what the model server is sent.
    browser_page.goto("/chat/new")
    composer(browser_page).fill("Three days in Lisbon, what should we see?")
    composer(browser_page).press("Enter")
    expect(browser_page.locator(".msg--assistant").filter(has_text=DEFAULT_REPLY.split(".")[0])).to_be_visible()
    expect(browser_page).to_have_url(re.compile(r"/chat/[0-9a-f-]{36}$"))
    conversation = Conversation.objects.get(user_id=owner_id)
    assert (conversation.model, conversation.instructions) == ("fake-large", "Answer like a travel agent.")
    sent = chat_requests(model_server)[-1]
    assert sent["model"] == "fake-large"
    assert system_of(sent).endswith("\n\nAnswer like a travel agent.")
    browser_page.reload()
    expect(browser_page.get_by_label("Model", exact=True)).to_have_value("fake-large")


def test_it_deletes_the_account_only_with_the_username_and_says_so_on_the_login_page(
    signed_in,  # noqa: F811
    owner,
    owner_id,
    other_id,
) -> None:
    make_conversation(owner_id, title="Packing list", messages=4)
    task_services.task_create(user_id=owner_id, title="Renew passport")
    make_conversation(other_id, title="Someone else's", messages=2)
    browser_page = signed_in.new_page()
    browser_page.goto("/chat/settings")
    section = browser_page.get_by_role("region", name="Delete my account")
    expect(section).to_contain_text("This cannot be undone.")

    field = section.get_by_label("To confirm, type your username")
    field.fill("Owner")
    section.get_by_role("button", name="Delete my account").click()
    expect(browser_page.locator("#delete-username-error")).to_have_text(
        "That is not your username. Type it exactly as you sign in with it; nothing was deleted."
    )
    expect(browser_page.get_by_label("To confirm, type your username")).to_have_attribute("aria-invalid", "true")
    expect(browser_page).to_have_url(re.compile(r"#delete-title$"))  # the page opens at the section
    assert_no_violations(browser_page, "the settings page with a refused username")
    screenshot(browser_page, "settings-delete-refused-1280")
    assert get_user_model().objects.filter(pk=owner.pk).exists()
    assert Message.objects.filter(user_id=owner_id).count() == 4

    browser_page.get_by_label("To confirm, type your username").fill("owner")
    browser_page.get_by_role("button", name="Delete my account").click()
    expect(browser_page).to_have_url(LOGIN_PATH)
    expect(browser_page.get_by_text(settings_views.ACCOUNT_DELETED)).to_be_visible()
    screenshot(browser_page, "login-account-deleted-1280")
    assert not get_user_model().objects.filter(username="owner").exists()
    assert not Conversation.objects.filter(user_id=owner_id).exists()
    assert not task_services.task_list(user_id=owner_id)
    assert Message.objects.filter(user_id=other_id).count() == 2

    # Signed out, and the old password no longer opens anything.
    browser_page.goto("/chat")
    expect(browser_page).to_have_url(LOGIN_PATH)
    sign_in(browser_page, "owner", PASSWORD)
    expect(browser_page).to_have_url(LOGIN_PATH)
    expect(browser_page.get_by_text(re.compile(r"not correct|correct username", re.IGNORECASE))).to_be_visible()
