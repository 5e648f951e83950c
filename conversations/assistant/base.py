"""The one small interface every assistant backend implements.

A backend turns the conversation's history into the reply as an async stream of
text deltas: the page streams them, the REST endpoint joins them. Given a toolbox (the
user's task tools, issue 13), it may also call tools on the way: each call it made is
yielded as a ``ToolCall`` (name, arguments, result) where it happened in the stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from tasks.tools import ToolCall, ToolSpec


@dataclass(frozen=True)
class ChatTurn:
    """One message of the history shown to the model: ``role`` is ``user`` or ``assistant``."""

    role: str
    content: str


class AssistantError(Exception):
    """The model could not answer (connection refused, 5xx, 429, a broken stream).

    The API answers 503 (contract: Errors; issue "Real assistant replies").
    """


class AssistantBusy(AssistantError):
    """The model server is rate-limiting us (HTTP 429 after the retries). The API answers 503,
    saying the assistant is busy and to wait a moment (issue 12, "A page that never traps")."""


class AssistantTimeout(AssistantError):
    """The model did not answer within the configured time. The API answers 504."""


class Toolbox(Protocol):
    """Tools bound to the user of one turn (``tasks.tools.Toolbox``): the backend never chooses the user."""

    specs: Sequence[ToolSpec]

    async def call(self, name: str, arguments: object) -> ToolCall:
        """Run one tool; a failure is a result (``{"error": ...}``), never an exception."""
        ...


class Assistant(Protocol):
    """A model backend."""

    name: str

    def stream(self, history: Sequence[ChatTurn], *, toolbox: Toolbox | None = None) -> AsyncIterator[str | ToolCall]:
        """Yield the reply to ``history`` (oldest first, ending with the user's message) as text
        deltas, and each tool call of ``toolbox`` it made, as it made it.

        Raises:
            AssistantTimeout: no answer in time.
            AssistantError: any other failure; text already yielded stays valid.
        """
        ...
