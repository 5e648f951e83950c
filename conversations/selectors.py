"""Reads: every query here filters by owner (FR-011, SC-006).

``conversation_get_for_user`` is the one ownership lookup: another user's
conversation and a missing one raise the same ``ConversationNotFound``, so the
existence of someone else's conversation never leaks (contract: Errors, 404).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Exists, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from conversations.models import IN_PROGRESS_STATUSES, Conversation, Message

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

    Returns:
        The conversation, with ``has_unfinished_replies`` (bool): whether any of its replies
        is pending or streaming as read (``services.reply_close_stale`` skips its query if not).

    Raises:
        ConversationNotFound: malformed id, no such conversation, or another owner's.
    """
    pk = parse_uuid(conversation_id)
    if pk is None:
        raise ConversationNotFound
    try:
        return Conversation.objects.annotate(has_unfinished_replies=_has_unfinished_replies()).get(
            pk=pk, user_id=user_id
        )
    except Conversation.DoesNotExist:
        raise ConversationNotFound from None


def _has_unfinished_replies() -> Exists:
    # Whether a reply is pending or streaming, read with the conversation (msg_in_progress_idx):
    # the stale check (services.reply_close_stale) needs no query of its own when none is
    # (issue 6: that query was a seventh of a page request's CPU).
    return Exists(Message.objects.filter(conversation=OuterRef("pk"), status__in=IN_PROGRESS_STATUSES))


def _message_count() -> Coalesce:
    # A correlated subquery, evaluated for the page's rows only, instead of a
    # GROUP BY over every conversation the user has.
    counts = (
        Message.objects.filter(conversation=OuterRef("pk"), active=True)
        .order_by()
        .values("conversation")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), Value(0))


# The list as people see it (issue 15, "Organise"): pinned first, then newest activity.
SHELF_ORDER = ("-pinned", "-updated_at", "-id")


def conversation_list(
    *, user_id: str, limit: int = LIST_LIMIT_DEFAULT, offset: int = 0, archived: bool = False
) -> tuple[list[Conversation], int]:
    """One page of ``user_id``'s conversations: pinned first, then newest activity first.

    Message bodies are never loaded; each conversation carries ``message_count``. One range
    of ``conv_user_shelf_idx`` (issue 15).

    Args:
        user_id: the owner.
        limit: 1..100 conversations.
        offset: rows to skip, >= 0.
        archived: ``False`` (the default) lists the conversations not archived; ``True`` only
            the archived ones.

    Returns:
        ``(conversations, total)`` where ``total`` counts the user's conversations in that list.
    """
    base = Conversation.objects.filter(user_id=user_id, archived=archived)
    total = base.count()
    rows = list(
        base.order_by(*SHELF_ORDER)
        .only("id", "user_id", "title", "created_at", "updated_at", "pinned", "archived", "model", "instructions")
        .annotate(message_count=_message_count())[offset : offset + limit]
    )
    return rows, total


def conversation_summary(*, conversation: Conversation) -> Conversation:
    """``conversation`` with its ``message_count`` (as in ``conversation_list``)."""
    conversation.message_count = shown_messages(conversation).count()  # type: ignore[attr-defined]
    return conversation


def shown_messages(conversation: Conversation | uuid.UUID) -> QuerySet[Message]:
    """The messages of the conversation as shown: its active branch (issue 14, "Versions and
    branches"), unordered. Every read of a conversation's messages starts here, and the filter on
    ``active`` is what lets PostgreSQL read them through the partial ``msg_conv_created_id_idx``."""
    return Message.objects.filter(conversation=conversation, active=True)


def conversation_messages(*, conversation: Conversation) -> QuerySet[Message]:
    """The messages of ``conversation`` as shown (its active branch), oldest first (the contract's detail view).

    Returned as a queryset so large conversations can be streamed with ``.iterator()``.
    """
    return shown_messages(conversation).order_by("created_at", "id")


DETAIL_CHUNK_SIZE = 2000


