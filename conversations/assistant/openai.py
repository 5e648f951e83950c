"""The OpenAI-compatible backend: the official SDK's ``AsyncOpenAI``, Chat Completions, ``stream=True``.

Any server speaking that protocol works: OpenAI itself, Ollama, vLLM, LM Studio,
llama.cpp's server (``OPENAI_BASE_URL``). Every failure of the model comes out as
``AssistantError`` (the API answers 503) or ``AssistantTimeout`` (504), with the
text that already arrived kept by the caller (issue "Real assistant replies").

Two deadlines bound a request, both absolute from its start:

- the first token must arrive within ``first_token_timeout`` seconds (this covers
  connecting, queueing at the provider and any retries);
- the whole reply must end within ``timeout`` seconds.

A model that meets both is never slowed down (SC-007).
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
import weakref
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp
import httpx2
import openai
from agents import AgentsException, ModelSettings
from openai import AsyncOpenAI

from conversations.assistant.base import (
    AssistantBusy,
    AssistantError,
    AssistantTimeout,
    ChatOptions,
    ChatTurn,
    Toolbox,
    ToolCall,
    markdown_literal,
)

logger = logging.getLogger(__name__)

# Local servers (Ollama, vLLM, llama.cpp) need no key, but the SDK insists on one.
PLACEHOLDER_API_KEY = "not-needed"
RETRY_BACKOFF_SECONDS = 0.5
CONNECT_TIMEOUT_SECONDS = 5.0
# Concurrent connections one process may open to the model server: one per stream in
# flight. The SDK's default (1,000) would queue the 1,001st chat of a process behind the
# others (issue 6 measures 2,000 in flight); past this the bounds are the process's
# file-descriptor limit (``ulimit -n``) and the model server's own limits.
MAX_MODEL_CONNECTIONS = 10_000
# The stream class for a streamed completion read as plain JSON (see ``_open``): the SDK
# still decodes the server-sent events and raises on an error event; ``object`` as the
# chunk type makes it hand each decoded chunk over as it is.
_CHUNKS = openai.AsyncStream[object]
# Failures before the first token that may pass: rate limits, 5xx, a connection refused.
_RETRYABLE = (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError)
_DEFAULTS = ChatOptions()

# Titles (issue 14): one short plain request after a conversation's first reply.
TITLE_PROMPT = (
    "Write a short title, at most six words, for the conversation below, in the language of the "
    "user's message. Answer with the title alone: no quotes, no full stop, no preamble."
)
TITLE_SOURCE_CHARS = 2000  # of each message shown to the title request
TITLE_MAX_TOKENS = 40


class OpenAIAssistant:
    """Streams a reply from an OpenAI-compatible Chat Completions endpoint.

    The HTTP client is the SDK's own aiohttp transport (``openai.DefaultAioHttpClient``, the
    ``openai[aiohttp]`` extra, which the SDK documents "for improved concurrency performance"):
    one connection pool for every stream of an event loop, whose cost per request does not
    grow with the streams in flight (the default httpx2 pool probes every idle keep-alive
    socket on each request and release; bench/NOTES.md, fourth pass).

    Args:
        model: the model name sent with each request (``OPENAI_MODEL``).
        api_key: the bearer key; empty for servers that need none.
        base_url: e.g. ``http://localhost:11434/v1``; empty for OpenAI itself.
        system_prompt: sent first in every request; empty sends none.
        temperature: ``None`` leaves it to the model.
        max_output_tokens: sent as ``max_tokens``; ``0``/``None`` sends none.
        timeout: seconds for the whole reply.
        first_token_timeout: seconds until the first text arrives.
        max_retries: extra attempts before the first token, for 429, 5xx and
            connection failures, each only if its wait fits the first-token deadline
            (with tools, the whole turn is started again, before anything came).
        tools: whether a turn given a toolbox runs the agent (``agent.agent_stream``);
            ``False`` sends plain chat requests for models that cannot call tools.
        tools_prompt: what the tools are for, added to the system prompt of an agent turn.
        max_tool_rounds: model requests that may call tools in one turn.
    """

    name = "openai"

    def __init__(
        self,
        *,
        model: str,
        api_key: str = "",
        base_url: str = "",
        system_prompt: str = "",
        temperature: float | None = None,
        max_output_tokens: int | None = None,
        timeout: float = 60.0,
        first_token_timeout: float = 15.0,
        max_retries: int = 1,
        tools: bool = True,
        tools_prompt: str = "",
        max_tool_rounds: int = 5,
    ) -> None:
        self.model = model
        self.api_key = api_key or PLACEHOLDER_API_KEY
        self.base_url = base_url or None
        self.system_prompt = system_prompt
        self.temperature = temperature
        self.max_output_tokens = max_output_tokens or None
        self.timeout = timeout
        self.first_token_timeout = min(first_token_timeout, timeout)
        self.max_retries = max_retries
        self.tools = tools
        self.tools_prompt = tools_prompt
        self.max_tool_rounds = max_tool_rounds
        # One SDK client per event loop: an aiohttp session belongs to the loop it was opened on.
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncOpenAI] = weakref.WeakKeyDictionary()

    def client(self) -> AsyncOpenAI:
        """The SDK client of the running event loop, opened on first use."""
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            # Our deadlines (``stream``) are the real limits; these only stop a socket from
            # waiting past them. Retries are ours (see ``_open``).
            timeout = httpx2.Timeout(self.timeout, connect=min(CONNECT_TIMEOUT_SECONDS, self.timeout))
            client = AsyncOpenAI(
                api_key=self.api_key,
                base_url=self.base_url,
                timeout=timeout,
                max_retries=0,
                http_client=openai.DefaultAioHttpClient(
                    timeout=timeout, limits=httpx2.Limits(max_connections=MAX_MODEL_CONNECTIONS)
                ),
            )
            self._clients[loop] = client
        return client

    async def aclose(self) -> None:
        """Close the running event loop's SDK client (its open connections), if it has one.

        Called at server shutdown (``chatsite.lifespan``); the next stream opens a new client.
        """
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.close()

    def instructions(self, options: ChatOptions, *prompts: str) -> str:
        """The system message: the assistant's own prompt, then ``prompts`` (what the tools are for),
        then the conversation's instructions (issue 14), as one text ("" when there are none).

        One system message, not several: some servers' chat templates refuse a second one.
        """
        return "\n\n".join(part for part in (self.system_prompt, *prompts, options.instructions.strip()) if part)

    def messages(self, history: Sequence[ChatTurn], options: ChatOptions = _DEFAULTS) -> list[dict[str, str]]:
        """The request's ``messages``: the system message (if any), then ``history`` oldest first."""
        system = self.instructions(options)
        head = [{"role": "system", "content": system}] if system else []
        return head + [{"role": turn.role, "content": turn.content} for turn in history]

    async def stream(
        self, history: Sequence[ChatTurn], *, toolbox: Toolbox | None = None, options: ChatOptions | None = None
    ) -> AsyncIterator[str | ToolCall]:
        """Yield the reply to ``history`` as text deltas, and with ``toolbox`` each tool call made.

        ``options`` (the conversation's, issue 14): its model instead of ``model`` when set, and
        its instructions in the system message after the assistant's own prompt.

        With a toolbox (and ``tools`` on) the turn runs the agent (``agent.agent_stream``):
        the first text or tool call must come within ``first_token_timeout`` seconds, and the
        whole turn, tool rounds included, end within ``timeout`` seconds.

        Raises:
            AssistantTimeout: no first token within ``first_token_timeout`` seconds,
                or no end within ``timeout`` seconds.
            AssistantBusy: HTTP 429 after the retries.
            AssistantError: connection refused or cut, 5xx or another error
                status, a malformed chunk, or a stream that ends without finishing.
        """
        loop = asyncio.get_running_loop()
        started = loop.time()
        first_deadline = started + self.first_token_timeout
        total_deadline = started + self.timeout
        got_text = wrote = False
        calls: list[ToolCall] = []
        options = options or _DEFAULTS
        try:
            if toolbox is not None and self.tools:
                items = self._agent(history, toolbox, first_deadline, options)
            else:
                items = self._plain(history, first_deadline, options)
            try:
                while True:
                    # Each wait gets its own deadline context, entered and left around one
                    # await: a timeout must never span a ``yield`` (the caller's own awaits
                    # would be cancelled instead).
                    async with asyncio.timeout_at(total_deadline if got_text else first_deadline):
                        item = await anext(items, None)
                    if item is None:
                        break
                    got_text = True
                    if isinstance(item, ToolCall):
                        calls.append(item)
                    elif item:
                        wrote = True
                    yield item
            finally:
                await items.aclose()
            if calls and not wrote:
                # Some models end a turn that acted without a word: the reply says what was done.
                yield words_for(calls)
        except Exception as exc:
            failure = self._failure(exc, got_text=got_text)
            if failure is None:
                raise
            raise failure from exc

    def _failure(self, exc: Exception, *, got_text: bool) -> AssistantError | None:
        """The ``AssistantError`` that ``exc`` means, or ``None`` when it is not the model's failure."""
        if isinstance(exc, AssistantError):
            return exc
        if isinstance(exc, TimeoutError):
            return AssistantTimeout(
                f"no {'end' if got_text else 'first token'} within "
                f"{self.timeout if got_text else self.first_token_timeout:g} s"
            )
        if isinstance(exc, openai.APITimeoutError):
            if not _is_timeout(exc):
                return AssistantError(f"could not reach the model: {exc.__cause__ or exc}")
            return AssistantTimeout(f"the model timed out: {exc}")
        if isinstance(exc, openai.APIStatusError):
            level = logging.ERROR if 400 <= exc.status_code < 500 and exc.status_code != 429 else logging.WARNING
            # A 4xx other than 429 is a configuration problem (key, model name, a model without tools).
            logger.log(level, "The model answered HTTP %s: %s", exc.status_code, exc.message)
            if exc.status_code == 429:
                return AssistantBusy("the model answered HTTP 429 (rate limited)")
            return AssistantError(f"the model answered HTTP {exc.status_code}")
        if isinstance(exc, (openai.APIConnectionError, httpx2.TransportError, aiohttp.ClientError)):
            # The SDK wraps what fails before the answer starts; a connection cut while the
            # stream is read comes through as the transport's own error.
            return AssistantError(f"could not reach the model: {exc}")
        if isinstance(exc, (openai.OpenAIError, ValueError, TypeError, AttributeError, AgentsException)):
            # A malformed chunk: bad JSON (ValueError) or valid JSON of another shape (a list
            # or text where an object belongs: AttributeError; content not text: TypeError);
            # with tools, what the Agents SDK could not make sense of (ModelBehaviorError).
            return AssistantError(f"the model sent a malformed stream: {exc!r}")
        return None

    async def _agent(
        self, history: Sequence[ChatTurn], toolbox: Toolbox, first_deadline: float, options: ChatOptions
    ) -> AsyncIterator[str | ToolCall]:
        """One agent turn, started again on a 429, 5xx or refused connection before anything came.

        The retries are ours, as on the plain path (``_open``): the SDK client's own would
        sleep through a long ``Retry-After`` past the first-token deadline and turn "busy"
        into "timeout". Nothing has acted before the first output (a tool call is an
        output), so starting the turn again repeats nothing.
        """
        from conversations.assistant.agent import agent_stream

        instructions = self.instructions(options, self.tools_prompt)
        attempt = 0
        while True:
            acted = toolbox.calls_made
            items = agent_stream(
                client=self.client(),
                model=options.model or self.model,
                instructions=instructions,
                history=history,
                toolbox=toolbox,
                model_settings=ModelSettings(temperature=self.temperature, max_tokens=self.max_output_tokens),
                max_rounds=self.max_tool_rounds,
            )
            try:
                first = await anext(items, None)
            except _RETRYABLE as exc:
                await items.aclose()
                delay = self._retry_delay(exc, attempt, first_deadline)
                if delay is None or toolbox.calls_made != acted:
                    raise  # or a tool acted already (its call not yet announced): never start again
                attempt += 1
                logger.info("Retrying the model in %.1f s after: %s", delay, exc)
                await asyncio.sleep(delay)
                continue
            try:
                if first is None:
                    return
                yield first
                async for item in items:
                    yield item
            finally:
                await items.aclose()
            return

    async def _plain(
        self, history: Sequence[ChatTurn], first_deadline: float, options: ChatOptions
    ) -> AsyncIterator[str]:
        """A plain streamed completion, no tools: the text deltas of one request."""
        stream: Any = None
        finished = False
        try:
            async with asyncio.timeout_at(first_deadline):
                stream = await self._open(
                    self.client(), self.messages(history, options), first_deadline, options.model or self.model
                )
            async for chunk in stream:
                for choice in chunk.get("choices") or ():
                    text = (choice.get("delta") or {}).get("content")
                    if text is not None and not isinstance(text, str):
                        raise TypeError(f"a chunk's content is {type(text).__name__}, not text")
                    if choice.get("finish_reason"):
                        finished = True
                    if text:
                        yield text
        finally:
            if stream is not None:
                await stream.close()
        if not finished:
            raise AssistantError("the model's stream ended before the reply was finished")

    async def _open(
        self, client: AsyncOpenAI, messages: list[dict[str, str]], first_deadline: float, model: str
    ) -> openai.AsyncStream[object]:
        """Start the streamed completion, retrying 429/5xx/connection failures while the deadline allows.

        The request goes through the SDK's documented ``client.post`` for custom requests, with
        the same path, body and SSE stream class as ``chat.completions.create(stream=True)``
        but plain dicts for the request and the chunks: the typed call runs every request
        through its TypedDict transform and builds a pydantic object per chunk, half the SDK's
        CPU per reply at 500 streams in flight (3.2 -> 1.6 ms; bench/NOTES.md, fourth pass),
        and a real model sends a chunk per token.
        """
        params: dict[str, Any] = {"model": model, "messages": messages, "stream": True}
        if self.temperature is not None:
            params["temperature"] = self.temperature
        if self.max_output_tokens:
            params["max_tokens"] = self.max_output_tokens
        attempt = 0
        while True:
            try:
                return await client.post(
                    "/chat/completions", body=params, cast_to=object, stream=True, stream_cls=_CHUNKS
                )
            except _RETRYABLE as exc:
                delay = self._retry_delay(exc, attempt, first_deadline)
                if delay is None:
                    raise
                attempt += 1
                logger.info("Retrying the model in %.1f s after: %s", delay, exc)
                await asyncio.sleep(delay)

    async def title(self, turns: Sequence[ChatTurn], *, options: ChatOptions | None = None) -> str:
        """A short title for a conversation that begins with ``turns`` (issue 14, "Titles").

        One plain, non-streamed Chat Completions request to the conversation's model, no tools,
        no retries: the caller keeps the title it has when this fails, and bounds the wait.

        Returns:
            The model's answer as it came (the caller cleans it; it may be empty).

        Raises:
            AssistantError: the model failed or answered something that is not a completion.
        """
        options = options or _DEFAULTS
        transcript = "\n\n".join(
            f"{'User' if turn.role == 'user' else 'Assistant'}: {turn.content[:TITLE_SOURCE_CHARS]}" for turn in turns
        )
        params: dict[str, Any] = {
            "model": options.model or self.model,
            "messages": [{"role": "system", "content": TITLE_PROMPT}, {"role": "user", "content": transcript}],
            "max_tokens": TITLE_MAX_TOKENS,
        }
        try:
            answer: Any = await self.client().post("/chat/completions", body=params, cast_to=object)
            content = answer["choices"][0]["message"].get("content") or ""
        except (LookupError, TypeError, AttributeError) as exc:
            raise AssistantError(f"the model's title answer is malformed: {exc!r}") from exc
        except Exception as exc:
            failure = self._failure(exc, got_text=False)
            if failure is None:
                raise
            raise failure from exc
        if not isinstance(content, str):
            raise AssistantError("the model's title is not text")
        return content

    def list_models(self) -> list[str]:
        """The ids of the models the server offers (``GET {base_url}/models``, the SDK's
        ``client.models.list()``), in its order (issue 14).

        A blocking call on a short-lived synchronous client (closed on return), so that sync code
        (the page, the API's PATCH) can ask without an event loop; callers cache the answer
        (``conversations.catalog``).

        Raises:
            openai.OpenAIError: the server could not be reached or answered an error.
        """
        timeout = min(CONNECT_TIMEOUT_SECONDS, self.timeout)
        with openai.OpenAI(api_key=self.api_key, base_url=self.base_url, timeout=timeout, max_retries=0) as client:
            return [model.id for model in client.models.list()]

    def _retry_delay(self, exc: Exception, attempt: int, first_deadline: float) -> float | None:
        """Seconds to wait before trying again after ``exc`` (``attempt`` retries so far), or ``None``
        when it must not be retried: a timeout, the retries used up, or a wait (the server's
        ``Retry-After``, else a short backoff) that would end past the first-token deadline. The
        SDK's own retries would sleep past our deadline on a long Retry-After and turn an
        "unavailable" into a "timeout"."""
        if (isinstance(exc, openai.APITimeoutError) and _is_timeout(exc)) or attempt >= self.max_retries:
            return None
        delay = _retry_after(exc) or RETRY_BACKOFF_SECONDS * 2**attempt
        if asyncio.get_running_loop().time() + delay >= first_deadline:
            return None
        return delay


