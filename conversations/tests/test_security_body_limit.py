"""Bodies over the size limit are refused early, without being read whole; bodies too slow, after a deadline.

Django's ASGI handler reads a whole body before any view runs, so the limit is
enforced in front of it (``chatsite.limits.RequestBodyLimitMiddleware``). Checked
in process (counting the chunks the app pulls) and against a real uvicorn server
with raw sockets: a huge declared ``Content-Length`` and an endless chunked body
(contract: Errors; issue "Hardening", hostile input). In process too: a body that
stops arriving is answered 408 without the app being called, and a normal request
reaches the app with its body and the server's later messages (issue 12, "Sockets
that stay up"; the same against uvicorn: test_faults_slow_clients.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chatsite.limits import RequestBodyLimitMiddleware

PROJECT = Path(__file__).resolve().parents[2]
LIMIT = 65536
TOO_LARGE = {"error": "Payload too large", "detail": f"The request body is over the limit of {LIMIT} bytes."}


# --- In process -------------------------------------------------------------------------------


class BodyReadingApp:
    """Stands in for Django: reads the whole body, then answers 200."""

    def __init__(self) -> None:
        self.called = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.called = True
        while True:
            message = await receive()
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def run(app: Any, headers: list[tuple[bytes, bytes]], chunks: Iterator[bytes]) -> tuple[list[dict[str, Any]], int]:
    """Call ``app`` with a request whose body is ``chunks``; return the messages sent and chunks pulled."""
    pulled = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        chunk = next(chunks, None)
        pulled += 1
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/1/chat", "headers": headers}
    asyncio.run(app(scope, receive, send))
    return sent, pulled


def endless(chunk_size: int = 4096, cap_bytes: int = 1 << 30) -> Iterator[bytes]:
    """A body that would be 1 GiB if read to the end."""
    for _ in range(cap_bytes // chunk_size):
        yield b"x" * chunk_size


def test_a_declared_huge_length_is_refused_before_any_byte_is_read(settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = LIMIT
    inner = BodyReadingApp()
    sent, pulled = run(RequestBodyLimitMiddleware(inner), [(b"content-length", str(10**12).encode())], endless())
    assert pulled == 0 and not inner.called
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"]) == TOO_LARGE


def test_a_chunked_body_is_cut_off_just_past_the_limit(settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = LIMIT
    sent, pulled = run(RequestBodyLimitMiddleware(BodyReadingApp()), [(b"transfer-encoding", b"chunked")], endless())
    assert pulled == LIMIT // 4096 + 1  # 64 KiB and one chunk, not 1 GiB
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"]) == TOO_LARGE


def test_a_body_within_the_limit_reaches_the_app(settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = LIMIT
    body = iter([b"x" * 4096] * (LIMIT // 4096))
    sent, _ = run(RequestBodyLimitMiddleware(BodyReadingApp()), [(b"content-length", str(LIMIT).encode())], body)
    assert sent[0]["status"] == 200


TOO_SLOW = {"error": "Request timeout", "detail": "The request body took too long to arrive. Please try again."}


class RecordingApp:
    """Stands in for Django: records what it receives (the body, then one more message), answers 201."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.received.append(await receive())
        await send({"type": "http.response.start", "status": 201, "headers": [(b"x-app", b"yes")]})
        await send({"type": "http.response.body", "body": b"created"})
        self.received.append(await receive())


def serve(app: Any, method: str, headers: list[tuple[bytes, bytes]], messages: list[dict[str, Any]]) -> list[Any]:
    """Call ``app`` as a server would, delivering ``messages`` in order, then nothing ever again."""
    queue = iter(messages)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        message = next(queue, None)
        if message is None:
            await asyncio.Event().wait()  # the client stopped sending
        return message

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "http_version": "1.1", "method": method, "path": "/api/1/chat", "headers": headers}
    asyncio.run(asyncio.wait_for(app(scope, receive, send), timeout=10))
    return sent


def test_a_body_that_stops_arriving_is_answered_408_and_never_reaches_the_app(settings: Any) -> None:
    settings.REQUEST_BODY_TIMEOUT_SECONDS = 0.05
    inner = RecordingApp()
    sent = serve(
        RequestBodyLimitMiddleware(inner),
        "POST",
        [(b"content-length", b"100")],
        [{"type": "http.request", "body": b'{"mess', "more_body": True}],
    )
    assert inner.received == []
    assert sent[0]["status"] == 408
    assert (b"connection", b"close") in sent[0]["headers"]
    assert json.loads(sent[1]["body"]) == TOO_SLOW
    assert len(sent) == 2


