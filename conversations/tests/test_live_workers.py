"""Live replies across worker processes (issue "Live replies": several ASGI workers, one Redis).

Two real uvicorn processes on two loopback ports share the test's PostgreSQL
database and a Redis channel layer, as N workers behind one port do in
production. A reply started through one process streams to sockets on the other;
Stop works from either; a socket that joins mid-reply on the other process gets
the text so far, then the rest.

Needs PostgreSQL (``DATABASE_URL``) and Redis (``TEST_REDIS_URL``, else
``REDIS_URL``); skipped with the reason otherwise.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from websockets.asyncio.client import ClientConnection, connect

from conversations.auth import issue_token
from conversations.models import Message
from conversations.tests.factories import make_conversation
from conversations.tests.servers import database_url_of_tests
from conversations.tests.workers import redis_url_of_tests
from conversations.tests.workers import uvicorn_workers as workers_of_project

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

WAIT = 15.0  # seconds for any one event


@pytest.fixture
def redis_url() -> str:
    return redis_url_of_tests()


@contextmanager
def uvicorn_workers(count: int, *, redis_url: str, logs: Path) -> Iterator[list[int]]:
    """``count`` uvicorn processes of the project (``workers.uvicorn_workers``), each on its own loopback port."""
    env = {
        "DATABASE_URL": database_url_of_tests(),
        "REDIS_URL": redis_url,
        "ASSISTANT_BACKEND": "offline",
        # About 2.5 s per reply: time to watch it, join it and stop it.
        "OFFLINE_ASSISTANT_CHUNK_DELAY": "0.1",
    }
    with workers_of_project(count, env=env, logs=logs) as started:
        yield [worker.port for worker in started]


async def receive(ws: ClientConnection) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), WAIT))


async def receive_until(ws: ClientConnection, kind: str, *, count: int = 1) -> list[dict[str, Any]]:
    """Events up to and including the ``count``-th of type ``kind``."""
    events = []
    while count:
        events.append(await receive(ws))
        count -= events[-1]["type"] == kind
    return events


def text_of(events: list[dict[str, Any]]) -> str:
    return "".join(event["delta"] for event in events if event["type"] == "reply.delta")


@pytest.fixture
async def workers(redis_url: str, on_postgres: None, tmp_path: Path) -> AsyncIterator[list[int]]:
    with uvicorn_workers(2, redis_url=redis_url, logs=tmp_path) as ports:
        yield ports
    # The ORM's thread keeps its connection; close it so the test database can be dropped.
    await sync_to_async(connections.close_all)()


async def test_a_reply_streams_across_processes_and_stops_from_either(workers: list[int], owner_id: str) -> None:
    port_a, port_b = workers
    conversation = await sync_to_async(make_conversation)(owner_id)
    token = issue_token(user_id=owner_id)[0]
    path = f"/ws/chat/{conversation.pk}?token={token}"

    async with connect(f"ws://127.0.0.1:{port_a}{path}") as a, connect(f"ws://127.0.0.1:{port_b}{path}") as b:
        assert (await receive(a))["type"] == "ready"
        assert (await receive(b))["type"] == "ready"

        # Started through process A; watched and stopped through process B.
        await a.send(json.dumps({"type": "send", "message": "Across workers", "client_id": "a-1"}))
        seen_by_b = await receive_until(b, "reply.delta", count=3)
        assert [event["type"] for event in seen_by_b[:2]] == ["message.created", "reply.started"]
        assert seen_by_b[0]["client_id"] == "a-1"
        reply_id = seen_by_b[1]["reply_id"]
        await b.send(json.dumps({"type": "stop", "reply_id": reply_id}))
        seen_by_b += await receive_until(b, "reply.finished")
        seen_by_a = await receive_until(a, "reply.finished")

        assert seen_by_a == seen_by_b
        finished = seen_by_b[-1]
        assert finished["status"] == "stopped"
        reply = await Message.objects.aget(pk=reply_id)
        assert reply.status == "stopped" and reply.content == text_of(seen_by_b) and len(reply.content) > 0
        deltas = [event["seq"] for event in seen_by_b if event["type"] == "reply.delta"]
        assert deltas == list(range(1, finished["seq"] + 1))

        # Started through A again; a page opened on B mid-reply catches up; Stop through A.
        await a.send(json.dumps({"type": "send", "message": "Join me midway"}))
        seen_by_a = await receive_until(a, "reply.delta", count=4)
        reply_id = seen_by_a[1]["reply_id"]
        async with connect(f"ws://127.0.0.1:{port_b}{path}") as late:
            ready = await receive(late)
            assert ready["replies_in_progress"] == [reply_id]
            snapshot = await receive(late)
            assert snapshot["type"] == "reply.snapshot" and snapshot["seq"] >= 4
            followed = await receive_until(late, "reply.delta")
            await a.send(json.dumps({"type": "stop", "reply_id": reply_id}))
            followed += await receive_until(late, "reply.finished")

        assert followed[-1]["status"] == "stopped"
        assert [event["seq"] for event in followed if event["type"] == "reply.delta"] == list(
            range(snapshot["seq"] + 1, followed[-1]["seq"] + 1)
        )
        reply = await Message.objects.aget(pk=reply_id)
        assert reply.status == "stopped"
        assert reply.content == snapshot["content"] + text_of(followed)
        assert await Message.objects.filter(conversation=conversation, role="assistant").acount() == 2
