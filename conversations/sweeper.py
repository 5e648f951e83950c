"""Each worker's sweep: closes the replies nobody is writing, forgets expired idempotency keys.

Issue 12 ("No stuck replies"): a reply whose worker died (kill -9) must be closed as
``failed``, keeping its text, within 30 seconds, whether or not anyone reads its
conversation. Every ``LIVE_SWEEP_SECONDS`` each worker process runs the one stale rule
(``liveness.close_stale_replies``) over every conversation and announces what it closed
(``reply.finished``, so open pages show Retry); with the default 5 s heartbeat a dead
writer is found 15 to 20 s after its last beat. Several workers sweeping at once is
harmless: a reply is closed by one conditional UPDATE, and only the worker whose UPDATE
changed it announces it. Every ``KEY_EXPIRY_EVERY_SECONDS`` it also deletes idempotency
keys older than ``IDEMPOTENCY_KEY_SECONDS``.

Started with the worker's event loop: by the ASGI lifespan (uvicorn) and, for servers
without one (daphne, ``runserver``), by the first connection (``chatsite.asgi``).
"""

from __future__ import annotations

import asyncio
import logging
import time

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection

from conversations import events, idempotency, liveness
from conversations.models import Message

logger = logging.getLogger(__name__)

KEY_EXPIRY_EVERY_SECONDS = 600.0

_tasks: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}
_keys_swept_at = 0.0


def _sweep_database() -> list[Message]:
    global _keys_swept_at
    try:
        closed = liveness.close_stale_replies()
        if time.monotonic() - _keys_swept_at >= KEY_EXPIRY_EVERY_SECONDS:
            _keys_swept_at = time.monotonic()
            idempotency.keys_delete_expired()
        return closed
    finally:
        # Hold no connection between sweeps (given back to the pool with DATABASE_POOL=1).
        if not connection.in_atomic_block:
            connection.close()


async def sweep_once() -> list[Message]:
    """Close every stale reply now and announce each with ``reply.finished``. Returns those closed."""
    closed = await sync_to_async(_sweep_database, thread_sensitive=False)()
    await events.publish_closed(closed)
    return closed


async def _sweep_forever() -> None:
    while True:
        await asyncio.sleep(settings.LIVE_SWEEP_SECONDS)
        try:
            await sweep_once()
        except asyncio.CancelledError:
            raise
        except Exception:
            # The database or Redis is down: the next sweep tries again.
            logger.warning(
                "the stale-reply sweep failed; trying again in %s s", settings.LIVE_SWEEP_SECONDS, exc_info=True
            )


def start() -> None:
    """Start this event loop's sweep, once (idempotent); nothing when ``LIVE_SWEEP_SECONDS`` is 0.

    Must be called from a running loop.
    """
    if not settings.LIVE_SWEEP_SECONDS:
        return  # turned off (LIVE_SWEEP_SECONDS=0)
    loop = asyncio.get_running_loop()
    task = _tasks.get(loop)
    if task is not None and not task.done():
        return
    _tasks[loop] = loop.create_task(_sweep_forever(), name="stale-reply-sweep")


async def stop() -> None:
    """Stop this event loop's sweep (shutdown)."""
    task = _tasks.pop(asyncio.get_running_loop(), None)
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
