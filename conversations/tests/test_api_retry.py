"""POST /api/{user_id}/conversations/{conversation_id}/retry (issue "Real assistant replies").

Retrying answers the last user message again without saving it twice; a failed or
stopped reply is replaced. Isolation as everywhere: another user's conversation is
a 404 (FR-011, SC-006).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Sequence

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from conversations.assistant import AssistantError, ChatTurn, set_assistant
from conversations.models import Conversation, Message
from conversations.tests.conftest import bearer_client
from conversations.tests.factories import make_conversation

pytestmark = pytest.mark.django_db

NOT_FOUND = {"error": "Not found", "detail": "Conversation not found"}
IN_PROGRESS = {
    "error": "Reply in progress",
    "detail": "A reply is still being written in this conversation. Wait for it to finish (or stop it), then send again.",
}
NOTHING = {"error": "Nothing to retry", "detail": "The last message already has a reply. Send a new message instead."}


class Echo:
    name = "echo"

    def __init__(self) -> None:
        self.seen: list[list[ChatTurn]] = []

    async def stream(
        self, history: Sequence[ChatTurn], *, toolbox: object = None, options: object = None
    ) -> AsyncIterator[str]:
        self.seen.append(list(history))
        yield f"Answer to {history[-1].content}"


class Broken:
    name = "broken"

    async def stream(
        self, history: Sequence[ChatTurn], *, toolbox: object = None, options: object = None
    ) -> AsyncIterator[str]:
        yield "Par"
        raise AssistantError("down")


def retry(client: APIClient, user_id: str, conversation_id: object):
    return client.post(f"/api/{user_id}/conversations/{conversation_id}/retry")


def add(conversation: Conversation, role: str, content: str, status: str = "complete", age: float = 0) -> Message:
    return Message.objects.create(
        conversation=conversation,
        user_id=conversation.user_id,
        role=role,
        content=content,
        status=status,
        created_at=timezone.now() - dt.timedelta(seconds=age),
    )


def test_it_replaces_a_failed_reply_without_saving_the_users_message_again(api: APIClient, owner_id: str) -> None:
    conversation = make_conversation(owner_id, messages=2)
    question = add(conversation, "user", "Why?", age=2)
    failed = add(conversation, "assistant", "Becau", status="failed", age=1)
    echo = Echo()
    set_assistant(echo)

    response = retry(api, owner_id, conversation.pk)

    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "Answer to Why?"
    assert body["conversation_id"] == str(conversation.pk)
    assert body["message_id"] != str(failed.pk)
    assert not Message.objects.filter(pk=failed.pk).exists()
    assert Message.objects.filter(conversation=conversation, role="user", content="Why?").count() == 1
    newest = Message.objects.filter(conversation=conversation).order_by("-created_at", "-id")[:2]
    assert [(m.role, m.status) for m in newest] == [("assistant", "complete"), ("user", "complete")]
    assert newest[1].pk == question.pk
    assert [t.content for t in echo.seen[0]] == ["message 0", "message 1", "Why?"]
    conversation.refresh_from_db()
    assert conversation.updated_at > question.created_at


def test_it_replaces_a_stopped_reply(api: APIClient, owner_id: str) -> None:
    conversation = make_conversation(owner_id)
    add(conversation, "user", "Go on", age=2)
    add(conversation, "assistant", "I was say", status="stopped", age=1)
    set_assistant(Echo())
    assert retry(api, owner_id, conversation.pk).status_code == 200
    assert list(conversation.messages.values_list("content", flat=True)) == ["Go on", "Answer to Go on"]


def test_a_retry_that_fails_again_answers_503_and_keeps_one_failed_reply(api: APIClient, owner_id: str) -> None:
    conversation = make_conversation(owner_id)
    add(conversation, "user", "Again", age=2)
    add(conversation, "assistant", "", status="failed", age=1)
    set_assistant(Broken())
    response = retry(api, owner_id, conversation.pk)
    assert response.status_code == 503
    assert response.json()["error"] == "Assistant unavailable"
    assert list(conversation.messages.values_list("role", "content", "status")) == [
        ("user", "Again", "complete"),
        ("assistant", "Par", "failed"),
    ]


def test_it_answers_409_while_the_reply_is_still_being_written(api: APIClient, owner_id: str) -> None:
    conversation = make_conversation(owner_id)
    add(conversation, "user", "Wait", age=2)
    streaming = add(conversation, "assistant", "Half", status="streaming", age=1)
    response = retry(api, owner_id, conversation.pk)
    assert (response.status_code, response.json()) == (409, IN_PROGRESS)
    streaming.refresh_from_db()
    assert (streaming.status, streaming.content) == ("streaming", "Half")


def test_a_reply_stuck_streaming_after_a_restart_is_closed_and_retried(api: APIClient, owner_id: str, settings) -> None:  # type: ignore[no-untyped-def]
    settings.LIVE_REPLY_MAX_SECONDS = 120
    conversation = make_conversation(owner_id)
    add(conversation, "user", "Hello?", age=600)
    stuck = add(conversation, "assistant", "Hel", status="streaming", age=600)
    set_assistant(Echo())
    response = retry(api, owner_id, conversation.pk)
    assert response.status_code == 200
    assert not Message.objects.filter(pk=stuck.pk).exists()
    assert list(conversation.messages.values_list("content", "status")) == [
        ("Hello?", "complete"),
        ("Answer to Hello?", "complete"),
    ]


@pytest.mark.parametrize("messages", [0, 2], ids=["empty-conversation", "already-answered"])
def test_it_answers_409_when_there_is_nothing_to_retry(api: APIClient, owner_id: str, messages: int) -> None:
    conversation = make_conversation(owner_id, messages=messages)
    response = retry(api, owner_id, conversation.pk)
    assert (response.status_code, response.json()) == (409, NOTHING)
    assert conversation.messages.count() == messages


def test_it_answers_another_users_conversation_like_a_missing_one(api: APIClient, owner_id: str, other_id: str) -> None:
    theirs = make_conversation(other_id)
    add(theirs, "user", "private", age=2)
    failed = add(theirs, "assistant", "", status="failed", age=1)
    set_assistant(Echo())
    assert (retry(api, owner_id, theirs.pk).status_code, retry(api, owner_id, theirs.pk).json()) == (404, NOT_FOUND)
    assert (retry(api, owner_id, uuid.uuid4()).status_code, retry(api, owner_id, uuid.uuid4()).json()) == (
        404,
        NOT_FOUND,
    )
    assert retry(api, owner_id, "not-a-uuid").status_code == 404
    assert Message.objects.filter(pk=failed.pk, status="failed").exists()
    assert theirs.messages.count() == 2


def test_it_refuses_a_path_user_that_is_not_the_tokens_subject(api: APIClient, owner_id: str, other_id: str) -> None:
    theirs = make_conversation(other_id)
    response = retry(api, other_id, theirs.pk)
    assert response.status_code == 403
    assert response.json()["error"] == "Forbidden"


def test_it_needs_a_token(anon_api: APIClient, owner_id: str) -> None:
    conversation = make_conversation(owner_id)
    response = retry(anon_api, owner_id, conversation.pk)
    assert response.status_code == 401
    assert response.json() == {"error": "Unauthorized", "detail": "Invalid or expired JWT token"}


def test_the_owner_can_retry_with_their_own_token_only(owner_id: str, other_id: str) -> None:
    mine = make_conversation(owner_id)
    add(mine, "user", "Mine", age=2)
    add(mine, "assistant", "", status="failed", age=1)
    set_assistant(Echo())
    assert retry(bearer_client(other_id), other_id, mine.pk).status_code == 404
    assert retry(bearer_client(owner_id), owner_id, mine.pk).status_code == 200
