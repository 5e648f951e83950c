"""A small real HTTP server speaking the OpenAI Chat Completions protocol, on loopback.

It stands in for the model provider, and only for it (house rules: fake only the
model provider). Tests, other helpers and ``bench/`` use it three ways::

    with FakeOpenAI() as fake:              # in a thread, in-process (tests)
        fake.mode = "error500"              # switches may change between requests
        OpenAIAssistant(base_url=fake.base_url, ...)
        fake.requests[-1]["messages"]       # what the model was sent

    python -m conversations.tests.fake_openai --port 8100 --latency 2   # a process (bench)

It serves ``POST /v1/chat/completions`` (streaming SSE when ``"stream": true``,
one JSON body otherwise) and ``GET /v1/models``, over uvicorn, so clients talk to
it through a real socket. ``fake.requests[i]["model"]`` and ``fake.system_message(i)`` say
which model and system message a request carried (issue 14).

Switches (attributes of ``FakeOpenAI``, or command-line flags):

``latency``        seconds before the first byte of the answer (the model "thinking").
``chunk_delay``    seconds between streamed chunks.
``reply``          the reply text; streamed in ``chunks`` pieces.
``mode``           ``ok``; ``error500`` (HTTP 500 JSON error); ``ratelimit`` (429 with
                   ``Retry-After: retry_after``); ``cut`` (sends ``cut_after`` chunks then
                   drops the connection mid-stream); ``malformed`` (sends ``cut_after``
                   chunks then one that is not JSON); ``wrongshape`` (sends ``cut_after``
                   chunks then ``wrong_chunk``: valid JSON that is not a chunk, by default
                   one whose ``content`` is a number); ``hang`` (answers 200 and the SSE
                   headers, then never sends a token).
``fail_times``     how many requests get ``mode`` before it behaves as ``ok`` again
                   (``None``: every request), so "fails once, then the retry succeeds"
                   can be staged.
``tool_script``    ``None`` (default: never calls a tool), or a list of *steps* that
                   answer the requests carrying a non-empty ``"tools"`` array. The step
                   for a request is the number of assistant messages with ``tool_calls``
                   in its ``messages`` (0 for a turn's first request, 1 once the tool
                   results come back, ...); past the end of the script, ``reply``. A
                   step is a ``str`` (a final text reply, streamed in ``chunks`` pieces),
                   or a list of tool calls ``{"name": str, "arguments": str | dict}`` (a
                   dict is JSON-encoded, a str is sent verbatim, malformed or not), or
                   ``"forever"``: this and every later request gets one tool call (the
                   script's first one, else ``list_tasks {"status": "all"}``). A tool
                   call streams as real servers do: a chunk naming each call (``id``,
                   ``name``, empty ``arguments``), the arguments in at least 3 pieces,
                   then ``finish_reason: "tool_calls"``; the faults of ``mode`` apply to
                   those pieces as to text ones. ``tool_results(i)`` returns the
                   ``{"role": "tool"}`` messages of ``requests[i]``. A request with
                   ``"tool_choice": "none"`` gets ``reply`` (as real servers do), unless
                   ``honour_tool_choice`` is ``False`` (a model that ignores it).

``models``         the ids ``GET /v1/models`` lists (``MODELS``: several, as real servers list).
``models_mode``    ``ok``, or ``error500``: ``GET /v1/models`` answers HTTP 500;
                   ``models_requests`` counts the listings asked for.
``completion_reply`` / ``completion_mode`` / ``completion_latency``
                   the reply text, ``mode`` and ``latency`` of non-streamed requests only (a
                   title request, issue 14), so a test can give the chat and the title different
                   answers, faults or delays; ``None`` (default): ``reply`` / ``mode`` /
                   ``latency``. Only ``ok``, ``error500`` and ``ratelimit`` mean something for a
                   non-streamed answer.

Per request, for a load with a mix of faults: a marker in the last user message,
``[fake:<mode>]`` (one of ``MODES``) and/or ``[fake:latency=<seconds>]``, overrides
``mode`` / ``latency`` for that request only (``fail_times`` does not apply to it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

MODES = ("ok", "error500", "ratelimit", "cut", "malformed", "wrongshape", "hang")
WRONG_CHUNK: Any = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": 5}}]}
_MARKER = re.compile(r"\[fake:(?:latency=(?P<latency>\d+(?:\.\d+)?)|(?P<mode>[a-z0-9]+))\]")
DEFAULT_REPLY = "Hello from the fake model. This reply arrives in several chunks, as a real one would."
FOREVER = "forever"
FOREVER_CALL: dict[str, Any] = {"name": "list_tasks", "arguments": {"status": "all"}}
MODELS = ("fake-model", "fake-large", "fake-small", "fake-vision")


def _event(data: Any) -> bytes:
    """One server-sent event carrying ``data`` as JSON."""
    return b"data: " + json.dumps(data).encode() + b"\n\n"


class _CutConnection(Exception):
    """Raised inside the app to make uvicorn drop the connection mid-response."""


class FakeOpenAI:
    """The fake provider: an ASGI app plus the switches above, optionally served in a thread.

    Attributes:
        requests: the JSON bodies received by ``/v1/chat/completions``, oldest first.
        clients: the client addresses ``(host, port)`` those requests came from; one per
            TCP connection, so ``len(set(clients))`` counts the connections a client used.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        chunk_delay: float = 0.0,
        reply: str = DEFAULT_REPLY,
        chunks: int = 5,
        mode: str = "ok",
        retry_after: int = 1,
        cut_after: int = 2,
        fail_times: int | None = None,
        tool_script: list[Any] | None = None,
        record: bool = True,
    ) -> None:
        self.host = host
        self.port = port or _free_port(host)
        self.latency = latency
        self.chunk_delay = chunk_delay
        self.reply = reply
        self.chunks = chunks
        self.mode = mode
        self.retry_after = retry_after
        self.cut_after = cut_after
        self.wrong_chunk: Any = WRONG_CHUNK
        self.fail_times = fail_times
        self.tool_script: list[Any] | None = tool_script
        self.honour_tool_choice = True
        self.models: list[str] = list(MODELS)
        self.models_mode = "ok"
        self.models_requests = 0
        self.completion_reply: str | None = None
        self.completion_mode: str | None = None
        self.completion_latency: float | None = None
        self.record = record
        self.requests: list[dict[str, Any]] = []
        self.clients: list[tuple[str, int]] = []
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # --- Serving ------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """What to give ``OPENAI_BASE_URL``, e.g. ``http://127.0.0.1:41234/v1``."""
        return f"http://{self.host}:{self.port}/v1"

    def config(self, **uvicorn_options: Any) -> uvicorn.Config:
        options: dict[str, Any] = {"log_level": "critical", "access_log": False, "lifespan": "off"}
        options.update(uvicorn_options)
        return uvicorn.Config(self, host=self.host, port=self.port, **options)

    def start(self) -> FakeOpenAI:
        """Serve in a daemon thread; returns once the socket accepts connections (at most 10 s)."""
        self._server = uvicorn.Server(self.config())
        self._thread = threading.Thread(target=self._server.run, name="fake-openai", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake OpenAI server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            # Streams parked in "hang" mode would otherwise hold the shutdown.
            self._server.force_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Back to a healthy, instant model with no recorded requests."""
        self.latency = self.chunk_delay = 0.0
        self.reply, self.chunks, self.mode = DEFAULT_REPLY, 5, "ok"
        self.retry_after, self.cut_after, self.fail_times = 1, 2, None
        self.wrong_chunk = WRONG_CHUNK
        self.tool_script = None
        self.honour_tool_choice = True
        self.models, self.models_mode, self.models_requests = list(MODELS), "ok", 0
        self.completion_reply = self.completion_mode = self.completion_latency = None
        with self._lock:
            self.requests.clear()
            self.clients.clear()

    @property
    def connections(self) -> int:
        """How many TCP connections the recorded requests came over."""
        with self._lock:
            return len(set(self.clients))

    def system_message(self, request_index: int) -> str | None:
        """The content of the ``{"role": "system"}`` message of ``requests[request_index]``, if any."""
        with self._lock:
            messages = self.requests[request_index].get("messages") or []
        return next((m.get("content") for m in messages if isinstance(m, dict) and m.get("role") == "system"), None)

    def tool_results(self, request_index: int) -> list[dict[str, Any]]:
        """The ``{"role": "tool", ...}`` messages of ``requests[request_index]``, in order."""
        with self._lock:
            messages = self.requests[request_index].get("messages") or []
        return [m for m in messages if isinstance(m, dict) and m.get("role") == "tool"]

    # --- The protocol --------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if method == "GET" and path == "/v1/models":
            with self._lock:
                self.models_requests += 1
            if self.models_mode == "error500":
                await _json(send, 500, _error("The fake model server broke.", "server_error"))
                return
            data = [{"id": name, "object": "model", "created": 0, "owned_by": "fake"} for name in self.models]
            await _json(send, 200, {"object": "list", "data": data})
            return
        if method != "POST" or path != "/v1/chat/completions":
            await _json(send, 404, _error("Not found", "invalid_request_error"))
            return
        try:
            body = json.loads(await _read_body(receive))
        except ValueError:
            await _json(send, 400, _error("The body is not JSON.", "invalid_request_error"))
            return
        mode = self._mode_for_this_request(body, scope.get("client"))
        latency = self.latency
        if not body.get("stream"):
            mode = mode if self.completion_mode is None else self.completion_mode
            latency = latency if self.completion_latency is None else self.completion_latency
        marked_mode, marked_latency = _markers(body)
        mode = marked_mode or mode
        latency = latency if marked_latency is None else marked_latency
        if latency:
            await asyncio.sleep(latency)
        if mode == "error500":
            await _json(send, 500, _error("The fake model broke.", "server_error"))
            return
        if mode == "ratelimit":
            await _json(
                send,
                429,
                _error("Rate limit reached.", "rate_limit_exceeded"),
                headers=[(b"retry-after", str(self.retry_after).encode())],
            )
            return
        if body.get("stream"):
            await self._stream(send, body, mode)
        else:
            await _json(send, 200, self._completion(body))

    def _mode_for_this_request(self, body: dict[str, Any], client: Any) -> str:
        with self._lock:
            if self.record:
                self.requests.append(body)
                self.clients.append(tuple(client) if client else ("", 0))
            mode = self.mode
            if mode != "ok" and self.fail_times is not None:
                if self.fail_times <= 0:
                    return "ok"
                self.fail_times -= 1
            return mode

    def _answer(self, body: dict[str, Any]) -> str | list[dict[str, str]]:
        """The reply text, or the tool calls (``name``, ``id``, JSON ``arguments``) to answer with."""
        script = self.tool_script
        if script is None or not body.get("tools"):
            return self.reply
        if body.get("tool_choice") == "none" and self.honour_tool_choice:
            return self.reply  # as real servers: told not to call tools, the model answers in words
        messages = body.get("messages") or []
        step_index = sum(
            1 for m in messages if isinstance(m, dict) and m.get("role") == "assistant" and m.get("tool_calls")
        )
        if FOREVER in script[: step_index + 1]:
            first = next((s[0] for s in script if isinstance(s, list) and s), FOREVER_CALL)
            step: Any = [first]
        elif step_index < len(script):
            step = script[step_index]
        else:
            return self.reply
        if isinstance(step, str):
            return step
        return [
            {
                "id": f"call_{uuid.uuid4().hex[:24]}",
                "name": call["name"],
                "arguments": call["arguments"] if isinstance(call["arguments"], str) else json.dumps(call["arguments"]),
            }
            for call in step
        ]

    def _pieces(self, reply: str) -> list[str]:
        words = reply.split(" ")
        count = max(1, min(self.chunks, len(words)))
        bounds = [len(words) * i // count for i in range(count + 1)]
        groups = [" ".join(words[bounds[i] : bounds[i + 1]]) for i in range(count)]
        return [g if i == 0 else " " + g for i, g in enumerate(groups)]

    async def _stream(self, send: Send, body: dict[str, Any], mode: str) -> None:
        answer = self._answer(body)
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        model = body.get("model", "fake-model")
        created = int(time.time())

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
            data = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
            }
            return _event(data)

        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")],
            }
        )
        first: dict[str, Any]
        if isinstance(answer, str):
            first = {"role": "assistant", "content": ""}
            deltas = [{"content": piece} for piece in self._pieces(answer)]
            finish = "stop"
        else:
            first = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "index": i,
                        "id": call["id"],
                        "type": "function",
                        "function": {"name": call["name"], "arguments": ""},
                    }
                    for i, call in enumerate(answer)
                ],
            }
            deltas = [
                {"tool_calls": [{"index": i, "function": {"arguments": piece}}]}
                for i, call in enumerate(answer)
                for piece in _split(call["arguments"], max(3, self.chunks))
            ]
            finish = "tool_calls"
        await send({"type": "http.response.body", "body": chunk(first), "more_body": True})
        if mode == "hang":
            await asyncio.sleep(3600)
            return
        for index, delta in enumerate(deltas):
            if mode in ("cut", "malformed", "wrongshape") and index == self.cut_after:
                if mode == "cut":
                    raise _CutConnection  # uvicorn closes the socket: an incomplete chunked body
                bad = b"data: {this is not json\n\n"
                if mode == "wrongshape":
                    bad = _event(self.wrong_chunk)
                await send({"type": "http.response.body", "body": bad, "more_body": True})
                break
            if self.chunk_delay and index:
                await asyncio.sleep(self.chunk_delay)
            await send({"type": "http.response.body", "body": chunk(delta), "more_body": True})
        else:
            await send({"type": "http.response.body", "body": chunk({}, finish), "more_body": True})
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": False})

    def _completion(self, body: dict[str, Any]) -> dict[str, Any]:
        answer = self._answer(body) if self.completion_reply is None else self.completion_reply
        message: dict[str, Any]
        if isinstance(answer, str):
            message, finish = {"role": "assistant", "content": answer}, "stop"
        else:
            calls = [
                {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
                for c in answer
            ]
            message, finish = {"role": "assistant", "content": None, "tool_calls": calls}, "tool_calls"
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake-model"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }


def _split(text: str, count: int) -> list[str]:
    """``text`` cut into ``count`` consecutive pieces of near-equal length (some empty if it is short)."""
    bounds = [len(text) * i // count for i in range(count + 1)]
    return [text[bounds[i] : bounds[i + 1]] for i in range(count)]


def _markers(body: dict[str, Any]) -> tuple[str | None, float | None]:
    """``(mode, latency)`` asked for by ``[fake:...]`` markers in the last user message, if any."""
    messages = body.get("messages") or []
    last_user = next((m for m in reversed(messages) if isinstance(m, dict) and m.get("role") == "user"), None)
    content = last_user.get("content") if last_user else None
    mode = latency = None
    for found in _MARKER.finditer(content if isinstance(content, str) else ""):
        if found["latency"] is not None:
            latency = float(found["latency"])
        elif found["mode"] in MODES:
            mode = found["mode"]
    return mode, latency


def _error(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": kind}}


async def _read_body(receive: Receive) -> bytes:
    parts: list[bytes] = []
    while True:
        message = await receive()
        parts.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(parts)


async def _json(
    send: Send, status: int, payload: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    raw = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(raw)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": raw})


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def main(argv: list[str] | None = None) -> None:
    """Serve the fake in the foreground: ``python -m conversations.tests.fake_openai --help``."""
    parser = argparse.ArgumentParser(description="A fake OpenAI Chat Completions server on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before the first token")
    parser.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between chunks")
    parser.add_argument("--chunks", type=int, default=5)
    parser.add_argument("--mode", choices=MODES, default="ok")
    parser.add_argument("--retry-after", type=int, default=1)
    parser.add_argument("--reply", default=DEFAULT_REPLY)
    parser.add_argument(
        "--tool-script",
        type=json.loads,
        default=None,
        metavar="JSON",
        help='a JSON list of steps, e.g. \'[[{"name": "add_task", "arguments": {"title": "x"}}], "Done."]\'',
    )
    args = parser.parse_args(argv)
    if args.tool_script is not None and not isinstance(args.tool_script, list):
        parser.error("--tool-script must be a JSON list")
    fake = FakeOpenAI(
        host=args.host,
        port=args.port,
        latency=args.latency,
        chunk_delay=args.chunk_delay,
        chunks=args.chunks,
        mode=args.mode,
        retry_after=args.retry_after,
        reply=args.reply,
        tool_script=args.tool_script,
        record=False,
    )
    # backlog: the benchmark opens hundreds of connections at once.
    uvicorn.Server(fake.config(backlog=4096, timeout_keep_alive=30)).run()


if __name__ == "__main__":
    main()
