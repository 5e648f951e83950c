"""The fake provider's ``tool_script`` switch, checked through the official OpenAI SDK.

The fake must answer with tool calls the way real servers do (OpenAI, vLLM, Ollama),
streamed and not, so that the tests built on it exercise real client code.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from typing import Any

from openai import AsyncOpenAI

from conversations.tests.fake_openai import DEFAULT_REPLY, FakeOpenAI, _free_port

TOOLS: Any = [
    {
        "type": "function",
        "function": {
            "name": "add_task",
            "parameters": {"type": "object", "properties": {"title": {"type": "string"}}},
        },
    }
]
USER: Any = [{"role": "user", "content": "Add a task: buy milk"}]
ADD_MILK = {"name": "add_task", "arguments": {"title": "buy milk"}}


def client(fake: FakeOpenAI) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=fake.base_url, api_key="x", max_retries=0)


async def stream(fake: FakeOpenAI, messages: Any, **options: Any) -> dict[str, Any]:
    """Reassemble a streamed answer as a client would: text, tool calls by index, pieces seen."""
    text: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    finish = None
    async with client(fake) as sdk:
        chunks = await sdk.chat.completions.create(model="fake-model", messages=messages, stream=True, **options)
        async for chunk in chunks:
            choice = chunk.choices[0]
            if choice.delta.content:
                text.append(choice.delta.content)
            for delta in choice.delta.tool_calls or []:
                call = calls.setdefault(delta.index, {"id": None, "name": None, "arguments": "", "pieces": 0})
                if delta.id:
                    call["id"] = delta.id
                if delta.function and delta.function.name:
                    call["name"] = delta.function.name
                if delta.function and delta.function.arguments:
                    call["arguments"] += delta.function.arguments
                    call["pieces"] += 1
            finish = choice.finish_reason or finish
    return {"text": "".join(text), "calls": [calls[i] for i in sorted(calls)], "finish": finish}


def answered_with(call: dict[str, Any], result: str) -> list[Any]:
    """The messages of the request that comes back after the tool ran."""
    return [
        *USER,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": call["name"], "arguments": call["arguments"]},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call["id"], "content": result},
    ]


async def test_a_streamed_tool_call_arrives_in_pieces_and_reassembles(fake_openai: FakeOpenAI) -> None:
    fake_openai.tool_script = [[ADD_MILK], "Added."]
    got = await stream(fake_openai, USER, tools=TOOLS)
    assert got["finish"] == "tool_calls"
    assert got["text"] == ""
    [call] = got["calls"]
    assert call["name"] == "add_task"
    assert call["id"].startswith("call_")
    assert json.loads(call["arguments"]) == {"title": "buy milk"}
    assert call["pieces"] >= 3
    assert fake_openai.requests[-1]["tools"] == TOOLS


async def test_the_request_after_the_tool_results_gets_the_next_step(fake_openai: FakeOpenAI) -> None:
    fake_openai.tool_script = [[ADD_MILK], "Added: buy milk."]
    [call] = (await stream(fake_openai, USER, tools=TOOLS))["calls"]
    got = await stream(fake_openai, answered_with(call, '{"id": 7}'), tools=TOOLS)
    assert got == {"text": "Added: buy milk.", "calls": [], "finish": "stop"}
    assert fake_openai.tool_results(0) == []
    assert fake_openai.tool_results(1) == [{"role": "tool", "tool_call_id": call["id"], "content": '{"id": 7}'}]
    # Past the end of the script: the plain reply.
    two_rounds = answered_with(call, "{}") + answered_with(call, "{}")[1:]
    assert (await stream(fake_openai, two_rounds, tools=TOOLS))["text"] == DEFAULT_REPLY


async def test_several_tool_calls_in_one_step(fake_openai: FakeOpenAI) -> None:
    fake_openai.tool_script = [[ADD_MILK, {"name": "list_tasks", "arguments": {}}]]
    calls = (await stream(fake_openai, USER, tools=TOOLS))["calls"]
    assert [(c["name"], json.loads(c["arguments"])) for c in calls] == [
        ("add_task", {"title": "buy milk"}),
        ("list_tasks", {}),
    ]
    assert calls[0]["id"] != calls[1]["id"]


async def test_a_tool_call_without_streaming(fake_openai: FakeOpenAI) -> None:
    fake_openai.tool_script = [[ADD_MILK], "Added."]
    async with client(fake_openai) as sdk:
        first = await sdk.chat.completions.create(model="fake-model", messages=USER, tools=TOOLS)
        choice = first.choices[0]
        assert choice.finish_reason == "tool_calls"
        assert choice.message.content is None
        [tool_call] = choice.message.tool_calls or []
        assert tool_call.id.startswith("call_")
        assert tool_call.function.name == "add_task"  # type: ignore[union-attr]
        assert json.loads(tool_call.function.arguments) == {"title": "buy milk"}  # type: ignore[union-attr]
        call = {"id": tool_call.id, "name": "add_task", "arguments": tool_call.function.arguments}  # type: ignore[union-attr]
        second = await sdk.chat.completions.create(model="fake-model", messages=answered_with(call, "ok"), tools=TOOLS)
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content == "Added."
    assert second.choices[0].message.tool_calls is None


async def test_forever_asks_for_a_tool_at_every_request(fake_openai: FakeOpenAI) -> None:
    fake_openai.tool_script = ["forever"]
    messages = list(USER)
    for _ in range(4):
        got = await stream(fake_openai, messages, tools=TOOLS)
        assert got["finish"] == "tool_calls"
        [call] = got["calls"]
        assert (call["name"], json.loads(call["arguments"])) == ("list_tasks", {"status": "all"})
        messages = messages + answered_with(call, "[]")[1:]
    # With a tool call in the script, that one is repeated, from the "forever" step on.
    fake_openai.tool_script = ["Thinking.", "forever", [ADD_MILK]]
    assert (await stream(fake_openai, USER, tools=TOOLS))["text"] == "Thinking."
    for rounds in (1, 2, 5):
        [call] = (await stream(fake_openai, USER + answered_with(call, "x")[1:] * rounds, tools=TOOLS))["calls"]
        assert (call["name"], json.loads(call["arguments"])) == ("add_task", {"title": "buy milk"})


async def test_malformed_arguments_are_sent_verbatim(fake_openai: FakeOpenAI) -> None:
    fake_openai.tool_script = [[{"name": "add_task", "arguments": '{"title": "buy mi'}]]
    [call] = (await stream(fake_openai, USER, tools=TOOLS))["calls"]
    assert call["arguments"] == '{"title": "buy mi'
    fake_openai.reset()
    fake_openai.tool_script = [[{"name": "add_task", "arguments": "not json at all"}]]
    async with client(fake_openai) as sdk:
        answer = await sdk.chat.completions.create(model="fake-model", messages=USER, tools=TOOLS)
    assert answer.choices[0].message.tool_calls[0].function.arguments == "not json at all"  # type: ignore[index,union-attr]


async def test_without_tools_in_the_request_the_plain_reply_comes(fake_openai: FakeOpenAI) -> None:
    fake_openai.tool_script = [[ADD_MILK], "Added."]
    got = await stream(fake_openai, USER)
    assert got == {"text": DEFAULT_REPLY, "calls": [], "finish": "stop"}
    async with client(fake_openai) as sdk:
        answer = await sdk.chat.completions.create(model="fake-model", messages=USER)
    assert answer.choices[0].message.content == DEFAULT_REPLY
    assert answer.choices[0].message.tool_calls is None


async def test_a_text_step_streams_in_chunks_pieces(fake_openai: FakeOpenAI) -> None:
    fake_openai.tool_script = ["one two three four five six"]
    fake_openai.chunks = 3
    pieces: list[str] = []
    async with client(fake_openai) as sdk:
        chunks = await sdk.chat.completions.create(model="fake-model", messages=USER, tools=TOOLS, stream=True)
        async for chunk in chunks:
            if chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)
    assert pieces == ["one two", " three four", " five six"]


def test_reset_clears_the_script() -> None:
    fake = FakeOpenAI(tool_script=[[ADD_MILK]])  # never started
    assert fake.tool_script == [[ADD_MILK]]
    fake.reset()
    assert fake.tool_script is None


async def test_the_command_line_takes_a_tool_script() -> None:
    port = _free_port("127.0.0.1")
    script = json.dumps([[ADD_MILK], "Added."])
    command = [sys.executable, "-m", "conversations.tests.fake_openai", "--port", str(port), "--tool-script", script]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        fake = FakeOpenAI(port=port)  # never started: only its base_url is used
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "the fake did not start"
                await asyncio.sleep(0.05)
        [call] = (await stream(fake, USER, tools=TOOLS))["calls"]
        assert (call["name"], json.loads(call["arguments"])) == ("add_task", {"title": "buy milk"})
        assert (await stream(fake, answered_with(call, "ok"), tools=TOOLS))["text"] == "Added."
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_command_line_refuses_a_script_that_is_not_a_list() -> None:
    command = [sys.executable, "-m", "conversations.tests.fake_openai", "--tool-script", '{"name": "x"}']
    done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "must be a JSON list" in done.stderr
