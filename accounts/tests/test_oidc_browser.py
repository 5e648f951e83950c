"""Single sign-on with OpenID Connect in a real browser, against a real provider on loopback (issue 16).

The provider is panva's oidc-provider run by Node.js (``oidc_provider.py``, ``tools/oidc/``), with a
client registered for the live server's redirect URI; the chat is configured for it through the
``OIDC_*`` variables, as in production. Chromium goes through the whole round trip: the login
page's button, the provider's sign-in and consent pages, the callback, the chat. Screenshots in
``test-artifacts/``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import pytest
from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount
from django.urls import reverse

from accounts.models import Account
from accounts.tests.oidc_provider import OIDCProvider, providers_from_environment
from conversations.tests import test_a11y_browser as a11y
from conversations.tests import test_page_browser as page_tests
from conversations.tests.conftest import PASSWORD

context = page_tests.context
page = page_tests.page
screenshot = page_tests.screenshot

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PROVIDER_ID = "test-sso"
CLIENT_ID = "chat-tests"
CLIENT_SECRET = secrets.token_urlsafe(24)
BUTTON = "Sign in with single sign-on"
# The provider's people, by login name (their subject, sub).
ADA = {
    "email": "ada@example.test",
    "email_verified": True,
    "preferred_username": "ada",
    "name": "Ada Lovelace",
    "given_name": "Ada",
    "family_name": "Lovelace",
}
CALLBACK = re.compile(r"/accounts/oidc/[^/]+/login/callback/")


@pytest.fixture(scope="module")
def oidc_provider(live_server) -> Iterator[OIDCProvider]:
    """The provider, with the chat registered as a client for the live server's redirect URI."""
    redirect_uri = live_server.url + reverse("openid_connect_callback", kwargs={"provider_id": PROVIDER_ID})
    client = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_post",
    }
    with OIDCProvider(clients=[client], accounts={"ada": ADA}) as provider:
        yield provider


@pytest.fixture(scope="module")
def sso_providers(oidc_provider: OIDCProvider) -> dict:
    return providers_from_environment(
        OIDC_SERVER_URL=oidc_provider.issuer,
        OIDC_CLIENT_ID=CLIENT_ID,
        OIDC_CLIENT_SECRET=CLIENT_SECRET,
        OIDC_PROVIDER_ID=PROVIDER_ID,
        OIDC_PROVIDER_NAME="Test provider",
    )


@pytest.fixture
def sso(settings, sso_providers: dict, oidc_provider: OIDCProvider) -> OIDCProvider:
    """The chat configured for the provider, as ``OIDC_SERVER_URL`` and its friends configure it."""
    settings.SOCIALACCOUNT_PROVIDERS = sso_providers
    return oidc_provider


def sign_in_at_the_provider(page, provider: OIDCProvider, login: str, *, consent: bool = True) -> None:
    """From the chat's login page: the button, then the provider's sign-in and (unless told) consent pages."""
    page.goto("/accounts/login/?next=/chat")
    page.get_by_role("button", name=BUTTON).click()
    expect(page).to_have_url(re.compile("^" + re.escape(provider.issuer) + "/interaction/"))
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("any password: the provider's development sign-in")
    page.get_by_role("button", name="Sign-in").click()
    expect(page.get_by_role("button", name="Continue")).to_be_visible()  # consent: openid, profile, email
    if consent:
        page.get_by_role("button", name="Continue").click()


def test_open_a_first_sign_in_makes_the_account_and_the_next_one_reuses_it(
    page, sso, signup_mode, django_user_model
) -> None:
    signup_mode("open")
    page.goto("/accounts/login/")
    expect(page.get_by_role("button", name=BUTTON)).to_be_visible()
    screenshot(page, "accounts-login-sso-1280")
    a11y.assert_no_violations(page, "the login page with single sign-on")

    sign_in_at_the_provider(page, sso, "ada")
    expect(page).to_have_url(re.compile(r"/chat$"))
    expect(page.get_by_text("Welcome! How can I help you today?")).to_be_visible()
    expect(page.locator(".topbar__user")).to_have_text("ada")

    user = django_user_model.objects.get()
    assert (user.username, user.email, user.first_name, user.last_name) == ("ada", ADA["email"], "Ada", "Lovelace")
    assert not user.has_usable_password()
    link = SocialAccount.objects.get(user=user)
    assert (link.provider, link.uid) == (PROVIDER_ID, "ada")
    assert EmailAddress.objects.get(user=user).verified  # the provider said so (email_verified)
    assert Account.objects.get(user=user).is_approved
    # One identity on every door: the API's user id (a JWT's subject) is the Django user id.
    assert page.request.get(f"/api/{user.pk}/conversations").status == 200

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    # Still signed in at the provider, with the consent given: straight back, into the same account.
    page.get_by_role("button", name=BUTTON).click()
    expect(page).to_have_url(re.compile(r"/chat$"))
    expect(page.locator(".topbar__user")).to_have_text("ada")
    assert list(django_user_model.objects.values_list("pk", flat=True)) == [user.pk]
    assert SocialAccount.objects.count() == 1


