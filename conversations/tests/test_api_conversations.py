"""List, detail, rename, delete and message pages (contract: HTTP API; FR-009, FR-011, SC-004, SC-006)."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from rest_framework.test import APIClient

from conversations.models import Conversation, Message
from conversations.tests.conftest import response_json
from conversations.tests.factories import make_conversation

pytestmark = pytest.mark.django_db

NOT_FOUND = {"error": "Not found", "detail": "Conversation not found"}


def patch(client: APIClient, url: str, body: object):
    return client.patch(url, data=json.dumps(body), content_type="application/json")


# --- List ------------------------------------------------------------------------


def test_the_list_shows_newest_activity_first_with_title_and_message_count(api: APIClient, owner_id: str) -> None:
    older = make_conversation(owner_id, title="Older", messages=3)
    newer = make_conversation(owner_id, title="Newer", messages=5)
    newer.updated_at = older.updated_at + dt.timedelta(hours=1)
    newer.save(update_fields=["updated_at"])
    empty = make_conversation(owner_id, title="Empty")
    empty.updated_at = older.updated_at - dt.timedelta(hours=1)
    empty.save(update_fields=["updated_at"])

    body = api.get(f"/api/{owner_id}/conversations").json()

    assert body["total"] == 3 and body["limit"] == 20 and body["offset"] == 0
    assert [(c["title"], c["message_count"]) for c in body["conversations"]] == [
        ("Newer", 5),
        ("Older", 3),
        ("Empty", 0),
    ]
    assert set(body["conversations"][0]) == {
        "id",
        "title",
        "created_at",
        "updated_at",
        "message_count",
        "pinned",
        "archived",
        "model",  # issue 14
        "instructions",
    }


def test_the_list_pages_with_limit_and_offset(api: APIClient, owner_id: str) -> None:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    ids = [str(make_conversation(owner_id, title=f"c{i}", start=start + dt.timedelta(minutes=i)).pk) for i in range(5)]
    newest_first = list(reversed(ids))
    page = api.get(f"/api/{owner_id}/conversations?limit=2&offset=2").json()
    assert [c["id"] for c in page["conversations"]] == newest_first[2:4]
    assert (page["total"], page["limit"], page["offset"]) == (5, 2, 2)
    past_end = api.get(f"/api/{owner_id}/conversations?limit=2&offset=10").json()
    assert past_end["conversations"] == [] and past_end["total"] == 5


def test_the_list_never_counts_another_users_conversations(api: APIClient, owner_id: str, other_id: str) -> None:
    make_conversation(owner_id, messages=1)
    make_conversation(other_id, messages=4)
    make_conversation(other_id)
    body = api.get(f"/api/{owner_id}/conversations").json()
    assert body["total"] == 1 and len(body["conversations"]) == 1


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("limit=0", "limit must be an integer between 1 and 100"),
        ("limit=101", "limit must be an integer between 1 and 100"),
        ("limit=abc", "limit must be an integer between 1 and 100"),
        ("offset=-1", "offset must be an integer of 0 or more"),
        ("offset=x", "offset must be an integer of 0 or more"),
        # An empty value is a value, not "use the default" (the CI fuzzer's ?offset=&limit=11).
        ("offset=&limit=11", "offset must be an integer of 0 or more"),
        ("limit=", "limit must be an integer between 1 and 100"),
    ],
)
def test_the_list_refuses_a_bad_limit_or_offset(api: APIClient, owner_id: str, query: str, detail: str) -> None:
    response = api.get(f"/api/{owner_id}/conversations?{query}")
    assert response.status_code == 400
    assert response.json() == {"error": "Validation error", "detail": detail}


def test_the_list_takes_a_fixed_number_of_queries(api: APIClient, owner_id: str, django_assert_num_queries) -> None:
    for _ in range(30):
        make_conversation(owner_id, messages=2)
    with django_assert_num_queries(2):  # count + one page with message counts
        response = api.get(f"/api/{owner_id}/conversations?limit=25")
    assert len(response.json()["conversations"]) == 25


# --- Detail -----------------------------------------------------------------------


def streamed_json(response) -> object:
    """The body of a streamed JSON response (the detail is streamed: issue 6)."""
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response.streaming
    return response_json(response)


def test_the_detail_returns_every_message_oldest_first(api: APIClient, owner_id: str) -> None:
    conversation = make_conversation(owner_id, title="T", messages=7)
    body = streamed_json(api.get(f"/api/{owner_id}/conversations/{conversation.pk}"))
    assert body["id"] == str(conversation.pk) and body["title"] == "T"
    assert [m["content"] for m in body["messages"]] == [f"message {i}" for i in range(7)]
    assert [m["role"] for m in body["messages"][:2]] == ["user", "assistant"]
    assert set(body["messages"][0]) == {
        "id",
        "role",
        "content",
        "status",
        "created_at",
        "tool_calls",
        "version",
        "version_count",
    }


def test_the_detail_takes_a_fixed_number_of_queries(api: APIClient, owner_id: str, django_assert_num_queries) -> None:
    conversation = make_conversation(owner_id, messages=300)
    # The conversation (with whether a reply is unfinished: none, so no stale check query), its messages.
    with django_assert_num_queries(2):
        body = streamed_json(api.get(f"/api/{owner_id}/conversations/{conversation.pk}"))
    assert len(body["messages"]) == 300


def test_an_unfinished_reply_costs_the_stale_check_its_query(
    api: APIClient, owner_id: str, django_assert_num_queries
) -> None:
    conversation = make_conversation(owner_id, messages=4)
    Message.objects.create(
        conversation=conversation, user_id=owner_id, role="assistant", content="", status="streaming"
    )
    # The conversation, its unfinished replies (a fresh one: not stale, left alone), its messages.
    with django_assert_num_queries(3):
        body = streamed_json(api.get(f"/api/{owner_id}/conversations/{conversation.pk}"))
    assert [m["status"] for m in body["messages"]][-1] == "streaming"


def test_the_detail_streams_long_conversations_in_chunks_with_nothing_lost(
    api: APIClient, owner_id: str, django_assert_num_queries, monkeypatch
) -> None:
    from conversations import selectors

    monkeypatch.setattr(selectors, "DETAIL_CHUNK_SIZE", 3)
    conversation = make_conversation(owner_id, messages=10)
    # Messages saved in the same instant must still come once each, in (created_at, id) order.
    same = conversation.messages.order_by("created_at", "id")[4].created_at
    Message.objects.filter(conversation=conversation, content__in=["message 5", "message 6"]).update(created_at=same)
    expected = list(
        Message.objects.filter(conversation=conversation).order_by("created_at", "id").values_list("content", flat=True)
    )
    with django_assert_num_queries(1 + 4):  # the conversation, 4 chunks of at most 3 messages
        body = streamed_json(api.get(f"/api/{owner_id}/conversations/{conversation.pk}"))
    assert [m["content"] for m in body["messages"]] == expected


def test_the_detail_of_an_empty_conversation_is_valid_json(api: APIClient, owner_id: str) -> None:
    conversation = make_conversation(owner_id, title="Empty", messages=0)
    body = streamed_json(api.get(f"/api/{owner_id}/conversations/{conversation.pk}"))
    assert body["title"] == "Empty" and body["messages"] == []


@pytest.mark.parametrize("method", ["get", "delete"])
def test_another_users_conversation_answers_like_a_missing_one(
    api: APIClient, owner_id: str, other_id: str, method: str
) -> None:
    theirs = make_conversation(other_id, messages=2)
    for conversation_id in (theirs.pk, uuid.uuid4(), "not-a-uuid"):
        response = getattr(api, method)(f"/api/{owner_id}/conversations/{conversation_id}")
        assert (response.status_code, response.json()) == (404, NOT_FOUND)
    assert Conversation.objects.filter(pk=theirs.pk).exists()
    assert theirs.messages.count() == 2


def test_another_users_conversation_cannot_be_renamed(api: APIClient, owner_id: str, other_id: str) -> None:
    theirs = make_conversation(other_id, title="Mine")
    response = patch(api, f"/api/{owner_id}/conversations/{theirs.pk}", {"title": "Taken"})
    assert (response.status_code, response.json()) == (404, NOT_FOUND)
    theirs.refresh_from_db()
    assert theirs.title == "Mine"


def test_another_users_messages_cannot_be_paged(api: APIClient, owner_id: str, other_id: str) -> None:
    theirs = make_conversation(other_id, messages=2)
    response = api.get(f"/api/{owner_id}/conversations/{theirs.pk}/messages")
    assert (response.status_code, response.json()) == (404, NOT_FOUND)


def test_a_path_for_another_user_is_forbidden_on_every_operation(api: APIClient, other_id: str) -> None:
    theirs = make_conversation(other_id, messages=2)
    base = f"/api/{other_id}/conversations"
    responses = [
        api.get(base),
        api.get(f"{base}/{theirs.pk}"),
        api.get(f"{base}/{theirs.pk}/messages"),
        patch(api, f"{base}/{theirs.pk}", {"title": "x"}),
        api.delete(f"{base}/{theirs.pk}"),
    ]
    for response in responses:
        assert response.status_code == 403
        assert response.json() == {"error": "Forbidden", "detail": "User ID in path does not match authenticated user"}
    assert Conversation.objects.filter(pk=theirs.pk).exists()


# --- Rename and delete ------------------------------------------------------------


def test_rename_changes_the_title_and_returns_the_summary(api: APIClient, owner_id: str) -> None:
    conversation = make_conversation(owner_id, title="Old", messages=2)
    response = patch(api, f"/api/{owner_id}/conversations/{conversation.pk}", {"title": "  New name  "})
    assert response.status_code == 200
    assert response.json()["title"] == "New name" and response.json()["message_count"] == 2
    conversation.refresh_from_db()
    assert conversation.title == "New name"


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"title": "  "}, "Title cannot be empty"),
        ({"title": ""}, "Title cannot be empty"),
        ({"title": "x" * 201}, "Title is too long: the limit is 200 characters"),
        # The limit counts the title as sent, as the schema's maxLength does (schemathesis).
        ({"title": " " + "x" * 200}, "Title is too long: the limit is 200 characters"),
        ({"title": None}, "Title cannot be empty"),
        ({"title": 5}, "Title must be a string"),
        ({"pinned": "yes"}, "pinned must be true or false"),
        ({"archived": 1}, "archived must be true or false"),
    ],
)
def test_rename_refuses_a_bad_title(api: APIClient, owner_id: str, body: object, detail: str) -> None:
    conversation = make_conversation(owner_id, title="Old")
    response = patch(api, f"/api/{owner_id}/conversations/{conversation.pk}", body)
    assert response.status_code == 400
    assert response.json() == {"error": "Validation error", "detail": detail}


def test_delete_removes_the_conversation_and_its_messages(api: APIClient, owner_id: str) -> None:
    conversation = make_conversation(owner_id, messages=4)
    response = api.delete(f"/api/{owner_id}/conversations/{conversation.pk}")
    assert response.status_code == 204
    assert not Conversation.objects.filter(pk=conversation.pk).exists()
    assert Message.objects.count() == 0
    again = api.get(f"/api/{owner_id}/conversations/{conversation.pk}")
    assert again.status_code == 404


# --- Message pages (cursor pagination) --------------------------------------------


def pages(api: APIClient, owner_id: str, conversation: Conversation, limit: int) -> list[list[str]]:
    """Walk every page, newest page first, following ``next_before``."""
    url = f"/api/{owner_id}/conversations/{conversation.pk}/messages?limit={limit}"
    result, before = [], None
    for _ in range(1000):
        body = api.get(url + (f"&before={before}" if before else "")).json()
        result.append([m["content"] for m in body["messages"]])
        before = body["next_before"]
        assert body["has_more"] is (before is not None)
        if before is None:
            return result
    raise AssertionError("pagination never ended")


def test_the_newest_page_comes_first_and_each_page_is_oldest_first(api: APIClient, owner_id: str) -> None:
    conversation = make_conversation(owner_id, messages=7)
    assert pages(api, owner_id, conversation, limit=3) == [
        ["message 4", "message 5", "message 6"],
        ["message 1", "message 2", "message 3"],
        ["message 0"],
    ]


def test_pages_cover_every_message_once_when_the_count_is_a_multiple_of_the_limit(
    api: APIClient, owner_id: str
) -> None:
    conversation = make_conversation(owner_id, messages=6)
    walked = pages(api, owner_id, conversation, limit=3)
    assert walked == [["message 3", "message 4", "message 5"], ["message 0", "message 1", "message 2"]]


def test_pages_keep_an_order_for_messages_saved_in_the_same_instant(api: APIClient, owner_id: str) -> None:
    conversation = make_conversation(owner_id)
    same = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    Message.objects.bulk_create(
        [
            Message(conversation=conversation, user_id=owner_id, role="user", content=f"m{i}", created_at=same)
            for i in range(9)
        ]
    )
    walked = [content for page in reversed(pages(api, owner_id, conversation, limit=2)) for content in page]
    assert sorted(walked) == [f"m{i}" for i in range(9)]
    assert len(set(walked)) == 9


def test_an_empty_conversation_has_one_empty_page(api: APIClient, owner_id: str) -> None:
    conversation = make_conversation(owner_id)
    body = api.get(f"/api/{owner_id}/conversations/{conversation.pk}/messages").json()
    assert body == {"messages": [], "next_before": None, "has_more": False}


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("limit=0", "limit must be an integer between 1 and 200"),
        ("limit=201", "limit must be an integer between 1 and 200"),
        ("limit=", "limit must be an integer between 1 and 200"),
        ("before=", "before must be the id of a message in this conversation"),
        ("before=nope", "before must be the id of a message in this conversation"),
        (f"before={uuid.uuid4()}", "before must be the id of a message in this conversation"),
    ],
)
def test_a_bad_cursor_or_limit_is_a_validation_error(api: APIClient, owner_id: str, query: str, detail: str) -> None:
    conversation = make_conversation(owner_id, messages=3)
    response = api.get(f"/api/{owner_id}/conversations/{conversation.pk}/messages?{query}")
    assert response.status_code == 400
    assert response.json() == {"error": "Validation error", "detail": detail}


def test_a_cursor_from_another_conversation_is_refused(api: APIClient, owner_id: str) -> None:
    first = make_conversation(owner_id, messages=3)
    second = make_conversation(owner_id, messages=3)
    foreign = second.messages.first()
    response = api.get(f"/api/{owner_id}/conversations/{first.pk}/messages?before={foreign.pk}")
    assert response.status_code == 400


def test_a_page_takes_a_fixed_number_of_queries(api: APIClient, owner_id: str, django_assert_num_queries) -> None:
    conversation = make_conversation(owner_id, messages=500)
    cursor = api.get(f"/api/{owner_id}/conversations/{conversation.pk}/messages?limit=100").json()["next_before"]
    # The conversation (nothing unfinished: no stale check query), the cursor row, the page.
    with django_assert_num_queries(3):
        response = api.get(f"/api/{owner_id}/conversations/{conversation.pk}/messages?limit=100&before={cursor}")
    assert len(response.json()["messages"]) == 100
