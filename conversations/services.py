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

import asyncio
import datetime as dt
import re
import uuid
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from chatsite.handlers import database_threads
from conversations import selectors
from conversations.assistant import AssistantError, ChatTurn, get_assistant
from conversations.models import IN_PROGRESS_STATUSES, TITLE_MAX_LENGTH, Conversation, Message

_T = TypeVar("_T")

MESSAGE_MAX_CHARS = 4000
AUTO_TITLE_CHARS = 60
_WHITESPACE = re.compile(r"\s+")
# The reply sorts right after its own user message even when both are saved in the
# same microsecond (ordering is created_at, then id).
_ONE_MICROSECOND = dt.timedelta(microseconds=1)


def db_async(fn: Callable[..., _T]) -> Callable[..., Awaitable[_T]]:
    """``fn`` (sync, touching the database, self-contained) made awaitable from async code.

    Serving a request (``chatsite.handlers.ReusedThreadsASGIHandler``), it runs on one of
    the process's few database threads (``chatsite.handlers.database_threads``); anywhere
    else thread-sensitively (in tests, on the test's thread, so it sees the test's
    transaction). When it returns, the connection is given back (to psycopg's pool with
    ``DATABASE_POOL=1``, else closed) so that no connection is held while the model
    thinks: with 500 chats in flight, 500 idle connections would exhaust PostgreSQL
    (bench/concurrency.py, BENCHMARKS.md). Inside an outer transaction (a test's) the
    connection is left alone.
    """

    def run(*args: Any, **kwargs: Any) -> _T:
        try:
            return fn(*args, **kwargs)
        finally:
            if not connection.in_atomic_block:
                connection.close()

    async def call(*args: Any, **kwargs: Any) -> _T:
        threads = database_threads()
        if threads is None:
            return await sync_to_async(run, thread_sensitive=True)(*args, **kwargs)
        return await sync_to_async(run, thread_sensitive=False, executor=threads)(*args, **kwargs)

    return call


# How long the last write of a reply keeps trying while the database is unreachable
# (PostgreSQL restarting): the text that arrived is not thrown away over a blink
# (issue "Hardening": PostgreSQL restarted mid-load; seconds).
FINAL_SAVE_RETRY_SECONDS = 15.0
_RETRY_FIRST_DELAY, _RETRY_MAX_DELAY = 0.2, 2.0


async def retry_while_database_down(call: Callable[[], Awaitable[_T]], *, seconds: float | None = None) -> _T:
    """Await ``call()``, again after a growing pause while it fails because the database is unreachable.

    Only for writes that are safe to repeat (``reply_finish`` changes a reply once).

    Args:
        call: makes a fresh awaitable each time (e.g. ``lambda: db_async(fn)(...)``).
        seconds: give up after this long (default ``FINAL_SAVE_RETRY_SECONDS``).

    Raises:
        django.db.OperationalError / InterfaceError: still unreachable after ``seconds``.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + (FINAL_SAVE_RETRY_SECONDS if seconds is None else seconds)
    delay = _RETRY_FIRST_DELAY
    while True:
        try:
            return await call()
        except (OperationalError, InterfaceError):
            if connection.in_atomic_block or loop.time() + delay > deadline:
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RETRY_MAX_DELAY)


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


def _after_newest_message(conversation: Conversation, now: dt.datetime) -> dt.datetime:
    """``now``, or just after the conversation's newest message if that is not earlier (clock ties, steps)."""
    newest = (
        Message.objects.filter(conversation=conversation)
        .order_by("-created_at", "-id")
        .values_list("created_at", flat=True)
        .first()
    )
    return max(now, newest + _ONE_MICROSECOND) if newest is not None else now