def conversation_message_chunks(
    *, conversation: Conversation, fields: tuple[str, ...], chunk_size: int = DETAIL_CHUNK_SIZE
) -> Iterator[list[dict[str, Any]]]:
    """Every message of ``conversation``, oldest first, as lists of at most ``chunk_size`` rows.

    Each chunk is its own keyset query on ``msg_conv_created_id_idx``, so the caller may
    stop between chunks, or resume them from another thread (a streamed response under
    ASGI), without a server-side cursor or transaction held open; memory stays at one
    chunk whatever the conversation's length (issue 6: the detail of a long conversation).

    Args:
        conversation: an already owner-checked conversation.
        fields: the message fields to load; ``created_at`` and ``id`` are always included.
        chunk_size: rows per query, >= 1.

    Yields:
        Non-empty lists of dicts (``QuerySet.values``); nothing for an empty conversation.
    """
    names = tuple(dict.fromkeys((*fields, "created_at", "id")))
    messages = shown_messages(conversation).order_by("created_at", "id").values(*names)
    after: Q | None = None
    while True:
        rows = list((messages.filter(after) if after is not None else messages)[:chunk_size])
        if rows:
            yield rows
        if len(rows) < chunk_size:
            return
        after = _newer_than(rows[-1]["created_at"], rows[-1]["id"])


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


def _older_than(created_at: object, message_id: object, *, inclusive: bool = False) -> Q:
    """Messages before ``(created_at, message_id)`` in the ``(created_at, id)`` order.

    The redundant ``created_at <= ...`` bound is what lets PostgreSQL start the scan of
    ``msg_conv_created_id_idx`` at the cursor (an index condition); the OR alone is only
    a filter, applied to every newer message on the way (50,000 rows for a page 50,000
    messages back: issue 6, BENCHMARKS.md).
    """
    same_instant = (
        Q(created_at=created_at, id__lte=message_id) if inclusive else Q(created_at=created_at, id__lt=message_id)
    )
    return Q(created_at__lte=created_at) & (Q(created_at__lt=created_at) | same_instant)


def _cursor(messages: QuerySet[Message], message_id: object) -> tuple[object, uuid.UUID]:
    """``(created_at, id)`` of the cursor message among ``messages``.

    Raises:
        MessageNotFound: ``message_id`` is malformed or not among ``messages``.
    """
    pk = parse_uuid(message_id)
    row = messages.filter(pk=pk).values_list("created_at", "id").first() if pk else None
    if row is None:
        raise MessageNotFound
    return row


def _newer_than(created_at: object, message_id: object) -> Q:
    """Messages after ``(created_at, message_id)``; the mirror of ``_older_than``."""
    return Q(created_at__gte=created_at) & (Q(created_at__gt=created_at) | Q(created_at=created_at, id__gt=message_id))


def shown_from(message: Message) -> QuerySet[Message]:
    """``message`` and the messages shown after it (issue 14: when a turn changes version, these
    leave the branch shown). The branch shown is one path, so they are ``message``'s descendants
    on it; one range of ``msg_conv_created_id_idx``."""
    at = message.created_at
    return shown_messages(message.conversation_id).filter(
        Q(created_at__gte=at) & (Q(created_at__gt=at) | Q(created_at=at, id__gte=message.pk))
    )


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
    messages = shown_messages(conversation)
    if before is not None:
        messages = messages.filter(_older_than(*_cursor(messages, before)))
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
        shown_messages(conversation_id)
        .filter(_older_than(before.created_at, before.id, inclusive=True))
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


# --- The page's reads (issue 4: the browser chat page) --------------------------------


def message_page_after(*, conversation: Conversation, after: object, limit: int = PAGE_LIMIT_DEFAULT) -> MessagePage:
    """The ``limit`` messages just newer than ``after``, oldest first.

    The mirror of ``message_page``, used by the page's virtualized pane to bring
    back newer pages it removed from the DOM while the user scrolled up (SC-011).
    ``next_before`` here is the cursor for the next *newer* page (the last message's
    id), or ``None`` when this page reaches the newest message.

    Args:
        conversation: an already owner-checked conversation.
        after: a message id of this conversation.
        limit: 1..200 messages.

    Raises:
        MessageNotFound: ``after`` is malformed or not a message of this conversation.
    """
    messages = shown_messages(conversation)
    newer = messages.filter(_newer_than(*_cursor(messages, after)))
    oldest_first = list(newer.order_by("created_at", "id")[: limit + 1])
    has_more = len(oldest_first) > limit
    page = oldest_first[:limit]
    return MessagePage(messages=page, next_before=page[-1].id if has_more else None)


