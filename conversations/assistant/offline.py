"""The built-in offline assistant: no network, no key, deterministic.

It is the default on a bare machine. It says plainly what it is and how to connect
a real model, refers to what the user wrote, and streams its reply in chunks so
streaming can be seen and tested.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from conversations.assistant.base import ChatTurn

QUOTE_MAX_CHARS = 200


def offline_reply(history: Sequence[ChatTurn]) -> str:
    """The offline assistant's whole reply to ``history`` (deterministic)."""
    last = next((turn.content for turn in reversed(history) if turn.role == "user"), "")
    quoted = " ".join(last.split())
    if len(quoted) > QUOTE_MAX_CHARS:
        quoted = quoted[: QUOTE_MAX_CHARS - 1].rstrip() + "…"
    user_turns = sum(1 for turn in history if turn.role == "user")
    return (
        f"You wrote: “{quoted}”.\n\n"
        "I am the built-in **offline assistant**, so I can only echo what you send; "
        f"this is message {user_turns} of our conversation, and it has been saved.\n\n"
        "To get real answers, connect a model: set `OPENAI_API_KEY` (OpenAI) or "
        "`OPENAI_BASE_URL` (any OpenAI-compatible server such as Ollama, vLLM or LM Studio) "
        "and `OPENAI_MODEL`, then restart the server."
    )


class OfflineAssistant:
    """Streams ``offline_reply`` word by word, ``chunk_delay`` seconds apart."""

    name = "offline"

    def __init__(self, *, chunk_delay: float = 0.0, words_per_chunk: int = 3) -> None:
        self.chunk_delay = chunk_delay
        self.words_per_chunk = words_per_chunk

    async def stream(self, history: Sequence[ChatTurn]) -> AsyncIterator[str]:
        words = offline_reply(history).split(" ")
        for start in range(0, len(words), self.words_per_chunk):
            chunk = " ".join(words[start : start + self.words_per_chunk])
            yield chunk if start == 0 else " " + chunk
            if self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
