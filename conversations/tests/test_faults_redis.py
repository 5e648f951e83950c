"""Redis going away and coming back under a running server (issue "Hardening": faults).

A real uvicorn process on the test's PostgreSQL database, with ``REDIS_URL``
pointing at a throwaway ``redis-server`` of its own (the channel layer, and the
cache that holds rate-limit counters and heartbeats), and a per-user rate limit
switched on so the cache is used on every send. Redis is killed, then started
again on the same port. Asserted:

* a live reply streaming over a socket when Redis dies is still written to the end
  and saved complete (publishing is best effort);
* while Redis is down a chat turn does not depend on it: the API's chat endpoint
  answers 200 with the reply, and the page's plain form post (what the page falls
  back to when its socket is down: ``static/js/live.js``) saves the message and its
  reply and redirects back (PRG); the page itself opens;
* a WebSocket cannot be had meanwhile, and says so cleanly: an ``error`` event
  ("Service unavailable") and close code 1011, after which the page reconnects with
  backoff and posts its forms meanwhile; the server keeps serving;
* once Redis is back, sockets work again: ``ready``, then a reply streamed live.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from pathlib import Path

import httpx2
import pytest
from django.conf import settings
from django.db import connections
from django.test import Client
from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

from conversations.auth import issue_token
from conversations.models import Message
from conversations.tests import invariants, reliability
from conversations.tests.factories import make_conversation
from conversations.tests.servers import database_url_of_tests, throwaway_redis, uvicorn_project

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

WAIT = 15.0  # seconds for any one socket event


@pytest.fixture
def redis_server():
    with throwaway_redis() as server:
        yield server


@pytest.fixture
def server(on_postgres: None, redis_server, tmp_path: Path):
    env = {
        "DATABASE_URL": database_url_of_tests(),
        "REDIS_URL": redis_server.url,
        "ASSISTANT_BACKEND": "offline",
        "OFFLINE_ASSISTANT_CHUNK_DELAY": "0.05",  # about 1.5 s per reply
        "CHAT_RATE_LIMIT": "1000/minute",  # the counters live in Redis
    }
    with uvicorn_project(env, tmp_path / "uvicorn.log") as port:
        yield port
    connections.close_all()


async def _socket_ready(port: int, path: str, token: str) -> dict:
    """The first event on a new socket (``ready``, or an ``error`` before it is closed)."""
    async with connect(f"ws://127.0.0.1:{port}{path}?token={token}", open_timeout=WAIT) as ws:
        return json.loads(await asyncio.wait_for(ws.recv(), WAIT))


async def _socket_turn(port: int, path: str, token: str, text: str) -> list[dict]:
    """Connect, send ``text``, return the events up to ``reply.finished``."""
    events: list[dict] = []
    async with connect(f"ws://127.0.0.1:{port}{path}?token={token}", open_timeout=WAIT) as ws:
        events.append(json.loads(await asyncio.wait_for(ws.recv(), WAIT)))
        await ws.send(json.dumps({"type": "send", "message": text}))
        while events[-1]["type"] != "reply.finished":
            events.append(json.loads(await asyncio.wait_for(ws.recv(), WAIT)))
    return events


async def _socket_turn_until_started(port: int, path: str, token: str, text: str, redis_server) -> str:
    """Send ``text`` over a socket; kill Redis as soon as the reply starts; return the reply's id."""
    async with connect(f"ws://127.0.0.1:{port}{path}?token={token}", open_timeout=WAIT) as ws:
        assert json.loads(await asyncio.wait_for(ws.recv(), WAIT))["type"] == "ready"
        await ws.send(json.dumps({"type": "send", "message": text}))
        while (event := json.loads(await asyncio.wait_for(ws.recv(), WAIT)))["type"] != "reply.delta":
            pass
        redis_server.kill()
        return event["reply_id"]


def _wait_finished(reply_id: str, seconds: float = WAIT) -> Message:
    deadline = time.monotonic() + seconds
    while (reply := Message.objects.get(pk=reply_id)).status in ("pending", "streaming"):
        assert time.monotonic() < deadline, f"reply still {reply.status} after {seconds} s"
        time.sleep(0.1)
    return reply


