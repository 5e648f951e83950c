"""Failures lose nothing: the chat endpoint against a real OpenAI-protocol server that misbehaves.

Issue "Real assistant replies": for each failure, the contract's status and body,
the user's message stored once, the partial reply stored and marked failed, and a
retry that succeeds (contract: Errors; FR-008, FR-014, SC-008).
"""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from conversations.assistant import set_assistant
from conversations.assistant.openai import OpenAIAssistant
from conversations.models import Message
from conversations.tests.fake_openai import DEFAULT_REPLY, FakeOpenAI

pytestmark = pytest.mark.django_db

UNAVAILABLE = {
    "error": "Assistant unavailable",
    "detail": "The assistant could not answer right now. Please try again.",
}
TIMED_OUT = {"error": "Assistant timeout", "detail": "The assistant took too long to answer. Please try again."}
PARTIAL = " ".join(DEFAULT_REPLY.split(" ")[: len(DEFAULT_REPLY.split(" ")) * 2 // 5])  # two of five chunks


@pytest.fixture
def model(fake_openai: FakeOpenAI) -> FakeOpenAI:
    """The fake behind the real backend, with short deadlines so failures are quick."""
    set_assistant(
        OpenAIAssistant(
            model="fake-model",
            base_url=fake_openai.base_url,
            system_prompt="Be brief.",
            first_token_timeout=2.0,  # room for one retry on a loaded machine
            timeout=2.5,
            max_retries=1,
        )
    )
    return fake_openai


BUSY = {"error": "Assistant busy", "detail": "The assistant is busy right now. Please wait a moment, then try again."}


def chat(client: APIClient, user_id: str, message: str, conversation_id: str | None = None):
    body = {"message": message} if conversation_id is None else {"message": message, "conversation_id": conversation_id}
    return client.post(f"/api/{user_id}/chat", data=json.dumps(body), content_type="application/json")


def retry(client: APIClient, user_id: str, conversation_id: str):
    return client.post(f"/api/{user_id}/conversations/{conversation_id}/retry")


FAILURES = [
    # (switches, status, body, partial text kept)
    ({"mode": "error500"}, 503, UNAVAILABLE, ""),
    # A rate-limited model: the assistant is busy, wait a moment (issue 12).
    ({"mode": "ratelimit", "retry_after": 30}, 503, BUSY, ""),
    ({"mode": "cut", "cut_after": 2}, 503, UNAVAILABLE, PARTIAL),
    ({"mode": "malformed", "cut_after": 2}, 503, UNAVAILABLE, PARTIAL),
    ({"mode": "hang"}, 504, TIMED_OUT, ""),
    ({"chunk_delay": 1.5}, 504, TIMED_OUT, PARTIAL),
]


@pytest.mark.parametrize(
    ("switches", "status", "body", "partial"),
    FAILURES,
    ids=["http-500", "429-retry-after", "cut-mid-stream", "malformed-chunk", "no-first-token", "too-slow-overall"],
)
def test_a_failing_model_loses_nothing_and_a_retry_succeeds(
    api: APIClient,
    owner_id: str,
    model: FakeOpenAI,
    switches: dict[str, object],
    status: int,
    body: dict[str, str],
    partial: str,
) -> None:
    for name, value in switches.items():
        setattr(model, name, value)

    response = chat(api, owner_id, "Tell me something")

    assert (response.status_code, response.json()) == (status, body)
    user_message = Message.objects.get(role="user")
    assert user_message.content == "Tell me something"
    failed = Message.objects.get(role="assistant")
    assert failed.status == "failed"
    assert failed.content == partial
    conversation_id = str(user_message.conversation_id)

    model.reset()
    retried = retry(api, owner_id, conversation_id)

    assert retried.status_code == 200
    assert retried.json()["message"] == DEFAULT_REPLY
    assert retried.json()["conversation_id"] == conversation_id
    assert retried.json()["status"] == "complete"
    # The user's message is stored once, and the failed reply was replaced.
    assert list(Message.objects.order_by("created_at", "id").values_list("role", "content", "status")) == [
        ("user", "Tell me something", "complete"),
        ("assistant", DEFAULT_REPLY, "complete"),
    ]
    # The model was asked the same question again, without the failed attempt.
    assert model.requests[-1]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Tell me something"},
    ]


def test_a_500_once_is_retried_by_the_backend_and_the_user_never_sees_it(
    api: APIClient, owner_id: str, model: FakeOpenAI
) -> None:
    model.mode, model.fail_times = "error500", 1
    # The 0.5 s backoff must fit the first-token deadline.
    model_backend = OpenAIAssistant(model="fake-model", base_url=model.base_url, first_token_timeout=2.0, timeout=3.0)
    set_assistant(model_backend)
    response = chat(api, owner_id, "Hello")
    assert response.status_code == 200
    assert response.json()["message"] == DEFAULT_REPLY
    assert len(model.requests) == 2
    assert Message.objects.filter(role="user").count() == 1


def test_the_next_message_after_a_failure_does_not_show_the_failed_reply_to_the_model(
    api: APIClient, owner_id: str, model: FakeOpenAI
) -> None:
    model.mode, model.cut_after = "cut", 2
    assert chat(api, owner_id, "First").status_code == 503
    conversation_id = str(Message.objects.get(role="user").conversation_id)
    model.reset()
    response = chat(api, owner_id, "Second", conversation_id)
    assert response.status_code == 200
    assert [m["content"] for m in model.requests[-1]["messages"]] == ["Be brief.", "First", "Second"]
    assert list(Message.objects.order_by("created_at", "id").values_list("role", "status")) == [
        ("user", "complete"),
        ("assistant", "failed"),
        ("user", "complete"),
        ("assistant", "complete"),
    ]
