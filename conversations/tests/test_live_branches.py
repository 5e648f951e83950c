"""The socket's ``regenerate`` and ``edit`` actions (issue 14): streamed like a send or a retry."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from conversations.assistant import set_assistant
from conversations.models import Message
from conversations.tests import test_live as live_tests
from conversations.tests.test_api_branches import Counting
from conversations.tests.test_live import opened, receive_until, socket

pytestmark = pytest.mark.django_db(transaction=True)

live_layer = live_tests.live_layer


@pytest.fixture(autouse=True)
async def _live_layer(live_layer: None):  # type: ignore[no-untyped-def]
    yield


async def test_regenerate_and_edit_stream_over_the_socket(owner_id: str) -> None:
    set_assistant(Counting())
    from conversations.tests.factories import make_conversation

    conversation = await sync_to_async(make_conversation)(owner_id)
    communicator = socket(owner_id, conversation.pk)
    await opened(communicator)
    await communicator.send_json_to({"type": "send", "message": "Hi"})
    first = (await receive_until(communicator, "reply.finished"))[-1]

    await communicator.send_json_to({"type": "regenerate"})
    events = await receive_until(communicator, "reply.finished")
    # The news that the branch shown changed (other pages show it again), and the turn's events.
    assert {"type": "conversation.branch", "conversation_id": str(conversation.pk)} in events
    events = [e for e in events if e["type"] != "conversation.branch"]
    assert [e["type"] for e in events[:2]] == ["message.created", "reply.started"]
    assert events[0]["message"]["content"] == "Hi"
    assert "".join(e["delta"] for e in events if e["type"] == "reply.delta") == "reply 2 to Hi"
    earlier = await Message.objects.aget(pk=first["reply_id"])
    assert (earlier.active, earlier.version_count) == (False, 2)

    question = await Message.objects.aget(conversation=conversation, role="user")
    await communicator.send_json_to({"type": "edit", "message_id": str(question.pk), "message": "Hello"})
    events = await receive_until(communicator, "reply.finished")
    assert any(e["type"] == "conversation.branch" for e in events)
    events = [e for e in events if e["type"] != "conversation.branch"]
    created = events[0]
    assert created["type"] == "message.created" and created["message"]["content"] == "Hello"
    assert created["message"]["id"] != str(question.pk)
    assert "".join(e["delta"] for e in events if e["type"] == "reply.delta") == "reply 3 to Hello"
    shown = [m async for m in Message.objects.filter(conversation=conversation, active=True).order_by("created_at")]
    assert [m.content for m in shown] == ["Hello", "reply 3 to Hello"]

    await communicator.send_json_to({"type": "edit", "message_id": events[-1]["reply_id"], "message": "x"})
    refused = await communicator.receive_json_from(timeout=5)
    assert refused == {"type": "error", "error": "Validation error", "detail": "Only your own messages can be edited."}
    await communicator.disconnect()
