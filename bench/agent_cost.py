"""CPU per chat turn with tools (an Agents SDK agent) against without (one plain streamed request).

Issue 13 runs each turn with a model through the OpenAI Agents SDK. This measures what that
costs the worker: the same short reply from the fake model server (a subprocess, so its CPU
is not counted), ``--turns`` turns ``--concurrency`` at a time through
``OpenAIAssistant.stream``, with a toolbox (the agent) and without (the plain path,
``ASSISTANT_TOOLS=0``), alternating, and the process's CPU time per turn.

    python -m bench.agent_cost [--turns 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


class _Box:
    """A toolbox the fake model never calls (no tool script): what is measured is the agent's own cost."""

    def __init__(self) -> None:
        from tasks.tools import SPECS

        self.specs = SPECS

    async def call(self, name: str, arguments: object) -> Any:
        raise AssertionError("no tool is called in this probe")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    os.environ.setdefault("DJANGO_DEBUG", "1")
    import django

    django.setup()
    from conversations.assistant import ChatTurn
    from conversations.assistant.openai import OpenAIAssistant

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    fake = subprocess.Popen([sys.executable, "-m", "conversations.tests.fake_openai", "--port", str(port)], cwd=ROOT)
    try:
        time.sleep(2)
        assistant = OpenAIAssistant(model="fake-model", base_url=f"http://127.0.0.1:{port}/v1")
        history = [ChatTurn("user", "hello there")]

        async def turns(count: int, toolbox: Any) -> None:
            gate = asyncio.Semaphore(args.concurrency)

            async def one() -> str:
                async with gate:
                    return "".join([item async for item in assistant.stream(history, toolbox=toolbox)])

            await asyncio.gather(*[one() for _ in range(count)])

        async def measure() -> dict[str, list[float]]:
            figures: dict[str, list[float]] = {"plain": [], "agent": []}
            await turns(20, None)
            await turns(20, _Box())  # warm both paths
            for _ in range(args.rounds):
                for label, toolbox in (("plain", None), ("agent", _Box())):
                    before = time.process_time()
                    await turns(args.turns, toolbox)
                    figures[label].append(1000 * (time.process_time() - before) / args.turns)
            return figures

        figures = asyncio.run(measure())
    finally:
        fake.terminate()
    for label, values in figures.items():
        print(
            f"{label}: {statistics.median(values):.2f} ms CPU per turn (runs: {', '.join(f'{v:.2f}' for v in values)})"
        )
    ratio = statistics.median(figures["agent"]) / statistics.median(figures["plain"])
    print(f"agent / plain: {ratio:.1f}x")


if __name__ == "__main__":
    main()
