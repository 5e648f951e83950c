"""Exactly once over HTTP (issue 12): ``Idempotency-Key`` on chat and retry, one reply at a time.

The header follows the IETF httpapi draft (draft-ietf-httpapi-idempotency-key-header): a
repeat with the same key and body answers the first result and saves nothing; 409 while
the first is still being answered; 422 for the same key with another body; keys per user,
kept at least 24 hours.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Sequence

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone
from rest_framework.test import APIClient

from conversations import idempotency, liveness, services, sweeper
from conversations.assistant import AssistantError, AssistantTimeout, ChatTurn, set_assistant
from conversations.models import Conversation, IdempotencyKey, Message
from conversations.tests.assistants import FailingAssistant
from conversations.tests.factories import make_conversation

pytestmark = pytest.mark.django_db

IN_PROGRESS = {
    "error": "Reply in progress",
    "detail": "A reply is still being written in this conversation. Wait for it to finish (or stop it), then send again.",
}
KEY_IN_USE = {
    "error": "Conflict",
    "detail": "A request with this Idempotency-Key is still being answered. Wait a moment, then repeat it.",
}
KEY_REUSED = {
    "error": "Unprocessable content",
    "detail": "This Idempotency-Key was already used for a different request. Use a new key for a new request.",
}
UNAVAILABLE = {
    "error": "Assistant unavailable",
    "detail": "The assistant could not answer right now. Please try again.",
}
TIMED_OUT = {"error": "Assistant timeout", "detail": "The assistant took too long to answer. Please try again."}


def chat(client: APIClient, user_id: str, body: dict[str, object], key: str | None = None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(f"/api/{user_id}/chat", data=json.dumps(body), content_type="application/json", **headers)


def retry(client: APIClient, user_id: str, conversation_id: object, key: str | None = None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(f"/api/{user_id}/conversations/{conversation_id}/retry", **headers)


def counts() -> tuple[int, int]:
    return Message.objects.filter(role="user").count(), Message.objects.filter(role="assistant").count()


def test_a_repeat_with_the_same_key_answers_the_first_result_and_saves_nothing(api: APIClient, owner_id: str) -> None:
    first = chat(api, owner_id, {"message": "Plan my week"}, key="key-1")
    again = chat(api, owner_id, {"message": "Plan my week"}, key="key-1")

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert counts() == (1, 1)
    assert Conversation.objects.count() == 1


def test_without_a_key_a_repeat_is_a_new_message(api: APIClient, owner_id: str) -> None:
    chat(api, owner_id, {"message": "Twice"})
    chat(api, owner_id, {"message": "Twice"})
    assert counts() == (2, 2)


def test_a_first_message_repeated_to_the_conversation_it_created_is_the_same_request(
    api: APIClient, owner_id: str
) -> None:
    """A client that learned the new conversation's id before retrying sends it: still the same message."""
    first = chat(api, owner_id, {"message": "Start"}, key="k-start")
    again = chat(api, owner_id, {"message": "Start", "conversation_id": first.json()["conversation_id"]}, key="k-start")
    assert again.status_code == 200 and again.json() == first.json()
    assert counts() == (1, 1)


def test_the_same_key_with_another_body_is_422_and_saves_nothing(api: APIClient, owner_id: str) -> None:
    chat(api, owner_id, {"message": "One thing"}, key="key-2")
    other = chat(api, owner_id, {"message": "Another thing"}, key="key-2")
    assert (other.status_code, other.json()) == (422, KEY_REUSED)
    assert counts() == (1, 1)


def test_the_same_key_for_chat_then_retry_is_422(api: APIClient, owner_id: str) -> None:
    first = chat(api, owner_id, {"message": "Hi"}, key="key-3")
    response = retry(api, owner_id, first.json()["conversation_id"], key="key-3")
    assert (response.status_code, response.json()) == (422, KEY_REUSED)


def test_keys_are_per_user(api: APIClient, other_api: APIClient, owner_id: str, other_id: str) -> None:
    mine = chat(api, owner_id, {"message": "Mine"}, key="shared-key")
    theirs = chat(other_api, other_id, {"message": "Theirs"}, key="shared-key")
    assert mine.status_code == theirs.status_code == 200
    assert theirs.json()["conversation_id"] != mine.json()["conversation_id"]
    assert Conversation.objects.get(pk=theirs.json()["conversation_id"]).user_id == other_id


def test_a_quoted_key_is_the_same_key(api: APIClient, owner_id: str) -> None:
    """The draft writes the key as a structured-field string: ``"abc"`` and ``abc`` are one key."""
    first = chat(api, owner_id, {"message": "Quoted"}, key='"8e03978e-40d5-43e8-bc93-6894a57f9324"')
    again = chat(api, owner_id, {"message": "Quoted"}, key="8e03978e-40d5-43e8-bc93-6894a57f9324")
    assert again.json() == first.json()
    assert counts() == (1, 1)


