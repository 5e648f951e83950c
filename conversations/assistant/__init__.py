"""Assistant backends behind one interface (``base.Assistant``).

``get_assistant()`` returns the configured backend: ``offline`` (built in, no
network) or ``openai`` (any OpenAI-compatible server; see docs/assistant.md). Tests replace it with
``set_assistant`` / ``reset_assistant``.
"""

from __future__ import annotations

from django.conf import settings

from conversations.assistant.base import (
    Assistant,
    AssistantBusy,
    AssistantError,
    AssistantTimeout,
    ChatOptions,
    ChatTurn,
    Toolbox,
    ToolCall,
    ToolSpec,
)
from conversations.assistant.offline import OfflineAssistant

__all__ = [
    "Assistant",
    "AssistantBusy",
    "AssistantError",
    "AssistantTimeout",
    "ChatOptions",
    "ChatTurn",
    "ToolCall",
    "ToolSpec",
    "Toolbox",
    "backend_name",
    "close_assistant",
    "get_assistant",
    "reset_assistant",
    "set_assistant",
]

_assistant: Assistant | None = None


def backend_name() -> str:
    """Which backend the settings select: ``ASSISTANT_BACKEND`` if set, else ``openai``
    when ``OPENAI_BASE_URL`` or ``OPENAI_API_KEY`` is set, else ``offline``."""
    if settings.ASSISTANT_BACKEND:
        return settings.ASSISTANT_BACKEND
    return "openai" if settings.OPENAI_BASE_URL or settings.OPENAI_API_KEY else "offline"


def _build() -> Assistant:
    if backend_name() == "openai":
        from conversations.assistant.openai import OpenAIAssistant

        return OpenAIAssistant(
            model=settings.OPENAI_MODEL,
            api_key=settings.OPENAI_API_KEY,
            base_url=settings.OPENAI_BASE_URL,
            system_prompt=settings.ASSISTANT_SYSTEM_PROMPT,
            temperature=settings.ASSISTANT_TEMPERATURE,
            max_output_tokens=settings.ASSISTANT_MAX_OUTPUT_TOKENS,
            timeout=settings.ASSISTANT_TIMEOUT_SECONDS,
            first_token_timeout=settings.ASSISTANT_FIRST_TOKEN_TIMEOUT_SECONDS,
            max_retries=settings.ASSISTANT_MAX_RETRIES,
            tools=settings.ASSISTANT_TOOLS,
            tools_prompt=settings.ASSISTANT_TOOLS_PROMPT,
            max_tool_rounds=settings.ASSISTANT_MAX_TOOL_ROUNDS,
        )
    return OfflineAssistant(chunk_delay=settings.OFFLINE_ASSISTANT_CHUNK_DELAY)


def get_assistant() -> Assistant:
    """The process-wide assistant backend, built from settings on first use."""
    global _assistant
    if _assistant is None:
        _assistant = _build()
    return _assistant


def set_assistant(assistant: Assistant) -> None:
    """Use ``assistant`` from now on (tests)."""
    global _assistant
    _assistant = assistant


def reset_assistant() -> None:
    """Rebuild the backend from settings on next use."""
    global _assistant
    _assistant = None


async def close_assistant() -> None:
    """Release what the backend holds open on the running event loop (the OpenAI backend's
    HTTP connections); a backend without an ``aclose`` coroutine holds nothing. Called at
    server shutdown (``chatsite.lifespan``)."""
    aclose = getattr(_assistant, "aclose", None)
    if aclose is not None:
        await aclose()
