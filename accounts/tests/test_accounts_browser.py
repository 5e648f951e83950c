"""Accounts in a real browser (issue 16): sign-up, approval in the admin, password reset by e-mail.

Debian's Chromium through Playwright against pytest-django's ``live_server``, as
``conversations/tests/test_page_browser.py``; the password reset mail goes through a real SMTP
server on loopback (aiosmtpd, ``smtp_server.py``). axe-core checks the account pages
(``conversations/tests/test_a11y_browser.py``). Screenshots in ``test-artifacts/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.test import Client

from accounts.models import Account
from accounts.tests.smtp_server import SMTPServer, body_of, settings_for
from conversations.tests import test_a11y_browser as a11y
from conversations.tests import test_page_browser as page_tests
from conversations.tests.conftest import PASSWORD

context = page_tests.context
page = page_tests.page
screenshot = page_tests.screenshot

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NEW_PASSWORD = "a long new passphrase 42"
RESET_LINK = re.compile(r"https?://\S+/accounts/password/reset/key/\S+/")


def signed_in_context(browser, live_server, user):
    """A new browser context holding ``user``'s session (made by Django's test client)."""
    client = Client()
    client.force_login(user)
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
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


def fill_signup(page, username: str, password: str) -> None:
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Password (again)").fill(password)
    page.get_by_role("button", name="Create account").click()


def test_open_sign_up_says_whats_wrong_next_to_the_field_then_lands_on_the_chat(page, signup_mode) -> None:
    signup_mode("open")
    page.goto("/accounts/login/")
    page.get_by_role("link", name="Create an account").click()
    expect(page.get_by_role("heading", name="Create an account")).to_be_visible()
    fill_signup(page, "newcomer", "short")
    password = page.get_by_label("Password", exact=True)
    expect(password).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#id_password1_error")).to_have_text(
        "This password is too short. It must contain at least 8 characters."
    )
    screenshot(page, "accounts-signup-error-1280")
    a11y.assert_no_violations(page, "the sign-up page with an error")

    fill_signup(page, "newcomer", NEW_PASSWORD)
    expect(page).to_have_url(re.compile(r"/chat$"))
    expect(page.get_by_text("Welcome! How can I help you today?")).to_be_visible()
    expect(page.locator(".topbar__user")).to_have_text("newcomer")


def test_closed_sign_up_is_a_friendly_page(page) -> None:
    page.goto("/accounts/login/")
    expect(page.get_by_role("link", name="Forgot your password?")).to_be_visible()
    expect(page.get_by_role("link", name="Create an account")).to_have_count(0)
    page.goto("/accounts/signup/")
    expect(page.get_by_role("heading", name="Sign-up is closed")).to_be_visible()


def test_a_new_account_waits_until_a_staff_member_approves_it_in_the_admin(
    browser, live_server, page, signup_mode, django_user_model
) -> None:
    signup_mode("approval")
    page.goto("/accounts/signup/")
    fill_signup(page, "newcomer", NEW_PASSWORD)
    expect(page).to_have_url(re.compile(r"/accounts/pending/$"))
    expect(page.get_by_role("heading", name="Your account awaits approval")).to_be_visible()
    screenshot(page, "accounts-pending-1280")
    a11y.assert_no_violations(page, "the waiting page")
    page.goto("/chat")
    expect(page).to_have_url(re.compile(r"/accounts/pending/$"))

    staff = django_user_model.objects.create_superuser(username="staff", password=PASSWORD)
    admin_context = signed_in_context(browser, live_server, staff)
    try:
        admin = admin_context.new_page()
        admin.goto("/admin/accounts/account/")
        admin.get_by_role("link", name="Awaiting approval").click()
        row = admin.get_by_role("row").filter(has_text="newcomer")
        expect(row).to_contain_text("Awaiting approval")
        expect(admin.get_by_role("row").filter(has_text="staff")).to_have_count(0)
        row.get_by_role("checkbox").check()
        admin.locator("select[name=action]").select_option(label="Approve the selected accounts")
        admin.get_by_role("button", name="Go").click()
        expect(admin.get_by_text("Approved 1 account: they can use the chat now.")).to_be_visible()
        screenshot(admin, "accounts-admin-approved-1280")
    finally:
        admin_context.close()
    assert Account.objects.get(user__username="newcomer").approved_by == staff

    page.get_by_role("link", name="Try again").click()
    expect(page).to_have_url(re.compile(r"/chat$"))
    expect(page.get_by_text("Welcome! How can I help you today?")).to_be_visible()


@pytest.fixture
def smtp(settings) -> Iterator[SMTPServer]:
    """A real SMTP server on loopback, and the chat's mail settings pointing at it (as ``EMAIL_URL`` would)."""
    with SMTPServer() as server:
        for name, value in settings_for(server.url).items():
            setattr(settings, name, value)
        yield server


def test_a_password_reset_mail_through_a_real_smtp_server_sets_a_new_password_once(page, smtp, owner) -> None:
    owner.email = "owner@example.com"
    owner.save(update_fields=["email"])

    page.goto("/accounts/login/")
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page).to_have_url(re.compile(r"/accounts/password/reset/$"))
    a11y.assert_no_violations(page, "the password reset page")
    page.get_by_label("Email").fill("owner@example.com")
    page.get_by_role("button", name="Send the link").click()
    expect(page.get_by_role("heading", name="Check your e-mail")).to_be_visible()

    (mail,) = smtp.wait_for(1)
    assert mail["To"] == "owner@example.com"
    assert mail["From"] == settings.DEFAULT_FROM_EMAIL
    assert mail["Subject"].startswith("[Chat] ")
    link = RESET_LINK.search(body_of(mail)).group(0)

    page.goto(link)
    expect(page.get_by_role("heading", name="Set a new password")).to_be_visible()
    page.get_by_label("New Password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New Password (again)").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_role("heading", name="Password changed")).to_be_visible()

    page.get_by_role("link", name="Sign in").last.click()
    page.get_by_label("Username or email").fill("owner@example.com")
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/chat$"))

    page.goto(link)
    expect(page.get_by_role("heading", name="This link no longer works")).to_be_visible()
    screenshot(page, "accounts-reset-link-used-1280")
    owner.refresh_from_db()
    assert owner.check_password(NEW_PASSWORD) and not owner.check_password(PASSWORD)
