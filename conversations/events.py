"""Events on the channel layer: group names, the WebSocket protocol's payloads, best-effort publishing.

Shared by the live generation (``live``), the plain HTTP chat turn (``services``) and
the stale sweep (``liveness``), so that every door announces the same events
(docs/live.md, "WebSocket protocol"). Depends on the models only: no import circles.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from channels.layers import BaseChannelLayer, get_channel_layer
from django.utils.translation import gettext_noop
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from conversations.assistant.base import ToolCall
from conversations.models import Message

logger = logging.getLogger(__name__)

# The channel layer cannot be reached (Redis down): what its calls raise.
LAYER_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)

FAILED_ERROR = "Assistant unavailable"
# Sent in English (the protocol's wording); the page shows the details translated (issue 16:
# conversations/page_text.py gives its scripts the translations, views translate them with gettext).
FAILED_DETAIL = gettext_noop("The assistant could not answer right now. Please try again.")
TIMEOUT_ERROR = "Assistant timeout"
TIMEOUT_DETAIL = gettext_noop("The assistant took too long to answer. Please try again.")
BUSY_ERROR = "Assistant busy"
BUSY_DETAIL = gettext_noop("The assistant is busy right now. Please wait a moment, then try again.")
INTERRUPTED_DETAIL = gettext_noop("The reply was interrupted. Please try again.")
DELETED_ERROR = "Not found"
DELETED_DETAIL = gettext_noop("This conversation was deleted.")


def conversation_group(conversation_id: uuid.UUID | str) -> str:
    """The channel-layer group of a conversation's sockets: ``chat.conv.<hex>``."""
    return f"chat.conv.{uuid.UUID(str(conversation_id)).hex}"


def reply_group(reply_id: uuid.UUID | str) -> str:
    """The group of the task generating a reply (stop and sync go there): ``chat.reply.<hex>``."""
    return f"chat.reply.{uuid.UUID(str(reply_id)).hex}"


def layer() -> BaseChannelLayer:
    """The configured channel layer (``CHANNEL_LAYERS["default"]``)."""
    channel_layer = get_channel_layer()
    if channel_layer is None:  # pragma: no cover - settings always define one
        raise RuntimeError("CHANNEL_LAYERS is not configured")
    return channel_layer


def message_payload(message: Message) -> dict[str, Any]:
    """A message as the socket shows it: ``{"id", "role", "content", "status", "created_at", "tool_calls"}``."""
    return {
        "id": str(message.pk),
        "role": message.role,
        "content": message.content,
        "status": message.status,
        "created_at": message.created_at.isoformat(),
        "tool_calls": message.tool_calls,
    }


def message_created_event(message: Message, *, client_id: str | None) -> dict[str, Any]:
    """``message.created``: a user message was saved; ``client_id`` is the sender's key (or ``None``)."""
    return {
        "type": "message.created",
        "conversation_id": str(message.conversation_id),
        "client_id": client_id,
        "message": message_payload(message),
    }


def started_event(reply: Message, *, user_message: Message) -> dict[str, Any]:
    """``reply.started``: the assistant starts answering ``user_message``."""
    return {
        "type": "reply.started",
        "conversation_id": str(reply.conversation_id),
        "reply_id": str(reply.pk),
        "user_message_id": str(user_message.pk),
        "status": Message.Status.STREAMING,
        "created_at": reply.created_at.isoformat(),
    }


def snapshot_event(reply: Message, *, content: str | None = None, seq: int | None) -> dict[str, Any]:
    """``reply.snapshot``: the text of ``reply`` so far, up to delta number ``seq``.

    ``seq`` is ``None`` when the exact position is unknown (the generation did not answer).
    """
    return {
        "type": "reply.snapshot",
        "conversation_id": str(reply.conversation_id),
        "reply_id": str(reply.pk),
        "status": reply.status,
        "content": reply.content if content is None else content,
        "seq": seq,
        "created_at": reply.created_at.isoformat(),
    }


def tool_call_event(reply: Message, call: ToolCall) -> dict[str, Any]:
    """``reply.tool_call``: the assistant called a tool while writing ``reply`` (issue 13).

    ``tool_call`` is ``{"name", "arguments", "result", "summary"}`` as stored with the reply;
    ``summary`` is also on the event itself: one line for a person ("Added task 4: Buy milk").
    Tasks changed: an open page refreshes its task panel.
    """
    return {
        "type": "reply.tool_call",
        "conversation_id": str(reply.conversation_id),
        "reply_id": str(reply.pk),
        "tool_call": call.as_dict(),
        "summary": call.summary,
    }


def finished_event(reply: Message, *, seq: int, error: str = "", detail: str = "") -> dict[str, Any]:
    """``reply.finished``: final status and length of the text (characters); the text is in the database.

    A failed reply always carries ``error`` and ``detail`` (a sentence for a person, FR-014);
    without them the generic "could not answer" pair is used.
    """
    event: dict[str, Any] = {
        "type": "reply.finished",
        "conversation_id": str(reply.conversation_id),
        "reply_id": str(reply.pk),
        "status": reply.status,
        "seq": seq,
        "length": len(reply.content),
    }
    if reply.status == Message.Status.FAILED and not error:
        error, detail = FAILED_ERROR, FAILED_DETAIL
    if error:
        event["error"], event["detail"] = error, detail
    return event


def branch_event(*, conversation_id: uuid.UUID | str) -> dict[str, Any]:
    """``conversation.branch``: the branch shown changed (issue 14: a regeneration, an edit, another
    version shown), so what a page shows may be another branch now: it shows the newest page again."""
    return {"type": "conversation.branch", "conversation_id": str(conversation_id)}


async def publish_branch(conversation_id: uuid.UUID | str) -> bool:
    """Tell the conversation's other pages and devices that the branch shown changed (best effort)."""
    return await publish(conversation_id, branch_event(conversation_id=conversation_id))


def title_event(*, conversation_id: uuid.UUID | str, title: str) -> dict[str, Any]:
    """``conversation.title``: the conversation was given a title after its first reply (issue 14,
    "Titles"); an open page updates its sidebar entry and tab title."""
    return {"type": "conversation.title", "conversation_id": str(conversation_id), "title": title}


async def publish(conversation_id: uuid.UUID | str, event: dict[str, Any]) -> bool:
    """Send ``event`` (``type`` like ``reply.delta``) to every socket on the conversation.

    Best effort: the database holds the truth and a socket that missed events asks
    for a snapshot, so an unreachable channel layer (Redis down) is logged, not
    raised, and never breaks a chat turn (issue "Hardening": faults).

    Returns:
        ``False`` if the layer could not be reached.
    """
    try:
        await layer().group_send(conversation_group(conversation_id), event)
    except LAYER_DOWN as exc:
        logger.warning("could not publish %s to conversation %s: %s", event.get("type"), conversation_id, exc)
        return False
    return True


async def publish_closed(replies: list[Message]) -> None:
    """Announce ``reply.finished`` for replies closed outside their generation (stale, stopped)."""
    for reply in replies:
        await publish(reply.conversation_id, finished_event(reply, seq=0))