@pytest.mark.parametrize("key", ["", "é-not-ascii", "x" * 256, "tab\tinside"])
def test_a_malformed_key_is_400_and_saves_nothing(api: APIClient, owner_id: str, key: str) -> None:
    response = chat(api, owner_id, {"message": "Hi"}, key=key)
    assert response.status_code == 400
    assert response.json()["error"] == "Validation error" and "Idempotency-Key" in response.json()["detail"]
    assert counts() == (0, 0)


def test_a_repeat_while_the_first_is_still_answered_is_409(api: APIClient, owner_id: str) -> None:
    conversation = make_conversation(owner_id, messages=2)
    key = idempotency.idempotency_for(
        key="busy-key", operation=idempotency.CHAT, conversation_id=conversation.pk, text="Still going"
    )
    start = services.chat_begin(user_id=owner_id, conversation_id=conversation.pk, text="Still going", idempotency=key)
    liveness.beat(liveness.http_beat_key(start.reply.pk))  # its writer is alive

    response = chat(api, owner_id, {"message": "Still going", "conversation_id": str(conversation.pk)}, key="busy-key")

    assert (response.status_code, response.json()) == (409, KEY_IN_USE)
    assert response["Retry-After"] == "1"
    assert conversation.messages.count() == 4


def test_a_repeat_after_the_first_writer_died_answers_its_failure(api: APIClient, owner_id: str, settings) -> None:
    """The first request's process died mid-reply: the repeat closes the dead reply and answers 503, saving nothing."""
    conversation = make_conversation(owner_id, messages=2)
    key = idempotency.idempotency_for(
        key="dead", operation=idempotency.CHAT, conversation_id=conversation.pk, text="Go"
    )
    start = services.chat_begin(user_id=owner_id, conversation_id=conversation.pk, text="Go", idempotency=key)
    services.reply_save_partial(reply=start.reply, content="Half a")
    from django.core.cache import cache

    cache.set(liveness.http_beat_key(start.reply.pk), 0.0)  # its last beat: long ago

    response = chat(api, owner_id, {"message": "Go", "conversation_id": str(conversation.pk)}, key="dead")

    assert (response.status_code, response.json()) == (503, UNAVAILABLE)
    start.reply.refresh_from_db()
    assert (start.reply.status, start.reply.content) == ("failed", "Half a")
    assert conversation.messages.count() == 4


@pytest.mark.parametrize(
    ("error", "status", "body"),
    [(AssistantError("down"), 503, UNAVAILABLE), (AssistantTimeout("slow"), 504, TIMED_OUT)],
)
def test_a_failed_first_request_answers_the_same_failure_again(
    api: APIClient, owner_id: str, error: Exception, status: int, body: dict[str, str]
) -> None:
    set_assistant(FailingAssistant(error))
    first = chat(api, owner_id, {"message": "Fail me"}, key="fail-key")
    set_assistant(None)
    again = chat(api, owner_id, {"message": "Fail me"}, key="fail-key")

    assert (first.status_code, first.json()) == (again.status_code, again.json()) == (status, body)
    assert counts() == (1, 1)
    assert IdempotencyKey.objects.get(key="fail-key").response_status == status


def test_a_retried_reply_is_what_a_repeat_of_the_first_send_answers(api: APIClient, owner_id: str) -> None:
    set_assistant(FailingAssistant(AssistantError("down")))
    first = chat(api, owner_id, {"message": "Flaky"}, key="send-key")
    set_assistant(None)
    conversation_id = Message.objects.get(role="user").conversation_id
    retried = retry(api, owner_id, conversation_id, key="retry-key")
    retried_again = retry(api, owner_id, conversation_id, key="retry-key")

    assert first.status_code == 503
    assert retried.status_code == retried_again.status_code == 200
    assert retried_again.json() == retried.json()
    assert counts() == (1, 1)
    # The send's key answers as the send did (the draft: the first response), saving nothing.
    assert chat(api, owner_id, {"message": "Flaky"}, key="send-key").json() == first.json()
    assert counts() == (1, 1)


def test_a_key_whose_conversation_was_deleted_is_404(api: APIClient, owner_id: str) -> None:
    first = chat(api, owner_id, {"message": "Short-lived"}, key="gone-key")
    api.delete(f"/api/{owner_id}/conversations/{first.json()['conversation_id']}")
    again = chat(api, owner_id, {"message": "Short-lived"}, key="gone-key")
    assert (again.status_code, again.json()) == (404, {"error": "Not found", "detail": "Conversation not found"})
    assert counts() == (0, 0)


def test_keys_are_kept_a_day_then_swept(api: APIClient, owner_id: str) -> None:
    chat(api, owner_id, {"message": "Old"}, key="old-key")
    chat(api, owner_id, {"message": "Recent"}, key="recent-key")
    now = timezone.now()
    IdempotencyKey.objects.filter(key="old-key").update(created_at=now - dt.timedelta(hours=24, minutes=1))
    IdempotencyKey.objects.filter(key="recent-key").update(created_at=now - dt.timedelta(hours=23))

    assert idempotency.keys_delete_expired() == 1

    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["recent-key"]
    assert chat(api, owner_id, {"message": "Recent"}, key="recent-key").status_code == 200
    assert counts() == (2, 2)


# --- One reply at a time per conversation ------------------------------------------------