def _pending_reply(*, conversation: Conversation, created_at: dt.datetime) -> Message:
    """An empty assistant reply, ``pending`` until the model's first text (same owner as ``conversation``).

    Not saved: the caller saves it (``chat_begin`` in one INSERT with the user's message).
    """
    return Message(
        conversation=conversation,
        user_id=conversation.user_id,
        role=Message.Role.ASSISTANT,
        content="",
        status=Message.Status.PENDING,
        created_at=created_at,
    )


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
    if conversation_id is None:
        now = timezone.now()
        conversation = Conversation.objects.create(
            user_id=user_id, title=title_from_message(text), created_at=now, updated_at=now + _ONE_MICROSECOND
        )
    else:
        pk = selectors.parse_uuid(conversation_id)
        # The row lock orders concurrent sends to one conversation (PostgreSQL).
        conversation = Conversation.objects.select_for_update().filter(pk=pk, user_id=user_id).first() if pk else None
        if conversation is None:
            raise selectors.ConversationNotFound
        # Timed once the lock is held, and after the newest message: concurrent sends
        # keep each reply right after its own message in (created_at, id) order, and
        # ``updated_at`` never goes back (issue "Hardening": 100 concurrent sends).
        now = _after_newest_message(conversation, timezone.now())
        # The pending reply's time: the conversation's newest message (never before it).
        conversation.updated_at = now + _ONE_MICROSECOND
        fields = ["updated_at"]
        if not conversation.title:
            conversation.title = title_from_message(text)
            fields.append("title")
        conversation.save(update_fields=fields)
    user_message = Message(
        conversation=conversation, user_id=user_id, role=Message.Role.USER, content=text, created_at=now
    )
    reply = _pending_reply(conversation=conversation, created_at=now + _ONE_MICROSECOND)
    # One INSERT for both rows (issue 6: a statement less per chat turn). Message has no
    # save() override or save signals for bulk_create to skip.
    Message.objects.bulk_create([user_message, reply])
    # A new conversation's history is its first message: no need to read it back (issue 6:
    # that query was an eighth of a new chat's CPU time).
    history = (
        [ChatTurn(role=Message.Role.USER.value, content=text)]
        if conversation_id is None
        else _history(conversation, user_message)
    )
    return ChatStart(conversation=conversation, user_message=user_message, reply=reply, history=history)


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
    changed = Message.objects.filter(pk=reply.pk, status__in=IN_PROGRESS_STATUSES).update(
        content=content, status=status
    )
    if changed:
        Conversation.objects.filter(pk=reply.conversation_id, updated_at__lt=now).update(updated_at=now)
        reply.content, reply.status = content, status
    return bool(changed)


# The partial reply is written at most this often while text arrives (seconds),
# so a crash loses at most this much and the database sees a few writes per reply.
PARTIAL_SAVE_SECONDS = 0.5


class NothingToRetry(Exception):
    """The conversation has no user message, or its last one already has a complete reply (409)."""


class ReplyInProgress(NothingToRetry):
    """The conversation's last reply is still pending or streaming (409).

    A kind of ``NothingToRetry`` (nothing to retry yet), so a door that only knows
    that one still answers 409; the API tells the two apart.
    """


def reply_save_partial(*, reply: Message, content: str) -> bool:
    """Save the text a reply has so far and mark it ``streaming``.

    Called in batches while the model writes (not once per token): by ``reply_generate``
    every ``PARTIAL_SAVE_SECONDS`` and by the live generation (``live.py``), so what
    arrived survives a crash and a refresh, another tab or another worker finds it
    (issues "Real assistant replies", "Live replies"). Only a reply that is still
    pending or streaming is changed: a reply that was stopped, closed as stale or
    finished keeps what it has. One UPDATE, atomic by itself.

    Args:
        reply: the pending or streaming assistant message.
        content: all the text so far (not just the newest delta).

    Returns:
        ``True`` if saved; ``False`` when the reply is no longer pending or
        streaming (stopped, or closed as stale), so the caller should stop.
    """
    changed = Message.objects.filter(pk=reply.pk, status__in=IN_PROGRESS_STATUSES).update(
        content=content, status=Message.Status.STREAMING
    )
    if changed:
        reply.content, reply.status = content, Message.Status.STREAMING
    return bool(changed)


def reply_close_stale(*, conversation: Conversation) -> int:
    """Close as ``failed`` (text kept) the conversation's replies nobody is writing any more.

    The one stale rule, ``live.close_stale_replies``: a pending or streaming reply whose
    live generation stopped beating, or older than ``LIVE_REPLY_MAX_SECONDS`` (which
    covers a REST call whose process died). Called by every door that reads a
    conversation (API detail and message page, the socket) and before a retry, so
    nothing stays pending forever (issue "Real assistant replies").

    Args:
        conversation: an owner-checked conversation. One read by
            ``selectors.conversation_get_for_user`` carries ``has_unfinished_replies``;
            when that is ``False`` nothing can be stale and no query is made.

    Returns:
        How many replies were closed.
    """
    if getattr(conversation, "has_unfinished_replies", True) is False:
        return 0
    # live builds on services: imported here to keep the module graph one-way.
    from conversations import live

    return len(live.close_stale_replies(conversation_id=conversation.pk))


