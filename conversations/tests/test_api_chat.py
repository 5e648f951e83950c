"""POST /api/{user_id}/chat (contract: HTTP API; FR-005, FR-008, FR-010, FR-011)."""

from __future__ import annotations

import json
import uuid

import pytest
from rest_framework.test import APIClient

from conversations.assistant import AssistantError, AssistantTimeout, set_assistant
from conversations.models import Conversation, Message
from conversations.tests.assistants import FailingAssistant, RecordingAssistant
from conversations.tests.factories import make_conversation

pytestmark = pytest.mark.django_db

NOT_FOUND = {"error": "Not found", "detail": "Conversation not found"}


def chat(client: APIClient, user_id: str, body: object, **extra: object):
    return client.post(f"/api/{user_id}/chat", data=json.dumps(body), content_type="application/json", **extra)


def test_it_starts_a_conversation_and_returns_the_reply(api: APIClient, owner_id: str) -> None:
    response = chat(api, owner_id, {"message": "Hello there"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {"conversation_id", "message", "role", "created_at"}
    assert body["role"] == "assistant"
    assert "offline assistant" in body["message"] and "Hello there" in body["message"]
    conversation = Conversation.objects.get(pk=body["conversation_id"])
    assert conversation.user_id == owner_id
    assert conversation.title == "Hello there"
    assert list(conversation.messages.values_list("role", "content", "status")) == [
        ("user", "Hello there", "complete"),
        ("assistant", body["message"], "complete"),
    ]


def test_it_continues_a_conversation_and_moves_updated_at_forward(api: APIClient, owner_id: str) -> None:
    conversation = make_conversation(owner_id, title="Kept title", messages=2)
    before = conversation.updated_at
    response = chat(api, owner_id, {"conversation_id": str(conversation.pk), "message": "And then?"})
    assert response.status_code == 200
    assert response.json()["conversation_id"] == str(conversation.pk)
    conversation.refresh_from_db()
    assert conversation.messages.count() == 4
    assert conversation.updated_at > before
    assert conversation.title == "Kept title"


def test_it_accepts_a_null_conversation_id_as_a_new_conversation(api: APIClient, owner_id: str) -> None:
    response = chat(api, owner_id, {"conversation_id": None, "message": "New"})
    assert response.status_code == 200
    assert Conversation.objects.filter(user_id=owner_id).count() == 1


def test_the_history_comes_from_the_database_each_time(api: APIClient, owner_id: str) -> None:
    """Stateless (contract: POST chat): a message written by another process is seen."""
    assistant = RecordingAssistant()
    set_assistant(assistant)
    first = chat(api, owner_id, {"message": "one"}).json()
    conversation = Conversation.objects.get(pk=first["conversation_id"])
    Message.objects.create(conversation=conversation, user_id=owner_id, role="user", content="written elsewhere")
    chat(api, owner_id, {"conversation_id": first["conversation_id"], "message": "three"})
    assert [t.content for t in assistant.seen[1]] == ["one", "Sure.", "written elsewhere", "three"]


@pytest.mark.parametrize("length", [1, 4000])
def test_it_accepts_messages_of_1_to_4000_characters(api: APIClient, owner_id: str, length: int) -> None:
    response = chat(api, owner_id, {"message": "a" * length})
    assert response.status_code == 200
    assert Message.objects.get(role="user").content == "a" * length


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"message": ""}, "Message content cannot be empty"),
        ({"message": "   \n\t "}, "Message content cannot be empty"),
        ({"message": None}, "Message content cannot be empty"),
        ({}, "Message is required"),
        ({"message": "a" * 4001}, "Message is too long: 4001 characters, the limit is 4000"),
        ({"message": "nul \x00 inside"}, "Message cannot contain NUL characters"),
        ({"message": 42}, "Message must be a string"),
        ({"message": ["a"]}, "Message must be a string"),
        ({"message": "hi", "extra": 1}, "Unknown field: extra"),
        (["message"], "Invalid data. Expected a dictionary, but got list."),
    ],
)
def test_it_refuses_invalid_input_with_400_and_saves_nothing(
    api: APIClient, owner_id: str, body: object, detail: str
) -> None:
    response = chat(api, owner_id, body)
    assert response.status_code == 400
    assert response.json() == {"error": "Validation error", "detail": detail}
    assert Message.objects.count() == 0


