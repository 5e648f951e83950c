"""Bearer calls to /api/ take the lean middleware chain and behave exactly as before (issue 6; FR-012, FR-014).

``chatsite.asgi.application`` sends ``/api/`` requests with ``Authorization: Bearer``
to ``chatsite.handlers.APIHandler`` (``settings.API_MIDDLEWARE``: no session, CSRF,
auth or messages middleware, no thread hops) and everything else to the full stack.
These tests go through the real ASGI application.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import HttpCommunicator
from django.db import connection, connections
from django.http import HttpRequest, HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.middleware.security import SecurityMiddleware
from django.test import AsyncRequestFactory, Client
from django.utils.module_loading import import_string

from chatsite.asgi import application
from chatsite.handlers import APIHandler, BearerAPIRouter, is_bearer_api_call
from chatsite.middleware import InlineSecurityMiddleware
from conversations.auth import issue_token
from conversations.tests.factories import make_conversation

# The ASGI app reaches the database from its own threads: the rows must be committed.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
async def _close_the_orm_threads_connection() -> AsyncIterator[None]:
    yield
    # Sync views ran in asgiref's shared thread; close its connection so the test database can be dropped.
    await sync_to_async(connections.close_all)()


def _headers(response: dict[str, Any]) -> dict[str, str]:
    return {name.decode().lower(): value.decode() for name, value in response["headers"]}


async def _call(
    method: str, path: str, *, token: str | None = None, body: Any = None, extra: list | None = None, app: Any = None
) -> dict[str, Any]:
    headers = [(b"host", b"testserver"), *(extra or [])]
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    raw = b""
    if body is not None:
        raw = json.dumps(body).encode()
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    communicator = HttpCommunicator(app or application, method, path, body=raw, headers=headers)
    response = await communicator.get_response(timeout=20)
    await communicator.wait(timeout=20)  # the app finishes: response closed, connection released
    return response


def _committed_conversation(owner_id: str):
    try:
        return make_conversation(owner_id, title="Lean", messages=3)
    finally:
        connection.close()


def _session_cookie(user) -> str:
    try:
        client = Client()
        client.force_login(user)
        return client.cookies["sessionid"].value
    finally:
        connection.close()


# --- which requests take the lean path -------------------------------------------------


@pytest.mark.parametrize(
    ("path", "headers", "lean"),
    [
        ("/api/u/chat", [(b"authorization", b"Bearer abc")], True),
        ("/api/u/chat", [(b"authorization", b"bearer abc")], True),
        ("/api/u/chat", [], False),
        ("/api/u/chat", [(b"authorization", b"Basic abc")], False),
        ("/api/u/chat", [(b"cookie", b"sessionid=x")], False),
        ("/chat", [(b"authorization", b"Bearer abc")], False),
        ("/admin/", [(b"authorization", b"Bearer abc")], False),
    ],
)
def test_it_takes_the_lean_path_only_for_bearer_calls_under_api(path: str, headers: list, lean: bool) -> None:
    assert is_bearer_api_call({"type": "http", "path": path, "headers": headers}) is lean


async def test_the_router_sends_each_request_to_its_handler() -> None:
    seen: list[str] = []

    def app(name: str):
        async def handle(scope, receive, send) -> None:
            seen.append(name)

        return handle

    router = BearerAPIRouter(default=app("full"), api=app("lean"))
    await router({"type": "http", "path": "/api/u/chat", "headers": [(b"authorization", b"Bearer t")]}, None, None)
    await router({"type": "http", "path": "/api/u/chat", "headers": []}, None, None)
    assert seen == ["lean", "full"]


def test_the_api_chain_is_djangos_own_security_middleware() -> None:
    from django.conf import settings

    classes = [import_string(path) for path in settings.API_MIDDLEWARE]
    assert issubclass(classes[0], SecurityMiddleware)
    assert any(issubclass(c, XFrameOptionsMiddleware) for c in classes)
    assert any(issubclass(c, CommonMiddleware) for c in classes)
    handler = APIHandler()
    assert handler._middleware_chain is not None
    # The full stack is untouched (check --deploy reads settings.MIDDLEWARE).
    assert "django.contrib.sessions.middleware.SessionMiddleware" in settings.MIDDLEWARE


async def test_the_inline_middleware_runs_on_the_event_loop_thread() -> None:
    loop_thread = threading.get_ident()
    threads: list[int] = []

    class Probe(InlineSecurityMiddleware):
        def process_request(self, request: HttpRequest):  # type: ignore[override]
            threads.append(threading.get_ident())
            return super().process_request(request)

    async def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse("ok")

    response = await Probe(view)(AsyncRequestFactory().get("/api/u/chat"))
    assert threads == [loop_thread]
    assert response["X-Content-Type-Options"] == "nosniff"


# --- the lean path answers as the full one did ------------------------------------------


async def test_a_chat_over_the_lean_path_has_the_security_headers(owner_id: str) -> None:
    token, _ = issue_token(user_id=owner_id)
    response = await _call("POST", f"/api/{owner_id}/chat", token=token, body={"message": "Hello"})
    assert response["status"] == 200
    assert json.loads(response["body"])["status"] == "complete"
    headers = _headers(response)
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["x-frame-options"] == "DENY"
    assert headers["content-length"] == str(len(response["body"]))
    assert "set-cookie" not in headers


async def test_a_bad_token_is_a_401_with_the_contract_body(owner_id: str) -> None:
    response = await _call("GET", f"/api/{owner_id}/conversations", token="not-a-token")
    assert response["status"] == 401
    assert json.loads(response["body"]) == {"error": "Unauthorized", "detail": "Invalid or expired JWT token"}
    assert _headers(response)["www-authenticate"].startswith("Bearer")


async def test_another_users_path_is_a_403_with_the_contract_body(owner_id: str, other_id: str) -> None:
    token, _ = issue_token(user_id=owner_id)
    response = await _call("GET", f"/api/{other_id}/conversations", token=token)
    assert response["status"] == 403
    assert set(json.loads(response["body"])) == {"error", "detail"}


async def test_an_unknown_conversation_and_an_unknown_url_are_404s_with_the_contract_body(owner_id: str) -> None:
    token, _ = issue_token(user_id=owner_id)
    missing = await _call("GET", f"/api/{owner_id}/conversations/00000000-0000-0000-0000-000000000000", token=token)
    unknown = await _call("GET", "/api/no/such/thing/here", token=token)
    for response in (missing, unknown):
        assert response["status"] == 404
        assert set(json.loads(response["body"])) == {"error", "detail"}


async def test_pages_and_the_schema_answer_over_the_lean_path(owner_id: str) -> None:
    conversation = await sync_to_async(_committed_conversation)(owner_id)
    token, _ = issue_token(user_id=owner_id)
    page = await _call("GET", f"/api/{owner_id}/conversations/{conversation.pk}/messages?limit=2", token=token)
    assert page["status"] == 200
    assert [m["content"] for m in json.loads(page["body"])["messages"]] == ["message 1", "message 2"]
    schema = await _call("GET", "/api/schema/", token=token)
    assert schema["status"] == 200


async def test_https_is_enforced_on_the_lean_path_when_turned_on(settings, owner_id: str) -> None:
    # What DJANGO_HTTPS=1 sets (chatsite/settings.py); the middleware reads them when built.
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    app = BearerAPIRouter(default=application, api=APIHandler())
    token, _ = issue_token(user_id=owner_id)
    plain = await _call("GET", f"/api/{owner_id}/conversations", token=token, app=app)
    assert plain["status"] == 301
    assert _headers(plain)["location"] == f"https://testserver/api/{owner_id}/conversations"
    secure = await _call(
        "GET", f"/api/{owner_id}/conversations", token=token, app=app, extra=[(b"x-forwarded-proto", b"https")]
    )
    assert secure["status"] == 200
    assert _headers(secure)["strict-transport-security"] == "max-age=31536000; includeSubDomains"


# --- browser requests keep the full stack -----------------------------------------------


async def test_the_browsable_api_still_works_with_a_session(owner) -> None:
    cookie = await sync_to_async(_session_cookie)(owner)
    response = await _call(
        "GET",
        f"/api/{owner.pk}/conversations",
        extra=[(b"cookie", f"sessionid={cookie}".encode()), (b"accept", b"text/html")],
    )
    assert response["status"] == 200
    assert _headers(response)["content-type"].startswith("text/html")
    assert b"&quot;total&quot;: 0" in response["body"]  # the JSON, rendered in the page
    assert _headers(response)["x-frame-options"] == "DENY"


async def test_a_session_api_post_without_its_csrf_token_is_still_refused(owner) -> None:
    cookie = await sync_to_async(_session_cookie)(owner)
    response = await _call(
        "POST",
        f"/api/{owner.pk}/chat",
        body={"message": "Hello"},
        extra=[(b"cookie", f"sessionid={cookie}".encode())],
    )
    assert response["status"] == 403
    assert set(json.loads(response["body"])) == {"error", "detail"}
