"""Sockets that stay up, and sends that land once, while Redis and PostgreSQL misbehave (issue 12).

Real uvicorn processes of the project (``workers.py``) on the test's PostgreSQL database;
real WebSocket clients (``websockets``). Each client behaves as the page does
(``static/js/live.js``): a ``send`` carries a ``client_id``; if the socket drops or goes
silent before the send is answered, it reconnects and sends the same ``client_id`` again
(which saves nothing twice). Asserted:

* **Redis restarted** (a ``redis-server`` of the test's own: ``servers.ThrowawayRedis``,
  stopped while clients send on two workers, started again): every send either lands
  once (``message.created`` with its ``client_id``, stored once) or is answered with an
  ``error`` event; no reply stays pending or streaming once the restart has settled; every
  client reconnects and a send then goes through, streamed live;
* **PostgreSQL backends terminated** (``pg_terminate_backend`` on the server's
  connections, again and again while sends run): each send is answered, by its reply or by
  an ``error`` event with a sentence (no traceback, no bare code); the socket stays open
  throughout, and a later send works; every message is stored once, every reply closed;
* **PostgreSQL refusing the server for longer than a live reply's last save keeps trying**
  (``ALLOW_CONNECTIONS false`` for ``LONG_OUTAGE`` seconds, its sessions terminated): once
  the database is back the reply is closed (``reply.finished``), the socket is still open
  and the next send on it completes (nothing left "Reply in progress");
* **20 idle sockets** on the Redis channel layer held ``IDLE_SECONDS`` (60 s) without a
  frame from the clients: none is closed by the server, each still answers a frame of its
  own, and each gets the events of a send made on one of them;
* **a JSON frame nested 100,000 deep**: an ``error`` event, and the socket stays open.

The Redis-restart test needs ``redis-server``; the idle-sockets test needs Redis
(``TEST_REDIS_URL``); all need PostgreSQL (``DATABASE_URL``). Each is skipped with the reason otherwise.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import connection, connections
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from conversations.auth import issue_token
from conversations.models import Message
from conversations.tests import invariants, reliability
from conversations.tests.factories import make_conversation
from conversations.tests.servers import ThrowawayRedis, database_url_of_tests, throwaway_redis
from conversations.tests.workers import (
    Worker,
    is_sentence,
    receive,
    receive_until,
    redis_url_of_tests,
    uvicorn_workers,
    wait_for,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

SILENCE = 5.0  # seconds without an event after which a client counts its socket as lost
IDLE_SECONDS = 60.0
IDLE_SOCKETS = 20
OPEN = ("pending", "streaming")


def _env(**extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url_of_tests(),
        "DATABASE_POOL": "1",
        "DATABASE_POOL_MAX_SIZE": "4",
        "ASSISTANT_BACKEND": "offline",
        "OFFLINE_ASSISTANT_CHUNK_DELAY": "0.03",  # about 0.8 s per reply
        **extra,
    }


@pytest.fixture
def logs(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    connections.close_all()


@dataclass
class Send:
    """One message a client sent, and how it was answered."""

    text: str
    client_id: str
    landed: bool = False  # message.created with this client_id seen
    message_id: str = ""
    reply_id: str = ""
    status: str = ""  # of reply.finished
    errors: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0  # sockets used (1 unless it had to reconnect and send again)
    refused: int = 0  # connections answered with an error event instead of ready

    @property
    def answered(self) -> bool:
        return bool(self.status or self.errors)


async def _follow_send(ws: ClientConnection, send: Send, *, silence: float = SILENCE) -> None:
    """Read ``ws`` until ``send`` is answered: its reply finished, or a new error event for it.

    Raises:
        TimeoutError: ``silence`` seconds without any event.
    """
    errors = len(send.errors)
    while not send.status and len(send.errors) == errors:
        event = await receive(ws, silence)
        kind = event["type"]
        if kind == "message.created" and event.get("client_id") == send.client_id:
            send.landed, send.message_id = True, event["message"]["id"]
        elif kind == "reply.started" and send.landed and event["user_message_id"] == send.message_id:
            send.reply_id = event["reply_id"]
        elif kind == "reply.finished" and send.reply_id and event["reply_id"] == send.reply_id:
            send.status = event["status"]
        elif kind == "error" and event.get("client_id") == send.client_id:
            send.errors.append(event)


async def _send_reconnecting(worker: Worker, path: str, token: str, send: Send, *, seconds: float = 40.0) -> Send:
    """Send ``send`` on a new socket; while the socket is refused, drops or goes silent, reconnect
    and send the same ``client_id`` again, as the page does. Fails after ``seconds``."""
    frame = json.dumps({"type": "send", "message": send.text, "client_id": send.client_id})
    async with asyncio.timeout(seconds):
        while True:
            send.attempts += 1
            try:
                async with connect(worker.ws(path, token), open_timeout=SILENCE) as ws:
                    if (await receive(ws, SILENCE))["type"] != "ready":
                        send.refused += 1  # Redis down: error event, then close 1011
                    else:
                        await ws.send(frame)
                        await _follow_send(ws, send)
                        return send
            except (OSError, TimeoutError, WebSocketException):
                pass  # dropped or silent: the events may be lost, the send is not
            await asyncio.sleep(0.3)


def _stored_user_messages() -> Counter[str]:
    return Counter(Message.objects.filter(role=Message.Role.USER).values_list("content", flat=True))


def _no_open_replies() -> bool:
    return not Message.objects.filter(role=Message.Role.ASSISTANT, status__in=OPEN).exists()


# --- Redis stopped and started again ------------------------------------------------------


@pytest.fixture
def redis_server() -> Iterator[ThrowawayRedis]:
    with throwaway_redis() as server:
        yield server


def test_sends_land_once_or_are_refused_while_redis_restarts_and_sockets_come_back(
    on_postgres: None, redis_server: ThrowawayRedis, owner_id: str, logs: Path
) -> None:
    env = _env(REDIS_URL=redis_server.url, LIVE_HEARTBEAT_SECONDS="1", LIVE_SWEEP_SECONDS="1")
    clients = 4  # two on each worker, each with a conversation of its own (one reply at a time)
    conversations = [make_conversation(owner_id, title=f"Client {n}") for n in range(clients)]
    token = issue_token(user_id=owner_id)[0]
    down = {"at": 0.0, "for": 0.0}

    async def client(n: int, worker: Worker, until: float) -> list[Send]:
        path = f"/ws/chat/{conversations[n].pk}"
        sends: list[Send] = []
        while time.monotonic() < until:
            text = f"client {n} message {len(sends)}"
            sends.append(await _send_reconnecting(worker, path, token, Send(text, f"c{n}-m{len(sends)}")))
        return sends

    async def outage() -> None:
        await asyncio.sleep(1.5)
        down["at"] = time.monotonic()
        await asyncio.to_thread(redis_server.kill)
        await asyncio.sleep(2.0)
        await asyncio.to_thread(redis_server.start)
        down["for"] = time.monotonic() - down["at"]

    async def load(workers: list[Worker]) -> list[Send]:
        until = time.monotonic() + 6.0  # new sends for 6 s: before, during and after the outage
        results = await asyncio.gather(outage(), *(client(n, workers[n % 2], until) for n in range(clients)))
        return [send for sends in results[1:] for send in sends]

    async def after(workers: list[Worker]) -> list[Send]:
        return list(
            await asyncio.gather(
                *(
                    _send_reconnecting(
                        workers[n % 2],
                        f"/ws/chat/{conversations[n].pk}",
                        token,
                        Send(f"client {n} after", f"c{n}-after"),
                    )
                    for n in range(clients)
                )
            )
        )

    with uvicorn_workers(2, env=env, logs=logs) as workers:
        sends = asyncio.run(load(workers))
        started = time.monotonic()
        wait_for(_no_open_replies, seconds=20, every=0.1, what="every reply closed after the restart")
        settled_in = time.monotonic() - started
        finals = asyncio.run(after(workers))

    stored = _stored_user_messages()
    for send in sends:
        assert send.answered, send
        if send.landed:
            assert stored[send.text] == 1, send
        else:
            assert send.errors and stored[send.text] <= 1, send
        for error in send.errors:
            assert is_sentence(error["detail"]), error
    for final in finals:
        assert final.landed and final.status == "complete" and not final.errors, final
        assert stored[final.text] == 1
    rows = invariants.rows_from_orm()
    assert invariants.problems(rows) == []

    landed = sum(send.landed for send in sends)
    refused = sum(send.refused for send in sends)
    reconnected = sum(send.attempts > 1 for send in sends)
    errors = Counter(error["error"] for send in sends for error in send.errors)
    assert reconnected, "the outage should have cut some sockets"
    reliability.record(
        "redis_restart_sockets",
        {
            "requests": len(sends) + len(finals),
            "faults": f"Redis stopped {down['for']:.1f} s, started again",
            "messages_checked": len(rows),
            "lost": 0,
            "notes": (
                f"{clients} socket clients on 2 workers sending for 6 s: {len(sends)} sends, {landed} landed once "
                f"(statuses {dict(Counter(send.status for send in sends if send.landed))}), "
                f"{len(sends) - landed} answered by an error event {dict(errors)}; {reconnected} sent again on a new "
                f"socket after theirs dropped, {refused} connections refused (error + 1011) while Redis was down; "
                f"no reply open {settled_in:.1f} s after the load; then every client sent on a new socket: "
                f"{len(finals)} x complete"
            ),
        },
    )


# --- PostgreSQL backends terminated -----------------------------------------------------


class BackendTerminator(threading.Thread):
    """Terminates the server's PostgreSQL connections (``pg_terminate_backend``) every ``every`` seconds
    for ``seconds`` seconds (or until ``stopping`` is set).

    Only connections to the test database, and neither its own nor the test's (``spared``).
    """

    def __init__(self, *, database: str, spared: list[int], every: float, seconds: float) -> None:
        super().__init__(name="backend-terminator", daemon=True)
        self.database, self.spared, self.every, self.seconds = database, spared, every, seconds
        self.stopping = threading.Event()
        self.terminated = 0
        self.rounds = 0

    def run(self) -> None:
        deadline = time.monotonic() + self.seconds
        with psycopg.connect(database_url_of_tests(), autocommit=True, connect_timeout=5) as own:
            while not self.stopping.wait(self.every) and time.monotonic() < deadline:
                rows = own.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid() AND pid <> ALL(%s)",
                    (self.database, self.spared),
                ).fetchall()
                self.terminated += sum(1 for (done,) in rows if done)
                self.rounds += 1


# Seconds a database step waits for a pooled connection before it is answered "Service
# unavailable" (DATABASE_POOL_TIMEOUT; 10 by default, shorter here to keep the test short).
POOL_TIMEOUT = 2.0
TERMINATE_EVERY = 1.0  # seconds between two rounds of pg_terminate_backend
CUT_WINDOW = 4.0  # seconds of sends while the rounds run
# The socket's database steps run one at a time on the consumer's thread, so a send may wait
# behind a few others that each wait up to POOL_TIMEOUT for a connection.
ANSWER_WITHIN = 20.0


async def _send_until_it_lands(ws: ClientConnection, send: Send, *, tries: int = 20) -> float:
    """Send ``send`` on ``ws``; answered "Service unavailable", send it again with the same client_id
    (as the page's Retry does), up to ``tries`` times. Returns the longest wait for an answer (s)."""
    slowest = 0.0
    for _ in range(tries):
        send.attempts += 1
        errors = len(send.errors)
        sent_at = time.monotonic()
        await ws.send(json.dumps({"type": "send", "message": send.text, "client_id": send.client_id}))
        await _follow_send(ws, send, silence=ANSWER_WITHIN)
        slowest = max(slowest, time.monotonic() - sent_at)
        if send.status:
            return slowest
        assert len(send.errors) > errors and send.errors[-1]["error"] == "Service unavailable", send
        await asyncio.sleep(0.2)
    raise AssertionError(f"not stored after {tries} tries: {send}")


def test_a_socket_stays_open_and_answers_every_send_while_postgres_connections_are_cut(
    on_postgres: None, owner_id: str, logs: Path
) -> None:
    conversations = [make_conversation(owner_id, title=f"Cut {n}") for n in range(2)]
    token = issue_token(user_id=owner_id)[0]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        spared = [cursor.fetchone()[0]]
    terminator = BackendTerminator(
        database=connection.settings_dict["NAME"], spared=spared, every=TERMINATE_EVERY, seconds=CUT_WINDOW
    )
    slowest: list[float] = []

    async def sends_on(ws: ClientConnection, n: int, until: float) -> list[Send]:
        assert (await receive(ws))["type"] == "ready"
        sends: list[Send] = []
        while time.monotonic() < until:
            sends.append(Send(f"socket {n} message {len(sends)}", f"s{n}-m{len(sends)}"))
            slowest.append(await _send_until_it_lands(ws, sends[-1]))
        return sends

    async def load(worker: Worker) -> tuple[list[Send], list[Send], list[int | None]]:
        paths = [f"/ws/chat/{conversation.pk}" for conversation in conversations]
        async with connect(worker.ws(paths[0], token)) as first, connect(worker.ws(paths[1], token)) as second:
            sockets = [first, second]
            terminator.start()
            try:
                until = time.monotonic() + CUT_WINDOW
                results = await asyncio.gather(*(sends_on(ws, n, until) for n, ws in enumerate(sockets)))
            finally:
                await asyncio.to_thread(terminator.join, CUT_WINDOW + 10)
            # The connections are left alone now: a later send on the same socket works.
            later = [Send(f"socket {n} later", f"s{n}-later") for n in range(2)]
            for ws, send in zip(sockets, later, strict=True):
                slowest.append(await _send_until_it_lands(ws, send))
            close_codes = [ws.close_code for ws in sockets]
        return [send for sends in results for send in sends], later, close_codes

    env = _env(DATABASE_POOL_TIMEOUT=str(POOL_TIMEOUT))
    with uvicorn_workers(1, env=env, logs=logs) as (worker,):
        try:
            sends, later, close_codes = asyncio.run(load(worker))
        finally:
            terminator.stopping.set()
        wait_for(_no_open_replies, seconds=20, every=0.1, what="every reply closed")

    assert close_codes == [None, None], "the server closed a socket"
    errors = [error for send in sends + later for error in send.errors]
    for error in errors:
        assert error["error"] == "Service unavailable" and is_sentence(error["detail"]), error
    for send in sends + later:
        assert send.landed and send.status in ("complete", "failed"), send
    assert all(send.status == "complete" for send in later)
    stored = _stored_user_messages()
    assert all(stored[send.text] == 1 for send in sends + later)
    rows = invariants.rows_from_orm()
    assert invariants.problems(rows) == []
    assert terminator.terminated > 0

    reliability.record(
        "postgres_backends_terminated",
        {
            "requests": sum(send.attempts for send in sends + later),
            "faults": f"{terminator.terminated} server connections terminated in {terminator.rounds} rounds",
            "messages_checked": len(rows),
            "lost": 0,
            "notes": (
                f"2 sockets on one worker (psycopg pool, DATABASE_POOL_TIMEOUT={POOL_TIMEOUT:g}) sending for "
                f"{CUT_WINDOW:g} s while pg_terminate_backend ran every {TERMINATE_EVERY:g} s: {len(sends)} messages, "
                f"{len(errors)} sends answered by an error event 'Service unavailable' with a sentence and sent again "
                f"with the same client_id, each stored once; replies {dict(Counter(send.status for send in sends))}; "
                f"slowest answer {max(slowest):.1f} s; both sockets open throughout, a later send on each completed"
            ),
        },
    )


def _maintenance_url() -> str:
    """The URL of the server's ``postgres`` database: the test database itself is cut off from it."""
    url = database_url_of_tests()
    return url[: url.rindex("/")] + "/postgres"


# Longer than the live reply's last save keeps trying (``services.FINAL_SAVE_RETRY_SECONDS``, 15 s).
LONG_OUTAGE = 17.0


def test_a_live_reply_whose_last_save_outlasts_a_database_outage_is_closed_once_the_database_is_back(
    on_postgres: None, owner_id: str, logs: Path
) -> None:
    """The server's database refuses every connection for longer than the last save of a live reply
    keeps trying (``ALLOW_CONNECTIONS false`` and its sessions terminated): once it is back, the reply
    is closed (``reply.finished``), the socket is still open, and the next send on it goes through
    (nothing left "Reply in progress")."""
    conversation = make_conversation(owner_id, title="Long outage")
    token = issue_token(user_id=owner_id)[0]
    database = connection.settings_dict["NAME"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        spared = [cursor.fetchone()[0]]
    env = _env(
        DATABASE_POOL_TIMEOUT="1",
        LIVE_HEARTBEAT_SECONDS="1",
        LIVE_SWEEP_SECONDS="1",
        OFFLINE_ASSISTANT_CHUNK_DELAY="0.1",  # about 3 s per reply: it ends during the outage
    )

    def refuse_connections(control: psycopg.Connection, refuse: bool) -> None:
        control.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {"false" if refuse else "true"}')
        if refuse:
            control.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> ALL(%s)",
                (database, spared),
            )

    async def scenario(worker: Worker, control: psycopg.Connection) -> dict[str, Any]:
        async with connect(worker.ws(f"/ws/chat/{conversation.pk}", token)) as ws:
            assert (await receive(ws))["type"] == "ready"
            await ws.send(json.dumps({"type": "send", "message": "Through a long outage", "client_id": "long-1"}))
            seen = await receive_until(ws, lambda event: event["type"] == "reply.delta" and event["seq"] >= 5)
            reply_id = seen[1]["reply_id"]
            await asyncio.to_thread(refuse_connections, control, True)
            try:
                await asyncio.sleep(LONG_OUTAGE)
            finally:
                await asyncio.to_thread(refuse_connections, control, False)
            back_at = time.monotonic()
            seen += await receive_until(
                ws, lambda event: event["type"] == "reply.finished" and event["reply_id"] == reply_id, seconds=20
            )
            closed_after = time.monotonic() - back_at
            later = Send("After the long outage", "long-2")
            await _send_until_it_lands(ws, later)
            return {"finished": seen[-1], "closed_after": closed_after, "later": later, "close_code": ws.close_code}

    with psycopg.connect(_maintenance_url(), autocommit=True, connect_timeout=5) as control:
        try:
            with uvicorn_workers(1, env=env, logs=logs) as (worker,):
                result = asyncio.run(scenario(worker, control))
        finally:
            refuse_connections(control, False)

    finished, later = result["finished"], result["later"]
    assert finished["status"] in ("failed", "complete"), finished
    assert later.status == "complete" and not later.errors, later
    assert result["close_code"] is None
    rows = invariants.rows_from_orm()
    assert invariants.problems(rows) == []
    reliability.record(
        "postgres_long_outage_live_reply",
        {
            "requests": 2,
            "faults": f"the server's database refused connections for {LONG_OUTAGE:g} s",
            "messages_checked": len(rows),
            "lost": 0,
            "notes": (
                f"a live reply's last save kept failing past its 15 s of retries; "
                f"reply.finished {finished['status']} {result['closed_after']:.1f} s after the database was back "
                f"(beat 1 s, sweep 1 s, pool timeout 1 s); the socket stayed open and the next send completed"
            ),
        },
    )


# --- Idle sockets on the Redis channel layer -----------------------------------------------


def test_idle_sockets_on_the_redis_layer_stay_open_and_keep_getting_events(
    on_postgres: None, owner_id: str, logs: Path
) -> None:
    env = _env(REDIS_URL=redis_url_of_tests())
    conversation = make_conversation(owner_id, title="Idle")
    token = issue_token(user_id=owner_id)[0]
    path = f"/ws/chat/{conversation.pk}"

    async def hold(worker: Worker) -> tuple[list[int | None], list[str], list[list[dict[str, Any]]]]:
        # No pings from the clients: only the server's own keep the sockets busy.
        sockets = [await connect(worker.ws(path, token), ping_interval=None) for _ in range(IDLE_SOCKETS)]
        try:
            for ws in sockets:
                assert (await receive(ws))["type"] == "ready"
            # Idle: any frame or close from the server during the hold is a failure.
            watchers = [asyncio.ensure_future(ws.recv()) for ws in sockets]
            done, _ = await asyncio.wait(watchers, timeout=IDLE_SECONDS)
            for watcher in watchers:
                watcher.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)
            disturbed = [repr(watcher.exception() or watcher.result()) for watcher in done]
            closed = [ws.close_code for ws in sockets]
            # Each still reads its own frames...
            for n, ws in enumerate(sockets):
                await ws.send(json.dumps({"type": "send", "message": " ", "client_id": f"probe-{n}"}))
            probes = [await receive(ws) for ws in sockets]
            assert all(
                probe["error"] == "Validation error" and probe["client_id"] == f"probe-{n}"
                for n, probe in enumerate(probes)
            ), probes
            # ...and each gets the events of a send made on one of them, through the layer.
            await sockets[0].send(json.dumps({"type": "send", "message": "Still there?", "client_id": "idle-1"}))
            seen = await asyncio.gather(
                *(receive_until(ws, lambda event: event["type"] == "reply.finished") for ws in sockets)
            )
            return closed, disturbed, seen
        finally:
            await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)

    with uvicorn_workers(1, env=env, logs=logs) as (worker,):
        started = time.monotonic()
        closed, disturbed, seen = asyncio.run(hold(worker))
        held = time.monotonic() - started

    assert closed == [None] * IDLE_SOCKETS, closed
    assert disturbed == [], disturbed
    for events in seen:
        kinds = [event["type"] for event in events]
        assert kinds[:2] == ["message.created", "reply.started"] and events[-1]["status"] == "complete", kinds
        assert events[0]["client_id"] == "idle-1"
    rows = invariants.rows_from_orm()
    assert invariants.problems(rows) == []

    reliability.record(
        "idle_sockets",
        {
            "requests": IDLE_SOCKETS,
            "faults": f"{IDLE_SOCKETS} sockets idle {IDLE_SECONDS:g} s",
            "messages_checked": len(rows),
            "lost": 0,
            "notes": (
                f"{IDLE_SOCKETS} sockets on the Redis channel layer, no frame from the clients for {IDLE_SECONDS:g} s "
                f"(no client pings): 0 closed by the server, each answered a frame of its own, each got "
                f"message.created .. reply.finished of a send made on one of them; {held:.0f} s in all"
            ),
        },
    )


