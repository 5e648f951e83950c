"""The detail is streamed under ASGI too, with the same body as under WSGI (issue 6; contract: HTTP API)."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import HttpCommunicator
from django.db import connection

from chatsite.asgi import application
from conversations import selectors
from conversations.auth import issue_token
from conversations.tests.factories import make_conversation


def _make_and_disconnect(owner_id: str):
    # Runs in asgiref's shared thread: close its connection so the test database can be dropped.
    try:
        return make_conversation(owner_id, title="Streamed", messages=9)
    finally:
        connection.close()


# The ASGI app reaches the database from its own threads: the rows must be committed.
pytestmark = pytest.mark.django_db(transaction=True)


async def test_it_streams_the_detail_in_several_body_messages_under_asgi(owner_id: str, monkeypatch) -> None:
    monkeypatch.setattr(selectors, "DETAIL_CHUNK_SIZE", 4)
    conversation = await sync_to_async(_make_and_disconnect)(owner_id)
    token, _ = issue_token(user_id=owner_id)
    path = f"/api/{owner_id}/conversations/{conversation.pk}"
    communicator = HttpCommunicator(
        application, "GET", path, headers=[(b"host", b"testserver"), (b"authorization", f"Bearer {token}".encode())]
    )
    await communicator.send_input({"type": "http.request", "body": b""})
    start = await communicator.receive_output(timeout=10)
    assert start["status"] == 200
    assert (b"Content-Type", b"application/json") in start["headers"]
    parts = []
    for _ in range(100):
        message = await communicator.receive_output(timeout=10)
        parts.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    await communicator.wait(timeout=10)  # the app finishes: response closed, connection released
    # head, three chunks of messages (4 + 4 + 1), tail, and the closing empty message
    assert len([p for p in parts if p]) == 5
    body = json.loads(b"".join(parts))
    assert body["title"] == "Streamed"
    assert [m["content"] for m in body["messages"]] == [f"message {i}" for i in range(9)]
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
