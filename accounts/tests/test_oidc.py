"""Single sign-on with OpenID Connect without a browser (issue 16): the settings read from ``OIDC_*``, the
button, the callback refusing a state it never issued, which accounts a verified address may enter.

The whole round trip against a real provider is ``test_oidc_browser.py``.
"""

from __future__ import annotations

import logging

import pytest
from allauth.account.models import EmailAddress
from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.models import SocialAccount, SocialLogin
from django.contrib.auth import get_user_model
from django.test import Client, RequestFactory

from accounts import services
from accounts.tests.oidc_provider import providers_from_environment, read_settings
from conversations.tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

ISSUER = "https://id.example.test/realms/chat"
OIDC_ENV = {
    "OIDC_SERVER_URL": ISSUER + "/",
    "OIDC_CLIENT_ID": "chat",
    "OIDC_CLIENT_SECRET": "s3cret",
    "OIDC_PROVIDER_ID": "keycloak",
    "OIDC_PROVIDER_NAME": "Keycloak",
    "OIDC_BUTTON_LABEL": "Sign in with Example Corp",
}
CALLBACK = "/accounts/oidc/keycloak/login/callback/"


@pytest.fixture(scope="module")
def configured() -> dict:
    return providers_from_environment(**OIDC_ENV)


@pytest.fixture
def sso(settings, configured: dict) -> None:
    """The chat configured for a provider (never called: these tests stop before the chat talks to it)."""
    settings.SOCIALACCOUNT_PROVIDERS = configured


# --- Settings, read from the environment at start-up ------------------------------------------------


def test_the_oidc_variables_configure_one_provider(configured: dict) -> None:
    assert configured == {
        "openid_connect": {
            "APPS": [
                {
                    "provider_id": "keycloak",
                    "name": "Keycloak",
                    "client_id": "chat",
                    "secret": "s3cret",
                    "settings": {
                        "server_url": ISSUER,
                        "button_label": "Sign in with Example Corp",
                        "oauth_pkce_enabled": True,
                        "email_authentication": True,
                    },
                }
            ]
        }
    }


def test_without_a_server_url_there_is_no_provider_and_a_half_configured_one_stops_the_start() -> None:
    assert providers_from_environment(OIDC_SERVER_URL="", OIDC_CLIENT_ID="chat") == {"openid_connect": {"APPS": []}}
    chosen = providers_from_environment(
        **OIDC_ENV, OIDC_EMAIL_AUTHENTICATION="0", OIDC_TOKEN_AUTH_METHOD="client_secret_basic"
    )
    app_settings = chosen["openid_connect"]["APPS"][0]["settings"]
    assert (app_settings["email_authentication"], app_settings["token_auth_method"]) == (False, "client_secret_basic")
    for env, error in [
        ({"OIDC_CLIENT_SECRET": ""}, "OIDC_SERVER_URL needs OIDC_CLIENT_ID and OIDC_CLIENT_SECRET"),
        ({"OIDC_PROVIDER_ID": "Key cloak/"}, "OIDC_PROVIDER_ID must be"),
        ({"OIDC_SERVER_URL": "id.example.test"}, "OIDC_SERVER_URL must be the provider's https:// issuer URL"),
    ]:
        result = read_settings(**{**OIDC_ENV, **env})
        assert result.returncode != 0 and f"ImproperlyConfigured: {error}" in result.stderr, result.stderr


# --- The button ---------------------------------------------------------------------------------------


def test_without_a_provider_the_login_page_has_no_button(client: Client) -> None:
    page = client.get("/accounts/login/").content.decode()
    assert "single sign-on" not in page and "/accounts/oidc/" not in page


def test_the_login_and_sign_up_pages_post_to_the_provider_with_the_label_set(client: Client, sso, settings) -> None:
    settings.SIGNUP_MODE = "open"
    for path in ("/accounts/login/?next=/chat", "/accounts/signup/"):
        page = client.get(path).content.decode()
        assert 'method="post" action="/accounts/oidc/keycloak/login/?process=login' in page, path
        assert ">Sign in with Example Corp</button>" in page, path
    assert "next=%2Fchat" in client.get("/accounts/login/?next=/chat").content.decode()