# Messages shown after a found message when the pane opens at it (the rest of the page is older).
AROUND_NEWER = 10


def message_page_around(
    *, conversation: Conversation, message_id: object, limit: int = PAGE_LIMIT_DEFAULT
) -> tuple[MessagePage, bool]:
    """The page that shows ``message_id`` with a few newer messages after it (issue 15: a search
    result opens the conversation at its message, even 50,000 back), and whether it is the newest page.

    Two keyset reads of ``msg_conv_created_id_idx``, whatever the message's depth: up to
    ``AROUND_NEWER`` messages after it, then the ``limit`` messages up to the last of those.
    From there the pane pages both ways as usual.

    Raises:
        MessageNotFound: ``message_id`` is malformed or not a message of this conversation.
    """
    newer = message_page_after(conversation=conversation, after=message_id, limit=AROUND_NEWER)
    if not newer.has_more:
        return message_page(conversation=conversation, limit=limit), True
    last = newer.messages[-1]
    rows = list(
        shown_messages(conversation)
        .filter(_older_than(last.created_at, last.id, inclusive=True))
        .order_by("-created_at", "-id")[: limit + 1]
    )
    has_more = len(rows) > limit
    page = rows[:limit]
    page.reverse()
    return MessagePage(messages=page, next_before=page[0].id if has_more else None), False


def conversation_newest_for_user(*, user_id: str) -> Conversation | None:
    """``user_id``'s conversation with the newest activity, archived ones aside, or ``None`` (FR-002: ``/chat`` opens it)."""
    return (
        Conversation.objects.filter(user_id=user_id, archived=False).order_by("-updated_at", "-id").only("id").first()
    )


def conversation_sidebar_page(
    *, user_id: str, limit: int, offset: int = 0, archived: bool = False
) -> tuple[list[Conversation], bool]:
    """One page of the page's sidebar: ``user_id``'s conversations, pinned first, then newest activity.

    Unlike ``conversation_list`` there is no total and no message count, so the cost
    does not grow with the size of the conversations (one range of ``conv_user_shelf_idx``).

    Args:
        user_id: the owner.
        limit: conversations per page (>= 1).
        offset: rows to skip (>= 0).
        archived: the archived conversations instead of the others (the "Archived" view).

    Returns:
        ``(conversations, has_more)``.
    """
    rows = list(
        Conversation.objects.filter(user_id=user_id, archived=archived)
        .order_by(*SHELF_ORDER)
        .only("id", "title", "updated_at", "pinned", "archived")[offset : offset + limit + 1]
    )
    return rows[:limit], len(rows) > limit


def version_get(*, conversation: Conversation, message_id: object, version: object) -> Message:
    """The version numbered ``version`` of the turn of ``message_id`` (issue 14: the page's
    version switcher names the message it is on and the version wanted). One read of
    ``msg_conv_parent_idx`` after the message's own.

    Raises:
        MessageNotFound: no such message in ``conversation``, or its turn has no such version.
    """
    pk = parse_uuid(message_id)
    message = Message.objects.filter(conversation=conversation, pk=pk).only("parent_id").first() if pk else None
    try:
        number = int(str(version))
    except ValueError:
        raise MessageNotFound from None
    found = (
        Message.objects.filter(conversation=conversation, parent_id=message.parent_id, version=number).first()
        if message is not None
        else None
    )
    if found is None:
        raise MessageNotFound
    return found


def message_get(*, conversation: Conversation, message_id: object) -> tuple[Message, bool]:
    """One message of ``conversation``, and whether it is the conversation's newest.

    The chat page fetches a reply this way once it has streamed (issue 5: the
    server-rendered Markdown replaces the plain text shown while it grew).

    Args:
        conversation: an already owner-checked conversation.
        message_id: a message id (UUID or its string).

    Returns:
        ``(message, is_newest)``.

    Raises:
        MessageNotFound: ``message_id`` is malformed or not a message of this conversation.
    """
    pk = parse_uuid(message_id)
    message = Message.objects.filter(conversation=conversation, pk=pk).first() if pk else None
    if message is None:
        raise MessageNotFound
    newest = shown_messages(conversation).order_by("-created_at", "-id").values_list("id", flat=True)
    return message, newest.first() == message.pk
