"""Request threads are lent and given back, not started and joined per request (issue 6: CPU per request).

``chatsite.handlers.ReusedThreadsASGIHandler`` runs each request's synchronous code on a
thread from ``RequestThreads``; these tests go through the real ASGI application
(``chatsite.asgi.application``) for both doors (the lean Bearer API chain and the full stack).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from channels.testing import HttpCommunicator
from django.db import connections

from chatsite.asgi import application
from chatsite.handlers import (
    DEFAULT_DATABASE_THREADS,
    APIHandler,
    RequestThread,
    RequestThreads,
    ReusedThreadsASGIHandler,
    database_thread_count,
    database_threads,
)
from conversations import selectors, services
from conversations.auth import issue_token
from conversations.models import Message

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
async def _close_connections_everywhere() -> AsyncIterator[None]:
    yield
    await sync_to_async(connections.close_all)()


async def _get(path: str, *, token: str | None = None) -> dict[str, Any]:
    headers = [(b"host", b"testserver")]
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    communicator = HttpCommunicator(application, "GET", path, headers=headers)
    response = await communicator.get_response(timeout=20)
    await communicator.wait(timeout=20)
    return response


def test_a_thread_given_back_idle_serves_the_next_request() -> None:
    threads = RequestThreads(max_idle=4)
    first = threads.take()
    first.submit(lambda: None).result(timeout=5)
    threads.give_back(first)
    assert len(threads) == 1
    assert threads.take() is first
    assert len(threads) == 0
    first.shutdown()


def test_a_thread_still_busy_when_its_request_ends_is_not_reused() -> None:
    threads = RequestThreads(max_idle=4)
    busy = threads.take()
    release = threading.Event()
    running = busy.submit(release.wait, 5)
    threads.give_back(busy)  # a cancelled request: its sync call is still running
    assert busy.busy
    assert len(threads) == 0
    fresh = threads.take()
    assert fresh is not busy
    release.set()
    running.result(timeout=5)
    fresh.shutdown()


def test_no_more_than_max_idle_threads_are_kept() -> None:
    threads = RequestThreads(max_idle=2)
    taken = [threads.take() for _ in range(3)]
    for thread in taken:
        threads.give_back(thread)
    assert len(threads) == 2
    assert taken[2]._shutdown  # the third was let go
    for _ in range(2):
        threads.take().shutdown()


def test_a_request_thread_counts_its_unfinished_work() -> None:
    thread = RequestThread()
    gate = threading.Event()
    future = thread.submit(gate.wait, 5)
    assert thread.busy
    gate.set()
    future.result(timeout=5)
    deadline = time.monotonic() + 5
    while thread.busy and time.monotonic() < deadline:  # the done callback runs on the worker
        time.sleep(0.01)
    assert not thread.busy
    thread.shutdown()


async def test_one_requests_sync_calls_share_its_thread_and_the_next_request_reuses_it() -> None:
    seen: list[int] = []

    async def request() -> None:
        async with ThreadSensitiveContext(executor=thread):
            await sync_to_async(lambda: seen.append(threading.get_ident()))()
            await sync_to_async(lambda: seen.append(threading.get_ident()))()

    threads = RequestThreads()
    thread = threads.take()
    await request()
    threads.give_back(thread)
    assert threads.take() is thread
    await request()
    thread.shutdown()
    assert len(set(seen)) == 1
    assert seen[0] != threading.get_ident()


class RecordingThreads(RequestThreads):
    def __init__(self) -> None:
        super().__init__()
        self.lent: list[RequestThread] = []

    def take(self) -> RequestThread:
        thread = super().take()
        self.lent.append(thread)
        return thread


@pytest.mark.parametrize("bearer", [True, False], ids=["lean API chain", "full stack"])
async def test_both_doors_run_requests_on_a_lent_thread_and_take_it_back(monkeypatch, bearer: bool) -> None:
    """Two requests in a row are served by one lent thread; the sync view runs on it, not on the event loop."""
    threads = RecordingThreads()
    monkeypatch.setattr(ReusedThreadsASGIHandler, "request_threads", threads)
    seen: list[int] = []

    def fake_list(**_kwargs: Any) -> tuple[list[Any], int]:
        seen.append(threading.get_ident())
        return [], 0

    monkeypatch.setattr(selectors, "conversation_list", fake_list)
    token, _ = issue_token(user_id="alice")
    for _ in range(2):
        # With a Bearer token the lean chain answers; without one, the full stack (a 401 there).
        response = await _get("/api/alice/conversations", token=token if bearer else None)
        assert response["status"] == (200 if bearer else 401)
    assert len(threads.lent) == 2
    assert threads.lent[0] is threads.lent[1]
    assert len(threads) == 1
    if bearer:
        (worker,) = threads.lent[0]._threads
        assert seen == [worker.ident, worker.ident]
        assert worker.ident != threading.get_ident()
    threads.take().shutdown()
    assert APIHandler.request_threads is threads  # one set of threads per process, for both handlers


def test_database_steps_stay_on_the_callers_thread_outside_a_served_request() -> None:
    # Tests and consumers: thread-sensitive as before, so a test's transaction sees them.
    assert database_threads() is None


async def test_a_served_chats_database_steps_run_on_the_shared_database_threads(monkeypatch) -> None:
    """Issue 3: with many chats in flight, their database steps queue on a few threads, not on each request's."""
    threads_seen: dict[str, str] = {}
    real_begin, real_finish = services.chat_begin, services.reply_finish

    def chat_begin(**kwargs: Any) -> services.ChatStart:
        threads_seen["chat_begin"] = threading.current_thread().name
        return real_begin(**kwargs)

    def reply_finish(**kwargs: Any) -> bool:
        threads_seen["reply_finish"] = threading.current_thread().name
        return real_finish(**kwargs)

    monkeypatch.setattr(services, "chat_begin", chat_begin)
    monkeypatch.setattr(services, "reply_finish", reply_finish)
    token, _ = issue_token(user_id="alice")
    body = json.dumps({"message": "Hello"}).encode()
    headers = [
        (b"host", b"testserver"),
        (b"authorization", f"Bearer {token}".encode()),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    communicator = HttpCommunicator(application, "POST", "/api/alice/chat", body=body, headers=headers)
    response = await communicator.get_response(timeout=20)
    await communicator.wait(timeout=20)
    assert response["status"] == 200, response["body"]
    assert json.loads(response["body"])["status"] == "complete"
    assert threads_seen["chat_begin"].startswith("database")
    assert threads_seen["reply_finish"].startswith("database")
    # The message and the reply are committed (the steps ran in no outer transaction).
    messages = await sync_to_async(list)(Message.objects.filter(user_id="alice").values_list("role", "status"))
    assert sorted(messages) == [("assistant", "complete"), ("user", "complete")]


def test_there_is_one_database_thread_per_pooled_connection() -> None:
    assert database_thread_count({"ENGINE": "x", "OPTIONS": {"pool": {"max_size": 7}}}) == 7
    assert database_thread_count({"ENGINE": "x", "OPTIONS": {"pool": True}}) == DEFAULT_DATABASE_THREADS
    assert database_thread_count({"ENGINE": "x"}) == DEFAULT_DATABASE_THREADS