async def _socket_refused(port: int, path: str, token: str) -> tuple[dict, int | None]:
    """The first event of a socket opened while Redis is down, and the code it is then closed with."""
    async with connect(f"ws://127.0.0.1:{port}{path}?token={token}", open_timeout=WAIT) as ws:
        event = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
        with pytest.raises(WebSocketException):
            await asyncio.wait_for(ws.recv(), WAIT)
        return event, ws.close_code


def test_chat_turns_survive_redis_going_away_and_sockets_come_back_with_it(server: int, redis_server, owner) -> None:
    port = server
    user_id = str(owner.pk)
    conversation = make_conversation(user_id, title="Through an outage")
    token = issue_token(user_id=user_id)[0]
    path = f"/ws/chat/{conversation.pk}"
    session = Client()
    session.force_login(owner)
    csrf = secrets.token_hex(16)
    cookies = {settings.SESSION_COOKIE_NAME: session.cookies[settings.SESSION_COOKIE_NAME].value, "csrftoken": csrf}
    base = f"http://127.0.0.1:{port}"

    def api_chat(client: httpx2.Client, text: str) -> httpx2.Response:
        return client.post(
            f"/api/{user_id}/chat",
            json={"message": text, "conversation_id": str(conversation.pk)},
            headers={"Authorization": f"Bearer {token}"},
        )

    def form_post(client: httpx2.Client, text: str) -> httpx2.Response:
        return client.post(f"/chat/{conversation.pk}/send", data={"text": text}, headers={"X-CSRFToken": csrf})

    with httpx2.Client(base_url=base, timeout=30, cookies=cookies) as client:
        # Redis up: all three ways in work.
        assert api_chat(client, "before: api").status_code == 200
        assert form_post(client, "before: form").status_code == 302
        assert asyncio.run(_socket_ready(port, path, token))["type"] == "ready"

        # A live reply running when Redis dies is still written to the end and saved.
        live_reply_id = asyncio.run(_socket_turn_until_started(port, path, token, "live: cut off", redis_server))
        live_reply = _wait_finished(live_reply_id)
        assert live_reply.status == "complete" and live_reply.content

        # Redis down: the chat turn does not need it.
        response = api_chat(client, "during: api")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "complete"
        response = form_post(client, "during: form")
        assert response.status_code == 302, response.text
        assert response.headers["location"] == f"/chat/{conversation.pk}"
        page = client.get(f"/chat/{conversation.pk}")
        assert page.status_code == 200 and "during: form" in page.text
        refused, close_code = asyncio.run(_socket_refused(port, path, token))
        assert refused["type"] == "error" and refused["error"] == "Service unavailable"
        assert close_code == 1011
        assert client.get(f"/api/{user_id}/conversations", headers={"Authorization": f"Bearer {token}"}).is_success

        redis_server.start()

        # Redis back: sockets work again (as the page reconnects: a few tries at most,
        # the layer's pooled connections to the old server fail once), and a reply
        # streams live through the layer.
        attempts = 0
        while True:
            attempts += 1
            event = asyncio.run(_socket_ready(port, path, token))
            if event["type"] == "ready":
                break
            assert event["error"] == "Service unavailable" and attempts < 10, event
            time.sleep(0.5)
        events = asyncio.run(_socket_turn(port, path, token, "after: socket"))
        assert [e["type"] for e in events[:3]] == ["ready", "message.created", "reply.started"]
        assert events[-1]["type"] == "reply.finished" and events[-1]["status"] == "complete"
        assert api_chat(client, "after: api").status_code == 200

    rows = invariants.rows_from_orm()
    assert invariants.problems(rows) == []
    texts = [
        "before: api",
        "before: form",
        "live: cut off",
        "during: api",
        "during: form",
        "after: socket",
        "after: api",
    ]
    assert [row.content for row in rows if row.role == "user"] == texts
    assert Message.objects.filter(role="assistant", status="complete").count() == len(texts)

    reliability.record(
        "redis_outage",
        {
            "requests": len(texts),
            "faults": "Redis killed mid-reply, restarted",
            "answered_200": 3,
            "messages_checked": len(rows),
            "lost": 0,
            "notes": f"7 chat turns: 3 API (200), 2 form posts (302), 2 over a socket; live reply cut from Redis saved complete; during the outage: API chat 200, form post 302 + saved, socket refused: error event + close 1011; "
            f"after: socket ready at try {attempts} + live reply",
        },
    )
