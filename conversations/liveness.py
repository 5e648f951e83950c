"""Whether anyone is still writing a reply, and the one stale rule that closes those nobody is.

Issue "Live replies" and issue 12 ("No stuck replies"). Every writer of a reply proves it
is alive every ``LIVE_HEARTBEAT_SECONDS`` by writing the time into a key of Django's cache
(Redis when ``REDIS_URL`` is set, shared by every worker):

* the live generation (``live``) under ``live_beat_key``: it also listens for stop and
  sync on the channel layer, so ``live.request_stop`` sends it a message;
* the plain HTTP chat turn (``services.reply_generate``) under ``http_beat_key``: it does
  not listen, so a stop marks its reply ``stopped`` in the database and it notices at
  its next save.

A reply is **stale** when its freshest beat is older than ``HEARTBEAT_MISSED_BEATS``
beats (its process died: kill -9, a crash, the machine gone), or when it is older than
``LIVE_REPLY_MAX_SECONDS`` whatever wrote it (a reply no writer ever beat for).
``close_stale_replies`` closes stale replies as ``failed`` keeping their saved text; it is
called by every door that reads a conversation, before a send or a retry, and by each
worker's periodic sweep (``conversations.sweeper``), so a dead worker's reply is closed
within ``3 x LIVE_HEARTBEAT_SECONDS`` plus one sweep interval even if nobody looks.

Depends on the models and the cache only (no import circles).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterable

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from conversations.models import IN_PROGRESS_STATUSES, Message

logger = logging.getLogger(__name__)

# A heartbeat older than this many beats means the process writing the reply died.
HEARTBEAT_MISSED_BEATS = 3

ALIVE, DEAD, UNKNOWN = "alive", "dead", "unknown"


def live_beat_key(reply_id: uuid.UUID | str) -> str:
    """The cache key of a live generation's heartbeat (it listens for stop and sync)."""
    return f"live:reply:{uuid.UUID(str(reply_id)).hex}:beat"


def http_beat_key(reply_id: uuid.UUID | str) -> str:
    """The cache key of a plain HTTP chat turn's heartbeat (it does not listen on the channel layer)."""
    return f"live:reply:{uuid.UUID(str(reply_id)).hex}:http"


def heartbeat_ttl() -> int:
    """Seconds a beat is kept: longer than any reply may run, so a dead process's last beat stays visible."""
    return settings.LIVE_REPLY_MAX_SECONDS + 60


def dead_after_seconds() -> float:
    """Seconds without a beat after which a writer counts as dead."""
    return settings.LIVE_HEARTBEAT_SECONDS * HEARTBEAT_MISSED_BEATS


def liveness_of(*beats: object) -> str:
    """``alive`` if the freshest of ``beats`` (epoch seconds) is recent, ``dead`` if it is old,
    ``unknown`` when none is a beat (no writer ever beat for it, or the cache was emptied)."""
    times = [beat for beat in beats if isinstance(beat, (int, float))]
    if not times:
        return UNKNOWN
    return ALIVE if time.time() - max(times) <= dead_after_seconds() else DEAD


def liveness_many(reply_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """``{reply_id: alive|dead|unknown}`` for several replies, in one cache round trip."""
    ids = list(reply_ids)
    if not ids:
        return {}
    beats = cache.get_many([key for pk in ids for key in (live_beat_key(pk), http_beat_key(pk))])
    return {pk: liveness_of(beats.get(live_beat_key(pk)), beats.get(http_beat_key(pk))) for pk in ids}


def reply_liveness(reply_id: uuid.UUID) -> str:
    """Whether a writer is still working on ``reply_id``: ``alive``, ``dead`` or ``unknown``."""
    return liveness_many([reply_id])[reply_id]


def beat(key: str) -> None:
    """Record that the writer of ``key`` is alive now. Never raises: a cache that cannot be
    written leaves the reply's liveness "unknown" (the age rule), never breaks a chat turn."""
    try:
        cache.set(key, time.time(), timeout=heartbeat_ttl())
    except Exception:
        logger.warning("could not record the heartbeat %s", key, exc_info=True)


@contextlib.asynccontextmanager
async def beating(key: str) -> AsyncIterator[None]:
    """Beat ``key`` every ``LIVE_HEARTBEAT_SECONDS`` while the block runs.

    The first beat is the caller's (``beat``, written where the reply is created, so a
    process that dies at once is already on record). The key is not deleted afterwards:
    only replies still pending or streaming are judged, so a finished reply's beat is
    never read, and it expires by itself (``heartbeat_ttl``); a delete would cost a
    thread hop and a cache round trip on every chat turn.
    """

    async def loop() -> None:
        while True:
            await asyncio.sleep(settings.LIVE_HEARTBEAT_SECONDS)
            await sync_to_async(beat, thread_sensitive=False)(key)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()


def replies_in_progress(*, conversation_id: uuid.UUID) -> list[Message]:
    """The conversation's pending or streaming replies, oldest first (usually none or one)."""
    return list(
        Message.objects.filter(
            conversation_id=conversation_id, role=Message.Role.ASSISTANT, status__in=IN_PROGRESS_STATUSES
        ).order_by("created_at", "id")
    )


def _stale(replies: list[Message], *, now: dt.datetime) -> list[Message]:
    too_old = now - dt.timedelta(seconds=settings.LIVE_REPLY_MAX_SECONDS)
    young = [reply for reply in replies if reply.created_at >= too_old]
    dead = {pk for pk, state in liveness_many(reply.pk for reply in young).items() if state == DEAD}
    return [reply for reply in replies if reply.created_at < too_old or reply.pk in dead]


def _close_failed(replies: list[Message]) -> list[Message]:
    closed: list[Message] = []
    for reply in replies:
        with transaction.atomic():
            # Keep whatever text the database has: the batched saves put it there.
            changed = Message.objects.filter(pk=reply.pk, status__in=IN_PROGRESS_STATUSES).update(
                status=Message.Status.FAILED
            )
        if changed:
            reply.status = Message.Status.FAILED
            closed.append(reply)
            logger.warning("closed stale reply %s of conversation %s", reply.pk, reply.conversation_id)
    return closed


def close_stale(replies: list[Message]) -> list[Message]:
    """Close as ``failed`` those of ``replies`` (pending or streaming, as read) that are stale.

    Returns:
        The replies this call closed.
    """
    return _close_failed(_stale(replies, now=timezone.now()))


def close_stale_replies(*, conversation_id: uuid.UUID | None = None) -> list[Message]:
    """Close as ``failed``, keeping their saved text, the replies nobody is writing any more.

    Args:
        conversation_id: only this conversation's replies (a door reading it), or ``None``
            for every conversation (the periodic sweep; it reads only replies older than
            ``3 x LIVE_HEARTBEAT_SECONDS``, since younger ones cannot have missed three beats).

    Returns:
        The replies this call closed (their ``status`` is now ``failed``); announce them
        with ``events.publish_closed``.
    """
    now = timezone.now()
    if conversation_id is not None:
        replies = replies_in_progress(conversation_id=conversation_id)
    else:
        replies = list(
            Message.objects.filter(
                status__in=IN_PROGRESS_STATUSES,
                created_at__lt=now - dt.timedelta(seconds=dead_after_seconds()),
            ).order_by("created_at", "id")
        )
    if not replies:
        return []
    return _close_failed(_stale(replies, now=now))
