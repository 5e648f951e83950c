"""The OpenAI-compatible backend against a real OpenAI-protocol server on loopback.

Issue "Real assistant replies": streamed Chat Completions through the official SDK;
every failure of the model is ``AssistantError`` (503) or ``AssistantTimeout`` (504).
"""

from __future__ import annotations

import asyncio

import openai
import pytest

from conversations.assistant import AssistantBusy, AssistantError, AssistantTimeout, ChatTurn
from conversations.assistant.openai import OpenAIAssistant
from conversations.tests.fake_openai import DEFAULT_REPLY, MODELS, FakeOpenAI

HISTORY = [
    ChatTurn("user", "Hi"),
    ChatTurn("assistant", "Hello!"),
    ChatTurn("user", "What is 2 + 2?"),
]


def backend(fake: FakeOpenAI, **options: object) -> OpenAIAssistant:
    settings: dict[str, object] = {
        "model": "fake-model",
        "base_url": fake.base_url,
        "system_prompt": "Be brief.",
        "first_token_timeout": 2.0,
        "timeout": 5.0,
        "max_retries": 1,
    }
    settings.update(options)
    return OpenAIAssistant(**settings)  # type: ignore[arg-type]


async def collect(assistant: OpenAIAssistant, history: list[ChatTurn] = HISTORY) -> tuple[str, BaseException | None]:
    parts: list[str] = []
    try:
        async for delta in assistant.stream(history):
            parts.append(delta)
    except Exception as exc:  # the test inspects it
        return "".join(parts), exc
    return "".join(parts), None


async def test_it_streams_the_reply_in_several_deltas(fake_openai: FakeOpenAI) -> None:
    deltas = [d async for d in backend(fake_openai).stream(HISTORY)]
    assert len(deltas) == 5
    assert "".join(deltas) == DEFAULT_REPLY


async def test_it_sends_the_system_prompt_first_then_the_history_and_the_options(fake_openai: FakeOpenAI) -> None:
    await collect(backend(fake_openai, temperature=0.2, max_output_tokens=300))
    sent = fake_openai.requests[-1]
    assert sent["model"] == "fake-model"
    assert sent["stream"] is True
    assert sent["temperature"] == 0.2
    assert sent["max_tokens"] == 300
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "What is 2 + 2?"},
    ]


async def test_it_leaves_out_what_is_not_configured(fake_openai: FakeOpenAI) -> None:
    await collect(backend(fake_openai, system_prompt="", temperature=None, max_output_tokens=0))
    sent = fake_openai.requests[-1]
    assert "temperature" not in sent and "max_tokens" not in sent
    assert sent["messages"][0] == {"role": "user", "content": "Hi"}


async def test_a_500_is_an_assistant_error_after_one_retry(fake_openai: FakeOpenAI) -> None:
    fake_openai.mode = "error500"
    text, error = await collect(backend(fake_openai))
    assert type(error) is AssistantError and "HTTP 500" in str(error)
    assert isinstance(error.__cause__, openai.InternalServerError)
    assert text == ""
    assert len(fake_openai.requests) == 2


async def test_a_500_once_is_retried_and_the_reply_arrives(fake_openai: FakeOpenAI) -> None:
    fake_openai.mode, fake_openai.fail_times = "error500", 1
    text, error = await collect(backend(fake_openai))
    assert error is None and text == DEFAULT_REPLY
    assert len(fake_openai.requests) == 2


async def test_a_429_honours_retry_after_when_it_fits_the_deadline(fake_openai: FakeOpenAI) -> None:
    fake_openai.mode, fake_openai.fail_times, fake_openai.retry_after = "ratelimit", 1, 1
    loop = asyncio.get_running_loop()
    started = loop.time()
    text, error = await collect(backend(fake_openai, first_token_timeout=3.0))
    assert error is None and text == DEFAULT_REPLY
    assert loop.time() - started >= 1.0  # waited as told
    assert len(fake_openai.requests) == 2


