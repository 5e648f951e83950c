"""200 slow clients hold sockets, never a thread or a database connection (issue 12, "Sockets that stay up").

A real uvicorn process on the test's PostgreSQL database (``DATABASE_POOL=1``, a pool
of two connections), the offline assistant, and 200 raw TCP connections that dribble:

* 100 send a request line, then one byte of an unfinished header every second: the
  request never reaches the application (uvicorn has no deadline for headers: that is
  the reverse proxy's job, docs/live.md, "Production layout");
* 100 send the whole head of ``POST /api/<user>/chat`` with a valid token and
  ``Content-Length: 100``, then one byte of the body every second.

While they dribble, a normal page and a normal chat are answered 200 (with the pool
this small, a dribbler holding a connection would make the chat wait and be answered
503); PostgreSQL shows no more connections from the server than before they came,
and the server's thread count does not grow with them. With
``DJANGO_REQUEST_BODY_TIMEOUT_SECONDS=2`` the body dribblers are answered 408 with the
contract's body once the deadline has passed, and their connections are closed
(``chatsite.limits.RequestBodyLimitMiddleware``). The in-process checks of the
middleware are in test_security_body_limit.py.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from asgiref.sync import sync_to_async
from django.db import connection

from conversations.auth import issue_token
from conversations.tests.servers import database_url_of_tests, uvicorn_project

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

USER = "patient-user"
DRIBBLERS = 100  # of each kind
DECLARED_LENGTH = 100
APPLICATION_NAME = "chat-slow-clients-test"  # how the server's connections show in pg_stat_activity
WAIT = 15.0  # seconds: the bound on every wait for the server
TOO_SLOW = {"error": "Request timeout", "detail": "The request body took too long to arrive. Please try again."}


@dataclass
class Server:
    url: str
    port: int
    pid: int


@contextmanager
def project_server(tmp_path: Path, *, body_timeout: int) -> Iterator[Server]:
    env = {
        "DATABASE_URL": f"{database_url_of_tests()}?application_name={APPLICATION_NAME}",
        "DATABASE_POOL": "1",
        "DATABASE_POOL_MAX_SIZE": "2",
        "DATABASE_POOL_TIMEOUT": "5",
        "ASSISTANT_BACKEND": "offline",
        "LIVE_SWEEP_SECONDS": "300",  # no sweep borrowing a connection mid-count
        "DJANGO_REQUEST_BODY_TIMEOUT_SECONDS": str(body_timeout),
    }
    with uvicorn_project(env, tmp_path / "uvicorn.log") as port:
        yield Server(url=f"http://127.0.0.1:{port}", port=port, pid=_pid_of_server(port))


def _pid_of_server(port: int) -> int:
    """The uvicorn process serving ``port`` (one process: no ``--workers``), found by its command line."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"chatsite.asgi:application" in args and b"--port" in args:
            if args[args.index(b"--port") + 1] == str(port).encode():
                return int(entry.name)
    raise LookupError(f"no uvicorn process on port {port}")


def threads_of(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^Threads:\s+(\d+)$", status, re.MULTILINE)
    assert match is not None
    return int(match.group(1))


def _count_server_connections() -> int:
    """Connections the server holds to the test database, counted from this test's own connection."""
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s",
                [APPLICATION_NAME],
            )
            return int(cursor.fetchone()[0])
    finally:
        connection.close()


server_connections = sync_to_async(_count_server_connections)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds_after_head: float


class Dribbler:
    """One slow client on a raw socket: a head sent at once, then ``drip`` one byte at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head_sent_at: float) -> None:
        self.reader = reader
        self.writer = writer
        self.head_sent_at = head_sent_at  # event-loop time, just before the head was written

    @classmethod
    async def open(cls, port: int, head: bytes) -> Dribbler:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), WAIT)
        head_sent_at = asyncio.get_running_loop().time()
        writer.write(head)
        await writer.drain()
        return cls(reader, writer, head_sent_at)

    async def drip(self, data: bytes, *, every: float) -> None:
        for byte in data:
            await asyncio.sleep(every)
            self.writer.write(bytes([byte]))
            await self.writer.drain()

    async def unanswered(self) -> bool:
        """Whether the server has sent nothing and kept the connection open (checked without waiting long)."""
        try:
            await asyncio.wait_for(self.reader.read(1), 0.05)
        except TimeoutError:
            return True
        return False

    async def response(self) -> Answer:
        """The server's answer, read until it closes the connection."""
        raw = await asyncio.wait_for(self.reader.read(), WAIT)  # to EOF: fails here if never closed
        after = asyncio.get_running_loop().time() - self.head_sent_at
        head, _, body = raw.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {name.strip().lower(): value.strip() for name, value in (line.split(":", 1) for line in lines)}
        return Answer(status=int(status_line.split()[1]), headers=headers, body=body, seconds_after_head=after)

    def close(self) -> None:
        self.writer.close()


