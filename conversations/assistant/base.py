"""The one small interface every assistant backend implements.

A backend turns the conversation's history into the reply as an async stream of
text deltas: the page streams them, the REST endpoint joins them. Given a toolbox (the
user's task tools, issue 13), it may also call tools on the way: each call it made is
yielded as a ``ToolCall`` (name, arguments, result) where it happened in the stream.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class ChatTurn:
    """One message of the history shown to the model: ``role`` is ``user`` or ``assistant``."""

    role: str
    content: str


@dataclass(frozen=True)
class ChatOptions:
    """A conversation's own settings for its turns (issue 14, "Models and instructions").

    ``model``: the model to ask ("" = the backend's default, ``OPENAI_MODEL``); ``instructions``:
    the person's system prompt for this conversation ("" = none), sent after the assistant's own.
    A backend without models (the offline assistant) ignores both.
    """

    model: str = ""
    instructions: str = ""


def markdown_literal(text: str) -> str:
    """``text`` shown as typed in a Markdown reply (a task titled ``*urgent*`` stays so)."""
    return re.sub(r"([\\`*_\[\]<>#~|])", r"\\\1", text)


class AssistantError(Exception):
    """The model could not answer (connection refused, 5xx, 429, a broken stream).

    The API answers 503 (contract: Errors; issue "Real assistant replies").
    """


class AssistantBusy(AssistantError):
    """The model server is rate-limiting us (HTTP 429 after the retries). The API answers 503,
    saying the assistant is busy and to wait a moment (issue 12, "A page that never traps")."""


class AssistantTimeout(AssistantError):
    """The model did not answer within the configured time. The API answers 504."""


@dataclass(frozen=True)
class ToolSpec:
    """A tool as a model sees it: its name, what it is for, and its arguments' JSON Schema."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class ToolCall:
    """One tool call of a turn, as stored with the reply (``Message.tool_calls``) and shown.

    ``arguments`` is the JSON object the model sent (or its text when it was not JSON);
    ``result`` the tool's result, or ``{"error": sentence}``; ``summary`` one line for a
    person ("Added task 4: Buy milk"), written by the tool's provider.
    """

    name: str
    arguments: Any
    result: Any
    summary: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "arguments": self.arguments, "result": self.result, "summary": self.summary}

    @classmethod
    def from_dict(cls, stored: dict[str, Any]) -> ToolCall:
        return cls(stored.get("name", ""), stored.get("arguments"), stored.get("result"), stored.get("summary", ""))

    @property
    def failed(self) -> bool:
        return isinstance(self.result, dict) and "error" in self.result


class Toolbox(Protocol):
    """Tools bound to the user of one turn: the backend never chooses whose data a tool touches.

    Built per turn by ``settings.ASSISTANT_TOOLBOX`` (``tasks.tools.Toolbox``) with the
    keyword arguments ``user_id`` (the verified identity), ``run_sync`` (how to run database
    code from async code), ``record`` (saves a call on the reply, in the tool's own
    transaction) and ``done`` (calls already made for this user message before a failure).
    """

    specs: Sequence[ToolSpec]
    done: Sequence[ToolCall]
    calls_made: int  # calls run by this toolbox so far

    async def call(self, name: str, arguments: object) -> ToolCall:
        """Run one tool; a failure is a result (``{"error": ...}``), never an exception."""
        ...


class Assistant(Protocol):
    """A model backend."""

    name: str

    def stream(
        self, history: Sequence[ChatTurn], *, toolbox: Toolbox | None = None, options: ChatOptions | None = None
    ) -> AsyncIterator[str | ToolCall]:
        """Yield the reply to ``history`` (oldest first, ending with the user's message) as text
        deltas, and each tool call of ``toolbox`` it made, as it made it, with the conversation's
        ``options`` (its model and instructions; ``None``: the defaults).

        A backend may also offer ``async title(turns, *, options) -> str`` (a short title for a
        conversation that begins with ``turns``, issue 14) and ``list_models() -> list[str]`` (the
        model server's models); callers check with ``getattr``.

        Raises:
            AssistantTimeout: no answer in time.
            AssistantError: any other failure; text already yielded stays valid.
        """
        ...
