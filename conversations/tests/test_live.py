"""The WebSocket door and the live generation (issue "Live replies over Channels").

Consumer tests through Channels' ``WebsocketCommunicator`` on the real ASGI
application (origin check, session and JWT middleware, routing). The channel layer
is the one the settings choose: in memory, or Redis when ``REDIS_URL`` is set.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import channel_layers, get_channel_layer
from channels.testing import WebsocketCommunicator
from django.core.cache import cache
from django.db import OperationalError, connections
from django.test import Client
from redis.exceptions import ConnectionError as RedisConnectionError

from chatsite.asgi import application
from conversations import live, services
from conversations.assistant import AssistantError, ChatTurn, set_assistant
from conversations.assistant.offline import OfflineAssistant, offline_reply
from conversations.auth import issue_token
from conversations.models import Conversation, Message
from conversations.tests.assistants import FailingAssistant
from conversations.tests.conftest import PASSWORD
from conversations.tests.factories import make_conversation

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = 20.0  # seconds: the longest any single event may take to arrive (10 once ran out in a full CI run)


@pytest.fixture(autouse=True)
async def _live_layer(live_layer: None) -> AsyncIterator[None]:
    yield


@pytest.fixture
async def live_layer() -> AsyncIterator[None]:
    """A fresh channel layer for the test, its generations stopped after (other modules' socket tests use it)."""
    # A fresh layer per test: the in-memory one binds its queues to the test's event loop.
    channel_layers._reset_backends("CHANNEL_LAYERS")
    yield
    await live.stop_all()
    await get_channel_layer().flush()
    channel_layers._reset_backends("CHANNEL_LAYERS")
    # The ORM's thread keeps its connection; close it so the test database can be dropped.
    await sync_to_async(connections.close_all)()


@pytest.fixture
def slow_assistant() -> OfflineAssistant:
    """The offline assistant, 20 ms between chunks of three words (about half a second per reply)."""
    assistant = OfflineAssistant(chunk_delay=0.02)
    set_assistant(assistant)
    return assistant


def socket(user_id: str | None, conversation_id: object = None, **kwargs: Any) -> WebsocketCommunicator:
    """A socket to ``/ws/chat[/<id>]``, signed in with a JWT for ``user_id`` (anonymous if ``None``)."""
    path = "/ws/chat" if conversation_id is None else f"/ws/chat/{conversation_id}"
    if user_id is not None:
        path += f"?token={issue_token(user_id=user_id)[0]}"
    return WebsocketCommunicator(application, path, **kwargs)


async def opened(communicator: WebsocketCommunicator) -> dict[str, Any]:
    """Connect and return the ``ready`` event."""
    connected, _ = await communicator.connect(timeout=WAIT)
    assert connected
    ready = await communicator.receive_json_from(timeout=WAIT)
    assert ready["type"] == "ready", ready
    return ready


async def refused(communicator: WebsocketCommunicator) -> tuple[dict[str, Any], int]:
    """Connect to a socket that is refused: ``(the error event, the close code)``."""
    connected, _ = await communicator.connect(timeout=WAIT)
    assert connected  # accepted so that the reason can be told
    error = await communicator.receive_json_from(timeout=WAIT)
    closing = await communicator.receive_output(timeout=WAIT)
    assert closing["type"] == "websocket.close"
    return error, closing["code"]


async def receive_until(communicator: WebsocketCommunicator, kind: str) -> list[dict[str, Any]]:
    """Every event up to and including the first of type ``kind``.

    Raises:
        AssertionError: no event for ``WAIT`` seconds; the message names the events that did arrive
            (this wait once timed out in a full CI run and never alone: the next failure says more).
    """
    events = []
    while True:
        try:
            event = await communicator.receive_json_from(timeout=WAIT)
        except TimeoutError:
            raise AssertionError(
                f"no {kind!r} within {WAIT:g} s of the last event; received: {[e.get('type') for e in events]} "
                f"{events[-1] if events else ''}"
            ) from None
        events.append(event)
        if event["type"] == kind:
            return events


def of_type(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [event for event in events if event["type"] == kind]


async def reload(message_id: object) -> Message:
    return await Message.objects.aget(pk=message_id)


async def idle() -> None:
    """Wait for this process's generations to end."""
    tasks = live.running_generations()
    if tasks:
        await asyncio.wait(tasks, timeout=WAIT)


def expected_reply(text: str, earlier_user_messages: int = 0) -> str:
    history = [ChatTurn(role="user", content="earlier")] * earlier_user_messages + [ChatTurn(role="user", content=text)]
    return offline_reply(history)


# --- Who may connect (FR-011, FR-012, SC-006) -----------------------------------------


async def test_it_refuses_an_anonymous_socket_with_4401(owner_id: str) -> None:
    conversation = await sync_to_async(make_conversation)(owner_id)
    error, code = await refused(socket(None, conversation.pk))
    assert code == 4401
    assert error == {
        "type": "error",
        "error": "Unauthorized",
        "detail": "Your session has expired. Please sign in again.",
    }


async def test_it_refuses_a_bad_token_with_4401_even_with_a_session(owner, owner_id: str) -> None:
    conversation = await sync_to_async(make_conversation)(owner_id)
    cookie = await sync_to_async(_session_cookie)(owner.username)
    communicator = WebsocketCommunicator(
        application, f"/ws/chat/{conversation.pk}?token=not-a-jwt", headers=[(b"cookie", cookie)]
    )
    _, code = await refused(communicator)
    assert code == 4401


async def test_it_refuses_another_users_conversation_as_not_found(owner_id: str, other_id: str) -> None:
    conversation = await sync_to_async(make_conversation)(owner_id)
    for conversation_id in (conversation.pk, uuid.uuid4(), "not-a-uuid"):
        error, code = await refused(socket(other_id, conversation_id))
        assert code == 4404
        assert error == {"type": "error", "error": "Not found", "detail": "Conversation not found"}


def _session_cookie(username: str) -> bytes:
    client = Client()
    assert client.login(username=username, password=PASSWORD)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def test_it_accepts_the_session_of_a_signed_in_page(owner, owner_id: str) -> None:
    conversation = await sync_to_async(make_conversation)(owner_id)
    cookie = await sync_to_async(_session_cookie)(owner.username)
    communicator = WebsocketCommunicator(
        application,
        f"/ws/chat/{conversation.pk}",
        headers=[(b"cookie", cookie), (b"origin", b"http://testserver"), (b"host", b"testserver")],
    )
    ready = await opened(communicator)
    assert ready == {"type": "ready", "conversation_id": str(conversation.pk), "replies_in_progress": []}
    await communicator.disconnect()


async def test_it_refuses_a_page_from_another_site(owner, owner_id: str) -> None:
    conversation = await sync_to_async(make_conversation)(owner_id)
    cookie = await sync_to_async(_session_cookie)(owner.username)
    communicator = WebsocketCommunicator(
        application, f"/ws/chat/{conversation.pk}", headers=[(b"cookie", cookie), (b"origin", b"https://evil.example")]
    )
    connected, _ = await communicator.connect(timeout=WAIT)
    assert not connected


# --- A streamed reply -------------------------------------------------------------


async def test_it_streams_a_reply_as_ordered_events(owner_id: str, slow_assistant: OfflineAssistant) -> None:
    conversation = await sync_to_async(make_conversation)(owner_id)
    communicator = socket(owner_id, conversation.pk)
    await opened(communicator)
    await communicator.send_json_to({"type": "send", "message": "Hello there", "client_id": "c-1"})
    events = await receive_until(communicator, "reply.finished")

    kinds = [event["type"] for event in events]
    assert kinds[:2] == ["message.created", "reply.started"]
    assert set(kinds[2:-1]) == {"reply.delta"} and len(kinds) > 5
    created, started, finished = events[0], events[1], events[-1]
    assert created["client_id"] == "c-1"
    assert created["message"]["role"] == "user" and created["message"]["content"] == "Hello there"
    assert started["user_message_id"] == created["message"]["id"]
    deltas = of_type(events, "reply.delta")
    assert [delta["seq"] for delta in deltas] == list(range(1, len(deltas) + 1))
    assert {delta["reply_id"] for delta in deltas} == {started["reply_id"]}
    text = "".join(delta["delta"] for delta in deltas)
    assert text == expected_reply("Hello there")
    assert finished["status"] == "complete" and finished["seq"] == len(deltas) and finished["length"] == len(text)

    reply = await reload(started["reply_id"])
    assert (reply.status, reply.content) == ("complete", text)
    await communicator.disconnect()


async def test_it_saves_the_text_in_batches_while_streaming(owner_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    set_assistant(OfflineAssistant(chunk_delay=0.05, words_per_chunk=1))
    saves: list[str] = []
    real_save = services.reply_save_partial

    def counting_save(*, reply: Message, content: str) -> bool:
        saves.append(content)
        return real_save(reply=reply, content=content)

    monkeypatch.setattr(services, "reply_save_partial", counting_save)
    conversation = await sync_to_async(make_conversation)(owner_id)
    communicator = socket(owner_id, conversation.pk)
    await opened(communicator)
    await communicator.send_json_to({"type": "send", "message": "Count my saves"})
    events = await receive_until(communicator, "reply.finished")

    deltas = of_type(events, "reply.delta")
    text = "".join(delta["delta"] for delta in deltas)
    # One save marks the reply streaming, then one per half second (or 200 characters).
    assert saves[0] == ""
    assert 2 <= len(saves) < len(deltas) / 3
    assert all(text.startswith(saved) for saved in saves)
    await communicator.disconnect()


async def test_stop_keeps_the_partial_text_marked_stopped(owner_id: str) -> None:
    set_assistant(OfflineAssistant(chunk_delay=0.05))
    conversation = await sync_to_async(make_conversation)(owner_id)
    communicator = socket(owner_id, conversation.pk)
    await opened(communicator)
    await communicator.send_json_to({"type": "send", "message": "Please stop me"})
    events = await receive_until(communicator, "reply.delta")
    reply_id = of_type(events, "reply.started")[0]["reply_id"]
    events += await receive_until(communicator, "reply.delta")
    await communicator.send_json_to({"type": "stop", "reply_id": reply_id})
    events += await receive_until(communicator, "reply.finished")

    text = "".join(delta["delta"] for delta in of_type(events, "reply.delta"))
    finished = events[-1]
    assert finished["status"] == "stopped" and finished["length"] == len(text)
    reply = await reload(reply_id)
    assert reply.status == "stopped"
    assert reply.content == text
    assert 0 < len(text) < len(expected_reply("Please stop me"))
    await communicator.disconnect()


async def test_a_second_subscriber_receives_the_same_events(owner_id: str, slow_assistant: OfflineAssistant) -> None:
    conversation = await sync_to_async(make_conversation)(owner_id)
    first, second = socket(owner_id, conversation.pk), socket(owner_id, conversation.pk)
    await opened(first)
    await opened(second)
    await first.send_json_to({"type": "send", "message": "Both tabs", "client_id": "tab-1"})
    seen_by_first = await receive_until(first, "reply.finished")
    seen_by_second = await receive_until(second, "reply.finished")
    assert seen_by_second == seen_by_first
    assert seen_by_second[0]["type"] == "message.created" and seen_by_second[0]["message"]["content"] == "Both tabs"
    await first.disconnect()
    await second.disconnect()


async def test_a_reconnect_mid_reply_gets_the_text_so_far_then_the_rest(owner_id: str) -> None:
    set_assistant(OfflineAssistant(chunk_delay=0.03, words_per_chunk=1))
    conversation = await sync_to_async(make_conversation)(owner_id)
    first = socket(owner_id, conversation.pk)
    await opened(first)
    await first.send_json_to({"type": "send", "message": "Survive a refresh"})
    events = await receive_until(first, "reply.started")
    reply_id = events[-1]["reply_id"]
    for _ in range(8):
        await receive_until(first, "reply.delta")
    await first.disconnect()  # the tab is refreshed: the generation goes on
    await asyncio.sleep(0.3)

    again = socket(owner_id, conversation.pk)
    connected, _ = await again.connect(timeout=WAIT)
    assert connected
    ready, snapshot = await again.receive_json_from(timeout=WAIT), await again.receive_json_from(timeout=WAIT)
    assert ready["replies_in_progress"] == [reply_id]
    assert snapshot["type"] == "reply.snapshot" and snapshot["reply_id"] == reply_id
    assert snapshot["status"] == "streaming" and snapshot["seq"] > 8
    rest = await receive_until(again, "reply.finished")
    deltas = of_type(rest, "reply.delta")
    assert [delta["seq"] for delta in deltas] == list(range(snapshot["seq"] + 1, rest[-1]["seq"] + 1))
    shown = snapshot["content"] + "".join(delta["delta"] for delta in deltas)
    assert shown == expected_reply("Survive a refresh")

    replies = [m async for m in Message.objects.filter(conversation=conversation, role="assistant")]
    assert [(m.pk, m.status, m.content) for m in replies] == [(uuid.UUID(reply_id), "complete", shown)]
    await again.disconnect()


async def test_closing_the_socket_does_not_stop_the_generation(owner_id: str, slow_assistant: OfflineAssistant) -> None:
    conversation = await sync_to_async(make_conversation)(owner_id)
    communicator = socket(owner_id, conversation.pk)
    await opened(communicator)
    await communicator.send_json_to({"type": "send", "message": "Finish without me"})
    events = await receive_until(communicator, "reply.delta")
    await communicator.disconnect()
    await idle()
    reply = await reload(of_type(events, "reply.started")[0]["reply_id"])
    assert (reply.status, reply.content) == ("complete", expected_reply("Finish without me"))


async def test_a_new_conversation_starts_on_the_bare_socket(owner_id: str, slow_assistant: OfflineAssistant) -> None:
    communicator = socket(owner_id)
    ready = await opened(communicator)
    assert ready["conversation_id"] is None
    await communicator.send_json_to({"type": "send", "message": "A fresh start"})
    created = await communicator.receive_json_from(timeout=WAIT)
    assert created["type"] == "conversation.created" and created["title"] == "A fresh start"
    events = await receive_until(communicator, "reply.finished")
    assert {event["conversation_id"] for event in events} == {created["conversation_id"]}
    assert events[-1]["status"] == "complete"
    await communicator.disconnect()


# --- Refusals and failures ----------------------------------------------------------


async def test_an_invalid_message_is_a_validation_error_and_saves_nothing(owner_id: str) -> None:
    conversation = await sync_to_async(make_conversation)(owner_id)
    communicator = socket(owner_id, conversation.pk)
    await opened(communicator)
    await communicator.send_json_to({"type": "send", "message": "   ", "client_id": "c-9"})
    assert await communicator.receive_json_from(timeout=WAIT) == {
        "type": "error",
        "error": "Validation error",
        "detail": "Message content cannot be empty",
        "client_id": "c-9",
    }
    await communicator.send_to(text_data="{not json")
    assert (await communicator.receive_json_from(timeout=WAIT))["error"] == "Validation error"
    assert await Message.objects.filter(conversation=conversation).acount() == 0
    await communicator.disconnect()


async def test_a_second_message_waits_for_the_reply_in_progress(owner_id: str) -> None:
    set_assistant(OfflineAssistant(chunk_delay=0.05))
    conversation = await sync_to_async(make_conversation)(owner_id)
    communicator = socket(owner_id, conversation.pk)
    await opened(communicator)
    await communicator.send_json_to({"type": "send", "message": "First"})
    await receive_until(communicator, "reply.delta")
    await communicator.send_json_to({"type": "send", "message": "Second", "client_id": "c-2"})
    refusal = await receive_until(communicator, "error")
    assert refusal[-1]["error"] == "Reply in progress" and refusal[-1]["client_id"] == "c-2"
    await receive_until(communicator, "reply.finished")
    assert await Message.objects.filter(conversation=conversation, content="Second").acount() == 0
    await communicator.disconnect()


async def test_stopping_another_users_reply_is_not_found(owner_id: str, other_id: str) -> None:
    set_assistant(OfflineAssistant(chunk_delay=0.05))
    mine = await sync_to_async(make_conversation)(owner_id)
    theirs = await sync_to_async(make_conversation)(other_id)
    owner_socket, other_socket = socket(owner_id, mine.pk), socket(other_id, theirs.pk)
    await opened(owner_socket)
    await opened(other_socket)
    await owner_socket.send_json_to({"type": "send", "message": "Mine only"})
    reply_id = (await receive_until(owner_socket, "reply.started"))[-1]["reply_id"]
    await other_socket.send_json_to({"type": "stop", "reply_id": reply_id})
    assert await other_socket.receive_json_from(timeout=WAIT) == {
        "type": "error",
        "error": "Not found",
        "detail": "Reply not found",
    }
    events = await receive_until(owner_socket, "reply.finished")
    assert events[-1]["status"] == "complete"
    await owner_socket.disconnect()
    await other_socket.disconnect()


async def test_a_failing_model_ends_the_reply_failed_with_a_sentence(owner_id: str) -> None:
    set_assistant(FailingAssistant(AssistantError("connection reset"), "Half an", " answer"))
    conversation = await sync_to_async(make_conversation)(owner_id)
    communicator = socket(owner_id, conversation.pk)
    await opened(communicator)
    await communicator.send_json_to({"type": "send", "message": "Try"})
    events = await receive_until(communicator, "reply.finished")
    finished = events[-1]
    assert finished["status"] == "failed"
    assert finished["error"] == "Assistant unavailable"
    assert finished["detail"] == "The assistant could not answer right now. Please try again."
    reply = await reload(finished["reply_id"])
    assert (reply.status, reply.content) == ("failed", "Half an answer")
    user_message = await Message.objects.aget(conversation=conversation, role="user")
    assert user_message.content == "Try"  # the user's own message is never lost
    await communicator.disconnect()


async def test_retry_streams_the_failed_reply_again_without_a_second_user_message(owner_id: str) -> None:
    """FR-014a, FR-017: Retry asks the model again; the user's message is not saved twice."""
    set_assistant(FailingAssistant(AssistantError("connection reset"), "Half an", " answer"))
    conversation = await sync_to_async(make_conversation)(owner_id)
    communicator = socket(owner_id, conversation.pk)
    await opened(communicator)
    await communicator.send_json_to({"type": "send", "message": "Try again"})
    failed = (await receive_until(communicator, "reply.finished"))[-1]
    assert failed["status"] == "failed"
    set_assistant(OfflineAssistant())

    await communicator.send_json_to({"type": "retry"})
    events = await receive_until(communicator, "reply.finished")
    assert [e["type"] for e in events[:2]] == ["message.created", "reply.started"]
    assert events[0]["message"]["content"] == "Try again" and events[0]["client_id"] is None
    finished = events[-1]
    assert finished["status"] == "complete"
    reply = await reload(finished["reply_id"])
    assert reply.content == expected_reply("Try again") == "".join(e["delta"] for e in of_type(events, "reply.delta"))
    assert await Message.objects.filter(conversation=conversation, role="user").acount() == 1
    assert await Message.objects.filter(conversation=conversation, role="assistant").acount() == 1
    await communicator.disconnect()


async def test_retry_with_nothing_failed_is_refused_politely(owner_id: str) -> None:
    conversation = await sync_to_async(make_conversation)(owner_id, messages=2)
    communicator = socket(owner_id, conversation.pk)
    await opened(communicator)
    await communicator.send_json_to({"type": "retry"})
    event = await communicator.receive_json_from(timeout=WAIT)
    assert event == {
        "type": "error",
        "error": "Nothing to retry",
        "detail": "There is nothing to retry: the reply has already arrived.",
    }
    await communicator.disconnect()


# --- A process that died ------------------------------------------------------------


def _streaming_reply(user_id: str, *, content: str) -> tuple[Any, Message]:
    conversation = make_conversation(user_id)
    start = services.chat_begin(user_id=user_id, conversation_id=conversation.pk, text="Are you there?")
    services.reply_save_partial(reply=start.reply, content=content)
    return conversation, start.reply


async def test_a_reply_whose_process_died_is_closed_as_failed_when_next_seen(owner_id: str) -> None:
    conversation, reply = await sync_to_async(_streaming_reply)(owner_id, content="Half of it")
    # Its process beat for the last time a minute ago.
    await cache.aset(live._heartbeat_key(reply.pk), time.time() - 60, timeout=60)
    communicator = socket(owner_id, conversation.pk)
    ready = await opened(communicator)
    assert ready["replies_in_progress"] == []
    finished = await communicator.receive_json_from(timeout=WAIT)
    assert finished["type"] == "reply.finished" and finished["reply_id"] == str(reply.pk)
    assert finished["status"] == "failed" and finished["length"] == len("Half of it")
    reply = await reload(reply.pk)
    assert (reply.status, reply.content) == ("failed", "Half of it")
    await communicator.disconnect()


async def test_a_reply_being_written_elsewhere_is_left_alone_and_shown(
    owner_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Streaming, young, no live heartbeat: the REST endpoint may be writing it.
    monkeypatch.setattr(live, "SYNC_TIMEOUT_SECONDS", 0.2)
    conversation, reply = await sync_to_async(_streaming_reply)(owner_id, content="So far")
    communicator = socket(owner_id, conversation.pk)
    ready = await opened(communicator)
    assert ready["replies_in_progress"] == [str(reply.pk)]
    snapshot = await communicator.receive_json_from(timeout=WAIT)
    assert snapshot == {
        "type": "reply.snapshot",
        "conversation_id": str(conversation.pk),
        "reply_id": str(reply.pk),
        "status": "streaming",
        "content": "So far",
        "seq": None,
        "created_at": reply.created_at.isoformat(),
    }
    assert (await reload(reply.pk)).status == "streaming"
    await communicator.disconnect()


async def test_a_reply_older_than_the_time_limit_is_closed_as_failed(owner_id: str, settings: Any) -> None:
    settings.LIVE_REPLY_MAX_SECONDS = 10
    conversation, reply = await sync_to_async(_streaming_reply)(owner_id, content="Old")
    await Message.objects.filter(pk=reply.pk).aupdate(created_at=reply.created_at - dt.timedelta(minutes=1))
    closed = await sync_to_async(live.close_stale_replies)(conversation_id=conversation.pk)
    assert [m.pk for m in closed] == [reply.pk]
    assert (await reload(reply.pk)).status == "failed"


async def test_stop_ends_a_reply_nobody_is_writing_keeping_its_text(owner_id: str) -> None:
    conversation, reply = await sync_to_async(_streaming_reply)(owner_id, content="Orphaned")
    communicator = socket(owner_id, conversation.pk)
    await opened(communicator)
    await communicator.send_json_to({"type": "stop", "reply_id": str(reply.pk)})
    events = await receive_until(communicator, "reply.finished")
    assert events[-1]["status"] == "stopped" and events[-1]["length"] == len("Orphaned")
    assert ((await reload(reply.pk)).status, (await reload(reply.pk)).content) == ("stopped", "Orphaned")
    await communicator.disconnect()


# --- Exactly once, and errors that answer (issue 12) -------------------------------------
# ``client_id`` as the idempotency key, errors that answer instead of dropping the socket,
# replies that never stay pending.


async def test_the_same_client_id_twice_stores_one_message_and_replays_the_first(owner_id: str) -> None:
    conversation = await sync_to_async(make_conversation)(owner_id)
    communicator = socket(owner_id, conversation.pk)
    await opened(communicator)
    await communicator.send_json_to({"type": "send", "message": "Only once", "client_id": "c-once"})
    first = await receive_until(communicator, "reply.finished")
    await communicator.send_json_to({"type": "send", "message": "Only once", "client_id": "c-once"})
    replay = await receive_until(communicator, "reply.finished")

    assert [event["type"] for event in replay] == [
        "message.created",
        "reply.started",
        "reply.snapshot",
        "reply.finished",
    ]
    created = of_type(first, "message.created")[0]
    assert of_type(replay, "message.created")[0] == created  # same message, same client_id
    assert replay[1]["reply_id"] == first[1]["reply_id"]
    assert replay[2]["content"] == (await Message.objects.aget(pk=first[1]["reply_id"])).content
    assert replay[3]["status"] == "complete"
    assert await Message.objects.filter(conversation=conversation).acount() == 2
    await communicator.disconnect()


async def test_a_reconnect_that_resends_a_first_message_joins_the_conversation_it_created(owner_id: str) -> None:
    """The first message of a new conversation, sent again on a new bare socket: one conversation, followed."""
    set_assistant(OfflineAssistant(chunk_delay=0.05))
    first_socket = socket(owner_id)
    await opened(first_socket)
    await first_socket.send_json_to({"type": "send", "message": "Start here", "client_id": "c-new"})
    created = await receive_until(first_socket, "reply.started")
    await first_socket.disconnect()  # the connection dropped before the reply

    second_socket = socket(owner_id)
    await opened(second_socket)
    await second_socket.send_json_to({"type": "send", "message": "Start here", "client_id": "c-new"})
    replay = await receive_until(second_socket, "reply.finished")

    conversation_id = of_type(created, "conversation.created")[0]["conversation_id"]
    assert of_type(replay, "conversation.created")[0]["conversation_id"] == conversation_id
    assert of_type(replay, "message.created")[0]["client_id"] == "c-new"
    assert of_type(replay, "reply.snapshot"), "the reply in progress is shown from its text so far"
    assert await Conversation.objects.acount() == 1
    assert await Message.objects.filter(role="user").acount() == 1
    await idle()
    await second_socket.disconnect()


async def test_the_same_client_id_with_another_text_is_refused(owner_id: str) -> None:
    conversation = await sync_to_async(make_conversation)(owner_id)
    communicator = socket(owner_id, conversation.pk)
    await opened(communicator)
    await communicator.send_json_to({"type": "send", "message": "First text", "client_id": "c-7"})
    await receive_until(communicator, "reply.finished")
    await communicator.send_json_to({"type": "send", "message": "Other text", "client_id": "c-7"})
    assert await communicator.receive_json_from(timeout=WAIT) == {
        "type": "error",
        "error": "Validation error",
        "detail": "This message id was already used for a different message. Reload the page and send it again.",
        "client_id": "c-7",
    }
    assert await Message.objects.filter(content="Other text").acount() == 0
    await communicator.disconnect()


async def test_a_deeply_nested_frame_is_answered_and_the_socket_stays(owner_id: str) -> None:
    conversation = await sync_to_async(make_conversation)(owner_id)
    communicator = socket(owner_id, conversation.pk)
    await opened(communicator)
    await communicator.send_to(text_data="[" * 100_000 + "]" * 100_000)
    error = await communicator.receive_json_from(timeout=WAIT)
    assert (error["type"], error["error"]) == ("error", "Validation error")
    await communicator.send_json_to({"type": "send", "message": "Still here?"})
    assert of_type(await receive_until(communicator, "reply.finished"), "reply.finished")[0]["status"] == "complete"
    await communicator.disconnect()


async def test_a_database_error_answers_a_sentence_and_the_socket_stays(owner_id: str, monkeypatch) -> None:
    conversation = await sync_to_async(make_conversation)(owner_id)
    communicator = socket(owner_id, conversation.pk)
    await opened(communicator)
    real = services.chat_begin

    def broken(**kwargs: object) -> services.ChatStart:
        raise OperationalError("terminating connection due to administrator command")

    monkeypatch.setattr(services, "chat_begin", broken)
    await communicator.send_json_to({"type": "send", "message": "During the outage", "client_id": "c-db"})
    assert await communicator.receive_json_from(timeout=WAIT) == {
        "type": "error",
        "error": "Service unavailable",
        "detail": "The service is temporarily unavailable. Please try again.",
        "client_id": "c-db",
    }
    monkeypatch.setattr(services, "chat_begin", real)
    await communicator.send_json_to({"type": "send", "message": "After the outage", "client_id": "c-db"})
    assert of_type(await receive_until(communicator, "reply.finished"), "reply.finished")[0]["status"] == "complete"
    assert await Message.objects.filter(role="user").acount() == 1
    await communicator.disconnect()


async def test_a_reply_that_cannot_be_started_is_failed_at_once(owner_id: str, monkeypatch) -> None:
    """The channel layer fails between saving and starting: the reply never stays pending."""
    communicator = socket(owner_id)
    await opened(communicator)

    async def layer_down(start: services.ChatStart, *, client_id: str | None = None) -> None:
        raise RedisConnectionError("Connection refused")

    monkeypatch.setattr(live, "start_generation", layer_down)
    await communicator.send_json_to({"type": "send", "message": "Save me", "client_id": "c-down"})
    events = await receive_until(communicator, "error")

    finished = of_type(events, "reply.finished")[0]
    assert (finished["status"], finished["error"]) == ("failed", "Assistant unavailable")
    assert events[-1]["client_id"] == "c-down" and "Retry" in events[-1]["detail"]
    reply = await Message.objects.aget(role="assistant")
    assert reply.status == "failed"
    assert await Message.objects.filter(role="user", content="Save me").acount() == 1
    await communicator.disconnect()


async def test_deleting_the_conversation_mid_reply_finishes_it_on_every_socket(owner_id: str) -> None:
    set_assistant(OfflineAssistant(chunk_delay=0.05))
    conversation = await sync_to_async(make_conversation)(owner_id)
    communicator = socket(owner_id, conversation.pk)
    await opened(communicator)
    await communicator.send_json_to({"type": "send", "message": "Long answer please"})
    await receive_until(communicator, "reply.delta")
    await sync_to_async(services.conversation_delete)(conversation=conversation)

    finished = (await receive_until(communicator, "reply.finished"))[-1]

    assert (finished["status"], finished["error"], finished["detail"]) == (
        "failed",
        "Not found",
        "This conversation was deleted.",
    )
    await asyncio.wait_for(idle(), WAIT)
    await communicator.disconnect()


async def test_a_client_id_that_cannot_be_a_key_is_refused_with_a_sentence(owner_id: str) -> None:
    conversation = await sync_to_async(make_conversation)(owner_id)
    communicator = socket(owner_id, conversation.pk)
    await opened(communicator)
    await communicator.send_json_to({"type": "send", "message": "Hi", "client_id": "é"})
    assert await communicator.receive_json_from(timeout=WAIT) == {
        "type": "error",
        "error": "Validation error",
        "detail": "client_id must be 1 to 100 visible ASCII characters (e.g. a UUID).",
        "client_id": "é",
    }
    assert await Message.objects.filter(conversation=conversation).acount() == 0
    await communicator.disconnect()
