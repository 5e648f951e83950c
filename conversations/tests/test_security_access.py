"""Who gets in: every API operation and the admin refuse anonymous callers and other users.

Another user's conversation id is indistinguishable from a missing or malformed one
on every operation: same status, same body, and nothing changes (FR-011, FR-013,
SC-006; contract: Errors 401/403/404).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from rest_framework.test import APIClient

from conversations.models import Conversation, Message
from conversations.tests.conftest import PASSWORD
from conversations.tests.factories import make_conversation

pytestmark = pytest.mark.django_db

UNAUTHORIZED = {"error": "Unauthorized", "detail": "Invalid or expired JWT token"}
FORBIDDEN = {"error": "Forbidden", "detail": "User ID in path does not match authenticated user"}
NOT_FOUND = {"error": "Not found", "detail": "Conversation not found"}


def operations(user_id: str, conversation_id: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    """Every operation under ``/api/{user_id}/``: ``(method, path, json body)``."""
    conversation = f"/api/{user_id}/conversations/{conversation_id}"
    return [
        ("post", f"/api/{user_id}/chat", {"message": "hello", "conversation_id": conversation_id}),
        ("get", f"/api/{user_id}/conversations", None),
        ("get", conversation, None),
        ("patch", conversation, {"title": "taken over"}),
        ("get", f"{conversation}/messages", None),
        ("delete", conversation, None),
    ]


def send(client: Any, method: str, path: str, body: dict[str, Any] | None) -> Any:
    if body is None:
        return getattr(client, method)(path)
    return getattr(client, method)(path, data=json.dumps(body), content_type="application/json")


def snapshot(conversation: Conversation) -> tuple[Any, ...]:
    """What another user must never change: the row and its messages."""
    conversation.refresh_from_db()
    messages = list(Message.objects.filter(conversation=conversation).values_list("id", "content", "status"))
    return conversation.title, conversation.updated_at, messages


@pytest.fixture
def owners_conversation(owner_id: str) -> Conversation:
    return make_conversation(owner_id, title="Owner's secret plans", messages=4)


def test_it_refuses_every_operation_without_a_token(
    anon_api: APIClient, owner_id: str, owners_conversation: Conversation
) -> None:
    before = snapshot(owners_conversation)
    for method, path, body in operations(owner_id, str(owners_conversation.id)):
        response = send(anon_api, method, path, body)
        assert response.status_code == 401, (method, path)
        assert response.json() == UNAUTHORIZED, (method, path)
        assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert snapshot(owners_conversation) == before


def test_it_forbids_every_operation_on_another_users_path(
    other_api: APIClient, owner_id: str, owners_conversation: Conversation
) -> None:
    before = snapshot(owners_conversation)
    for method, path, body in operations(owner_id, str(owners_conversation.id)):
        response = send(other_api, method, path, body)
        assert response.status_code == 403, (method, path)
        assert response.json() == FORBIDDEN, (method, path)
    assert snapshot(owners_conversation) == before


def test_it_answers_another_users_conversation_exactly_like_a_missing_one(
    other_api: APIClient, other_id: str, owners_conversation: Conversation
) -> None:
    before = snapshot(owners_conversation)
    conversation_count = Conversation.objects.count()
    for candidate in (
        str(owners_conversation.id),
        str(uuid.uuid4()),
        "not-a-uuid",
        str(owners_conversation.id).upper(),
    ):
        for method, path, body in operations(other_id, candidate):
            if path.endswith("/conversations"):
                continue  # the list takes no id
            response = send(other_api, method, path, body)
            assert (response.status_code, response.json()) == (404, NOT_FOUND), (candidate, method, path)
    assert snapshot(owners_conversation) == before
    assert Conversation.objects.count() == conversation_count  # no conversation was created for the other user


def test_it_lists_only_the_callers_own_conversations(
    other_api: APIClient, other_id: str, owners_conversation: Conversation
) -> None:
    mine = make_conversation(other_id, title="mine")
    body = other_api.get(f"/api/{other_id}/conversations").json()
    assert [c["id"] for c in body["conversations"]] == [str(mine.id)]
    assert body["total"] == 1


def test_it_gives_a_superusers_session_no_way_into_another_users_api(
    django_user_model: Any, owner_id: str, owners_conversation: Conversation
) -> None:
    """Being staff in the admin does not open anyone's API paths (FR-011)."""
    django_user_model.objects.create_superuser(username="root", password=PASSWORD)
    client = APIClient()
    assert client.login(username="root", password=PASSWORD)
    before = snapshot(owners_conversation)
    for method, path, body in operations(owner_id, str(owners_conversation.id)):
        response = send(client, method, path, body)
        assert response.status_code == 403, (method, path)
        assert response.json() == FORBIDDEN, (method, path)
    assert snapshot(owners_conversation) == before