def test_the_button_says_single_sign_on_in_the_pages_language_without_a_label(client: Client, settings) -> None:
    settings.SOCIALACCOUNT_PROVIDERS = providers_from_environment(**{**OIDC_ENV, "OIDC_BUTTON_LABEL": ""})
    page = client.get("/accounts/login/").content.decode()
    assert ">Sign in with single sign-on</button>" in page
    page = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert ">Se connecter par authentification unique</button>" in page


def test_a_get_of_the_login_url_asks_first_instead_of_leaving_for_the_provider(client: Client, sso) -> None:
    """Only a POST (CSRF-checked) starts a sign-in: a link on another site cannot start one."""
    response = client.get("/accounts/oidc/keycloak/login/")
    assert response.status_code == 200
    assert b"Continue" in response.content


# --- The callback -------------------------------------------------------------------------------------


def test_a_callback_with_a_state_the_chat_never_issued_is_refused(client: Client, sso, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="accounts.adapters"):
        response = client.get(CALLBACK, {"code": "a-code", "state": "not-a-state-of-this-session"})
    assert b"Single sign-on failed" in response.content
    assert "_auth_user_id" not in client.session
    assert not get_user_model().objects.exists()
    assert "single sign-on with keycloak failed" in caplog.text
    assert client.get("/chat").status_code == 302


# --- A first sign-in by a verified address --------------------------------------------------------------


def _sociallogin(email: str, *, verified: bool) -> SocialLogin:
    """What allauth makes of the provider's answer for a first sign-in with this address."""
    provider = get_adapter().get_provider(RequestFactory().get("/"), "keycloak")
    account = SocialAccount(provider="keycloak", uid="f2a1c7", extra_data={})
    addresses = [EmailAddress(email=email, verified=verified, primary=True)]
    return SocialLogin(user=get_user_model()(), account=account, email_addresses=addresses, provider=provider)


def test_a_verified_address_enters_the_account_an_administrator_made_and_counts_as_confirmed(sso) -> None:
    made = get_user_model().objects.create_user(username="ada", email="Ada@Example.test", password=PASSWORD)
    assert get_adapter().authenticate_by_email(_sociallogin("ada@example.test", verified=True)) == (
        made,
        "ada@example.test",
    )
    assert EmailAddress.objects.get(user=made).verified  # so allauth keeps the account's password


def test_an_address_the_provider_did_not_verify_enters_nothing(sso) -> None:
    get_user_model().objects.create_user(username="ada", email="ada@example.test")
    assert get_adapter().authenticate_by_email(_sociallogin("ada@example.test", verified=False)) is None


def test_an_address_entered_by_email_only_while_oidc_email_authentication_is_on(settings, configured: dict) -> None:
    off = providers_from_environment(**OIDC_ENV, OIDC_EMAIL_AUTHENTICATION="0")
    settings.SOCIALACCOUNT_PROVIDERS = off
    get_user_model().objects.create_user(username="ada", email="ada@example.test")
    assert get_adapter().authenticate_by_email(_sociallogin("ada@example.test", verified=True)) is None


def test_only_an_address_that_is_trustworthy_here_qualifies() -> None:
    user_model = get_user_model()
    confirmed = user_model.objects.create_user(username="confirmed")
    EmailAddress.objects.create(user=confirmed, email="c@example.test", verified=True, primary=True)
    by_admin = user_model.objects.create_user(username="by-admin", email="a@example.test")
    typed = user_model.objects.create_user(username="typed", email="t@example.test")
    EmailAddress.objects.create(user=typed, email="t@example.test", verified=False, primary=True)
    user_model.objects.create_user(username="twin-1", email="twin@example.test")
    user_model.objects.create_user(username="twin-2", email="twin@example.test")

    assert services.sso_user_for_verified_email(email="C@example.test") == confirmed
    assert services.sso_user_for_verified_email(email="a@example.test") == by_admin
    # Someone typed it at sign-up and never confirmed it: maybe a trap set for its owner.
    assert services.sso_user_for_verified_email(email="t@example.test") is None
    assert services.sso_user_for_verified_email(email="twin@example.test") is None  # which one? neither
    assert services.sso_user_for_verified_email(email="nobody@example.test") is None
