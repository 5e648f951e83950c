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
import functools
import logging
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
from django.db.models import Max, Q, QuerySet
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext_noop

from chatsite.handlers import database_threads
from conversations import catalog, events, liveness, selectors
from conversations import idempotency as idempotency_rules
from conversations.assistant import (
    AssistantError,
    AssistantTimeout,
    ChatOptions,
    ChatTurn,
    Toolbox,
    ToolCall,
    get_assistant,
)
from conversations.models import (
    IN_PROGRESS_STATUSES,
    INSTRUCTIONS_MAX_CHARS,
    TITLE_MAX_LENGTH,
    Conversation,
    IdempotencyKey,
    Message,
    Preference,
)

_T = TypeVar("_T")

logger = logging.getLogger(__name__)

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
        raise ValidationError(gettext_noop("Message content cannot be empty"), code="blank")
    if len(text) > MESSAGE_MAX_CHARS:
        raise ValidationError(
            gettext_noop("Message is too long: %(length)s characters, the limit is %(limit)s"),
            code="max_length",
            params={"length": len(text), "limit": MESSAGE_MAX_CHARS},
        )
    text_reject_unstorable(text, what=gettext_noop("Message"))
    return text


def title_clean(title: str) -> str:
    """Check a conversation title given by a person; returns it trimmed.

    The 200-character limit counts the title as sent, as the OpenAPI schema's ``maxLength``
    does (a fuzzer found a 201-character title with a leading space accepted).

    Raises:
        django.core.exceptions.ValidationError: blank, over 200 characters, NUL or lone surrogates.
    """
    if len(title) > TITLE_MAX_LENGTH:
        raise ValidationError(
            gettext_noop("Title is too long: the limit is %(limit)s characters"),
            code="max_length",
            params={"limit": TITLE_MAX_LENGTH},
        )
    title = title.strip()
    if not title:
        raise ValidationError(gettext_noop("Title cannot be empty"), code="blank")
    text_reject_unstorable(title, what=gettext_noop("Title"))
    return title


def text_reject_unstorable(text: str, *, what: str) -> None:
    """Refuse text PostgreSQL cannot store: a NUL character, or a lone surrogate (not UTF-8).

    Shared by every door's text rules (messages, titles, tasks).

    Raises:
        ValidationError: ``"<what> cannot contain NUL characters"`` or
            ``"<what> contains invalid Unicode (a lone surrogate)"``.
    """
    # The page translates them, ``what`` too (conversations/page_i18n.py); the API sends them as they are.
    if "\x00" in text:
        raise ValidationError(gettext_noop("%(what)s cannot contain NUL characters"), code="nul", params={"what": what})
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(
            gettext_noop("%(what)s contains invalid Unicode (a lone surrogate)"),
            code="surrogate",
            params={"what": what},
        ) from None


