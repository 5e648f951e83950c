"""Several uvicorn workers of the project, each its own process, for the fault tests of issue 12.

Production runs ``uvicorn --workers N`` behind one port: N processes sharing PostgreSQL and
Redis. Here each worker is a separate ``uvicorn`` process on its own loopback port (as in
``test_live_workers.py``), so a test can talk to a chosen one and ``kill -9`` it by its pid.
Unlike ``servers.uvicorn_project`` the workers speak the ASGI lifespan (``--lifespan on``,
uvicorn's default in production), so each worker's stale-reply sweep runs from its start,
before any connection reaches it.

House rules (``servers.py``): real parts, on loopback only, every wait bounded, and every
process started here stopped by its pid at the end, even when the test fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from websockets.asyncio.client import ClientConnection

from conversations.tests.servers import free_port, wait_listening

EVENT_WAIT = 15.0  # seconds for any one socket event
STOP_WAIT = 10.0  # seconds a worker has to stop after SIGTERM before it is killed


def redis_url_of_tests() -> str:
    """``TEST_REDIS_URL`` (else ``REDIS_URL``) if that Redis answers; skips the test with the reason otherwise."""
    url = os.environ.get("TEST_REDIS_URL") or os.environ.get("REDIS_URL")
    if not url:
        pytest.skip("needs Redis: set TEST_REDIS_URL=redis://127.0.0.1:6379/15 (the CI does)")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.skip(f"needs Redis at {url}: {exc}")
    return url


@dataclass
class Worker:
    """One uvicorn process of the project."""

    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def http(self) -> str:
        """Its base URL, e.g. ``http://127.0.0.1:41234``."""
        return f"http://127.0.0.1:{self.port}"

    def ws(self, path: str, token: str) -> str:
        """The WebSocket URL of ``path`` (e.g. ``/ws/chat``) on this worker, with ``token``."""
        return f"ws://127.0.0.1:{self.port}{path}?token={token}"

    def kill(self) -> float:
        """``kill -9`` the process (no cleanup of any kind runs in it); returns ``time.monotonic()`` of the kill."""
        os.kill(self.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        self.process.wait(timeout=STOP_WAIT)
        return killed_at

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not stopped within ``STOP_WAIT`` seconds."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_WAIT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_WAIT)


@contextmanager
def uvicorn_workers(count: int, *, env: dict[str, str], logs: Path) -> Iterator[list[Worker]]:
    """``count`` uvicorn processes of the project, started together, each on a free loopback port.

    Args:
        env: variables added to this process's environment (``DATABASE_URL``, ``REDIS_URL``, ...).
        logs: a directory for each worker's output (``uvicorn-<n>.log``, shown if it fails to start).
    """
    full_env = {
        **os.environ,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SETTINGS_MODULE": "conversations.tests.uvicorn_settings",
        "PYTHONUNBUFFERED": "1",
        "LIVE_SWEEP_SECONDS": "5",  # the suite turns it off for its own process (pytest.ini)
        **env,
    }
    workers: list[Worker] = []
    try:
        for index in range(count):
            port = free_port()
            log = logs / f"uvicorn-{index}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [sys.executable, "-m", "uvicorn", "chatsite.asgi:application", "--host", "127.0.0.1",
                     "--port", str(port), "--lifespan", "on", "--log-level", "warning",
                     "--timeout-graceful-shutdown", "3"],
                    cwd=settings.BASE_DIR, env=full_env, stdout=out, stderr=subprocess.STDOUT,
                )  # fmt: skip
            workers.append(Worker(port=port, process=process, log=log))
        for worker in workers:
            try:
                wait_listening(worker.port, process=worker.process, what="uvicorn")
            except RuntimeError as exc:
                raise RuntimeError(f"{exc}:\n{worker.log.read_text(errors='replace')}") from None
        yield workers
    finally:
        for worker in workers:
            worker.stop()


def wait_for(check: Callable[[], Any], *, seconds: float, every: float = 0.05, what: str = "the condition") -> Any:
    """Poll ``check()`` until it returns something truthy, and return that; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {seconds} s")
        time.sleep(every)


async def receive(ws: ClientConnection, seconds: float = EVENT_WAIT) -> dict[str, Any]:
    """The next event on ``ws`` (fails after ``seconds``)."""
    return json.loads(await asyncio.wait_for(ws.recv(), seconds))


async def receive_until(
    ws: ClientConnection, done: Callable[[dict[str, Any]], bool], seconds: float = EVENT_WAIT
) -> list[dict[str, Any]]:
    """Events on ``ws`` up to and including the first for which ``done(event)`` is true, within ``seconds``."""
    events: list[dict[str, Any]] = []
    async with asyncio.timeout(seconds):
        while not events or not done(events[-1]):
            events.append(json.loads(await ws.recv()))
    return events


def is_sentence(text: object) -> bool:
    """A message for a person (FR-014, SC-008): words ending with a full stop, no traceback, no bare code."""
    return (
        isinstance(text, str)
        and len(text.split()) >= 3
        and text.rstrip().endswith(".")
        and "Traceback" not in text
        and not text.strip().isdigit()
    )