async def test_a_429_whose_retry_after_outlasts_the_deadline_fails_at_once_as_busy(
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.mode, fake_openai.retry_after = "ratelimit", 30
    _text, error = await collect(backend(fake_openai, first_token_timeout=3.0))
    # AssistantBusy, a kind of AssistantError: "busy, wait a moment" to the person (issue 12).
    assert type(error) is AssistantBusy and "HTTP 429" in str(error)
    assert len(fake_openai.requests) == 1


async def test_a_connection_cut_mid_stream_is_an_error_keeping_the_text_so_far(fake_openai: FakeOpenAI) -> None:
    fake_openai.mode, fake_openai.cut_after = "cut", 2
    text, error = await collect(backend(fake_openai))
    assert type(error) is AssistantError
    assert text and DEFAULT_REPLY.startswith(text) and text != DEFAULT_REPLY


async def test_a_malformed_chunk_is_an_error_keeping_the_text_so_far(fake_openai: FakeOpenAI) -> None:
    fake_openai.mode, fake_openai.cut_after = "malformed", 3
    text, error = await collect(backend(fake_openai))
    assert type(error) is AssistantError and "malformed" in str(error)
    assert text and DEFAULT_REPLY.startswith(text) and text != DEFAULT_REPLY


@pytest.mark.parametrize(
    "wrong_chunk",
    [
        {"choices": [{"index": 0, "delta": {"content": 5}}]},  # content not text
        {"choices": [{"index": 0, "delta": "text"}]},  # delta not an object
        {"choices": "text"},  # choices not a list of objects
        ["a", "list"],  # not an object at all
    ],
    ids=["content-number", "delta-text", "choices-text", "list"],
)
async def test_a_chunk_of_the_wrong_shape_is_a_malformed_stream_keeping_the_text_so_far(
    fake_openai: FakeOpenAI, wrong_chunk: object
) -> None:
    fake_openai.mode, fake_openai.cut_after, fake_openai.wrong_chunk = "wrongshape", 2, wrong_chunk
    text, error = await collect(backend(fake_openai))
    assert type(error) is AssistantError and "malformed" in str(error)
    assert text and DEFAULT_REPLY.startswith(text) and text != DEFAULT_REPLY


async def test_a_first_token_that_never_comes_is_a_timeout(fake_openai: FakeOpenAI) -> None:
    fake_openai.mode = "hang"
    text, error = await collect(backend(fake_openai, first_token_timeout=0.5))
    assert type(error) is AssistantTimeout and "first token" in str(error)
    assert text == ""


async def test_a_reply_that_outlasts_the_total_deadline_is_a_timeout_keeping_its_text(fake_openai: FakeOpenAI) -> None:
    fake_openai.chunk_delay = 0.8  # chunks at 0, 0.8, 1.6, 2.4 s...
    text, error = await collect(backend(fake_openai, first_token_timeout=1.0, timeout=2.0))
    assert type(error) is AssistantTimeout and "end" in str(error)
    assert text and DEFAULT_REPLY.startswith(text) and text != DEFAULT_REPLY


async def test_a_refused_connection_is_an_assistant_error() -> None:
    closed = FakeOpenAI()  # never started: nothing listens on its port
    _text, error = await collect(backend(closed, max_retries=0))
    assert type(error) is AssistantError and "could not reach" in str(error)


async def test_a_stream_that_ends_without_finishing_is_an_error(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that closes the stream cleanly but early (no finish_reason) has not answered."""

    async def no_finish(self: FakeOpenAI, send, body, mode):  # type: ignore[no-untyped-def]
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        chunk = b'data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Half"},"finish_reason":null}]}\n\n'
        await send({"type": "http.response.body", "body": chunk, "more_body": False})

    monkeypatch.setattr(FakeOpenAI, "_stream", no_finish)
    text, error = await collect(backend(fake_openai))
    assert type(error) is AssistantError and "before the reply was finished" in str(error)
    assert text == "Half"


def test_the_fake_also_answers_without_streaming(fake_openai: FakeOpenAI) -> None:
    """The fake speaks both forms of the protocol, for other users of it (bench/, the page)."""
    client = openai.OpenAI(api_key="x", base_url=fake_openai.base_url)
    completion = client.chat.completions.create(model="fake-model", messages=[{"role": "user", "content": "hi"}])
    assert completion.choices[0].message.content == DEFAULT_REPLY
    assert completion.choices[0].finish_reason == "stop"
    assert [m.id for m in client.models.list()] == list(MODELS)  # several, as real servers list (issue 14)


async def test_streams_one_after_another_reuse_one_keep_alive_connection(fake_openai: FakeOpenAI) -> None:
    """One SDK client per event loop, over the SDK's aiohttp transport: keep-alive connections are reused."""
    assistant = backend(fake_openai)
    for _ in range(3):
        assert (await collect(assistant)) == (DEFAULT_REPLY, None)
    assert list(assistant._clients.values()) == [assistant.client()]
    assert fake_openai.connections == 1


async def test_many_streams_at_once_share_the_client_and_each_gets_its_reply(fake_openai: FakeOpenAI) -> None:
    """Issue 3, many chats at once: concurrent streams over one client, each its own connection."""
    fake_openai.latency = 0.3
    assistant = backend(fake_openai)
    results = await asyncio.gather(*(collect(assistant) for _ in range(40)))
    assert results == [(DEFAULT_REPLY, None)] * 40
    assert len(assistant._clients) == 1
    assert fake_openai.connections == 40


async def test_the_client_is_reused_after_a_failed_stream(fake_openai: FakeOpenAI) -> None:
    fake_openai.mode = "error500"
    fake_openai.fail_times = 1
    assistant = backend(fake_openai, max_retries=0)
    _, error = await collect(assistant)
    assert isinstance(error, AssistantError)
    assert (await collect(assistant)) == (DEFAULT_REPLY, None)
    assert len(assistant._clients) == 1


async def test_closing_the_backend_hangs_up_and_the_next_stream_opens_a_new_client(fake_openai: FakeOpenAI) -> None:
    """Server shutdown (``chatsite.lifespan``) closes the loop's client and its keep-alive connection."""
    assistant = backend(fake_openai)
    await collect(assistant)
    first = assistant.client()
    await assistant.aclose()
    assert first.is_closed()
    assert assistant._clients.get(asyncio.get_running_loop()) is None
    assert (await collect(assistant)) == (DEFAULT_REPLY, None)
    assert assistant.client() is not first
    assert fake_openai.connections == 2


async def test_a_process_may_hold_more_model_connections_than_the_sdk_default(fake_openai: FakeOpenAI) -> None:
    """Issue 6 holds 2,000 chats in flight; the SDK's default pool stops at 1,000 connections."""
    assistant = backend(fake_openai)
    await collect(assistant)
    session = assistant.client()._client._transport.client  # the aiohttp session opened by the first stream
    assert session.connector.limit >= 2_000
