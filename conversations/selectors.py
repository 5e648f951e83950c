"""Reads: every query here filters by owner (FR-011, SC-006).

``conversation_get_for_user`` is the one ownership lookup: another user's
conversation and a missing one raise the same ``ConversationNotFound``, so the
existence of someone else's conversation never leaks (contract: Errors, 404).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from conversations.models import Conversation, Message

LIST_LIMIT_DEFAULT = 20
LIST_LIMIT_MAX = 100
PAGE_LIMIT_DEFAULT = 50
PAGE_LIMIT_MAX = 200


class ConversationNotFound(Exception):
    """No conversation with this id belongs to this user (or the id is malformed)."""


class MessageNotFound(Exception):
    """The cursor names no message of this conversation."""


def parse_uuid(value: object) -> uuid.UUID | None:
    """``value`` as a UUID, or ``None`` when it is not one (a malformed id is a 404)."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def conversation_get_for_user(*, user_id: str, conversation_id: object) -> Conversation:
    """Return the conversation ``conversation_id`` if ``user_id`` owns it.

    Args:
        user_id: the owner, i.e. the JWT subject.
        conversation_id: a UUID or its text form, possibly malformed.

    Raises:
        ConversationNotFound: malformed id, no such conversation, or another owner's.
    """
    pk = parse_uuid(conversation_id)
    if pk is None:
        raise ConversationNotFound
    try:
        return Conversation.objects.get(pk=pk, user_id=user_id)
    except Conversation.DoesNotExist:
        raise ConversationNotFound from None


def _message_count() -> Coalesce:
    # A correlated subquery, evaluated for the page's rows only, instead of a
    # GROUP BY over every conversation the user has.
    counts = (
        Message.objects.filter(conversation=OuterRef("pk"))
        .order_by()
        .values("conversation")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), Value(0))


def conversation_list(
    *, user_id: str, limit: int = LIST_LIMIT_DEFAULT, offset: int = 0
) -> tuple[list[Conversation], int]:
    """One page of ``user_id``'s conversations, newest activity first.

    Message bodies are never loaded; each conversation carries ``message_count``.

    Args:
        user_id: the owner.
        limit: 1..100 conversations.
        offset: rows to skip, >= 0.

    Returns:
        ``(conversations, total)`` where ``total`` counts all of the user's conversations.
    """
    base = Conversation.objects.filter(user_id=user_id)
    total = base.count()
    rows = list(
        base.order_by("-updated_at", "-id")
        .only("id", "user_id", "title", "created_at", "updated_at")
        .annotate(message_count=_message_count())[offset : offset + limit]
    )
    return rows, total


def conversation_summary(*, conversation: Conversation) -> Conversation:
    """``conversation`` with its ``message_count`` (as in ``conversation_list``)."""
    conversation.message_count = Message.objects.filter(conversation=conversation).count()  # type: ignore[attr-defined]
    return conversation


def conversation_messages(*, conversation: Conversation) -> QuerySet[Message]:
    """All messages of ``conversation``, oldest first (the contract's detail view).

    Returned as a queryset so large conversations can be streamed with ``.iterator()``.
    """
    return Message.objects.filter(conversation=conversation).order_by("created_at", "id")


@dataclass(frozen=True)
class MessagePage:
    """One page of a conversation's messages for cursor pagination.

    ``messages`` are oldest first; ``next_before`` is the cursor (a message id) for
    the next older page, or ``None`` when this page reaches the first message.
    """

    messages: list[Message]
    next_before: uuid.UUID | None

    @property
    def has_more(self) -> bool:
        return self.next_before is not None


def message_page(*, conversation: Conversation, before: object = None, limit: int = PAGE_LIMIT_DEFAULT) -> MessagePage:
    """The ``limit`` messages just older than ``before`` (or the newest ones).

    Keyset pagination on ``(created_at, id)`` served by ``msg_conv_created_id_idx``:
    the cost is the same for the newest page and for a page 50,000 messages back.

    Args:
        conversation: an already owner-checked conversation.
        before: a message id of this conversation, or ``None`` for the newest page.
        limit: 1..200 messages.

    Raises:
        MessageNotFound: ``before`` is malformed or not a message of this conversation.
    """
    messages = Message.objects.filter(conversation=conversation)
    if before is not None:
        pk = parse_uuid(before)
        if pk is None:
            raise MessageNotFound
        cursor = messages.filter(pk=pk).values_list("created_at", "id").first()
        if cursor is None:
            raise MessageNotFound
        created_at, cursor_id = cursor
        messages = messages.filter(Q(created_at__lt=created_at) | Q(created_at=created_at, id__lt=cursor_id))
    newest_first = list(messages.order_by("-created_at", "-id")[: limit + 1])
    has_more = len(newest_first) > limit
    page = newest_first[:limit]
    page.reverse()
    return MessagePage(messages=page, next_before=page[0].id if has_more else None)


def history_for_reply(
    *, conversation_id: uuid.UUID, before: Message, max_messages: int, max_chars: int
) -> list[Message]:
    """The conversation's newest messages up to and including ``before``, oldest first.

    This is what the assistant is shown: user messages and complete or stopped
    replies (pending, streaming and failed ones are left out).
    The newest messages that fit ``max_chars`` (sum of ``content`` lengths) and
    ``max_messages`` are kept, oldest dropped first; ``before`` itself is always kept.
    """
    rows = (
        Message.objects.filter(conversation_id=conversation_id)
        .filter(Q(created_at__lt=before.created_at) | Q(created_at=before.created_at, id__lte=before.id))
        .filter(Q(role=Message.Role.USER) | Q(status__in=[Message.Status.COMPLETE, Message.Status.STOPPED]))
        .exclude(content="")
        .order_by("-created_at", "-id")
        .only("id", "role", "content", "created_at")[:max_messages]
    )
    kept: list[Message] = []
    used = 0
    for message in rows:
        if kept and used + len(message.content) > max_chars:
            break
        kept.append(message)
        used += len(message.content)
    kept.reverse()
    return kept
