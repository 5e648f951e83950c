"""Time to first token over the WebSocket, against a model that answers at once.

Starts one uvicorn worker (PostgreSQL from DATABASE_URL, Redis from REDIS_URL, the
offline assistant with no delay), sends N messages one after another on one socket
and measures, per message, send -> message.created, send -> first reply.delta and
send -> reply.finished. Baseline in the same run: the socket's round trip (an
unknown action answered by an error event), so "TTFT - round trip" is what the
live path adds to the model's own time to first token.

    DATABASE_URL=postgres://... REDIS_URL=redis://127.0.0.1:6379/5 \
        python bench/live_ttft.py [N]
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import django

BASE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ms(values: list[float]) -> str:
    values = sorted(values)
    p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
    return f"median {statistics.median(values) * 1000:6.1f} ms   p95 {p95 * 1000:6.1f} ms"


async def measure(port: int, token: str, count: int) -> dict[str, list[float]]:
    from websockets.asyncio.client import connect

    results: dict[str, list[float]] = {"round trip": [], "message.created": [], "first delta": [], "finished": []}
    async with connect(f"ws://127.0.0.1:{port}/ws/chat?token={token}") as ws:
        assert json.loads(await ws.recv())["type"] == "ready"
        for index in range(count + 3):  # the first 3 warm up
            start = time.perf_counter()
            await ws.send(json.dumps({"type": "ping"}))
            assert json.loads(await ws.recv())["type"] == "error"
            rtt = time.perf_counter() - start
            start = time.perf_counter()
            await ws.send(json.dumps({"type": "send", "message": f"Bench message {index}"}))
            marks: dict[str, float] = {}
            while "finished" not in marks:
                event = json.loads(await asyncio.wait_for(ws.recv(), 30))
                now = time.perf_counter() - start
                if event["type"] == "message.created":
                    marks["message.created"] = now
                elif event["type"] == "reply.delta" and "first delta" not in marks:
                    marks["first delta"] = now
                elif event["type"] == "reply.finished":
                    marks["finished"] = now
                elif event["type"] == "error":
                    raise RuntimeError(event)
            if index >= 3:
                results["round trip"].append(rtt)
                for key, value in marks.items():
                    results[key].append(value)
    return results


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-secret-key-0123456789abcdefghijklmnopqrstuvwxyz")
    os.environ.setdefault("DJANGO_HTTPS", "0")
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1")
    os.environ["ASSISTANT_BACKEND"] = "offline"
    os.environ["OFFLINE_ASSISTANT_CHUNK_DELAY"] = "0"
    django.setup()
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=BASE, check=True)
    from conversations.auth import issue_token

    token = issue_token(user_id="bench-user")[0]
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "chatsite.asgi:application", "--port", str(port),
         "--lifespan", "off", "--log-level", "warning"],
        cwd=BASE, env=os.environ.copy(),
    )  # fmt: skip
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        results = asyncio.run(measure(port, token, count))
    finally:
        server.terminate()
        server.wait(10)
    print(f"{platform.node()} {platform.processor() or platform.machine()} {os.cpu_count()} cpus, "
          f"{time.strftime('%Y-%m-%d')}, layer={'redis' if os.environ.get('REDIS_URL') else 'memory'}, "
          f"db={'postgres' if os.environ.get('DATABASE_URL') else 'sqlite'}, "
          f"pool={os.environ.get('DATABASE_POOL', '0')}, n={count}")  # fmt: skip
    for key, values in results.items():
        print(f"  send -> {key:16s} {ms(values)}" if key != "round trip" else f"  socket round trip       {ms(values)}")


if __name__ == "__main__":
    main()