def title_from_message(text: str) -> str:
    """A conversation title from its first user message: whitespace folded, about 60 characters."""
    folded = _WHITESPACE.sub(" ", text).strip()
    if len(folded) <= AUTO_TITLE_CHARS:
        return folded
    cut = folded[:AUTO_TITLE_CHARS]
    if " " in cut[AUTO_TITLE_CHARS // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,.;:-") + "…"


def model_clean(name: str) -> str:
    """Check a model chosen for a conversation (issue 14); returns what to store.

    The model must be one the server offers now (``catalog.models_offered``: its list, narrowed
    by ``ASSISTANT_MODELS``, plus ``OPENAI_MODEL``). ``""`` means "the server's default" and
    is stored as is; so is the offline assistant's name, offline, so that the conversation
    follows whichever model server is configured later. The default is accepted without
    asking the server.

    Raises:
        ValidationError: a model the server does not offer.
        catalog.ModelsUnavailable: the server could not be asked (503).
    """
    name = name.strip()
    if not name:
        return ""
    if name == catalog.default_model():
        return "" if name == catalog.OFFLINE_MODEL else name
    if name not in catalog.models_offered().models:
        shown = name if len(name) <= 80 else name[:80] + "…"
        raise ValidationError(
            gettext_noop("Unknown model “%(model)s”: choose one of the models the server offers (GET /api/models)."),
            code="unknown_model",
            params={"model": shown},
        )
    return name


def instructions_clean(text: str) -> str:
    """Check a conversation's instructions (its own system prompt, issue 14); returns them trimmed.

    Up to ``INSTRUCTIONS_MAX_CHARS`` (4000) characters as sent; empty (or only whitespace)
    clears them.

    Raises:
        ValidationError: too long, NUL or a lone surrogate.
    """
    if len(text) > INSTRUCTIONS_MAX_CHARS:
        raise ValidationError(
            gettext_noop("Instructions are too long: %(length)s characters, the limit is %(limit)s"),
            code="max_length",
            params={"length": len(text), "limit": INSTRUCTIONS_MAX_CHARS},
        )
    text_reject_unstorable(text, what=gettext_noop("Instructions"))
    return text.strip()


# --- Conversations ----------------------------------------------------------------


def conversation_create(*, user_id: str, title: str = "") -> Conversation:
    """Create an empty conversation owned by ``user_id`` (FR-010), with the person's last model (issue 14)
    and default instructions (issue 16)."""
    model, instructions = preferences_for_new(user_id)
    return Conversation.objects.create(user_id=user_id, title=title, model=model, instructions=instructions)


@transaction.atomic
def conversation_rename(*, conversation: Conversation, title: str) -> Conversation:
    """Rename an owner-checked conversation. ``title`` must already be cleaned (``title_clean``).

    The person named it: a generated title never replaces it (issue 14, "Titles").
    """
    conversation.title = title
    conversation.title_set_by_user = True
    conversation.save(update_fields=["title", "title_set_by_user"])
    return conversation


def preferences_for_new(user_id: str) -> tuple[str, str]:
    """``(model, instructions)`` a new conversation of ``user_id`` takes: the model chosen last
    (issue 14) and the default instructions of the settings page (issue 16), from ``Preference``;
    ``("", "")`` without one.

    One plain statement on the primary key, hand-written: every new chat turn makes it, and the
    ORM's compilation of the same read (or of two scalar subqueries in the ``INSERT``) cost a new
    turn 0.4 ms of CPU per subquery (``bench.cpu_probe``, bench/NOTES.md).
    """
    with connection.cursor() as cursor:
        cursor.execute(_PREFERENCES_SQL, [user_id])
        row = cursor.fetchone()
    return (row[0], row[1]) if row else ("", "")


_PREFERENCES_SQL = f'SELECT "model", "instructions" FROM "{Preference._meta.db_table}" WHERE "user_id" = %s'  # noqa: S608 (a table name)


@transaction.atomic
def conversation_configure(
    *, conversation: Conversation, model: str | None = None, instructions: str | None = None
) -> Conversation:
    """Set an owner-checked conversation's model and/or instructions (issue 14); ``None`` leaves one as it is.

    Both must already be cleaned (``model_clean``, ``instructions_clean``). A model set is also
    the person's last choice (``Preference.model``), which their new conversations take. Neither
    moves ``updated_at``: settings are not activity.
    """
    fields = []
    if model is not None:
        conversation.model = model
        fields.append("model")
        Preference.objects.update_or_create(user_id=conversation.user_id, defaults={"model": model})
    if instructions is not None:
        conversation.instructions = instructions
        fields.append("instructions")
    if fields:
        conversation.save(update_fields=fields)
    return conversation


def conversation_organise(
    *, conversation: Conversation, pinned: bool | None = None, archived: bool | None = None
) -> Conversation:
    """Pin or unpin, archive or unarchive an owner-checked conversation (issue 15, "Organise").

    ``None`` leaves a flag as it is. Neither moves ``updated_at``: organising is not activity.
    An archived conversation leaves the list and the sidebar (``?archived=true`` lists it);
    it still opens, and a new message in it does not bring it back.

    Raises:
        ValidationError: a flag that is not a boolean.
    """
    changes = {name: value for name, value in (("pinned", pinned), ("archived", archived)) if value is not None}
    for name, value in changes.items():
        if not isinstance(value, bool):
            raise ValidationError(f"{name} must be true or false", code="invalid")
        setattr(conversation, name, value)
    if changes:
        conversation.save(update_fields=list(changes))
    return conversation


@transaction.atomic
def conversation_delete(*, conversation: Conversation) -> None:
    """Delete an owner-checked conversation and all its messages."""
    conversation.delete()


# --- Titles (issue 14, "Titles") ------------------------------------------------------

# Titles being asked for: strong references (asyncio keeps only weak ones to running tasks).
_titling: set[asyncio.Task[str | None]] = set()
_THINKING = re.compile(r"<think>.*?(?:</think>|$)", re.DOTALL | re.IGNORECASE)
_TITLE_LABEL = re.compile(r"^(?:title|titre|título|titel|titolo)\s*:\s*", re.IGNORECASE)


def title_later(start: ChatStart, reply: Message) -> None:
    """After a conversation's first reply is saved complete, ask the model for a title in a task of its own.

    Never delays the reply (nor its HTTP response or ``reply.finished``): this only starts the
    task (``conversation_title_generate``). Only with ``ASSISTANT_AUTO_TITLES`` on, a backend
    that makes titles (not the offline assistant) and a first turn: the history sent was the
    user's message alone (a first message, or a retry of its failed reply).
    """
    if not settings.ASSISTANT_AUTO_TITLES or start.replayed or reply.status != Message.Status.COMPLETE:
        return
    if len(start.history) != 1 or getattr(get_assistant(), "title", None) is None:
        return
    task = asyncio.ensure_future(
        conversation_title_generate(
            conversation_id=start.conversation.pk,
            first_message=start.history[0].content,
            reply=reply.content,
            options=options_for(start),
        )
    )
    _titling.add(task)
    task.add_done_callback(_titling.discard)


async def titles_settled() -> None:
    """Wait until the titles this process is asking for are saved or given up (tests)."""
    while _titling:
        await asyncio.gather(*_titling, return_exceptions=True)


async def conversation_title_generate(
    *, conversation_id: uuid.UUID, first_message: str, reply: str, options: ChatOptions | None = None
) -> str | None:
    """Ask the model for a short title after a conversation's first reply; save it unless the person named it.

    The title made from the first message (``title_from_message``) stays when the person set
    one (``title_set_by_user``: checked before asking, and again by the UPDATE that saves, so a
    rename meanwhile wins), when the title is no longer that one (a title was generated
    already), when the request fails or takes over ``ASSISTANT_TITLE_TIMEOUT_SECONDS``, or when
    the answer is empty. A saved title is announced to the conversation's sockets
    (``conversation.title``), so an open page updates its sidebar entry and tab title.

    Returns:
        The title saved, or ``None``.
    """
    fallback = title_from_message(first_message)
    if not await db_async(_title_is_automatic)(conversation_id=conversation_id, title=fallback):
        return None
    turns = [ChatTurn(role=Message.Role.USER.value, content=first_message), ChatTurn(role="assistant", content=reply)]
    try:
        async with asyncio.timeout(settings.ASSISTANT_TITLE_TIMEOUT_SECONDS):
            answer = await get_assistant().title(turns, options=options)  # type: ignore[attr-defined]
    except Exception as exc:
        # The model failed or took too long: the title from the first message stays.
        logger.info("no title for conversation %s: %r", conversation_id, exc)
        return None
    title = title_suggested_clean(answer)
    if not title or title == fallback:
        return None
    saved = await db_async(conversation_title_set_generated)(
        conversation_id=conversation_id, title=title, replacing=fallback
    )
    if not saved:
        return None
    await events.publish(conversation_id, events.title_event(conversation_id=conversation_id, title=title))
    return title


def title_suggested_clean(text: str) -> str:
    """A title a model suggested, made fit to show: its first line without a reasoning block,
    Markdown marks, quotes, a "Title:" label or a final full stop, folded and cut like
    ``title_from_message``; ``""`` when nothing is left or PostgreSQL could not store it."""
    line = next((part for part in _THINKING.sub("", text).splitlines() if part.strip()), "")
    line = _TITLE_LABEL.sub("", line.strip().strip("#*_`").strip())
    line = line.strip().strip("\"'“”‘’«»").strip().rstrip(".").strip()
    try:
        text_reject_unstorable(line, what="Title")
    except ValidationError:
        return ""
    return title_from_message(line)[:TITLE_MAX_LENGTH]


def _title_is_automatic(*, conversation_id: uuid.UUID, title: str) -> bool:
    return Conversation.objects.filter(pk=conversation_id, title_set_by_user=False, title=title).exists()


def conversation_title_set_generated(*, conversation_id: uuid.UUID, title: str, replacing: str) -> bool:
    """Save a generated title, in one UPDATE, only if the title is still ``replacing`` and the
    person has not named the conversation (``title_set_by_user``). Returns whether it was saved.
    ``updated_at`` stays: a title is not activity."""
    return bool(
        Conversation.objects.filter(pk=conversation_id, title_set_by_user=False, title=replacing).update(title=title)
    )


# --- The chat turn ------------------------------------------------------------------


class NothingToRetry(Exception):
    """The conversation has no user message, or its last one already has a complete reply (409)."""


class ReplyInProgress(NothingToRetry):
    """A reply of the conversation is still pending or streaming (409).

    One reply at a time per conversation, on every door (issue 12): a send or a retry
    while one is being written is refused. A kind of ``NothingToRetry`` (nothing to retry
    yet), so a door that only knows that one still answers 409; the API tells them apart.
    """


@dataclass(frozen=True)
class ChatStart:
    """What ``chat_begin`` / ``retry_begin`` saved: the conversation, the user's message, the
    pending reply, and the history to show the model (oldest first, ending with the user's message).

    ``replayed`` is true when the request repeated an idempotency key: nothing was saved,
    ``user_message`` and ``reply`` are the first request's (the reply as it is now), and
    ``response_status`` what the first request answered over HTTP (``None`` if it has not).
    ``closed`` lists the stale replies closed on the way (to announce with ``reply.finished``).
    """

    conversation: Conversation
    user_message: Message
    reply: Message
    history: list[ChatTurn]
    replayed: bool = False
    response_status: int | None = None
    closed: tuple[Message, ...] = ()


def _history(conversation: Conversation, user_message: Message) -> list[ChatTurn]:
    rows = selectors.history_for_reply(
        conversation_id=conversation.pk,
        before=user_message,
        max_messages=settings.ASSISTANT_HISTORY_MAX_MESSAGES,
        max_chars=settings.ASSISTANT_HISTORY_MAX_CHARS,
    )
    return [ChatTurn(role=m.role, content=m.content) for m in rows]


def _tip(conversation: Conversation) -> tuple[uuid.UUID | None, dt.datetime | None]:
    """``(id, created_at)`` of the newest message shown (the end of the active branch), or ``(None, None)``."""
    row = selectors.shown_messages(conversation).order_by("-created_at", "-id").values_list("id", "created_at").first()
    return row if row is not None else (None, None)


def _after(newest: dt.datetime | None, now: dt.datetime) -> dt.datetime:
    """``now``, or just after ``newest`` if that is not earlier (clock ties, steps): a message made
    now sorts after every message shown, so each child comes after its parent (issue 14)."""
    return max(now, newest + _ONE_MICROSECOND) if newest is not None else now


def _pending_reply(*, conversation: Conversation, created_at: dt.datetime, parent: Message) -> Message:
    """An empty assistant reply to ``parent``, ``pending`` until the model's first text (same owner as ``conversation``).

    Not saved: the caller saves it (``chat_begin`` in one INSERT with the user's message).
    """
    return Message(
        conversation=conversation,
        user_id=conversation.user_id,
        role=Message.Role.ASSISTANT,
        content="",
        status=Message.Status.PENDING,
        created_at=created_at,
        parent=parent,
    )


def _locked_conversation(*, user_id: str, conversation_id: uuid.UUID | str) -> Conversation:
    pk = selectors.parse_uuid(conversation_id)
    # The row lock orders concurrent sends and retries of one conversation (PostgreSQL).
    conversation = Conversation.objects.select_for_update().filter(pk=pk, user_id=user_id).first() if pk else None
    if conversation is None:
        raise selectors.ConversationNotFound
    return conversation


def _refuse_while_replying(conversation: Conversation) -> list[Message]:
    """Close the conversation's stale replies; refuse if a reply is still being written.

    Returns:
        The stale replies closed (to announce).

    Raises:
        ReplyInProgress: a reply is pending or streaming and its writer is alive.
    """
    replies = liveness.replies_in_progress(conversation_id=conversation.pk)
    if not replies:
        return []
    closed = liveness.close_stale(replies)
    if len(closed) < len(replies):
        raise ReplyInProgress
    return closed


def _replay(*, user_id: str, record: IdempotencyKey) -> ChatStart:
    """The first request of an idempotency key, as it stands now (its reply may have been retried since).

    Raises:
        selectors.ConversationNotFound: its conversation was deleted since.
    """
    conversation = Conversation.objects.filter(pk=record.conversation_id, user_id=user_id).first()
    user_message = Message.objects.filter(pk=record.message_id, conversation=conversation).first()
    if conversation is None or user_message is None:
        raise selectors.ConversationNotFound
    closed = liveness.close_stale_replies(conversation_id=conversation.pk)
    reply = Message.objects.filter(pk=record.reply_id).first() or (
        # Replaced by a retry: the answer to the same message now (the version shown, else the newest).
        Message.objects.filter(conversation=conversation, parent=user_message)
        .order_by("-selected", "-created_at", "-id")
        .first()
    )
    if reply is None:
        raise selectors.ConversationNotFound
    return ChatStart(
        conversation=conversation,
        user_message=user_message,
        reply=reply,
        history=[],
        replayed=True,
        response_status=record.response_status,
        closed=tuple(closed),
    )


def _with_idempotency(
    begin: Callable[..., ChatStart], *, user_id: str, idempotency: idempotency_rules.Idempotency | None, **kwargs: Any
) -> ChatStart:
    """Run ``begin`` (atomic) unless ``idempotency``'s key was used before; then replay the first request."""
    if idempotency is not None:
        record = idempotency_rules.key_find(user_id=user_id, idempotency=idempotency)
        if record is not None:
            return _replay(user_id=user_id, record=record)
    try:
        return begin(user_id=user_id, idempotency=idempotency, **kwargs)
    except idempotency_rules.IdempotencyKeyTaken:
        # A concurrent repeat recorded it first (this transaction was rolled back): replay that one.
        assert idempotency is not None
        record = idempotency_rules.key_find(user_id=user_id, idempotency=idempotency)
        if record is None:  # pragma: no cover - recorded, then expired within the same instant
            raise
        return _replay(user_id=user_id, record=record)
    except ReplyInProgress:
        # The reply in progress may be this key's own first request, committed while this one
        # waited for the conversation's lock: then this is its repeat (409 Conflict while it is
        # written, its reply afterwards), not a send refused for another reply (issue 12).
        record = idempotency_rules.key_find(user_id=user_id, idempotency=idempotency) if idempotency else None
        if record is None:
            raise
        return _replay(user_id=user_id, record=record)


def chat_begin(
    *,
    user_id: str,
    conversation_id: uuid.UUID | str | None,
    text: str,
    idempotency: idempotency_rules.Idempotency | None = None,
) -> ChatStart:
    """Save the user's message and a pending reply, in one transaction.

    One reply at a time per conversation, on every door (issue 12): stale replies are
    closed first (``liveness.close_stale_replies``), then a reply still being written
    refuses the send. With ``idempotency``, a key used before replays the first request
    (``ChatStart.replayed``) and saves nothing; a new key is recorded with the messages.

    Args:
        user_id: the sender, i.e. the JWT subject (FR-013).
        conversation_id: the conversation to continue, or ``None`` to start one (FR-010).
        text: the message, already checked by ``message_text_clean``.
        idempotency: the request's ``Idempotency-Key`` (``idempotency.idempotency_for``), or ``None``.

    Raises:
        selectors.ConversationNotFound: ``conversation_id`` is not one of the user's.
        ReplyInProgress: a reply of the conversation is pending or streaming.
        idempotency.IdempotencyKeyReused: the key was used for a different request.
    """
    return _with_idempotency(
        _chat_begin, user_id=user_id, idempotency=idempotency, conversation_id=conversation_id, text=text
    )


@transaction.atomic
def _chat_begin(
    *,
    user_id: str,
    conversation_id: uuid.UUID | str | None,
    text: str,
    idempotency: idempotency_rules.Idempotency | None,
) -> ChatStart:
    closed: list[Message] = []
    parent_id: uuid.UUID | None = None
    if conversation_id is None:
        now = timezone.now()
        model, instructions = preferences_for_new(user_id)
        conversation = Conversation.objects.create(
            user_id=user_id,
            title=title_from_message(text),
            created_at=now,
            updated_at=now + _ONE_MICROSECOND,
            model=model,
            instructions=instructions,
        )
    else:
        conversation = _locked_conversation(user_id=user_id, conversation_id=conversation_id)
        closed = _refuse_while_replying(conversation)
        # Timed once the lock is held, and after the newest message: concurrent sends
        # keep each reply right after its own message in (created_at, id) order, and
        # ``updated_at`` never goes back (issue "Hardening": 100 concurrent sends).
        parent_id, newest = _tip(conversation)
        now = _after(newest, timezone.now())
        # The pending reply's time: the conversation's newest message (never before it).
        conversation.updated_at = now + _ONE_MICROSECOND
        fields = ["updated_at"]
        if not conversation.title:
            conversation.title = title_from_message(text)
            fields.append("title")
        conversation.save(update_fields=fields)
    user_message = Message(
        conversation=conversation,
        user_id=user_id,
        role=Message.Role.USER,
        content=text,
        created_at=now,
        parent_id=parent_id,
    )
    reply = _pending_reply(conversation=conversation, created_at=now + _ONE_MICROSECOND, parent=user_message)
    if idempotency is not None:
        idempotency_rules.key_record(
            user_id=user_id,
            idempotency=idempotency,
            conversation_id=conversation.pk,
            message_id=user_message.pk,
            reply_id=reply.pk,
        )
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
    return ChatStart(
        conversation=conversation, user_message=user_message, reply=reply, history=history, closed=tuple(closed)
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
    changed = Message.objects.filter(pk=reply.pk, status__in=IN_PROGRESS_STATUSES).update(
        content=content, status=status
    )
    if changed:
        Conversation.objects.filter(pk=reply.conversation_id, updated_at__lt=now).update(updated_at=now)
        reply.content, reply.status = content, status
    return bool(changed)


def reply_fail_unstarted(*, reply: Message) -> bool:
    """Close as ``failed`` a reply whose generation could not be started (the channel layer or the
    cache down at that moment), so it never stays pending (issue 12). Returns ``True`` if closed."""
    return reply_finish(reply=reply, content=reply.content, status=Message.Status.FAILED)


# The partial reply is written at most this often while text arrives (seconds),
# so a crash loses at most this much and the database sees a few writes per reply.
PARTIAL_SAVE_SECONDS = 0.5


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
        streaming (stopped, closed as stale, or deleted with its conversation), so
        the caller should stop.
    """
    changed = Message.objects.filter(pk=reply.pk, status__in=IN_PROGRESS_STATUSES).update(
        content=content, status=Message.Status.STREAMING
    )
    if changed:
        reply.content, reply.status = content, Message.Status.STREAMING
    return bool(changed)


def reply_close_stale(*, conversation: Conversation) -> int:
    """Close as ``failed`` (text kept) the conversation's replies nobody is writing any more.

    The one stale rule, ``liveness.close_stale_replies``. Called by every door that reads
    a conversation (API detail and message page, the socket) and before a send or a
    retry; each worker's sweep (``conversations.sweeper``) calls it for every conversation.

    Args:
        conversation: an owner-checked conversation. One read by
            ``selectors.conversation_get_for_user`` carries ``has_unfinished_replies``;
            when that is ``False`` nothing can be stale and no query is made.

    Returns:
        How many replies were closed.
    """
    if getattr(conversation, "has_unfinished_replies", True) is False:
        return 0
    return len(liveness.close_stale_replies(conversation_id=conversation.pk))


def _reply_reread(reply: Message) -> Message:
    """``reply`` as the database has it now.

    Raises:
        selectors.ConversationNotFound: deleted with its conversation meanwhile (404, issue 12).
    """
    current = Message.objects.filter(pk=reply.pk).first()
    if current is None:
        raise selectors.ConversationNotFound
    reply.content, reply.status, reply.tool_calls = current.content, current.status, current.tool_calls
    return reply


def reply_record_tool_call(reply_id: uuid.UUID, call: ToolCall) -> None:
    """Append ``call`` to the reply's ``tool_calls`` (in the caller's transaction: the tool's own).

    The one writer of ``Message.tool_calls`` while a reply is written: whatever happens to the
    turn afterwards (a Stop, a deadline, the model failing, the process dying), a tool that
    acted is on record with the reply that called it (issue 13). A reply deleted meanwhile
    (with its conversation) records nothing.
    """
    reply = Message.objects.select_for_update().filter(pk=reply_id).only("id", "tool_calls").first()
    if reply is not None:
        reply.tool_calls = [*reply.tool_calls, call.as_dict()]
        reply.save(update_fields=["tool_calls"])


def toolbox_for(start: ChatStart) -> Toolbox:
    """The tools for the turn of ``start`` (``settings.ASSISTANT_TOOLBOX``: the user's task tools).

    Bound to the conversation's owner (the JWT subject that saved it): the model never
    chooses whose data a tool touches. Each call is recorded on the reply in the tool's own
    transaction (``reply_record_tool_call``); the calls already on the reply (inherited by a
    retry from the failed reply) are the toolbox's ``done``, so the assistant does not repeat them.
    """
    return import_string(settings.ASSISTANT_TOOLBOX)(
        user_id=start.conversation.user_id,
        run_sync=db_async,
        record=functools.partial(reply_record_tool_call, start.reply.pk),
        done=[ToolCall.from_dict(call) for call in start.reply.tool_calls],
    )


def options_for(start: ChatStart) -> ChatOptions:
    """The conversation's own model and instructions for the turn of ``start`` (issue 14)."""
    return ChatOptions(model=start.conversation.model, instructions=start.conversation.instructions)


async def reply_generate(
    *,
    start: ChatStart,
    on_delta: Callable[[str], Awaitable[None]] | None = None,
) -> Message:
    """Ask the assistant for the reply to ``start`` and save it (no transaction held meanwhile).

    While text arrives, every ``PARTIAL_SAVE_SECONDS`` (counted from the first text) the
    text so far is saved and the reply marked ``streaming`` (a reply that arrives whole
    sooner goes straight from ``pending`` to ``complete``). If the reply is stopped or
    deleted meanwhile (``reply_save_partial`` returns ``False``), generation stops and
    the reply keeps what was saved. The writer beats ``liveness.http_beat_key`` all along,
    so if this process dies the reply is closed as failed within ``3 x LIVE_HEARTBEAT_SECONDS``
    plus a sweep (issue 12), not after ``LIVE_REPLY_MAX_SECONDS``. The assistant gets the
    owner's task tools (``toolbox_for``); each tool call is saved on the reply in the tool's
    own transaction (``reply.tool_calls``), kept even if the reply then fails (issue 13).

    Args:
        start: what ``chat_begin`` / ``retry_begin`` saved.
        on_delta: awaited with each text delta as it arrives (the live page publishes it).

    Returns:
        The saved assistant message: ``complete``, or ``stopped`` if stopped meanwhile.

    Raises:
        AssistantError / AssistantTimeout: the model failed; the reply is saved as
            ``failed`` with whatever text arrived, and the user's message is kept.
        selectors.ConversationNotFound: the conversation was deleted while the reply was written.
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
    async with liveness.beating(liveness.http_beat_key(reply.pk)):
        try:
            stream = get_assistant().stream(start.history, toolbox=toolbox_for(start), options=options_for(start))
            async with aclosing(stream) as items:
                async for delta in items:
                    if not isinstance(delta, str):
                        # A tool acted, and its call is on record already (reply_record_tool_call).
                        reply.tool_calls = [*reply.tool_calls, delta.as_dict()]
                        continue
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
            # Closed elsewhere (stopped), or deleted: answer with what the database holds.
            await db_async(_reply_reread)(reply)
    title_later(start, reply)  # a first reply: a title, asked for in a task of its own (issue 14)
    return reply


def _begin_beating(begin: Callable[..., ChatStart], **kwargs: Any) -> ChatStart:
    start = begin(**kwargs)
    if not start.replayed:
        # The first beat, before the reply is ever handed to the model: a process that
        # dies from here on leaves a beat that stops (liveness).
        liveness.beat(liveness.http_beat_key(start.reply.pk))
    return start


async def chat_start(
    *,
    user_id: str,
    conversation_id: uuid.UUID | str | None,
    text: str,
    idempotency: idempotency_rules.Idempotency | None = None,
) -> ChatStart:
    """``chat_begin`` for a plain HTTP door (the API, the page's form post): saves, beats, announces.

    Stale replies closed on the way are announced on the channel layer (``reply.finished``).
    Raises what ``chat_begin`` raises.
    """
    start = await db_async(_begin_beating)(
        chat_begin, user_id=user_id, conversation_id=conversation_id, text=text, idempotency=idempotency
    )
    await events.publish_closed(list(start.closed))
    return start


def _status_of(exc: AssistantError) -> int:
    return 504 if isinstance(exc, AssistantTimeout) else 503


async def reply_answer(start: ChatStart, *, idempotency: idempotency_rules.Idempotency | None = None) -> Message:
    """The reply to ``start`` for a plain HTTP door: generated, or for a replayed key the first result.

    A replayed key answers as the first request did (draft-ietf-httpapi-idempotency-key-header):
    its reply if it finished, ``AssistantTimeout`` / ``AssistantError`` again if it failed,
    and ``IdempotencyKeyInUse`` (409) while it is still being written. A new key's outcome
    is recorded (``idempotency.key_answered``) for later repeats.

    The reply is written to the end even if the client hangs up meanwhile (Django cancels
    the view on http.disconnect): a client whose connection dropped after sending finds the
    whole reply by repeating its key, or by reading the conversation (issue 12).

    Raises:
        AssistantError / AssistantTimeout (503 / 504), idempotency.IdempotencyKeyInUse (409),
        selectors.ConversationNotFound (404: deleted meanwhile).
    """
    return await _to_the_end(_answer(start, idempotency))


async def _answer(start: ChatStart, idempotency: idempotency_rules.Idempotency | None) -> Message:
    """``reply_answer`` without its own task (for callers that already run the turn in one)."""
    if start.replayed:
        # The first answer, as sent; if it was never sent (its process died), the reply's state.
        reply, status = start.reply, start.response_status
        if status is None and not reply.is_finished:
            raise idempotency_rules.IdempotencyKeyInUse
        if status == 504:
            raise AssistantTimeout("the first request with this key timed out")
        if status == 503 or (status is None and reply.status == Message.Status.FAILED):
            raise AssistantError("the first request with this key failed")
        return reply
    return await _generate_and_record(start, idempotency)


# Replies still being written for a request that went away: strong references (asyncio
# keeps only weak ones to running tasks).
_detached: set[asyncio.Future[Message]] = set()


def _forget(task: asyncio.Future[Message]) -> None:
    _detached.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: a failure nobody waited for is in the reply's status, not a log warning


async def _to_the_end(turn: Awaitable[Message]) -> Message:
    """Await ``turn`` in a task of its own, which the request's cancellation (its client hung up) does not stop."""
    task = asyncio.ensure_future(turn)
    _detached.add(task)
    task.add_done_callback(_forget)
    return await asyncio.shield(task)


async def _generate_and_record(start: ChatStart, idempotency: idempotency_rules.Idempotency | None) -> Message:
    try:
        reply = await reply_generate(start=start)
    except AssistantError as exc:
        if idempotency is not None:
            await db_async(idempotency_rules.key_answered)(
                user_id=start.conversation.user_id, key=idempotency.key, status=_status_of(exc)
            )
        raise
    if idempotency is not None:
        await db_async(idempotency_rules.key_answered)(
            user_id=start.conversation.user_id, key=idempotency.key, status=200
        )
    return reply


async def chat_send(
    *,
    user_id: str,
    conversation_id: uuid.UUID | str | None,
    text: str,
    idempotency: idempotency_rules.Idempotency | None = None,
) -> Message:
    """The whole chat turn of ``POST /api/{user_id}/chat``: save, ask, save.

    Args:
        user_id: the sender (JWT subject).
        conversation_id: conversation to continue, or ``None`` for a new one.
        text: the message, already checked by ``message_text_clean``.
        idempotency: the request's ``Idempotency-Key``, or ``None``.

    Returns:
        The assistant message (its ``conversation_id`` names the conversation).

    Raises:
        selectors.ConversationNotFound: not the user's conversation, or deleted meanwhile (404).
        ReplyInProgress: a reply of the conversation is being written (409).
        idempotency.IdempotencyKeyInUse (409) / IdempotencyKeyReused (422).
        AssistantError / AssistantTimeout: the model failed (503 / 504); the user's
            message is saved and the reply is marked failed.
    """

    async def turn() -> Message:
        start = await chat_start(user_id=user_id, conversation_id=conversation_id, text=text, idempotency=idempotency)
        return await _answer(start, idempotency)

    # Detached from the request as a whole: a hang-up while the message is being saved (the
    # database step's thread runs on and commits) must not leave a saved turn unanswered.
    return await _to_the_end(turn())


def retry_begin(
    *,
    user_id: str,
    conversation_id: uuid.UUID | str,
    idempotency: idempotency_rules.Idempotency | None = None,
) -> ChatStart:
    """Prepare a new reply to the conversation's last user message, in one transaction.

    The user's message is not saved again. A failed or stopped reply to it is
    replaced: deleted, and a new pending reply created (new id, created now), so the
    conversation never shows two answers to one message. Stale replies are closed first.

    Args:
        user_id: the owner (JWT subject).
        conversation_id: the conversation, possibly malformed.
        idempotency: the request's ``Idempotency-Key``, or ``None`` (see ``chat_begin``).

    Raises:
        selectors.ConversationNotFound: not the user's conversation (404).
        ReplyInProgress: its last reply is still pending or streaming (409).
        NothingToRetry: no user message, or its last one has a complete reply (409).
        idempotency.IdempotencyKeyReused: the key was used for a different request (422).
    """
    return _with_idempotency(_retry_begin, user_id=user_id, idempotency=idempotency, conversation_id=conversation_id)


@transaction.atomic
def _retry_begin(
    *, user_id: str, conversation_id: uuid.UUID | str, idempotency: idempotency_rules.Idempotency | None
) -> ChatStart:
    conversation = _locked_conversation(user_id=user_id, conversation_id=conversation_id)
    now = timezone.now()
    closed = _refuse_while_replying(conversation)
    messages = selectors.shown_messages(conversation)
    user_message = messages.filter(role=Message.Role.USER).order_by("-created_at", "-id").first()
    if user_message is None:
        raise NothingToRetry
    answers = messages.filter(
        Q(created_at__gt=user_message.created_at) | Q(created_at=user_message.created_at, id__gt=user_message.id)
    )
    if answers.filter(status=Message.Status.COMPLETE).exists():
        raise NothingToRetry
    # What the failed replies' tools already did stays on record, on the new reply, and the
    # assistant is told (toolbox_for: ``done``), so a retry does not add the task twice.
    replaced = list(answers.order_by("created_at", "id").only("id", "tool_calls", "parent", "version", "version_count"))
    done = [call for answer in replaced for call in answer.tool_calls]
    answers.delete()
    reply = _pending_reply(
        conversation=conversation,
        created_at=max(now, user_message.created_at + _ONE_MICROSECOND),
        parent=user_message,
    )
    reply.tool_calls = done
    same_turn = next((answer for answer in replaced if answer.parent_id == user_message.pk), None)
    if same_turn is not None:
        # The new reply takes the failed one's place among the turn's versions (issue 14).
        reply.version, reply.version_count = same_turn.version, same_turn.version_count
    else:
        _number_as_new_version(reply)
    return _begin_saved(conversation, user_message, reply, idempotency=idempotency, closed=closed)


async def chat_retry(
    *, user_id: str, conversation_id: uuid.UUID | str, idempotency: idempotency_rules.Idempotency | None = None
) -> Message:
    """``POST /api/{user_id}/conversations/{id}/retry``: answer the last user message again.

    Returns:
        The new assistant message (see ``retry_begin`` for what is replaced).

    Raises:
        selectors.ConversationNotFound (404), ReplyInProgress (409), NothingToRetry (409),
        idempotency.IdempotencyKeyInUse (409) / IdempotencyKeyReused (422),
        AssistantError / AssistantTimeout (503 / 504; the new reply is marked failed).
    """
    return await _turn_detached(
        retry_begin, idempotency, changes_branch=False, user_id=user_id, conversation_id=conversation_id
    )


# --- Versions and branches (issue 14) -------------------------------------------------


class NothingToRegenerate(NothingToRetry):
    """The conversation shows no finished reply at its end to generate again (409)."""


class MessageMissing(Exception):
    """No message with this id in this user's conversation, or a malformed id (404)."""


class NotEditable(Exception):
    """Only a person's own messages can be edited, not the assistant's replies (400)."""


def _turn(message: Message) -> QuerySet[Message]:
    """The versions of ``message``'s turn: the children of its parent (for a first message, the
    conversation's other first messages), ``msg_conv_parent_idx``."""
    return Message.objects.filter(conversation_id=message.conversation_id, parent_id=message.parent_id)


def _number_as_new_version(message: Message) -> None:
    """Number the unsaved ``message`` as the newest version of its turn, selected: the turn's other
    versions are deselected and learn the new ``version_count``. In the caller's transaction."""
    versions = _turn(message)
    newest = versions.aggregate(newest=Max("version"))["newest"] or 0
    message.version = message.version_count = newest + 1
    message.selected = message.active = True
    versions.update(version_count=message.version_count, selected=False)


def _message_of(conversation: Conversation, message_id: object) -> Message:
    pk = selectors.parse_uuid(message_id)
    message = Message.objects.filter(conversation=conversation, pk=pk).first() if pk else None
    if message is None:
        raise MessageMissing
    return message


def _hide_from(message: Message) -> None:
    """Take ``message`` and every message shown after it off the branch shown."""
    selectors.shown_from(message).update(active=False)


_BRANCH_SQL = """
    WITH RECURSIVE branch(id) AS (
        SELECT id FROM conversations_message WHERE id = %s
        UNION ALL
        SELECT child.id FROM conversations_message child JOIN branch ON child.parent_id = branch.id
        WHERE child.conversation_id = %s AND child.selected
    )
    UPDATE conversations_message SET active = TRUE WHERE id IN (SELECT id FROM branch)
"""


def _show_branch(message_id: object, conversation_id: uuid.UUID) -> None:
    """Put the message ``message_id`` and the branch below it that was chosen before (each turn's
    selected version, down to its end) on the branch shown. One recursive statement (PostgreSQL, SQLite)."""
    with connection.cursor() as cursor:
        cursor.execute(_BRANCH_SQL, [_db_uuid(message_id), _db_uuid(conversation_id)])


_HIDDEN_ANCESTRY_SQL = """
    WITH RECURSIVE up(id, parent_id, active, selected) AS (
        SELECT id, parent_id, active, selected FROM conversations_message WHERE id = %s
        UNION ALL
        SELECT m.id, m.parent_id, m.active, m.selected FROM conversations_message m JOIN up ON m.id = up.parent_id
        WHERE NOT up.active AND m.conversation_id = %s
    )
    SELECT id, parent_id, selected FROM up WHERE NOT active
"""


def _activate(conversation: Conversation, message: Message) -> None:
    """Show ``message``'s version and the branch that follows it (the choice is remembered:
    ``selected``). Nothing changes if it is shown already. In the caller's transaction, under the
    conversation's lock.

    ``message`` and its ancestors up to the branch shown (a version inside a branch not shown)
    come from one recursive read; the turns among them whose chosen version changes are switched
    (two statements each: usually one turn); then two statements hide the old branch from the
    fork on and show the new one, each a pass over its messages (an early version of a long
    conversation rewrites the flags of both branches).
    """
    if message.active:
        return
    params = [_db_uuid(message.pk), _db_uuid(conversation.pk)]
    with connection.cursor() as cursor:
        cursor.execute(_HIDDEN_ANCESTRY_SQL, params)
        chain = cursor.fetchall()  # (id, parent_id, selected), from ``message`` up to the fork
    fork_id, fork_parent_id, _ = chain[-1]  # the topmost hidden one: its parent is shown, or it is a first message
    shown_version = selectors.shown_messages(conversation).filter(parent_id=fork_parent_id).first()
    if shown_version is not None:
        _hide_from(shown_version)
    for node_id, parent_id, selected in chain:
        if not selected:
            Message.objects.filter(conversation=conversation, parent_id=parent_id).exclude(pk=node_id).update(
                selected=False
            )
            Message.objects.filter(pk=node_id).update(selected=True)
    # The chain's nodes are each other's chosen children now: the walk from the fork covers them all.
    _show_branch(fork_id, conversation.pk)


def _db_uuid(value: object) -> object:
    """``value`` as this database's driver takes a UUID parameter (a string on SQLite)."""
    pk_field = Message._meta.pk
    assert pk_field is not None
    return pk_field.get_db_prep_value(value, connection)


@transaction.atomic
def version_activate(*, user_id: str, conversation_id: uuid.UUID | str, message_id: object) -> Conversation:
    """Show a version of a turn and the branch that follows it (``POST .../messages/{id}/activate``).

    The choice is stored, so a refresh or another device shows the same branch (issue 14).

    Args:
        user_id: the owner (JWT subject).
        conversation_id: the conversation, possibly malformed.
        message_id: any message of the conversation, shown or not.

    Returns:
        The conversation (its newest page is the end of the branch now shown).

    Raises:
        selectors.ConversationNotFound: not the user's conversation (404).
        MessageMissing: not a message of it (404).
        ReplyInProgress: a reply is being written (409): switching would hide it.
    """
    conversation = _locked_conversation(user_id=user_id, conversation_id=conversation_id)
    message = _message_of(conversation, message_id)
    _refuse_while_replying(conversation)
    _activate(conversation, message)
    return conversation


def regenerate_begin(
    *,
    user_id: str,
    conversation_id: uuid.UUID | str,
    idempotency: idempotency_rules.Idempotency | None = None,
    reply_id: object = None,
) -> ChatStart:
    """Prepare another reply to the message the newest reply answers, in one transaction.

    The reply shown is kept as another version of the turn (``version``), taken off the branch
    shown; the new pending one is the turn's newest version, shown. Its tools act again
    (nothing a tool did is rolled back). Stale replies are closed first.

    ``reply_id``, when given, must be that newest reply (the page's button names the reply it was
    shown on, so a stale button regenerates nothing).

    Raises:
        selectors.ConversationNotFound (404), ReplyInProgress (409),
        NothingToRegenerate: the conversation does not end with a finished reply, or not with
            ``reply_id`` (409),
        idempotency.IdempotencyKeyReused (422).
    """
    return _with_idempotency(
        _regenerate_begin,
        user_id=user_id,
        idempotency=idempotency,
        conversation_id=conversation_id,
        reply_id=reply_id,
    )


@transaction.atomic
def _regenerate_begin(
    *,
    user_id: str,
    conversation_id: uuid.UUID | str,
    idempotency: idempotency_rules.Idempotency | None,
    reply_id: object = None,
) -> ChatStart:
    conversation = _locked_conversation(user_id=user_id, conversation_id=conversation_id)
    closed = _refuse_while_replying(conversation)
    last = selectors.shown_messages(conversation).order_by("-created_at", "-id").first()
    if last is None or last.role != Message.Role.ASSISTANT or last.parent_id is None:
        raise NothingToRegenerate
    if reply_id is not None and selectors.parse_uuid(reply_id) != last.pk:
        raise NothingToRegenerate
    user_message = Message.objects.get(pk=last.parent_id)
    if user_message.role != Message.Role.USER:
        raise NothingToRegenerate  # a reply after a reply (an imported conversation): nothing asked it
    now = _after(last.created_at, timezone.now())
    reply = _pending_reply(conversation=conversation, created_at=now, parent=user_message)
    Message.objects.filter(pk=last.pk).update(active=False)
    _number_as_new_version(reply)  # deselects ``last`` (hidden first: only a selected version is shown)
    return _begin_saved(conversation, user_message, reply, idempotency=idempotency, closed=closed)


def edit_begin(
    *,
    user_id: str,
    conversation_id: uuid.UUID | str,
    message_id: object,
    text: str,
    idempotency: idempotency_rules.Idempotency | None = None,
) -> ChatStart:
    """Save ``text`` as a new version of one of the person's messages and a pending reply to it.

    Any message of theirs, not only the last: the edited version is shown with its reply, and
    what followed the old version stays stored as its own branch (shown again by activating the
    old version). Editing a message on a branch not shown shows that branch first.

    Args:
        text: the new text, already checked by ``message_text_clean``.

    Raises:
        selectors.ConversationNotFound (404), MessageMissing (404), NotEditable (400: an
        assistant message), ReplyInProgress (409), idempotency.IdempotencyKeyReused (422).
    """
    return _with_idempotency(
        _edit_begin,
        user_id=user_id,
        idempotency=idempotency,
        conversation_id=conversation_id,
        message_id=message_id,
        text=text,
    )


@transaction.atomic
def _edit_begin(
    *,
    user_id: str,
    conversation_id: uuid.UUID | str,
    message_id: object,
    text: str,
    idempotency: idempotency_rules.Idempotency | None,
) -> ChatStart:
    conversation = _locked_conversation(user_id=user_id, conversation_id=conversation_id)
    original = _message_of(conversation, message_id)
    if original.role != Message.Role.USER:
        raise NotEditable
    closed = _refuse_while_replying(conversation)
    _activate(conversation, original)
    _, newest = _tip(conversation)
    _hide_from(original)
    now = _after(newest, timezone.now())
    edited = Message(
        conversation=conversation,
        user_id=user_id,
        role=Message.Role.USER,
        content=text,
        created_at=now,
        parent_id=original.parent_id,
    )
    _number_as_new_version(edited)
    edited.save(force_insert=True)
    reply = _pending_reply(conversation=conversation, created_at=now + _ONE_MICROSECOND, parent=edited)
    return _begin_saved(conversation, edited, reply, idempotency=idempotency, closed=closed)


def _begin_saved(
    conversation: Conversation,
    user_message: Message,
    reply: Message,
    *,
    idempotency: idempotency_rules.Idempotency | None,
    closed: list[Message],
) -> ChatStart:
    """Save the new ``reply`` (and the idempotency key), move the conversation's ``updated_at``."""
    if idempotency is not None:
        idempotency_rules.key_record(
            user_id=conversation.user_id,
            idempotency=idempotency,
            conversation_id=conversation.pk,
            message_id=user_message.pk,
            reply_id=reply.pk,
        )
    reply.save(force_insert=True)
    conversation.updated_at = max(timezone.now(), reply.created_at)
    conversation.save(update_fields=["updated_at"])
    return ChatStart(
        conversation=conversation,
        user_message=user_message,
        reply=reply,
        history=_history(conversation, user_message),
        closed=tuple(closed),
    )


async def _turn_detached(
    begin: Callable[..., ChatStart],
    idempotency: idempotency_rules.Idempotency | None,
    *,
    changes_branch: bool = True,
    **kwargs: Any,
) -> Message:
    """A plain HTTP door's whole turn for ``begin`` (save, beat, announce, generate), detached as
    ``chat_send`` (a retry, a regeneration, an edit). With ``changes_branch``, once the reply is
    written (or has failed), the conversation's other pages and devices are told that the branch
    shown changed (``conversation.branch``)."""

    async def turn() -> Message:
        start = await db_async(_begin_beating)(begin, idempotency=idempotency, **kwargs)
        await events.publish_closed(list(start.closed))
        try:
            return await _answer(start, idempotency)
        finally:
            if changes_branch and not start.replayed:
                await events.publish_branch(start.conversation.pk)

    return await _to_the_end(turn())


async def chat_regenerate(
    *,
    user_id: str,
    conversation_id: uuid.UUID | str,
    idempotency: idempotency_rules.Idempotency | None = None,
    reply_id: object = None,
) -> Message:
    """``POST /api/{user_id}/conversations/{id}/regenerate``: a new version of the newest reply.

    Returns:
        The new assistant message.

    Raises:
        What ``regenerate_begin`` raises, idempotency.IdempotencyKeyInUse (409),
        AssistantError / AssistantTimeout (503 / 504; the new version is marked failed).
    """
    return await _turn_detached(
        regenerate_begin, idempotency, user_id=user_id, conversation_id=conversation_id, reply_id=reply_id
    )


async def chat_edit(
    *,
    user_id: str,
    conversation_id: uuid.UUID | str,
    message_id: object,
    text: str,
    idempotency: idempotency_rules.Idempotency | None = None,
) -> Message:
    """``POST .../messages/{message_id}/edit``: a new version of a user message, and its reply.

    Returns:
        The new assistant message (its ``parent_id`` is the edited version).

    Raises:
        What ``edit_begin`` raises, idempotency.IdempotencyKeyInUse (409),
        AssistantError / AssistantTimeout (503 / 504; the edited message is kept).
    """
    return await _turn_detached(
        edit_begin, idempotency, user_id=user_id, conversation_id=conversation_id, message_id=message_id, text=text
    )