def words_for(calls: list[ToolCall]) -> str:
    """The reply to a turn whose tools acted but whose model said nothing: what was done, one line each."""
    return "Done:\n\n" + "\n".join(f"- {markdown_literal(call.summary or call.name)}" for call in calls)


def _is_timeout(exc: openai.APITimeoutError) -> bool:
    """Whether the SDK's timeout error is a timeout, not a connection that failed outright.

    The SDK's aiohttp transport maps every ``aiohttp.ClientConnectionError`` (a refused
    connection, a server that hung up before answering) to ``httpx2.ConnectTimeout``, which
    the SDK reports as ``APITimeoutError``; only aiohttp's timeout errors (``TimeoutError``
    subclasses) are timeouts (504), the rest are "could not reach the model" (503).
    """
    cause = exc.__cause__
    while cause is not None:
        if isinstance(cause, TimeoutError):
            return True
        if isinstance(cause, aiohttp.ClientConnectionError):
            return False
        cause = cause.__cause__
    return True


def _retry_after(exc: Exception) -> float | None:
    """Seconds asked for by ``Retry-After`` / ``retry-after-ms`` on an error response, if any."""
    response = getattr(exc, "response", None)
    if response is None:
        return None
    headers = response.headers
    try:
        if "retry-after-ms" in headers:
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        if "retry-after" in headers:
            value = headers["retry-after"]
            try:
                return max(0.0, float(value))
            except ValueError:
                moment = email.utils.parsedate_to_datetime(value)
                return max(0.0, moment.timestamp() - time.time())
    except (ValueError, TypeError):
        return None
    return None