HEADER_HEAD = b"GET /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
HEADER_DRIP = b"X-Dribble: " + b"z" * 200  # never the blank line that would end the head


def body_head(token: str) -> bytes:
    return (
        f"POST /api/{USER}/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {DECLARED_LENGTH}\r\n\r\n"
    ).encode()


BODY_DRIP = b'{"message": "' + b"s" * (DECLARED_LENGTH - 20)  # never all 100 bytes


async def normal_requests(client: httpx2.AsyncClient, token: str) -> tuple[int, int]:
    """A page and a chat, as a person would send them: their status codes (bounded by ``client``'s timeout)."""
    page = await client.get("/accounts/login/")
    chat = await client.post(
        f"/api/{USER}/chat", json={"message": "Still there?"}, headers={"Authorization": f"Bearer {token}"}
    )
    return page.status_code, chat.status_code


def test_200_dribbling_clients_hold_no_thread_or_database_connection(on_postgres: None, tmp_path: Path) -> None:
    token = issue_token(user_id=USER)[0]

    async def scenario(server: Server) -> dict[str, Any]:
        async with httpx2.AsyncClient(base_url=server.url, timeout=WAIT) as client:
            warm_up = await normal_requests(client, token)  # the pool and the threads as a request leaves them
            connections_before = await server_connections()
            threads_before = threads_of(server.pid)

            dribblers = await asyncio.gather(
                *(Dribbler.open(server.port, HEADER_HEAD) for _ in range(DRIBBLERS)),
                *(Dribbler.open(server.port, body_head(token)) for _ in range(DRIBBLERS)),
            )
            drips = [
                asyncio.create_task(dribbler.drip(HEADER_DRIP if n < DRIBBLERS else BODY_DRIP, every=1.0))
                for n, dribbler in enumerate(dribblers)
            ]
            try:
                await asyncio.sleep(2.5)  # a couple of bytes each: every one has reached the server
                during = await normal_requests(client, token)
                connections_during = await server_connections()
                threads_during = threads_of(server.pid)
                still_dribbling = await asyncio.gather(*(dribbler.unanswered() for dribbler in dribblers))
            finally:
                for drip in drips:
                    drip.cancel()
                await asyncio.gather(*drips, return_exceptions=True)
                for dribbler in dribblers:
                    dribbler.close()
        return {
            "warm_up": warm_up,
            "during": during,
            "connections": (connections_before, connections_during),
            "threads": (threads_before, threads_during),
            "still_dribbling": sum(still_dribbling),
        }

    with project_server(tmp_path, body_timeout=30) as server:
        seen = asyncio.run(scenario(server))

    assert seen["warm_up"] == (200, 200)
    assert seen["during"] == (200, 200)
    assert seen["still_dribbling"] == 2 * DRIBBLERS  # measured while all 200 were open and unanswered
    connections_before, connections_during = seen["connections"]
    assert 1 <= connections_before <= 2  # the pool (at most 2)
    assert connections_during <= connections_before
    threads_before, threads_during = seen["threads"]
    assert threads_during - threads_before < 20  # nothing like one per dribbler


def test_a_body_dribbled_past_the_deadline_is_answered_408_and_the_connection_closed(
    on_postgres: None, tmp_path: Path
) -> None:
    token = issue_token(user_id=USER)[0]

    async def scenario(server: Server) -> tuple[list[Answer], int]:
        dribblers = await asyncio.gather(*(Dribbler.open(server.port, body_head(token)) for _ in range(DRIBBLERS)))
        # Three bytes, the last well before the deadline, then silence: a byte reaching a
        # socket the server has just closed would make the kernel reset the connection, and
        # the client could lose the answer before reading it.
        drips = [asyncio.create_task(dribbler.drip(BODY_DRIP[:3], every=0.3)) for dribbler in dribblers]
        try:
            answers = await asyncio.gather(*(dribbler.response() for dribbler in dribblers))
        finally:
            await asyncio.gather(*drips, return_exceptions=True)
            for dribbler in dribblers:
                dribbler.close()
        async with httpx2.AsyncClient(base_url=server.url, timeout=WAIT) as client:
            page = await client.get("/accounts/login/")
        return answers, page.status_code

    with project_server(tmp_path, body_timeout=2) as server:
        answers, page_after = asyncio.run(scenario(server))

    assert [answer.status for answer in answers] == [408] * DRIBBLERS
    for answer in answers:
        assert answer.headers["content-type"] == "application/json"
        assert answer.headers["connection"] == "close"
        assert json.loads(answer.body) == TOO_SLOW
        assert answer.seconds_after_head >= 1.9  # not before the deadline, 2 s after the head arrived
    assert page_after == 200  # the server is none the worse