# --- A deeply nested JSON frame --------------------------------------------------------------


def test_a_deeply_nested_json_frame_is_answered_with_an_error_and_the_socket_stays_open(
    on_postgres: None, owner_id: str, logs: Path
) -> None:
    conversation = make_conversation(owner_id, title="Deep")
    token = issue_token(user_id=owner_id)[0]
    depth = 100_000
    frames = {
        "unclosed": "[" * depth,
        "closed": "[" * depth + "]" * depth,
        "inside a send": '{"type": "send", "message": ' + "[" * depth + "]" * depth + "}",
    }

    async def probe(worker: Worker) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]], int | None]:
        async with connect(worker.ws(f"/ws/chat/{conversation.pk}", token)) as ws:
            assert (await receive(ws))["type"] == "ready"
            answers = {}
            for name, frame in frames.items():
                await ws.send(frame)
                answers[name] = await receive(ws)
            await ws.send(json.dumps({"type": "send", "message": "Still listening?", "client_id": "after-deep"}))
            events = await receive_until(ws, lambda event: event["type"] == "reply.finished")
            return answers, events, ws.close_code

    with uvicorn_workers(1, env=_env(), logs=logs) as (worker,):
        answers, events, close_code = asyncio.run(probe(worker))

    for name, answer in answers.items():
        assert answer["type"] == "error" and answer["error"] == "Validation error", (name, answer)
        assert is_sentence(answer["detail"]), (name, answer)
    assert close_code is None
    assert events[0]["type"] == "message.created" and events[0]["client_id"] == "after-deep"
    assert events[-1]["status"] == "complete"
    assert invariants.problems(invariants.rows_from_orm()) == []

    reliability.record(
        "deep_json",
        {
            "requests": len(frames) + 1,
            "faults": f"JSON frames nested {depth:,} deep",
            "messages_checked": 2,
            "lost": 0,
            "notes": (
                f"{len(frames)} frames ({', '.join(frames)}): each answered by an error event "
                f"({answers['closed']['detail']!r}); the socket stayed open and a send then completed"
            ),
        },
    )
