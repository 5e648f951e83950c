"""Sign-up in each ``SIGNUP_MODE``, sign-in by username and by e-mail, the login page's links (issue 16)."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.management import call_command
from django.test import Client

from accounts.models import Account
from conversations.tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a long new passphrase 42"


def signup(client: Client, username: str = "newcomer", email: str = "", password: str = NEW_PASSWORD, **extra: str):
    data = {"username": username, "email": email, "password1": password, "password2": password, **extra}
    return client.post("/accounts/signup/", data)


# --- The login page --------------------------------------------------------------------------


def test_the_login_page_links_to_password_reset_and_not_to_a_closed_sign_up(client: Client) -> None:
    body = client.get("/accounts/login/").content.decode()
    assert 'href="/accounts/password/reset/"' in body
    assert "/accounts/signup/" not in body


@pytest.mark.parametrize("mode", ["open", "approval"])
def test_the_login_page_links_to_sign_up_when_it_is_allowed(client: Client, signup_mode, mode: str) -> None:
    signup_mode(mode)
    body = client.get("/accounts/login/?next=/chat").content.decode()
    assert 'href="/accounts/signup/?next=%2Fchat"' in body
    assert 'href="/accounts/password/reset/"' in body
    assert ("an administrator approves new accounts" in body) is (mode == "approval")


def test_it_signs_in_by_username(client: Client, owner) -> None:
    response = client.post("/accounts/login/", {"login": "owner", "password": PASSWORD})
    assert (response.status_code, response["Location"]) == (302, "/chat")
    assert client.get("/chat").status_code == 200


def test_it_signs_in_by_the_e_mail_address_of_a_user_made_in_the_admin(client: Client, django_user_model) -> None:
    django_user_model.objects.create_user(username="maria", email="maria@Example.com", password=PASSWORD)
    response = client.post("/accounts/login/", {"login": "maria@example.com", "password": PASSWORD, "next": "/chat"})
    assert (response.status_code, response["Location"]) == (302, "/chat")


def test_a_wrong_password_is_said_above_the_form_and_the_login_is_kept(client: Client, owner) -> None:
    response = client.post("/accounts/login/", {"login": "owner", "password": "wrong"})
    assert response.status_code == 200
    body = response.content.decode()
    assert 'role="alert"' in body and "username and/or password you specified are not correct" in body
    assert 'value="owner"' in body
    assert client.get("/chat").status_code == 302


def test_an_empty_field_is_said_next_to_it(client: Client) -> None:
    body = client.post("/accounts/login/", {"login": "", "password": ""}).content.decode()
    assert '<p id="id_login_error" class="field-error">This field is required.</p>' in body
    assert 'aria-describedby="id_login_error"' in body and 'aria-invalid="true"' in body


def test_the_page_and_the_token_endpoint_keep_one_identity(client: Client, owner) -> None:
    """FR-012: the JWT subject of a person signed in on the page is their Django user id."""
    client.post("/accounts/login/", {"login": "owner", "password": PASSWORD})
    assert client.session["_auth_user_id"] == str(owner.pk)
    token = client.post(
        "/api/auth/token", {"username": "owner", "password": PASSWORD}, content_type="application/json"
    ).json()
    assert token["user_id"] == str(owner.pk)


def test_a_signed_in_person_is_sent_on_from_the_login_page(client: Client, owner) -> None:
    client.force_login(owner)
    assert client.get("/accounts/login/")["Location"] == "/chat"


def test_sign_out_is_a_post_that_lands_on_the_login_page(client: Client, owner) -> None:
    client.force_login(owner)
    response = client.post("/accounts/logout/")
    assert (response.status_code, response["Location"]) == (302, "/accounts/login/")
    assert "You have signed out." in client.get("/accounts/login/").content.decode()


# --- Sign-up closed (the default) ------------------------------------------------------------


def test_closed_sign_up_is_a_friendly_404_and_makes_no_account(client: Client) -> None:
    page = client.get("/accounts/signup/")
    assert page.status_code == 404
    assert "Sign-up is closed" in page.content.decode()
    assert signup(client).status_code == 404
    assert not get_user_model().objects.filter(username="newcomer").exists()


# --- Sign-up open ----------------------------------------------------------------------------


def test_open_sign_up_lands_on_the_chat(client: Client, signup_mode) -> None:
    signup_mode("open")
    response = signup(client, email="New@Example.com")
    assert (response.status_code, response["Location"]) == (302, "/chat")
    user = get_user_model().objects.get(username="newcomer")
    assert user.account.is_approved and user.email == "new@example.com"
    assert client.get("/chat").status_code == 200
    # The address given gets a confirmation mail; the chat does not wait for it.
    assert [m.to for m in mail.outbox] == [["new@example.com"]]


def test_sign_up_needs_no_e_mail_address(client: Client, signup_mode) -> None:
    signup_mode("open")
    assert signup(client)["Location"] == "/chat"
    assert mail.outbox == []


@pytest.mark.parametrize(
    ("password", "error"),
    [
        ("short", "This password is too short. It must contain at least 8 characters."),
        ("password123", "This password is too common."),
        ("1234567890123", "This password is entirely numeric."),
    ],
)
def test_the_password_validators_speak_next_to_the_password(
    client: Client, signup_mode, password: str, error: str
) -> None:
    signup_mode("open")
    response = signup(client, password=password)
    assert response.status_code == 200
    body = response.content.decode()
    assert '<p id="id_password1_error" class="field-error">' in body and error in body
    assert 'aria-describedby="id_password1_helptext id_password1_error"' in body
    assert not get_user_model().objects.filter(username="newcomer").exists()


def test_a_taken_username_and_mismatched_passwords_are_said_next_to_their_fields(
    client: Client, signup_mode, owner
) -> None:
    signup_mode("open")
    body = signup(client, username="owner", password2="something else entirely").content.decode()
    assert '<p id="id_username_error" class="field-error">A user with that username already exists.</p>' in body
    assert '<p id="id_password2_error" class="field-error">You must type the same password each time.</p>' in body


def test_the_sign_up_page_is_labelled_and_links_back_to_sign_in(client: Client, signup_mode) -> None:
    signup_mode("open")
    body = client.get("/accounts/signup/").content.decode()
    for field, label in [
        ("username", "Username"),
        ("email", "Email (optional)"),
        ("password1", "Password"),
        ("password2", "Password (again)"),
    ]:
        assert f'<label for="id_{field}">{label}</label>' in body
    assert 'href="/accounts/login/"' in body
    assert "awaits approval" not in body


# --- Who is approved from the start ----------------------------------------------------------


def test_users_made_by_an_administrator_or_a_command_are_approved(django_user_model, signup_mode) -> None:
    signup_mode("approval")
    made = django_user_model.objects.create_user(username="made-in-admin", password=PASSWORD)
    call_command("ensure_demo_user", stdout=io.StringIO())
    call_command("createsuperuser", username="root", email="root@example.com", interactive=False, verbosity=0)
    for username in (made.username, "demo", "root"):
        assert Account.objects.get(user__username=username).is_approved, username
