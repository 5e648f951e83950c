"""Cross-site scripting at the API and admin level: markup is stored as text and escaped.

Payloads go in through the API (messages and titles), come back unchanged as JSON
text, and appear HTML-escaped on every admin page that shows them. (The chat page
and a real browser are checked with the page itself.)
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from conversations.models import Conversation, Message
from conversations.tests.conftest import PASSWORD, response_json

pytestmark = pytest.mark.django_db

PAYLOADS = [
    "<script>alert('xss')</script>",
    '<img src=x onerror="alert(1)">',
    '<a href="javascript:alert(1)">click me</a>',
    "<svg/onload=alert(1)>",
    '"><iframe srcdoc="<script>alert(1)</script>">',
    "[link](javascript:alert(1)) <b onmouseover=alert(1)>bold</b>",
]
# Fragments that may only ever appear escaped in the admin's HTML.
DANGEROUS = ["<script>alert(", "<img src=x", '<a href="javascript:', "<svg/onload", "<iframe", "<b onmouseover"]


@pytest.fixture
def hostile_conversation(api: APIClient, owner_id: str) -> Conversation:
    """A conversation whose title and messages are all XSS payloads, made through the API."""
    conversation_id = None
    for payload in PAYLOADS:
        body: dict[str, Any] = {"message": payload}
        if conversation_id:
            body["conversation_id"] = conversation_id
        response = api.post(f"/api/{owner_id}/chat", data=json.dumps(body), content_type="application/json")
        assert response.status_code == 200
        conversation_id = response.json()["conversation_id"]
    title = PAYLOADS[1]
    response = api.patch(
        f"/api/{owner_id}/conversations/{conversation_id}",
        data=json.dumps({"title": title}),
        content_type="application/json",
    )
    assert response.status_code == 200
    return Conversation.objects.get(pk=conversation_id)


@pytest.fixture
def admin_client(django_user_model: Any) -> Client:
    django_user_model.objects.create_superuser(username="root", password=PASSWORD)
    client = Client()
    assert client.login(username="root", password=PASSWORD)
    return client


def test_the_api_returns_markup_as_plain_json_text(
    api: APIClient, owner_id: str, hostile_conversation: Conversation
) -> None:
    response = api.get(f"/api/{owner_id}/conversations/{hostile_conversation.id}")
    assert response["Content-Type"] == "application/json"
    assert response["X-Content-Type-Options"] == "nosniff"
    body = response_json(response)
    assert body["title"] == PAYLOADS[1]
    user_texts = [m["content"] for m in body["messages"] if m["role"] == "user"]
    assert user_texts == PAYLOADS


def admin_pages(conversation: Conversation) -> list[str]:
    first_message = Message.objects.filter(conversation=conversation).order_by("created_at").first()
    assert first_message is not None
    return [
        "/admin/conversations/conversation/",
        f"/admin/conversations/conversation/?q={conversation.user_id}",
        f"/admin/conversations/conversation/{conversation.id}/change/",
        f"/admin/conversations/message/?conversation__id__exact={conversation.id}",
        f"/admin/conversations/message/{first_message.id}/change/",
    ]


def test_the_admin_shows_markup_escaped_on_every_page(admin_client: Client, hostile_conversation: Conversation) -> None:
    for path in admin_pages(hostile_conversation):
        response = admin_client.get(path)
        assert response.status_code == 200, path
        html = response.content.decode()
        for fragment in DANGEROUS:
            assert fragment not in html, (path, fragment)
        assert "&lt;" in html, path  # the payloads are there, as text


def test_the_admin_conversation_page_shows_each_message_escaped(
    admin_client: Client, hostile_conversation: Conversation
) -> None:
    html = admin_client.get(f"/admin/conversations/conversation/{hostile_conversation.id}/change/").content.decode()
    assert "&lt;script&gt;alert(&#x27;xss&#x27;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    assert "&lt;a href=&quot;javascript:alert(1)&quot;&gt;click me&lt;/a&gt;" in html


def test_the_admin_search_box_echoes_a_hostile_query_escaped(admin_client: Client) -> None:
    html = admin_client.get("/admin/conversations/conversation/", {"q": "<script>alert(1)</script>"}).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
