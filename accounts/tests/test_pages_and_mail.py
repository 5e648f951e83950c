"""allauth's other pages in the chat's frame, password reset mail by the test outbox and a failing server, EMAIL_URL (issue 16)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from django.core import mail
from django.test import Client

from conversations.tests.conftest import PASSWORD
from conversations.tests.test_security_settings import PROJECT, production_env

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a long new passphrase 42"
FRAME = 'class="card account-card"'


@pytest.mark.parametrize(
    "path",
    [
        "/accounts/logout/",
        "/accounts/password/change/",
        "/accounts/email/",
        "/accounts/reauthenticate/",
        "/accounts/confirm-email/not-a-key/",
        "/accounts/inactive/",
    ],
)
def test_allauths_other_pages_are_in_the_chats_frame(client: Client, owner, path: str) -> None:
    client.force_login(owner)
    response = client.get(path)
    assert response.status_code == 200, path
    body = response.content.decode()
    assert FRAME in body and 'href="/static/css/app.css"' in body
    assert re.search(r"<title>\s*\S[^<]* · Chat</title>", body), "titled"


def test_a_password_reset_link_works_once(client: Client, owner) -> None:
    owner.email = "owner@example.com"
    owner.save(update_fields=["email"])
    response = client.post("/accounts/password/reset/", {"email": "OWNER@example.com"})
    assert response["Location"] == "/accounts/password/reset/done/"
    (message,) = mail.outbox
    link = re.search(r"http://testserver(/accounts/password/reset/key/\S+/)", message.body).group(1)

    form_page = client.get(link, follow=True)
    assert "Set a new password" in form_page.content.decode()
    set_url = form_page.redirect_chain[-1][0]
    done = client.post(set_url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert done["Location"] == "/accounts/password/reset/key/done/"
    owner.refresh_from_db()
    assert owner.check_password(NEW_PASSWORD)

    again = client.get(link, follow=True).content.decode()
    assert "This link no longer works" in again


def test_an_unknown_address_gets_the_same_answer(client: Client) -> None:
    """No account enumeration: the page says the same; the mail says no account has that address."""
    response = client.post("/accounts/password/reset/", {"email": "nobody@example.com"})
    assert response["Location"] == "/accounts/password/reset/done/"
    assert [m.to for m in mail.outbox] == [["nobody@example.com"]]


def test_a_mail_server_that_cannot_be_reached_is_a_503_page_not_a_500(client: Client, owner, settings) -> None:
    owner.email = "owner@example.com"
    owner.save(update_fields=["email"])
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2  # discard: refused
    response = client.post("/accounts/password/reset/", {"email": "owner@example.com"})
    assert response.status_code == 503
    assert "The mail server cannot be reached right now." in response.content.decode()


def test_a_sign_up_stands_when_its_confirmation_mail_cannot_be_sent(client: Client, settings) -> None:
    settings.SIGNUP_MODE = "open"
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    response = client.post(
        "/accounts/signup/",
        {"username": "newcomer", "email": "new@example.com", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response["Location"] == "/chat"
    assert client.get("/chat").status_code == 200


def test_the_login_page_still_takes_the_old_credentials_of_the_admin(client: Client, django_user_model) -> None:
    django_user_model.objects.create_superuser(username="staff", password=PASSWORD)
    response = client.post("/admin/login/?next=/admin/", {"username": "staff", "password": PASSWORD})
    assert response["Location"] == "/admin/"


# --- EMAIL_URL, read at start-up ---------------------------------------------------------------


def _mail_settings(**env: str) -> subprocess.CompletedProcess[str]:
    code = (
        "from django.conf import settings as s; "
        "print(s.EMAIL_BACKEND, s.EMAIL_HOST, s.EMAIL_PORT, s.EMAIL_HOST_USER, s.EMAIL_HOST_PASSWORD, "
        "s.EMAIL_USE_TLS, s.EMAIL_USE_SSL, s.EMAIL_TIMEOUT, s.DEFAULT_FROM_EMAIL, s.SIGNUP_MODE)"
    )
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
        cwd=PROJECT,
        env=production_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_email_url_configures_the_smtp_server_and_a_bad_one_stops_the_start() -> None:
    result = _mail_settings(
        EMAIL_URL="smtp://chat%40example.com:s3cr%2Ft@mail.example.com:587/?tls=True",
        DEFAULT_FROM_EMAIL="Chat <chat@example.com>",
        SIGNUP_MODE="approval",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.core.mail.backends.smtp.EmailBackend",
        "mail.example.com",
        "587",
        "chat@example.com",
        "s3cr/t",
        "True",
        "False",
        "10",
        "Chat",
        "<chat@example.com>",
        "approval",
    ]
    bad = _mail_settings(EMAIL_URL="gopher://mail.example.com")
    assert bad.returncode != 0
    assert "ImproperlyConfigured: EMAIL_URL must start with smtp://" in bad.stderr