async def reply_generate(*, start: ChatStart, on_delta: Callable[[str], Awaitable[None]] | None = None) -> Message:
    """Ask the assistant for the reply to ``start`` and save it (no transaction held meanwhile).

    While text arrives, every ``PARTIAL_SAVE_SECONDS`` (counted from the first text) the
    text so far is saved and the reply marked ``streaming`` (a reply that arrives whole
    sooner goes straight from ``pending`` to ``complete``). If the reply is stopped meanwhile (``reply_save_partial``
    returns ``False``), generation stops and the reply keeps what was saved.

    Args:
        start: what ``chat_begin`` / ``retry_begin`` saved.
        on_delta: awaited with each text delta as it arrives (the live page publishes it).

    Returns:
        The saved assistant message: ``complete``, or ``stopped`` if stopped meanwhile.

    Raises:
        AssistantError / AssistantTimeout: the model failed; the reply is saved as
            ``failed`` with whatever text arrived, and the user's message is kept.
    """
    reply = start.reply
    parts: list[str] = []
    loop = asyncio.get_running_loop()
    # Counted from the first text (before it there is nothing to lose): a reply that
    # streams whole within PARTIAL_SAVE_SECONDS of its first token costs no partial write,
    # however long the model thought first. Counted from the start, every reply of a 2 s
    # model paid one (a fifth of the server's CPU with 500 in flight; BENCHMARKS.md).
    saved_at: float | None = None
    still_open = True
    try:
        async with aclosing(get_assistant().stream(start.history)) as deltas:
            async for delta in deltas:
                parts.append(delta)
                if on_delta is not None:
                    await on_delta(delta)
                if saved_at is None:
                    saved_at = loop.time()
                if loop.time() - saved_at >= PARTIAL_SAVE_SECONDS:
                    saved_at = loop.time()
                    try:
                        still_open = await db_async(reply_save_partial)(reply=reply, content="".join(parts))
                    except (OperationalError, InterfaceError):
                        # The database blinked: the next save, or the final one, keeps the text.
                        still_open = True
                    if not still_open:
                        break
        if still_open and not "".join(parts).strip():
            raise AssistantError("the model returned an empty reply")
    except BaseException:
        # Whatever went wrong (the model, a bug, a cancelled request), the reply
        # must not stay pending: keep the text that arrived and mark it failed.
        text = "".join(parts)
        await asyncio.shield(
            retry_while_database_down(
                lambda: db_async(reply_finish)(reply=reply, content=text, status=Message.Status.FAILED)
            )
        )
        raise
    if not still_open or not await retry_while_database_down(
        lambda: db_async(reply_finish)(reply=reply, content="".join(parts), status=Message.Status.COMPLETE)
    ):
        # Closed elsewhere (stopped): answer with what the database holds.
        await db_async(reply.refresh_from_db)(fields=["content", "status"])
    return reply


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
    start = await db_async(chat_begin)(user_id=user_id, conversation_id=conversation_id, text=text)
    return await reply_generate(start=start)


@transaction.atomic
def retry_begin(*, user_id: str, conversation_id: uuid.UUID | str) -> ChatStart:
    """Prepare a new reply to the conversation's last user message, in one transaction.

    The user's message is not saved again. A failed or stopped reply to it is
    replaced: deleted, and a new pending reply created (new id, created now), so the
    conversation never shows two answers to one message. Stale replies are closed first.

    Args:
        user_id: the owner (JWT subject).
        conversation_id: the conversation, possibly malformed.

    Raises:
        selectors.ConversationNotFound: not the user's conversation (404).
        ReplyInProgress: its last reply is still pending or streaming (409).
        NothingToRetry: no user message, or its last one has a complete reply (409).
    """
    pk = selectors.parse_uuid(conversation_id)
    # The row lock orders a retry against concurrent sends and retries (PostgreSQL).
    conversation = Conversation.objects.select_for_update().filter(pk=pk, user_id=user_id).first() if pk else None
    if conversation is None:
        raise selectors.ConversationNotFound
    now = timezone.now()
    reply_close_stale(conversation=conversation)
    messages = Message.objects.filter(conversation=conversation)
    user_message = messages.filter(role=Message.Role.USER).order_by("-created_at", "-id").first()
    if user_message is None:
        raise NothingToRetry
    answers = messages.filter(
        Q(created_at__gt=user_message.created_at) | Q(created_at=user_message.created_at, id__gt=user_message.id)
    )
    statuses = set(answers.values_list("status", flat=True))
    if statuses & set(IN_PROGRESS_STATUSES):
        raise ReplyInProgress
    if Message.Status.COMPLETE in statuses:
        raise NothingToRetry
    answers.delete()
    reply = _pending_reply(conversation=conversation, created_at=max(now, user_message.created_at + _ONE_MICROSECOND))
    reply.save(force_insert=True)
    conversation.updated_at = max(now, reply.created_at)
    conversation.save(update_fields=["updated_at"])
    return ChatStart(
        conversation=conversation, user_message=user_message, reply=reply, history=_history(conversation, user_message)
    )


async def chat_retry(*, user_id: str, conversation_id: uuid.UUID | str) -> Message:
    """``POST /api/{user_id}/conversations/{id}/retry``: answer the last user message again.

    Returns:
        The new complete assistant message (see ``retry_begin`` for what is replaced).

    Raises:
        selectors.ConversationNotFound (404), ReplyInProgress (409), NothingToRetry (409),
        AssistantError / AssistantTimeout (503 / 504; the new reply is marked failed).
    """
    start = await db_async(retry_begin)(user_id=user_id, conversation_id=conversation_id)
    return await reply_generate(start=start)
