"""Fixed personas for every test: an owner, another user, an anonymous client.

The owner and the other user are Django users, so the same people can sign in to
the page (session) and call the API (JWT whose ``sub`` is their pk).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from conversations.assistant import reset_assistant
from conversations.auth import issue_token, reset_jwks_cache
from conversations.tests.fake_openai import FakeOpenAI

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:
    # PBKDF2's deliberate slowness buys nothing in tests.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _plain_static_files(settings) -> None:
    # Production's manifest storage needs collectstatic; tests serve from the finders.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _fresh_backends() -> Iterator[None]:
    reset_assistant()
    reset_jwks_cache()
    yield
    reset_assistant()
    reset_jwks_cache()


@pytest.fixture(autouse=True)
def _static_files_without_manifest(settings) -> None:
    # Production serves hashed names from collectstatic's manifest (whitenoise); the
    # suite renders pages without running collectstatic first.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def owner(django_user_model):
    return django_user_model.objects.create_user(username="owner", password=PASSWORD)


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user(username="other", password=PASSWORD)


@pytest.fixture
def owner_id(owner) -> str:
    return str(owner.pk)


@pytest.fixture
def other_id(other_user) -> str:
    return str(other_user.pk)


def bearer_client(user_id: str) -> APIClient:
    """An API client sending a valid HS256 token whose subject is ``user_id``."""
    client = APIClient()
    token, _ = issue_token(user_id=user_id)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def api(owner_id: str) -> APIClient:
    """The owner, calling the API with a token."""
    return bearer_client(owner_id)


@pytest.fixture
def other_api(other_id: str) -> APIClient:
    """Another user, calling the API with their own token."""
    return bearer_client(other_id)


@pytest.fixture
def anon_api() -> APIClient:
    return APIClient()


def response_json(response: Any) -> Any:
    """A JSON response's body, whether streamed (the conversation detail: issue 6) or not."""
    if getattr(response, "streaming", False):
        return json.loads(b"".join(response.streaming_content))
    return response.json()


CHROMIUM = "/usr/bin/chromium"  # Debian's package; Playwright's own browser download cannot run here
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


# Module scope: Playwright's sync API keeps an event loop running in this thread
# while it is open, which would break asyncio in the test modules after a browser one.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium driven by Playwright, for the tests marked ``browser``."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # The tests' ORM calls are ordinary sync calls made beside Playwright's loop, so
    # Django's async guard is lifted while a browser module runs, and only then.
    with pytest.MonkeyPatch.context() as env, sync_playwright() as playwright:
        env.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def on_postgres() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://... (the CI does)")


@pytest.fixture(scope="session")
def _fake_openai_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def fake_openai(_fake_openai_server: FakeOpenAI) -> Iterator[FakeOpenAI]:
    """A real OpenAI-protocol server on loopback (one per session), healthy and empty at each test's start."""
    _fake_openai_server.reset()
    yield _fake_openai_server
    _fake_openai_server.reset()