def test_it_refuses_a_lone_surrogate_with_400(api: APIClient, owner_id: str) -> None:
    response = api.post(
        f"/api/{owner_id}/chat", data='{"message": "bad \\ud800 text"}', content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json() == {
        "error": "Validation error",
        "detail": "Message contains invalid Unicode (a lone surrogate)",
    }


def test_it_answers_bad_json_with_400(api: APIClient, owner_id: str) -> None:
    response = api.post(f"/api/{owner_id}/chat", data="{bad", content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"error": "Validation error", "detail": "The request body is not valid JSON."}


def test_it_answers_a_non_json_body_with_415(api: APIClient, owner_id: str) -> None:
    response = api.post(f"/api/{owner_id}/chat", data="message=hi", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert response.json()["error"] == "Unsupported media type"


def test_it_answers_a_body_over_the_limit_with_413(api: APIClient, owner_id: str) -> None:
    response = chat(api, owner_id, {"message": "a" * 70_000})
    assert response.status_code == 413
    assert response.json() == {
        "error": "Payload too large",
        "detail": "The request body is over the limit of 65536 bytes.",
    }
    assert Message.objects.count() == 0


def test_it_answers_another_users_conversation_like_a_missing_one(api: APIClient, owner_id: str, other_id: str) -> None:
    theirs = make_conversation(other_id, messages=2)
    response = chat(api, owner_id, {"conversation_id": str(theirs.pk), "message": "let me in"})
    missing = chat(api, owner_id, {"conversation_id": str(uuid.uuid4()), "message": "let me in"})
    assert (response.status_code, response.json()) == (404, NOT_FOUND)
    assert (missing.status_code, missing.json()) == (404, NOT_FOUND)
    assert theirs.messages.count() == 2
    assert Message.objects.filter(user_id=owner_id).count() == 0


def test_it_answers_a_malformed_conversation_id_with_404(api: APIClient, owner_id: str) -> None:
    response = chat(api, owner_id, {"conversation_id": "not-a-uuid", "message": "hi"})
    assert (response.status_code, response.json()) == (404, NOT_FOUND)


def test_it_needs_a_token(anon_api: APIClient, owner_id: str) -> None:
    response = chat(anon_api, owner_id, {"message": "hi"})
    assert response.status_code == 401
    assert response.json() == {"error": "Unauthorized", "detail": "Invalid or expired JWT token"}
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_it_refuses_a_path_user_that_is_not_the_tokens_subject(api: APIClient, other_id: str) -> None:
    response = chat(api, other_id, {"message": "hi"})
    assert response.status_code == 403
    assert response.json() == {"error": "Forbidden", "detail": "User ID in path does not match authenticated user"}
    assert Message.objects.count() == 0


def test_a_failing_assistant_keeps_the_users_message_and_answers_503(api: APIClient, owner_id: str) -> None:
    set_assistant(FailingAssistant(AssistantError("boom"), "Half an ans"))
    response = chat(api, owner_id, {"message": "Keep me"})
    assert response.status_code == 503
    assert response.json() == {
        "error": "Assistant unavailable",
        "detail": "The assistant could not answer right now. Please try again.",
    }
    assert list(Message.objects.values_list("role", "content", "status")) == [
        ("user", "Keep me", "complete"),
        ("assistant", "Half an ans", "failed"),
    ]


def test_a_timed_out_assistant_answers_504(api: APIClient, owner_id: str) -> None:
    set_assistant(FailingAssistant(AssistantTimeout("slow")))
    response = chat(api, owner_id, {"message": "Keep me"})
    assert response.status_code == 504
    assert response.json()["error"] == "Assistant timeout"
    assert Message.objects.get(role="user").content == "Keep me"
    assert Message.objects.get(role="assistant").status == "failed"


def test_an_unexpected_error_answers_500_without_internals(api: APIClient, owner_id: str) -> None:
    set_assistant(FailingAssistant(RuntimeError("secret internals")))
    response = chat(api, owner_id, {"message": "Keep me"})
    assert response.status_code == 500
    assert response.json() == {
        "error": "Internal server error",
        "detail": "An unexpected error occurred. Please try again.",
    }
    assert Message.objects.get(role="user").content == "Keep me"
    assert Message.objects.get(role="assistant").status == "failed"


def test_an_empty_model_reply_is_a_failure_not_an_empty_message(api: APIClient, owner_id: str) -> None:
    set_assistant(RecordingAssistant(reply="  "))
    response = chat(api, owner_id, {"message": "hello?"})
    assert response.status_code == 503
    assert Message.objects.get(role="assistant").status == "failed"


def test_a_method_other_than_post_answers_405(api: APIClient, owner_id: str) -> None:
    response = api.get(f"/api/{owner_id}/chat")
    assert response.status_code == 405
    assert response.json() == {"error": "Method not allowed", "detail": 'Method "GET" not allowed.'}
