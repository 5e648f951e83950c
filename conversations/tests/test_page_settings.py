"""The settings page's forms, server side (issue 16, "Settings"): change password, the defaults of
new conversations, delete my account.

Each is a plain form post: a refusal answers the page with 400 (503 when the model server cannot be
asked) and the reason next to the field; a success redirects back (PRG) with a sentence, or for a
deleted account to the login page, which says so.
"""

from __future__ import annotations

import re

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.shortcuts import resolve_url
from django.test import Client

from conversations import account_services, settings_views
from conversations.models import Conversation, Message, Preference
from conversations.tests.conftest import PASSWORD
from conversations.tests.factories import make_conversation
from conversations.tests.fake_openai import FakeOpenAI
from conversations.tests.test_models_and_titles import chat_requests, model_server, system_of  # noqa: F401
from tasks import services as task_services

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a much longer passphrase 2"


@pytest.fixture(autouse=True)
def _no_remembered_models() -> None:
    cache.clear()


@pytest.fixture
def page(client: Client, owner) -> Client:
    """The owner, signed in to the page."""
    client.force_login(owner)
    return client


def login_url() -> str:
    return resolve_url(django_settings.LOGIN_URL)


def field_error(body: str, error_id: str) -> str:
    """The text of the error paragraph ``error_id``, which the field names in ``aria-describedby``."""
    found = re.search(rf'<p id="{error_id}" class="field-error">(.*?)</p>', body, re.DOTALL)
    assert found, f"no #{error_id} in the page"
    return found.group(1)


def test_the_page_has_the_three_sections(page: Client) -> None:
    body = page.get("/chat/settings").content.decode()
    for heading in ("Password", "New conversations", "Export", "Import", "Delete my account"):
        assert f">{heading}</h2>" in body
    assert 'name="old_password" autocomplete="current-password"' in body
    assert "Your password must contain at least 8 characters." in body  # AUTH_PASSWORD_VALIDATORS' help
    assert '<option value="offline" selected>Offline assistant</option>' in body
    assert "To confirm, type your username: <strong>owner</strong>" in body
    assert "aria-invalid" not in body


@pytest.mark.parametrize(
    "path", ["/chat/settings/password", "/chat/settings/defaults", "/chat/settings/delete-account"]
)
def test_the_forms_need_a_session_and_a_post(page: Client, path: str) -> None:
    anonymous = Client().post(path, {})
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(login_url())
    assert page.get(path).status_code == 405


# --- Change password -------------------------------------------------------------------