def test_a_send_while_a_reply_is_written_elsewhere_is_409_and_saves_nothing(api: APIClient, owner_id: str) -> None:
    conversation = make_conversation(owner_id, messages=2)
    start = services.chat_begin(user_id=owner_id, conversation_id=conversation.pk, text="First")
    liveness.beat(liveness.live_beat_key(start.reply.pk))  # a live generation is writing it

    response = chat(api, owner_id, {"message": "Second", "conversation_id": str(conversation.pk)})

    assert (response.status_code, response.json()) == (409, IN_PROGRESS)
    assert not conversation.messages.filter(content="Second").exists()


def test_a_send_after_a_dead_writers_reply_closes_it_and_goes_through(api: APIClient, owner_id: str) -> None:
    from django.core.cache import cache

    conversation = make_conversation(owner_id, messages=2)
    start = services.chat_begin(user_id=owner_id, conversation_id=conversation.pk, text="First")
    cache.set(liveness.live_beat_key(start.reply.pk), 0.0)

    response = chat(api, owner_id, {"message": "Second", "conversation_id": str(conversation.pk)})

    assert response.status_code == 200
    start.reply.refresh_from_db()
    assert start.reply.status == "failed"


def test_a_send_after_a_failed_reply_is_accepted(api: APIClient, owner_id: str) -> None:
    """A failed reply is finished: it does not block the next message (issue 12, a page that never traps)."""
    set_assistant(FailingAssistant(AssistantError("down")))
    first = chat(api, owner_id, {"message": "One"})
    set_assistant(None)
    second = chat(
        api, owner_id, {"message": "Two", "conversation_id": Message.objects.get(role="user").conversation_id.hex}
    )
    assert (first.status_code, second.status_code) == (503, 200)


# --- Deleted while the reply is written -------------------------------------------------


class DeletingAssistant:
    """Deletes the conversation between two chunks, as another tab would."""

    name = "deleting"

    async def stream(
        self, history: Sequence[ChatTurn], *, toolbox: object = None, options: object = None
    ) -> AsyncIterator[str]:
        yield "Half "
        await sync_to_async(lambda: Conversation.objects.all().delete())()
        yield "and the rest."


def test_deleting_the_conversation_while_its_reply_is_written_answers_404(api: APIClient, owner_id: str) -> None:
    set_assistant(DeletingAssistant())
    response = chat(api, owner_id, {"message": "Doomed"})
    assert (response.status_code, response.json()) == (404, {"error": "Not found", "detail": "Conversation not found"})
    assert counts() == (0, 0)


# --- The sweep ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_the_sweep_closes_a_dead_writers_reply_without_anyone_reading(owner_id: str) -> None:
    conversation = await sync_to_async(make_conversation)(owner_id, messages=2)
    start = await sync_to_async(services.chat_begin)(user_id=owner_id, conversation_id=conversation.pk, text="Go")
    alive = await sync_to_async(services.chat_begin)(user_id=owner_id, conversation_id=None, text="Other")
    old = timezone.now() - dt.timedelta(minutes=1)
    await sync_to_async(Message.objects.filter(pk__in=[start.reply.pk, alive.reply.pk]).update)(created_at=old)
    from django.core.cache import cache

    await cache.aset(liveness.http_beat_key(start.reply.pk), 0.0)  # died a long time ago
    await cache.aset(liveness.live_beat_key(alive.reply.pk), __import__("time").time())  # beating

    closed = await sweeper.sweep_once()

    assert [reply.pk for reply in closed] == [start.reply.pk]
    statuses = dict(await sync_to_async(lambda: list(Message.objects.values_list("pk", "status")))())
    assert statuses[start.reply.pk] == "failed" and statuses[alive.reply.pk] == "pending"


async def test_the_periodic_sweep_runs_every_live_sweep_seconds_and_0_turns_it_off(settings) -> None:
    import asyncio

    settings.LIVE_SWEEP_SECONDS = 0
    sweeper.start()
    assert asyncio.get_running_loop() not in sweeper._tasks

    settings.LIVE_SWEEP_SECONDS = 0.05
    runs = 0

    async def counting() -> list[Message]:
        nonlocal runs
        runs += 1
        return []

    original, sweeper.sweep_once = sweeper.sweep_once, counting
    try:
        sweeper.start()
        sweeper.start()  # once per loop
        await asyncio.sleep(0.3)
    finally:
        sweeper.sweep_once = original
        await sweeper.stop()
    assert runs >= 2
    assert asyncio.get_running_loop() not in sweeper._tasks


def test_the_admin_lists_keys_read_only(admin_client, api: APIClient, owner_id: str) -> None:
    chat(api, owner_id, {"message": "Seen by staff"}, key="admin-key")
    page = admin_client.get("/admin/conversations/idempotencykey/")
    assert page.status_code == 200 and b"admin-key" in page.content
    row = IdempotencyKey.objects.get()
    assert admin_client.get(f"/admin/conversations/idempotencykey/{row.pk}/change/").status_code == 200
    assert admin_client.get("/admin/conversations/idempotencykey/add/").status_code == 403
