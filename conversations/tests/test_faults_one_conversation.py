"""100 concurrent sends to one conversation: each stored once, in a consistent order (issues "Hardening", 12).

A real uvicorn process on the test's PostgreSQL database, the offline assistant.
The 100 requests for one conversation are sent at once, each with its own
``Idempotency-Key``. One reply at a time per conversation (issue 12): while a reply is
being written, a send is refused with 409 "Reply in progress" and saves nothing; each
client sends again with the same key until it is accepted. ``chat_begin`` serialises
them on the conversation's row lock. What is asserted afterwards (FR-005, FR-006):

* all 100 were finally answered 200, and exactly 200 messages are stored (100 user,
  100 replies, every reply complete): no refused send left a trace, none was stored twice;
* in ``(created_at, id)`` order, the order every door shows, the conversation reads
  user, reply, user, reply...: each reply is the one the API answered for the user
  message right before it, and ``created_at`` strictly increases (no ties left to
  the random ids to break);
* ``updated_at`` is at or after the newest message's ``created_at``.
"""

from __future__ import annotations

import asyncio
import uuid
from itertools import pairwise
from pathlib import Path

import httpx2
import pytest
from django.db import connections

from conversations.auth import issue_token
from conversations.models import Conversation
from conversations.tests import invariants, reliability
from conversations.tests.factories import make_conversation
from conversations.tests.servers import database_url_of_tests, uvicorn_project

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

SENDS = 100
USER = "busy-user"


@pytest.fixture
def server(on_postgres: None, tmp_path: Path):
    env = {
        "DATABASE_URL": database_url_of_tests(),
        "DATABASE_POOL": "1",
        "DATABASE_POOL_MAX_SIZE": "10",
        "ASSISTANT_BACKEND": "offline",
    }
    with uvicorn_project(env, tmp_path / "uvicorn.log") as port:
        yield f"http://127.0.0.1:{port}"
    connections.close_all()


def test_100_concurrent_sends_to_one_conversation_are_all_stored_in_order(server: str) -> None:
    conversation = make_conversation(USER, title="Busy")
    token = issue_token(user_id=USER)[0]
    texts = [f"concurrent message {n:03d}" for n in range(SENDS)]

    refused = 0

    async def send(client: httpx2.AsyncClient, text: str) -> httpx2.Response:
        nonlocal refused
        body = {"message": text, "conversation_id": str(conversation.pk)}
        key = {"Idempotency-Key": str(uuid.uuid4())}
        while True:
            response = await client.post(f"/api/{USER}/chat", json=body, headers=key)
            if response.status_code != 409:
                return response
            assert response.json()["error"] == "Reply in progress", response.text
            refused += 1
            await asyncio.sleep(0.1)

    async def load() -> list[httpx2.Response]:
        limits = httpx2.Limits(max_connections=SENDS, max_keepalive_connections=SENDS)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx2.AsyncClient(base_url=server, timeout=60, limits=limits, headers=headers) as client:
            return await asyncio.gather(*(send(client, text) for text in texts))

    responses = asyncio.run(load())

    assert [response.status_code for response in responses] == [200] * SENDS
    assert refused > 0  # they did meet a reply in progress
    answered = {text: response.json()["message_id"] for text, response in zip(texts, responses, strict=True)}
    rows = invariants.rows_from_orm()
    assert len(rows) == 2 * SENDS
    assert invariants.problems(rows) == []  # u, a, u, a...; each text once; no reply left open
    assert {row.content for row in rows if row.role == "user"} == set(texts)
    for user_message, reply in zip(rows[::2], rows[1::2], strict=True):
        assert reply.id == answered[user_message.content]
        assert reply.status == "complete"
    times = [row.created_at for row in rows]
    assert all(earlier < later for earlier, later in pairwise(times))
    conversation = Conversation.objects.get(pk=conversation.pk)
    assert conversation.updated_at >= times[-1]

    reliability.record(
        "one_conversation",
        {
            "requests": SENDS,
            "faults": 0,
            "answered_200": SENDS,
            "answered_503": 0,
            "answered_504": 0,
            "messages_checked": len(rows),
            "lost": 0,
            "notes": (
                f"one conversation; {refused} sends refused (409, reply in progress) and sent again with "
                "their key; (created_at, id) order strictly user, own reply, ...; updated_at >= newest"
            ),
        },
    )


def test_sends_within_one_clock_tick_still_keep_each_reply_after_its_own_message(monkeypatch) -> None:
    """The clock may not move between two sends (coarse clocks, a step back): order must not depend on it."""
    from django.utils import timezone

    from conversations import services

    conversation = make_conversation(USER)
    frozen = timezone.now()
    monkeypatch.setattr(services.timezone, "now", lambda: frozen)
    texts = [f"same tick {n}" for n in range(6)]
    for text in texts:
        start = services.chat_begin(user_id=USER, conversation_id=conversation.pk, text=text)
        services.reply_finish(reply=start.reply, content=f"reply to {text}", status="complete")

    rows = invariants.rows_from_orm()
    assert [row.content for row in rows] == [part for text in texts for part in (text, f"reply to {text}")]
    assert Conversation.objects.get(pk=conversation.pk).updated_at >= rows[-1].created_at
