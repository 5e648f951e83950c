"""The one small interface every assistant backend implements.

A backend turns the conversation's history into the reply as an async stream of
text deltas: the page streams them, the REST endpoint joins them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol


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


class Assistant(Protocol):
    """A model backend."""

    name: str

    def stream(self, history: Sequence[ChatTurn]) -> AsyncIterator[str]:
        """Yield the reply to ``history`` (oldest first, ending with the user's message) as text deltas.

        Raises:
            AssistantTimeout: no answer in time.
            AssistantError: any other failure; text already yielded stays valid.
        """
        ...
