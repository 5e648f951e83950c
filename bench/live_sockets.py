"""The live page's WebSocket, measured: time to first token, and memory per open socket (issue 6).

* ``ttft``: one socket sends messages one after another; the chat is answered by the fake
  OpenAI server (its own process) with a known first-token delay. For each message, the
  time from ``send`` to the first ``reply.delta`` at the socket, and, alternately, the
  model's own time to first token measured by a direct streamed request to the fake. The
  difference of the medians is what the live path adds (target: at most 50 ms).
* ``sockets``: ``count`` sockets opened to one worker (each waits for ``ready``); the
  worker's resident memory after, minus before, divided by ``count``.

Both use the production serve command (``bench.server.Server``) on the bench database,
with ``REDIS_URL`` (the channel layer of a multi-worker deployment) when it is set.
"""

from __future__ import annotations

import asyncio
import json
import resource
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

import httpx2

from bench.server import ROOT, Server, read_status_kb


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_fake_model(*, latency: float) -> tuple[subprocess.Popen[bytes], str]:
    """The fake OpenAI server in its own process; returns it and its ``/v1`` base URL."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "conversations.tests.fake_openai", "--port", str(port), "--latency", str(latency)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process, f"http://127.0.0.1:{port}/v1"
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the fake model did not start")


@dataclass
class TTFT:
    """Seconds per message: send -> first delta at the socket; the model's own first token; the round trip."""

    socket_first_delta: list[float]
    model_first_token: list[float]
    round_trip: list[float]
    message_created: list[float]

    @property
    def added_ms(self) -> float:
        return 1000 * (statistics.median(self.socket_first_delta) - statistics.median(self.model_first_token))


async def _model_first_token(client: httpx2.AsyncClient, base_url: str) -> float:
    body = {"model": "fake-model", "stream": True, "messages": [{"role": "user", "content": "Hello"}]}
    began = time.perf_counter()
    first = None
    async with client.stream("POST", f"{base_url}/chat/completions", json=body) as response:
        async for line in response.aiter_lines():  # read to the end: the stream is complete
            if first is None and line.startswith("data:") and '"content"' in line:
                first = time.perf_counter() - began
    if first is None:
        raise RuntimeError("the fake model sent no content")
    return first


async def _ttft(port: int, token: str, model_url: str, count: int) -> TTFT:
    from websockets.asyncio.client import connect

    result = TTFT([], [], [], [])
    async with httpx2.AsyncClient(timeout=30) as client:
        async with connect(f"ws://127.0.0.1:{port}/ws/chat?token={token}") as ws:
            if json.loads(await ws.recv())["type"] != "ready":
                raise RuntimeError("the socket did not say ready")
            for index in range(count + 3):  # the first 3 warm up
                start = time.perf_counter()
                await ws.send(json.dumps({"type": "ping"}))  # unknown action: answered by an error event
                await ws.recv()
                rtt = time.perf_counter() - start
                start = time.perf_counter()
                await ws.send(json.dumps({"type": "send", "message": f"Bench message {index}"}))
                first = created = None
                while True:
                    event = json.loads(await asyncio.wait_for(ws.recv(), 30))
                    if event["type"] == "message.created" and created is None:
                        created = time.perf_counter() - start
                    if event["type"] == "reply.delta" and first is None:
                        first = time.perf_counter() - start
                    elif event["type"] == "reply.finished":
                        break
                    elif event["type"] == "error":
                        raise RuntimeError(event)
                model = await _model_first_token(client, model_url)
                if index >= 3 and first is not None:
                    result.socket_first_delta.append(first)
                    result.model_first_token.append(model)
                    result.round_trip.append(rtt)
                    result.message_created.append(created if created is not None else float("nan"))
    return result


def measure_ttft(*, env: dict[str, str], token: str, count: int = 30, model_latency: float = 0.2) -> TTFT:
    """Time to first token at the socket against the model's own, ``count`` messages (one worker)."""
    fake, model_url = start_fake_model(latency=model_latency)
    try:
        server_env = {**env, "ASSISTANT_BACKEND": "openai", "OPENAI_BASE_URL": model_url, "OPENAI_MODEL": "fake-model"}
        with Server(env=server_env, workers=1) as server:
            return asyncio.run(_ttft(server.port, token, model_url, count))
    finally:
        fake.terminate()
        fake.wait(10)


@dataclass
class SocketMemory:
    opened: int
    rss_before_kib: int
    rss_after_kib: int

    @property
    def kib_per_socket(self) -> float:
        return (self.rss_after_kib - self.rss_before_kib) / max(self.opened, 1)


async def _open_sockets(port: int, token: str, count: int, pid: int) -> SocketMemory:
    from websockets.asyncio.client import connect

    url = f"ws://127.0.0.1:{port}/ws/chat?token={token}"
    async with connect(url) as warm:  # the consumer's code paths loaded before "before"
        await warm.recv()
    await asyncio.sleep(0.5)
    before = read_status_kb(pid, "VmRSS")
    sockets = []
    try:
        for start in range(0, count, 50):  # in batches: the server's accept queue stays short
            batch = await asyncio.gather(*(connect(url, open_timeout=60) for _ in range(min(50, count - start))))
            for ws in batch:
                if json.loads(await asyncio.wait_for(ws.recv(), 60))["type"] != "ready":
                    raise RuntimeError("a socket did not say ready")
            sockets += batch
        await asyncio.sleep(1.0)
        after = read_status_kb(pid, "VmRSS")
        return SocketMemory(len(sockets), before, after)
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


def measure_sockets(*, env: dict[str, str], token: str, count: int = 1000) -> SocketMemory:
    """Open ``count`` sockets to one worker and read its resident memory before and after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4 * count:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4 * count + 1024), hard))
    with Server(env=env, workers=1) as server:
        return asyncio.run(_open_sockets(server.port, token, count, server.worker_pids()[0]))
