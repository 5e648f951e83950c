"""The socket under repeats and faults (issue 12): ``client_id`` as the idempotency key,
errors that answer instead of dropping the socket, replies that never stay pending."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from asgiref.sync import sync_to_async
from channels.layers import channel_layers, get_channel_layer
from django.db import OperationalError, connections
from redis.exceptions import ConnectionError as RedisConnectionError

from conversations import live, services
from conversations.assistant import set_assistant
from conversations.assistant.offline import OfflineAssistant
from conversations.models import Conversation, Message
from conversations.tests.factories import make_conversation
from conversations.tests.test_live import WAIT, idle, of_type, opened, receive_until, socket

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
async def _live_layer() -> AsyncIterator[None]:
    # A fresh layer per test: the in-memory one binds its queues to the test's event loop.
    channel_layers._reset_backends("CHANNEL_LAYERS")
    yield
    await live.stop_all()
    await get_channel_layer().flush()
    channel_layers._reset_backends("CHANNEL_LAYERS")
    await sync_to_async(connections.close_all)()


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
