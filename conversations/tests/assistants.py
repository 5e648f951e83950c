"""Small assistant backends for tests (the ``assistant.base.Assistant`` interface)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from conversations.assistant import ChatTurn


class FailingAssistant:
    """Yields ``chunks`` (possibly none), then raises ``error``, like a provider that fails mid-reply."""

    name = "failing"

    def __init__(self, error: Exception, *chunks: str) -> None:
        self.error = error
        self.chunks = chunks

    async def stream(
        self, history: Sequence[ChatTurn], *, toolbox: object = None, options: object = None
    ) -> AsyncIterator[str]:
        for chunk in self.chunks:
            yield chunk
        raise self.error


class RecordingAssistant:
    """Remembers the history it was shown and answers with a fixed reply."""

    name = "recording"

    def __init__(self, reply: str = "Sure.") -> None:
        self.reply = reply
        self.seen: list[list[ChatTurn]] = []

    async def stream(
        self, history: Sequence[ChatTurn], *, toolbox: object = None, options: object = None
    ) -> AsyncIterator[str]:
        self.seen.append(list(history))
        yield self.reply