def test_it_changes_the_password_and_stays_signed_in(page: Client, owner) -> None:
    elsewhere = Client()
    elsewhere.force_login(owner)

    response = page.post(
        "/chat/settings/password",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 302 and response["Location"] == "/chat/settings#password-title"
    owner.refresh_from_db()
    assert owner.check_password(NEW_PASSWORD)
    shown = page.get("/chat/settings").content.decode()  # still signed in here
    assert f'<p id="password-changed" class="notice" role="status">{settings_views.PASSWORD_CHANGED}</p>' in shown
    assert page.get("/chat/settings").content.decode().count(settings_views.PASSWORD_CHANGED) == 0  # said once
    assert elsewhere.get("/chat/settings").status_code == 302  # the other session ended
    assert Client().login(username="owner", password=NEW_PASSWORD)


def test_an_account_made_by_single_sign_on_sets_a_password_without_a_current_one(page: Client, owner) -> None:
    """Issue 16: an account made by OIDC has no password; Settings lets it set one (Django's SetPasswordForm)."""
    owner.set_unusable_password()
    owner.save()
    page.force_login(owner)
    shown = page.get("/chat/settings").content.decode()
    assert 'name="old_password"' not in shown and "single sign-on" in shown

    response = page.post("/chat/settings/password", {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    assert response.status_code == 302
    owner.refresh_from_db()
    assert owner.check_password(NEW_PASSWORD)
    assert 'name="old_password"' in page.get("/chat/settings").content.decode()  # from now on it asks for it


@pytest.mark.parametrize(
    ("posted", "error_id", "error"),
    [
        (
            {"old_password": "wrong", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
            "password-current-error",
            "Your old password was entered incorrectly. Please enter it again.",
        ),
        (
            {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD + "x"},
            "password-again-error",
            "The two password fields didn’t match.",
        ),
        (
            {"old_password": PASSWORD, "new_password1": "short", "new_password2": "short"},
            "password-again-error",
            "This password is too short. It must contain at least 8 characters.",
        ),
        (
            {"old_password": PASSWORD, "new_password1": "password", "new_password2": "password"},
            "password-again-error",
            "This password is too common.",
        ),
        (
            {"old_password": PASSWORD, "new_password1": "", "new_password2": ""},
            "password-new-error",
            "This field is required.",
        ),
    ],
)
def test_a_refused_password_says_why_next_to_the_field(
    page: Client, owner, posted: dict[str, str], error_id: str, error: str
) -> None:
    response = page.post("/chat/settings/password", posted)

    assert response.status_code == 400
    body = response.content.decode()
    assert error in field_error(body, error_id)
    assert f'aria-invalid="true" aria-describedby="{error_id}"' in body or f' {error_id}"' in body
    assert 'value="' + NEW_PASSWORD not in body  # passwords are never sent back
    owner.refresh_from_db()
    assert owner.check_password(PASSWORD)


# --- Defaults of new conversations ---------------------------------------------------------


def test_it_saves_the_defaults_and_new_conversations_take_them(page: Client, owner_id: str) -> None:
    response = page.post("/chat/settings/defaults", {"model": "offline", "instructions": "  Answer in French.  "})

    assert response.status_code == 302 and response["Location"] == "/chat/settings#defaults-title"
    preference = Preference.objects.get(user_id=owner_id)
    assert (preference.model, preference.instructions) == ("", "Answer in French.")  # offline: "the default"
    shown = page.get("/chat/settings").content.decode()
    assert settings_views.DEFAULTS_SAVED in shown
    assert ">Answer in French.</textarea>" in shown

    page.post("/chat/send", {"text": "Bonjour"})
    assert Conversation.objects.get(user_id=owner_id).instructions == "Answer in French."


def test_the_models_are_the_servers(page: Client, owner_id: str, model_server: FakeOpenAI) -> None:  # noqa: F811
    body = page.get("/chat/settings").content.decode()
    options = re.findall(r'<option value="([^"]+)"( selected)?>', body)
    assert options == [("fake-model", " selected"), ("fake-large", ""), ("fake-small", ""), ("fake-vision", "")]

    response = page.post("/chat/settings/defaults", {"model": "fake-large", "instructions": "Be terse."})
    assert response.status_code == 302
    assert '<option value="fake-large" selected>' in page.get("/chat/settings").content.decode()

    page.post("/chat/send", {"text": "Hello"})
    conversation = Conversation.objects.get(user_id=owner_id)
    assert (conversation.model, conversation.instructions) == ("fake-large", "Be terse.")
    sent = chat_requests(model_server)[-1]
    assert sent["model"] == "fake-large"
    assert system_of(sent).endswith("\n\nBe terse.")


def test_an_unknown_model_is_refused_next_to_the_select(page: Client, owner_id: str) -> None:
    response = page.post("/chat/settings/defaults", {"model": "gpt-9", "instructions": "Kept?"})

    assert response.status_code == 400
    body = response.content.decode()
    assert "Unknown model “gpt-9”" in field_error(body, "default-model-error")
    assert 'id="default-model" name="model" aria-invalid="true" aria-describedby="default-model-error"' in body
    assert ">Kept?</textarea>" in body  # what was typed stays
    assert not Preference.objects.filter(user_id=owner_id).exists()


def test_instructions_over_4000_characters_are_refused(page: Client, owner_id: str) -> None:
    response = page.post("/chat/settings/defaults", {"model": "offline", "instructions": "x" * 4001})

    assert response.status_code == 400
    error = field_error(response.content.decode(), "default-instructions-error")
    assert error == "Instructions are too long: 4001 characters, the limit is 4000"
    assert not Preference.objects.filter(user_id=owner_id).exists()


def test_a_model_server_that_cannot_be_asked_is_a_503(page: Client, owner_id: str, model_server: FakeOpenAI) -> None:  # noqa: F811
    model_server.models_mode = "error500"

    response = page.post("/chat/settings/defaults", {"model": "fake-large", "instructions": ""})

    assert response.status_code == 503
    assert "could not be reached to list its models" in response.content.decode()
    assert not Preference.objects.filter(user_id=owner_id).exists()
    shown = page.get("/chat/settings")
    assert shown.status_code == 200 and "could not be reached to list its models" in shown.content.decode()


# --- Delete my account -------------------------------------------------------------------


def test_a_wrong_username_deletes_nothing(page: Client, owner, owner_id: str) -> None:
    make_conversation(owner_id, messages=2)

    response = page.post("/chat/settings/delete-account", {"username": "someone"})

    assert response.status_code == 400
    body = response.content.decode()
    assert field_error(body, "delete-username-error") == account_services.CONFIRM_WRONG
    assert 'aria-invalid="true" aria-describedby="delete-username-error"' in body
    assert get_user_model().objects.filter(pk=owner.pk).exists()
    assert Message.objects.filter(user_id=owner_id).count() == 2
    assert page.get("/chat/settings").status_code == 200  # still signed in


def test_it_deletes_the_account_signs_out_and_the_login_page_says_so(
    page: Client, owner, owner_id: str, other_id: str
) -> None:
    make_conversation(owner_id, messages=2)
    task_services.task_create(user_id=owner_id, title="Mine")
    make_conversation(other_id, messages=3)

    response = page.post("/chat/settings/delete-account", {"username": "owner"})

    assert response.status_code == 302 and response["Location"] == login_url()
    login = page.get(response["Location"])
    assert login.status_code == 200 and settings_views.ACCOUNT_DELETED in login.content.decode()
    assert not get_user_model().objects.filter(username="owner").exists()
    assert not Conversation.objects.filter(user_id=owner_id).exists()
    assert not task_services.task_list(user_id=owner_id)
    assert Message.objects.filter(user_id=other_id).count() == 3
    assert page.get("/chat").status_code == 302  # signed out
    assert not Client().login(username="owner", password=PASSWORD)


def test_the_last_superuser_is_told_why_not(client: Client, django_user_model) -> None:
    admin = django_user_model.objects.create_superuser(username="admin", password=PASSWORD)
    client.force_login(admin)

    response = client.post("/chat/settings/delete-account", {"username": "admin"})

    assert response.status_code == 400
    body = response.content.decode()
    assert f'<div id="delete-error" class="alert" role="alert"><p>{account_services.LAST_SUPERUSER}</p></div>' in body
    assert "You are a superuser" in body
    assert django_user_model.objects.filter(pk=admin.pk).exists()