def test_a_body_arriving_in_pieces_reaches_the_app_whole_and_the_rest_is_untouched() -> None:
    inner = RecordingApp()
    sent = serve(
        RequestBodyLimitMiddleware(inner),
        "POST",
        [(b"content-length", b"16")],
        [
            {"type": "http.request", "body": b'{"message"', "more_body": True},
            {"type": "http.request", "body": b"", "more_body": True},
            {"type": "http.request", "body": b': "hi"}', "more_body": False},
            {"type": "http.disconnect"},
        ],
    )
    assert inner.received == [
        {"type": "http.request", "body": b'{"message": "hi"}', "more_body": False},
        {"type": "http.disconnect"},  # what the server sent next, passed through
    ]
    assert sent == [
        {"type": "http.response.start", "status": 201, "headers": [(b"x-app", b"yes")]},
        {"type": "http.response.body", "body": b"created"},
    ]


def test_a_request_without_a_body_reaches_the_app_as_the_server_sent_it() -> None:
    inner = RecordingApp()
    sent = serve(
        RequestBodyLimitMiddleware(inner),
        "GET",
        [(b"host", b"testserver")],
        [{"type": "http.request", "body": b"", "more_body": False}, {"type": "http.disconnect"}],
    )
    assert inner.received == [{"type": "http.request", "body": b"", "more_body": False}, {"type": "http.disconnect"}]
    assert sent[0]["status"] == 201


def test_a_client_gone_mid_body_is_dropped_without_an_answer() -> None:
    inner = RecordingApp()
    sent = serve(
        RequestBodyLimitMiddleware(inner),
        "POST",
        [(b"transfer-encoding", b"chunked")],
        [{"type": "http.request", "body": b"{", "more_body": True}, {"type": "http.disconnect"}],
    )
    assert inner.received == [] and sent == []


# --- Against a real uvicorn server -----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def uvicorn_server() -> Iterator[tuple[str, int]]:
    """``uvicorn chatsite.asgi:application`` on a free loopback port (no database is touched)."""
    port = free_port()
    env = {**os.environ, "DJANGO_HTTPS": "0", "DJANGO_DEBUG": "0"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "chatsite.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=PROJECT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
                time.sleep(0.1)
        else:
            pytest.fail("uvicorn did not start within 30 s")
        yield "127.0.0.1", port
    finally:
        process.terminate()
        process.wait(timeout=10)


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    sock.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body


def request_head(host: str, port: int, extra: str) -> bytes:
    return (
        f"POST /api/1/chat HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer x\r\n{extra}\r\n"
    ).encode()


def test_uvicorn_answers_a_declared_huge_body_at_once(uvicorn_server: tuple[str, int]) -> None:
    host, port = uvicorn_server
    with socket.create_connection((host, port)) as sock:
        sock.sendall(request_head(host, port, f"Content-Length: {10**12}\r\n") + b'{"message": "')
        started = time.monotonic()
        status, _headers, body = read_response(sock)
    assert time.monotonic() - started < 5  # answered without waiting for a terabyte
    assert status == 413
    assert json.loads(body) == TOO_LARGE


def test_uvicorn_cuts_off_an_endless_chunked_body(uvicorn_server: tuple[str, int]) -> None:
    host, port = uvicorn_server
    chunk = b"x" * 16384
    framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    sent = 0
    with socket.create_connection((host, port)) as sock:
        sock.sendall(request_head(host, port, "Transfer-Encoding: chunked\r\n"))
        sock.settimeout(0.05)
        response = b""
        # Up to 64 MiB would be sent; the server must answer long before.
        while sent < 64 * 1024 * 1024:
            try:
                sock.sendall(framed)
                sent += len(chunk)
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                break
            try:
                response = sock.recv(65536)
                if response:
                    break
            except TimeoutError:
                continue
            except ConnectionResetError:
                break
        assert response, f"no answer after {sent} bytes"
        status = int(response.split(b"\r\n", 1)[0].split()[1])
    assert status == 413
    assert sent < 8 * 1024 * 1024  # refused after about the limit, not after the whole body


def test_uvicorn_still_serves_requests_within_the_limit(uvicorn_server: tuple[str, int]) -> None:
    host, port = uvicorn_server
    body = json.dumps({"message": "hi"}).encode()
    with socket.create_connection((host, port)) as sock:
        sock.sendall(request_head(host, port, f"Content-Length: {len(body)}\r\n") + body)
        status, _headers, payload = read_response(sock)
    # The bogus token is refused by the view: the request got through the limit to Django.
    assert status == 401
    assert json.loads(payload) == {"error": "Unauthorized", "detail": "Invalid or expired JWT token"}