# --- The admin ------------------------------------------------------------------------------

ADMIN_PAGES = [
    "/admin/",
    "/admin/conversations/conversation/",
    "/admin/conversations/conversation/{id}/change/",
    "/admin/conversations/message/",
    "/admin/conversations/message/?conversation__id__exact={id}",
]


def signed_in(username: str) -> Client:
    client = Client()
    assert client.login(username=username, password=PASSWORD)
    return client


@pytest.mark.parametrize("who", ["anonymous", "owner"])
def test_it_sends_non_staff_to_the_admin_login_for_existing_and_missing_ids_alike(
    who: str, owner: Any, owners_conversation: Conversation
) -> None:
    client = Client() if who == "anonymous" else signed_in("owner")
    for page in ADMIN_PAGES:
        for conversation_id in (owners_conversation.id, uuid.uuid4()):
            path = page.format(id=conversation_id)
            response = client.get(path)
            assert response.status_code == 302, path
            assert response["Location"].startswith("/admin/login/?next="), path
            assert "Owner&#x27;s secret plans" not in response.content.decode()


def test_it_forbids_staff_without_view_permission(django_user_model: Any, owners_conversation: Conversation) -> None:
    django_user_model.objects.create_user(username="clerk", password=PASSWORD, is_staff=True)
    client = signed_in("clerk")
    for page in ADMIN_PAGES[1:]:
        path = page.format(id=owners_conversation.id)
        assert client.get(path).status_code == 403, path


@pytest.fixture
def viewer(django_user_model: Any) -> Client:
    """A staff member who may view conversations and messages (the admin is read-only)."""
    user = django_user_model.objects.create_user(username="viewer", password=PASSWORD, is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_conversation", "view_message"], content_type__app_label="conversations"
        )
    )
    return signed_in("viewer")


def test_staff_see_the_conversation_changelist(
    viewer: Client, owners_conversation: Conversation, other_id: str
) -> None:
    make_conversation(other_id, title="Someone else's chat", messages=2)
    page = viewer.get("/admin/conversations/conversation/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Owner&#x27;s secret plans" in html and "Someone else&#x27;s chat" in html


def test_staff_search_conversations_by_title_user_and_message_text(
    viewer: Client, owners_conversation: Conversation, other_id: str
) -> None:
    other = make_conversation(other_id, title="Holiday", messages=0)
    Message.objects.create(conversation=other, user_id=other_id, role="user", content="flamingo sighting")
    for query, expected, absent in (
        ("secret", "Owner&#x27;s secret plans", "Holiday"),
        ("flamingo", "Holiday", "Owner&#x27;s secret plans"),
        (other_id, "Holiday", None),  # a numeric id also matches "message 2" etc.: only presence is checked
    ):
        html = viewer.get("/admin/conversations/conversation/", {"q": query}).content.decode()
        assert expected in html, query
        assert absent is None or absent not in html, query


def test_staff_see_a_conversation_with_its_newest_messages_in_order(
    viewer: Client, owners_conversation: Conversation
) -> None:
    page = viewer.get(f"/admin/conversations/conversation/{owners_conversation.id}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    positions = [html.index(f"message {i}<") for i in range(4)]
    assert positions == sorted(positions)
    assert f"?conversation__id__exact={owners_conversation.id}" in html


def test_staff_filter_the_message_list_by_conversation(
    viewer: Client, owners_conversation: Conversation, other_id: str
) -> None:
    other = make_conversation(other_id, title="x", messages=0)
    Message.objects.create(conversation=other, user_id=other_id, role="user", content="not in the filter")
    page = viewer.get("/admin/conversations/message/", {"conversation__id__exact": str(owners_conversation.id)})
    assert page.status_code == 200
    html = page.content.decode()
    assert all(f"message {i}" in html for i in range(4))
    assert "not in the filter" not in html


def test_staff_cannot_change_or_add_through_the_admin(viewer: Client, owners_conversation: Conversation) -> None:
    """The admin is read-only: the chat's own doors are the only writers."""
    assert viewer.get("/admin/conversations/conversation/add/").status_code == 403
    before = snapshot(owners_conversation)
    response = viewer.post(
        f"/admin/conversations/conversation/{owners_conversation.id}/change/", {"title": "changed by staff"}
    )
    assert response.status_code == 403
    assert snapshot(owners_conversation) == before
