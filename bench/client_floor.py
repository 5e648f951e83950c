"""The model client alone: how many streamed replies one process can hold in flight.

The baseline under the "2 s model, N in flight" rows (issue 3, issue 6 scenario f): the
project's own OpenAI backend (``conversations.assistant.openai.OpenAIAssistant``, i.e. the
official SDK and its aiohttp transport) in a bare Python process, with no web server, no
Django request and no database, holding ``--in-flight`` streams open against the fake
model for ``--seconds``: each of ``--in-flight`` tasks starts its next reply as soon as the
last one has finished (a closed loop, as wrk does for the chats). Whatever this process
cannot do, a server process that also serves the chat cannot do either.

    python -m bench.client_floor --base-url http://127.0.0.1:PORT/v1 --in-flight 500 --seconds 20

Prints one JSON object (see ``hold``), or writes it to ``--output``. The event loop is uvloop's when it is installed, as
under uvicorn.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

from conversations.assistant import AssistantError, ChatTurn
from conversations.assistant.openai import OpenAIAssistant

HISTORY = [ChatTurn("user", "Hello, how are you today?")]


async def hold(base_url: str, in_flight: int, seconds: float) -> dict[str, object]:
    """Keep ``in_flight`` replies streaming from ``base_url`` for ``seconds``; their latencies and CPU.

    Args:
        base_url: the OpenAI-compatible API root (``.../v1``).
        in_flight: concurrent streams.
        seconds: length of the run; a reply still open at the end is not counted.

    Returns:
        ``{"latencies_ms": [...], "errors": int, "seconds": float, "streams": int, "cpu_s": float}``:
        ``streams`` counts every reply, also those that ended after the run (the last wave),
        over which ``cpu_s`` (this process's CPU time, seconds) was spent.
    """
    assistant = OpenAIAssistant(model="fake-model", base_url=base_url, timeout=60.0, first_token_timeout=60.0)
    latencies: list[float] = []
    errors = streams = 0
    deadline = time.monotonic() + seconds

    async def one_after_another() -> None:
        nonlocal errors, streams
        while True:
            started = time.monotonic()
            try:
                async for _ in assistant.stream(HISTORY):
                    pass
            except AssistantError:
                errors += 1
            finished = time.monotonic()
            streams += 1
            if finished > deadline:
                return
            latencies.append(1000 * (finished - started))

    cpu_before = time.process_time()
    await asyncio.gather(*(one_after_another() for _ in range(in_flight)))
    cpu_used = time.process_time() - cpu_before
    await assistant.aclose()
    return {"latencies_ms": latencies, "errors": errors, "seconds": seconds, "streams": streams, "cpu_s": cpu_used}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", required=True, help="the fake model's API root, e.g. http://127.0.0.1:PORT/v1")
    parser.add_argument("--in-flight", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--output", type=Path, help="write the JSON here instead of to standard output")
    args = parser.parse_args()
    run = asyncio.run
    try:
        import uvloop

        run = uvloop.run
    except ImportError:
        pass
    result = json.dumps(run(hold(args.base_url, args.in_flight, args.seconds)))
    if args.output:
        args.output.write_text(result)
    else:
        print(result)


if __name__ == "__main__":
    main()
