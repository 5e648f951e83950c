"""Who gets in, continued: CSRF for session callers, and per-user rate limits on sending.

A browser's session cookie travels with cross-site requests, so unsafe API calls
authenticated by the session need the CSRF token; a Bearer token cannot be sent by
another site's form, so JWT calls need none. Sending is limited per user with DRF's
``ScopedRateThrottle`` (scope ``chat``, ``CHAT_RATE_LIMIT``): the request over the
limit gets 429, ``Retry-After`` and the contract body, and stores nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from conversations.models import Conversation, Message
from conversations.tests.conftest import PASSWORD, bearer_client
from conversations.tests.factories import make_conversation

pytestmark = pytest.mark.django_db


def post_json(client: APIClient, path: str, body: Any, **extra: Any) -> Any:
    return client.post(path, data=json.dumps(body), content_type="application/json", **extra)


# --- CSRF -----------------------------------------------------------------------------


@pytest.fixture
def session_api(owner: Any) -> APIClient:
    """The owner signed in with a session, on a client that enforces CSRF like a browser."""
    client = APIClient(enforce_csrf_checks=True)
    assert client.login(username="owner", password=PASSWORD)
    return client


def csrf_token(client: APIClient) -> str:
    """Fetch the chat page (its forms carry the token) so Django sets the ``csrftoken`` cookie, and return it.

    Not the login page: signed in, allauth's login page redirects to the chat (issue 16).
    """
    client.get("/chat")
    return client.cookies["csrftoken"].value


def test_it_lets_a_session_read_without_a_csrf_token(session_api: APIClient, owner_id: str) -> None:
    assert session_api.get(f"/api/{owner_id}/conversations").status_code == 200


def test_it_refuses_unsafe_session_requests_without_a_csrf_token(session_api: APIClient, owner_id: str) -> None:
    conversation = make_conversation(owner_id, title="keep me", messages=2)
    path = f"/api/{owner_id}/conversations/{conversation.id}"
    attempts = [
        post_json(session_api, f"/api/{owner_id}/chat", {"message": "hi"}),
        session_api.patch(path, data=json.dumps({"title": "renamed"}), content_type="application/json"),
        session_api.delete(path),
        # A token that is not the cookie's is no better than none.
        post_json(session_api, f"/api/{owner_id}/chat", {"message": "hi"}, HTTP_X_CSRFTOKEN="x" * 32),
    ]
    for response in attempts:
        assert response.status_code == 403
        body = response.json()
        assert set(body) == {"error", "detail"} and body["error"] == "Forbidden"
        assert "reload" in body["detail"].lower()
    conversation.refresh_from_db()
    assert conversation.title == "keep me"
    assert Message.objects.filter(conversation=conversation).count() == 2
    assert Conversation.objects.filter(user_id=owner_id).count() == 1


def test_it_accepts_unsafe_session_requests_with_the_csrf_token(session_api: APIClient, owner_id: str) -> None:
    token = csrf_token(session_api)
    response = post_json(session_api, f"/api/{owner_id}/chat", {"message": "hi"}, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200
    conversation_id = response.json()["conversation_id"]
    response = session_api.patch(
        f"/api/{owner_id}/conversations/{conversation_id}",
        data=json.dumps({"title": "renamed"}),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert response.status_code == 200


def test_it_needs_no_csrf_token_for_jwt_requests(owner_id: str) -> None:
    client = bearer_client(owner_id)
    client.handler.enforce_csrf_checks = True
    response = post_json(client, f"/api/{owner_id}/chat", {"message": "hi"})
    assert response.status_code == 200
    conversation_id = response.json()["conversation_id"]
    assert client.delete(f"/api/{owner_id}/conversations/{conversation_id}").status_code == 204


# --- Rate limits --------------------------------------------------------------------------


@pytest.fixture
def chat_limit() -> Iterator[int]:
    """Turn the ``chat`` limit on at 3 per minute (the suite runs with limits off).

    ``ScopedRateThrottle.THROTTLE_RATES`` is read from DRF's settings once, at import,
    so the class attribute itself is replaced for the test.
    """
    limit = 3
    original = ScopedRateThrottle.THROTTLE_RATES
    ScopedRateThrottle.THROTTLE_RATES = {**original, "chat": f"{limit}/minute", "auth": "2/minute"}
    cache.clear()
    try:
        yield limit
    finally:
        ScopedRateThrottle.THROTTLE_RATES = original
        cache.clear()


def test_it_answers_429_with_retry_after_once_a_user_sends_too_fast(
    chat_limit: int, api: APIClient, owner_id: str
) -> None:
    for i in range(chat_limit):
        assert post_json(api, f"/api/{owner_id}/chat", {"message": f"message {i}"}).status_code == 200
    stored = Message.objects.filter(user_id=owner_id).count()

    response = post_json(api, f"/api/{owner_id}/chat", {"message": "one too many"})

    assert response.status_code == 429
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 60
    assert response.json() == {
        "error": "Too many requests",
        "detail": f"You are sending requests too quickly. Please wait {retry_after} seconds and try again.",
    }
    assert Message.objects.filter(user_id=owner_id).count() == stored  # nothing half-saved


def test_it_limits_each_user_separately(
    chat_limit: int, api: APIClient, other_api: APIClient, owner_id: str, other_id: str
) -> None:
    for i in range(chat_limit):
        assert post_json(api, f"/api/{owner_id}/chat", {"message": f"message {i}"}).status_code == 200
    assert post_json(api, f"/api/{owner_id}/chat", {"message": "over"}).status_code == 429
    assert post_json(other_api, f"/api/{other_id}/chat", {"message": "my first"}).status_code == 200


def test_it_does_not_limit_reading(chat_limit: int, api: APIClient, owner_id: str) -> None:
    for i in range(chat_limit):
        post_json(api, f"/api/{owner_id}/chat", {"message": f"message {i}"})
    assert post_json(api, f"/api/{owner_id}/chat", {"message": "over"}).status_code == 429
    for _ in range(chat_limit * 3):
        assert api.get(f"/api/{owner_id}/conversations").status_code == 200


def test_it_limits_token_requests_per_address(chat_limit: int, anon_api: APIClient, owner: Any) -> None:
    for _ in range(2):
        response = post_json(anon_api, "/api/auth/token", {"username": "owner", "password": "wrong"})
        assert response.status_code == 401
    response = post_json(anon_api, "/api/auth/token", {"username": "owner", "password": PASSWORD})
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert response.json()["error"] == "Too many requests"
