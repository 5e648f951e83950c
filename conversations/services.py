"""Writes: the rules of what gets saved, and when, for all three doors.

The chat turn is split around the model call so that no transaction, connection
or thread is held while the model thinks (style.md, convention 4):

1. ``chat_begin`` (one transaction): find or create the conversation, save the
   user's message, add a pending assistant reply, bump ``updated_at``, and load
   the history from the database (the call is stateless: contract, POST chat).
2. the assistant streams its reply, outside any transaction;
3. ``reply_finish`` (one transaction): save the reply's text and status and bump
   the conversation's ``updated_at`` together.

The user's message is committed in step 1, so it is never lost when the
assistant fails (contract: POST chat; issue "Real assistant replies").
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from conversations import selectors
from conversations.assistant import AssistantError, ChatTurn, get_assistant
from conversations.models import TITLE_MAX_LENGTH, Conversation, Message

MESSAGE_MAX_CHARS = 4000
AUTO_TITLE_CHARS = 60
_WHITESPACE = re.compile(r"\s+")
# The reply sorts right after its own user message even when both are saved in the
# same microsecond (ordering is created_at, then id).
_ONE_MICROSECOND = dt.timedelta(microseconds=1)


# --- Validation (shared by the API serializers and the page's forms) -----------


def message_text_clean(text: str) -> str:
    """Check a user's message and return it unchanged (stored exactly as sent).

    Rules (contract: Errors, 400): 1..4000 characters, not whitespace only, no NUL
    (PostgreSQL cannot store it), valid Unicode (no lone surrogates).

    Raises:
        django.core.exceptions.ValidationError: with a sentence for a person.
    """
    if not text or not text.strip():
        raise ValidationError("Message content cannot be empty", code="blank")
    if len(text) > MESSAGE_MAX_CHARS:
        raise ValidationError(
            f"Message is too long: {len(text)} characters, the limit is {MESSAGE_MAX_CHARS}", code="max_length"
        )
    _reject_unstorable(text, what="Message")
    return text


def title_clean(title: str) -> str:
    """Check a conversation title given by a person; returns it trimmed.

    Raises:
        django.core.exceptions.ValidationError: empty, over 200 characters, NUL or lone surrogates.
    """
    title = title.strip()
    if not title:
        raise ValidationError("Title cannot be empty", code="blank")
    if len(title) > TITLE_MAX_LENGTH:
        raise ValidationError(f"Title is too long: the limit is {TITLE_MAX_LENGTH} characters", code="max_length")
    _reject_unstorable(title, what="Title")
    return title


def _reject_unstorable(text: str, *, what: str) -> None:
    if "\x00" in text:
        raise ValidationError(f"{what} cannot contain NUL characters", code="nul")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(f"{what} contains invalid Unicode (a lone surrogate)", code="surrogate") from None


def title_from_message(text: str) -> str:
    """A conversation title from its first user message: whitespace folded, about 60 characters."""
    folded = _WHITESPACE.sub(" ", text).strip()
    if len(folded) <= AUTO_TITLE_CHARS:
        return folded
    cut = folded[:AUTO_TITLE_CHARS]
    if " " in cut[AUTO_TITLE_CHARS // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,.;:-") + "…"


# --- Conversations ----------------------------------------------------------------


def conversation_create(*, user_id: str, title: str = "") -> Conversation:
    """Create an empty conversation owned by ``user_id`` (FR-010)."""
    return Conversation.objects.create(user_id=user_id, title=title)


@transaction.atomic
def conversation_rename(*, conversation: Conversation, title: str) -> Conversation:
    """Rename an owner-checked conversation. ``title`` must already be cleaned (``title_clean``)."""
    conversation.title = title
    conversation.save(update_fields=["title"])
    return conversation


@transaction.atomic
def conversation_delete(*, conversation: Conversation) -> None:
    """Delete an owner-checked conversation and all its messages."""
    conversation.delete()


# --- The chat turn ------------------------------------------------------------------


@dataclass(frozen=True)
class ChatStart:
    """What ``chat_begin`` saved: the conversation, the user's message, the pending reply,
    and the history to show the model (oldest first, ending with the user's message)."""

    conversation: Conversation
    user_message: Message
    reply: Message
    history: list[ChatTurn]


def _history(conversation: Conversation, user_message: Message) -> list[ChatTurn]:
    rows = selectors.history_for_reply(
        conversation_id=conversation.pk,
        before=user_message,
        max_messages=settings.ASSISTANT_HISTORY_MAX_MESSAGES,
        max_chars=settings.ASSISTANT_HISTORY_MAX_CHARS,
    )
    return [ChatTurn(role=m.role, content=m.content) for m in rows]


@transaction.atomic
def chat_begin(*, user_id: str, conversation_id: uuid.UUID | str | None, text: str) -> ChatStart:
    """Save the user's message and a pending reply, in one transaction.

    Args:
        user_id: the sender, i.e. the JWT subject (FR-013).
        conversation_id: the conversation to continue, or ``None`` to start one (FR-010).
        text: the message, already checked by ``message_text_clean``.

    Raises:
        selectors.ConversationNotFound: ``conversation_id`` is not one of the user's.
    """
    now = timezone.now()
    if conversation_id is None:
        conversation = Conversation.objects.create(
            user_id=user_id, title=title_from_message(text), created_at=now, updated_at=now
        )
    else:
        pk = selectors.parse_uuid(conversation_id)
        # The row lock orders concurrent sends to one conversation (PostgreSQL).
        conversation = Conversation.objects.select_for_update().filter(pk=pk, user_id=user_id).first() if pk else None
        if conversation is None:
            raise selectors.ConversationNotFound
        conversation.updated_at = now
        fields = ["updated_at"]
        if not conversation.title:
            conversation.title = title_from_message(text)
            fields.append("title")
        conversation.save(update_fields=fields)
    user_message = Message.objects.create(
        conversation=conversation, user_id=user_id, role=Message.Role.USER, content=text, created_at=now
    )
    reply = Message.objects.create(
        conversation=conversation,
        user_id=user_id,
        role=Message.Role.ASSISTANT,
        content="",
        status=Message.Status.PENDING,
        created_at=now + _ONE_MICROSECOND,
    )
    return ChatStart(
        conversation=conversation, user_message=user_message, reply=reply, history=_history(conversation, user_message)
    )


@transaction.atomic
def reply_finish(*, reply: Message, content: str, status: str) -> bool:
    """Save a reply's final text and status, and bump its conversation's ``updated_at``.

    Only a reply that is still pending or streaming is changed, so a reply that was
    stopped or already closed keeps what it has.

    Args:
        reply: the assistant message created by ``chat_begin``.
        content: the whole text produced (may be empty for a failed reply).
        status: ``complete``, ``failed`` or ``stopped``.

    Returns:
        ``True`` if this call closed the reply.
    """
    now = timezone.now()
    changed = Message.objects.filter(pk=reply.pk, status__in=[Message.Status.PENDING, Message.Status.STREAMING]).update(
        content=content, status=status
    )
    if changed:
        Conversation.objects.filter(pk=reply.conversation_id, updated_at__lt=now).update(updated_at=now)
        reply.content, reply.status = content, status
    return bool(changed)


@transaction.atomic
def reply_save_partial(*, reply: Message, content: str) -> bool:
    """Save the text a reply has so far and mark it ``streaming`` (issue "Live replies").

    Called in batches while the model writes (not once per token), so a refresh,
    another tab or another worker finds the text that has arrived. Only a reply that
    is still pending or streaming is changed: a reply that was stopped, closed as
    stale or finished keeps what it has.

    Args:
        reply: the assistant message created by ``chat_begin``.
        content: the whole text produced so far (may be empty when the reply starts).

    Returns:
        ``True`` if saved; ``False`` when the reply is already finished, which tells
        the writer to stop.
    """
    changed = Message.objects.filter(pk=reply.pk, status__in=[Message.Status.PENDING, Message.Status.STREAMING]).update(
        content=content, status=Message.Status.STREAMING
    )
    if changed:
        reply.content, reply.status = content, Message.Status.STREAMING
    return bool(changed)


async def reply_generate(*, start: ChatStart) -> Message:
    """Ask the assistant for the reply to ``start`` and save it (no transaction held meanwhile).

    Returns:
        The saved assistant message, ``status == "complete"``.

    Raises:
        AssistantError / AssistantTimeout: the model failed; the reply is saved as
            ``failed`` with whatever text arrived, and the user's message is kept.
    """
    parts: list[str] = []
    try:
        async for delta in get_assistant().stream(start.history):
            parts.append(delta)
        if not "".join(parts).strip():
            raise AssistantError("the model returned an empty reply")
    except BaseException:
        # Whatever went wrong (the model, a bug, a cancelled request), the reply
        # must not stay pending: keep the text that arrived and mark it failed.
        await sync_to_async(reply_finish)(reply=start.reply, content="".join(parts), status=Message.Status.FAILED)
        raise
    await sync_to_async(reply_finish)(reply=start.reply, content="".join(parts), status=Message.Status.COMPLETE)
    return start.reply


async def chat_send(*, user_id: str, conversation_id: uuid.UUID | str | None, text: str) -> Message:
    """The whole chat turn of ``POST /api/{user_id}/chat``: save, ask, save.

    Args:
        user_id: the sender (JWT subject).
        conversation_id: conversation to continue, or ``None`` for a new one.
        text: the message, already checked by ``message_text_clean``.

    Returns:
        The complete assistant message (its ``conversation_id`` names the conversation).

    Raises:
        selectors.ConversationNotFound: not the user's conversation (404).
        AssistantError / AssistantTimeout: the model failed (503 / 504); the user's
            message is saved and the reply is marked failed.
    """
    start = await sync_to_async(chat_begin)(user_id=user_id, conversation_id=conversation_id, text=text)
    return await reply_generate(start=start)


# --- Retry ---------------------------------------------------------------------------
# MINIMAL VERSION written on the page branch (issue 4) so the page's Retry button
# works; the assistant branch (issue 3) adds its own ``chat_retry`` and the lead keeps
# one. What the page relies on: ``await chat_retry(user_id=..., conversation_id=...)``
# returns the complete reply, never adds a second user message, and raises
# ``ConversationNotFound``, ``NothingToRetry``, ``AssistantError`` / ``AssistantTimeout``.


class NothingToRetry(Exception):
    """The conversation's newest message is not a failed assistant reply."""


@transaction.atomic
def retry_begin(*, user_id: str, conversation_id: uuid.UUID | str) -> ChatStart:
    """Put the conversation's failed newest reply back to ``pending`` (one transaction).

    The user's message is not saved again (FR-017: the text was kept, not resent).

    Raises:
        selectors.ConversationNotFound: not one of the user's conversations.
        NothingToRetry: the newest message is not a failed reply.
    """
    pk = selectors.parse_uuid(conversation_id)
    conversation = Conversation.objects.select_for_update().filter(pk=pk, user_id=user_id).first() if pk else None
    if conversation is None:
        raise selectors.ConversationNotFound
    messages = Message.objects.filter(conversation=conversation).order_by("-created_at", "-id")
    reply = messages.first()
    if reply is None or reply.role != Message.Role.ASSISTANT or reply.status != Message.Status.FAILED:
        raise NothingToRetry
    user_message = messages.filter(role=Message.Role.USER, created_at__lte=reply.created_at).first()
    if user_message is None:
        raise NothingToRetry
    reply.content, reply.status = "", Message.Status.PENDING
    reply.save(update_fields=["content", "status"])
    conversation.updated_at = timezone.now()
    conversation.save(update_fields=["updated_at"])
    return ChatStart(
        conversation=conversation, user_message=user_message, reply=reply, history=_history(conversation, user_message)
    )


async def chat_retry(*, user_id: str, conversation_id: uuid.UUID | str) -> Message:
    """Ask the assistant again for the conversation's failed newest reply.

    Returns:
        The same reply row (same id), now ``complete``.

    Raises:
        selectors.ConversationNotFound, NothingToRetry: as ``retry_begin``.
        AssistantError / AssistantTimeout: the model failed again; the reply is ``failed`` again.
    """
    start = await sync_to_async(retry_begin)(user_id=user_id, conversation_id=conversation_id)
    return await reply_generate(start=start)
