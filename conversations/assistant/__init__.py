"""Assistant backends behind one interface (``base.Assistant``).

``get_assistant()`` returns the configured backend. Tests replace it with
``set_assistant`` / ``reset_assistant``.
"""

from __future__ import annotations

from django.conf import settings

from conversations.assistant.base import Assistant, AssistantError, AssistantTimeout, ChatTurn
from conversations.assistant.offline import OfflineAssistant

__all__ = [
    "Assistant",
    "AssistantError",
    "AssistantTimeout",
    "ChatTurn",
    "get_assistant",
    "reset_assistant",
    "set_assistant",
]

_assistant: Assistant | None = None


def _build() -> Assistant:
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