def test_approval_a_first_sign_in_makes_an_account_that_waits(page, sso, signup_mode, django_user_model) -> None:
    signup_mode("approval")
    sign_in_at_the_provider(page, sso, "ada")
    expect(page).to_have_url(re.compile(r"/accounts/pending/$"))
    expect(page.get_by_role("heading", name="Your account awaits approval")).to_be_visible()
    user = django_user_model.objects.get(username="ada")
    assert not Account.objects.get(user=user).is_approved  # AccountAdapter.new_user marked it
    page.goto("/chat")
    expect(page).to_have_url(re.compile(r"/accounts/pending/$"))


def test_closed_a_first_sign_in_without_an_account_is_refused_with_a_page_saying_so(
    page, sso, django_user_model
) -> None:
    with page.expect_response(CALLBACK) as callback:
        sign_in_at_the_provider(page, sso, "ada")
    assert callback.value.status == 403
    expect(page.get_by_role("heading", name="No account for you yet")).to_be_visible()
    expect(page.get_by_text("with the e-mail address ada@example.test")).to_be_visible()
    screenshot(page, "accounts-sso-closed-1280")
    a11y.assert_no_violations(page, "single sign-on refused: sign-up closed")
    assert not django_user_model.objects.exists()
    assert not SocialAccount.objects.exists()
    page.goto("/chat")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/chat$"))


def test_closed_it_signs_in_to_the_account_an_administrator_made_with_the_verified_address(
    page, sso, django_user_model
) -> None:
    made = django_user_model.objects.create_user(username="alovelace", email="Ada@Example.test", password=PASSWORD)
    sign_in_at_the_provider(page, sso, "ada")
    expect(page).to_have_url(re.compile(r"/chat$"))
    expect(page.locator(".topbar__user")).to_have_text("alovelace")
    assert list(django_user_model.objects.values_list("pk", flat=True)) == [made.pk]
    assert SocialAccount.objects.get(user=made).uid == "ada"  # linked: the next sign-in goes by the subject
    made.refresh_from_db()
    assert made.check_password(PASSWORD)  # an address an administrator set is no trap: the password stays


def _with_state(url: str, state: str) -> str:
    parts = urlsplit(url)
    query = [(key, state if key == "state" else value) for key, value in parse_qsl(parts.query)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def consent_without_following_the_redirect(page) -> str:
    """Give consent outside the browser's navigation and follow the provider's redirects up to the chat's
    callback URL (with its code and state), without visiting it: what someone holding that URL has."""
    url = page.locator("form", has=page.locator("input[name=prompt][value=consent]")).get_attribute("action")
    response = page.request.post(url, form={"prompt": "consent"}, max_redirects=0)
    for _ in range(5):
        url = urljoin(url, response.headers["location"])
        if CALLBACK.search(url):
            return url
        response = page.request.get(url, max_redirects=0)
    raise AssertionError(f"the provider never sent the browser back to the chat's callback (last: {url})")


def test_a_callback_whose_state_was_tampered_with_is_refused(page, sso, signup_mode, django_user_model) -> None:
    signup_mode("open")
    sign_in_at_the_provider(page, sso, "ada", consent=False)
    callback = consent_without_following_the_redirect(page)
    assert "code=" in callback and "state=" in callback

    page.goto(_with_state(callback, "forged-" + secrets.token_urlsafe(12)))
    expect(page.get_by_role("heading", name="Single sign-on failed")).to_be_visible()
    screenshot(page, "accounts-sso-failed-1280")
    assert not django_user_model.objects.exists()
    page.goto("/chat")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/chat$"))

    # The same callback with its own state goes through: only the state was wrong.
    page.goto(callback)
    expect(page).to_have_url(re.compile(r"/chat$"))
    assert django_user_model.objects.get().username == "ada"
