"""A chat turn that may act: an agent of the OpenAI Agents SDK over Chat Completions (issue 13).

The agent is given the user's task tools (``Toolbox``, bound to the request's verified
user) as ``FunctionTool``s, the conversation as input, and the configured
OpenAI-compatible server as its model (``OpenAIChatCompletionsModel``, so Ollama, vLLM and
LM Studio work as well as OpenAI). Tracing is off: nothing is sent anywhere but the
model server. ``agent_stream`` yields the reply's text deltas as they arrive and each
tool call once it has run; the deadlines and the translation of failures are the
caller's (``OpenAIAssistant.stream``).

A tool never raises into the SDK: bad arguments, a task not found or a database error
come back to the model as ``{"error": ...}``, and the turn goes on. After ``max_rounds``
rounds of tool calls the next request says ``tool_choice: "none"``, so a model that keeps
asking for tools has to answer in words; one that calls them anyway acts no more. Calls already made for the same user message
before a failure (a retry: ``Toolbox.done``) are in the instructions, so they are not repeated.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

from agents import (
    Agent,
    FunctionTool,
    MaxTurnsExceeded,
    ModelSettings,
    OpenAIChatCompletionsModel,
    RawResponsesStreamEvent,
    RunConfig,
    RunHooks,
    Runner,
    set_tracing_disabled,
)
from openai import AsyncOpenAI

from conversations.assistant.base import ChatTurn, Toolbox, ToolCall, ToolSpec

# The SDK sends traces to OpenAI by default; a self-hosted chat never does.
set_tracing_disabled(True)

ROUNDS_EXHAUSTED = (
    "I stopped here: I kept calling tools without finishing an answer. "
    "What I did is listed above; please ask again, more precisely if you can."
)


ALREADY_DONE = (
    "Before an interruption, these tools were already called for the user's last message; "
    "they acted, so do not call them again for the same thing, and tell the user what was done: {calls}"
)


ROUNDS_OVER = {"error": "No more tool calls in this turn: answer the user with what was done."}


class _Rounds(RunHooks[Any]):
    """Counts the turn's answered model requests and ends the tool rounds after ``max_rounds``.

    Once ``max_rounds`` requests have been answered, the next request is sent with
    ``tool_choice: "none"`` (the model must answer in words), and a model that calls tools
    anyway has those calls refused without acting (``ROUNDS_OVER``).
    """

    def __init__(self, max_rounds: int) -> None:
        self.max_rounds = max_rounds
        self.answered = 0
        self.agent: Agent[None] | None = None

    async def on_llm_end(self, context: Any, agent: Any, response: Any) -> None:
        self.answered += 1
        if self.answered >= self.max_rounds and self.agent is not None:
            self.agent.model_settings = dataclasses.replace(self.agent.model_settings, tool_choice="none")

    @property
    def over(self) -> bool:
        return self.answered > self.max_rounds


def _function_tool(spec: ToolSpec, toolbox: Toolbox, made: list[ToolCall], rounds: _Rounds) -> FunctionTool:
    async def invoke(_context: Any, arguments: str) -> str:
        if rounds.over:
            return json.dumps(ROUNDS_OVER)
        call = await toolbox.call(spec.name, arguments)
        made.append(call)
        return json.dumps(call.result, ensure_ascii=False)

    # Not strict: optional arguments stay optional for the model, and our own checks
    # (tasks.tools.call_tool) answer a malformed call with an error result.
    return FunctionTool(
        name=spec.name,
        description=spec.description,
        params_json_schema=spec.parameters,
        on_invoke_tool=invoke,
        strict_json_schema=False,
    )


async def agent_stream(
    *,
    client: AsyncOpenAI,
    model: str,
    instructions: str,
    history: Sequence[ChatTurn],
    toolbox: Toolbox,
    model_settings: ModelSettings,
    max_rounds: int,
) -> AsyncIterator[str | ToolCall]:
    """Run one turn of the agent; yield text deltas and, after each tool has run, its ``ToolCall``.

    Args:
        client: the SDK client to the model server (its own retries apply).
        model: the model's name.
        instructions: the system prompt (the assistant's own, then what the tools are for).
        history: the conversation, oldest first, ending with the user's message.
        toolbox: the tools, bound to the turn's user.
        model_settings: temperature, max_tokens.
        max_rounds: rounds of tool calls in one turn: the request after the last round is
            sent with ``tool_choice: "none"``, so the model answers in words (at most
            ``max_rounds + 1`` requests). A model that calls tools anyway has them refused
            (nothing acts), and the reply ends with ``ROUNDS_EXHAUSTED``.

    Raises:
        What the SDK client raises (``openai.APIStatusError``, ``openai.APIConnectionError``,
        ...) and ``agents.exceptions.ModelBehaviorError``; the caller translates them.
    """
    made: list[ToolCall] = []
    rounds = _Rounds(max_rounds)
    if toolbox.done:
        calls = json.dumps([{"name": c.name, "arguments": c.arguments, "result": c.result} for c in toolbox.done])
        instructions = f"{instructions}\n\n{ALREADY_DONE.format(calls=calls)}"
    agent: Agent[None] = Agent(
        name="Assistant",
        instructions=instructions,
        tools=[_function_tool(spec, toolbox, made, rounds) for spec in toolbox.specs],
        model=OpenAIChatCompletionsModel(model=model, openai_client=client),
        model_settings=model_settings,
        # The SDK would clear tool_choice once tools were used; ours ("none" after the last round) must stay.
        reset_tool_choice=False,
    )
    rounds.agent = agent
    turn: list[Any] = [{"role": item.role, "content": item.content} for item in history]
    result = Runner.run_streamed(
        agent, input=turn, max_turns=max_rounds + 1, hooks=rounds, run_config=RunConfig(tracing_disabled=True)
    )
    try:
        async for event in result.stream_events():
            while made:
                yield made.pop(0)
            if isinstance(event, RawResponsesStreamEvent) and getattr(event.data, "type", "") == (
                "response.output_text.delta"
            ):
                delta = event.data.delta  # type: ignore[union-attr]
                if delta:
                    yield delta
        while made:
            yield made.pop(0)
    except MaxTurnsExceeded:
        while made:
            yield made.pop(0)
        yield ROUNDS_EXHAUSTED
    finally:
        result.cancel()
