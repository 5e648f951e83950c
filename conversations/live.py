"""Live replies: generation that runs on the server, streamed to every open socket.

Issue "Live replies over Channels" (FR-004, FR-006, FR-007, FR-008, SC-004).

How it fits together (docs/live.md has the protocol):

* ``start_generation`` runs a reply as an asyncio task of the worker process,
  tied to no socket or request: closing a tab, refreshing or switching
  conversation does not stop it. Each text delta is published at once to the
  conversation's group (``conversation_group``) with a sequence number; the text is
  saved in batches (every ``SAVE_INTERVAL_SECONDS`` or ``SAVE_CHARS`` characters)
  with ``services.reply_save_partial`` and finally with ``services.reply_finish``.
* The running task listens on its own channel, added to the reply's group
  (``reply_group``). Any worker process can reach it there through the channel
  layer (Redis when ``REDIS_URL`` is set): ``request_stop`` ends the generation and
  keeps the partial text as ``stopped``; ``request_sync`` asks for the exact state
  (sequence number, saved length and the unsaved tail) so a socket that connects
  mid-reply gets the text so far and then the deltas after it, each once.
* While it runs, the task proves it is alive every ``LIVE_HEARTBEAT_SECONDS``: it
  writes the time into a key of Django's cache (Redis when ``REDIS_URL`` is set,
  shared by every worker). ``close_stale_replies`` closes as failed, keeping their
  text, the replies whose process died (a beat older than three intervals), and any
  reply still open after ``LIVE_REPLY_MAX_SECONDS`` (this age rule also covers a
  reply the REST endpoint was writing, which has no heartbeat).
* ``Subscription`` is one socket's view of a conversation: it joins the group and
  does the snapshot handshake; ``consumers.ChatConsumer`` stays a thin door.

Payloads on the layer stay small: ids, sequence numbers and deltas, the user's new
message (at most 4000 characters) and at most one batch of unsaved text; never a
whole conversation.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import Q

from conversations import selectors, services
from conversations.assistant import AssistantBusy, AssistantError, AssistantTimeout, ToolCall, get_assistant
from conversations.events import (
    BUSY_DETAIL,
    BUSY_ERROR,
    DELETED_DETAIL,
    DELETED_ERROR,
    FAILED_DETAIL,
    FAILED_ERROR,
    INTERRUPTED_DETAIL,
    LAYER_DOWN,
    TIMEOUT_DETAIL,
    TIMEOUT_ERROR,
    conversation_group,
    finished_event,
    message_created_event,
    message_payload,
    publish,
    publish_closed,
    reply_group,
    snapshot_event,
    started_event,
    tool_call_event,
)
from conversations.events import layer as _layer
from conversations.liveness import (
    ALIVE,
    close_stale_replies,
    heartbeat_ttl,
    liveness_of,
    replies_in_progress,
)
from conversations.liveness import live_beat_key as _heartbeat_key
from conversations.models import IN_PROGRESS_STATUSES, Message
from conversations.services import ReplyInProgress

__all__ = [
    "FAILED_DETAIL",
    "FAILED_ERROR",
    "LAYER_DOWN",
    "ReplyInProgress",
    "ReplyNotFound",
    "Subscription",
    "close_stale_replies",
    "conversation_group",
    "fail_unstarted",
    "finished_event",
    "message_created_event",
    "message_payload",
    "publish",
    "publish_closed",
    "replies_in_progress",
    "request_stop",
    "snapshot_event",
    "start_generation",
    "started_event",
]

logger = logging.getLogger(__name__)

# Batched saves: at most one write per half second, or sooner once this much
# unsaved text has arrived (issue: "saved as it arrives, not one write per token").
SAVE_INTERVAL_SECONDS = 0.5
SAVE_CHARS = 200
# A socket that asked a running generation for its state falls back to the
# database after this long (the process may be gone).
SYNC_TIMEOUT_SECONDS = 3.0
# The control listener's pause between attempts while the channel layer is unreachable.
LISTEN_RETRY_SECONDS = (0.2, 2.0)


class ReplyNotFound(Exception):
    """No reply with this id belongs to this user's conversation."""


# --- Reads and writes used by the live door ----------------------------------------


def reply_get_for_user(*, user_id: str, reply_id: object, conversation_id: uuid.UUID | None = None) -> Message:
    """The assistant reply ``reply_id`` if ``user_id`` owns it (and it is in ``conversation_id`` when given).

    Raises:
        ReplyNotFound: malformed id, no such reply, or another user's.
    """
    pk = selectors.parse_uuid(reply_id)
    filters = Q(pk=pk, user_id=user_id, role=Message.Role.ASSISTANT)
    if conversation_id is not None:
        filters &= Q(conversation_id=conversation_id)
    reply = Message.objects.filter(filters).first() if pk else None
    if reply is None:
        raise ReplyNotFound
    return reply


def _reply_refresh(reply_id: uuid.UUID) -> Message | None:
    return Message.objects.filter(pk=reply_id).first()


def _stop_in_database(reply_id: uuid.UUID) -> Message | None:
    """Mark ``stopped`` a reply no live generation is writing, keeping its saved text.

    A writer that is still running (the REST endpoint's) sees ``reply_save_partial``
    return ``False`` at its next save and stops.
    """
    with transaction.atomic():
        changed = Message.objects.filter(pk=reply_id, status__in=IN_PROGRESS_STATUSES).update(
            status=Message.Status.STOPPED
        )
    return _reply_refresh(reply_id) if changed else None


# --- Stop and sync, from any worker process ---------------------------------------


async def request_stop(*, user_id: str, reply_id: object, conversation_id: uuid.UUID | None = None) -> None:
    """Ask the generation of ``reply_id`` to stop, whichever worker process runs it.

    A live generation gets the stop through the channel layer (its process may be
    another worker): it keeps all the text so far, marks the reply ``stopped`` and
    publishes ``reply.finished``. A reply no live generation is writing (its process
    died, or the REST endpoint is writing it) is marked ``stopped`` here, keeping
    its saved text. Stopping a finished reply does nothing.

    Raises:
        ReplyNotFound: not one of the user's replies (or not in ``conversation_id``).
    """
    reply = await database_sync_to_async(reply_get_for_user)(
        user_id=user_id, reply_id=reply_id, conversation_id=conversation_id
    )
    if reply.is_finished:
        return
    if liveness_of(await cache.aget(_heartbeat_key(reply.pk))) != ALIVE:
        stopped = await database_sync_to_async(_stop_in_database)(reply.pk)
        if stopped is not None:
            await publish(stopped.conversation_id, finished_event(stopped, seq=0))
        return
    await _layer().group_send(reply_group(reply.pk), {"type": "reply.stop"})


async def request_sync(*, reply_id: uuid.UUID | str, reply_to: str) -> None:
    """Ask the generation of ``reply_id`` to send its state to the channel ``reply_to``.

    The answer is a ``reply.state`` message: ``{"reply_id", "seq", "saved_length", "tail"}``
    where the text up to delta ``seq`` is the first ``saved_length`` characters in the
    database followed by ``tail`` (the text not saved yet).
    """
    await _layer().group_send(reply_group(reply_id), {"type": "reply.sync", "reply_to": reply_to})


# --- The generation -------------------------------------------------------------

# Strong references: asyncio keeps only weak ones to running tasks.
_running: dict[uuid.UUID, asyncio.Task[None]] = {}


class _Generation:
    """One reply being written: the model's stream, batched saves, events, stop and sync."""

    def __init__(self, start: services.ChatStart) -> None:
        self.start = start
        self.reply = start.reply
        self.conversation_id = start.conversation.pk
        self.layer = _layer()
        self.parts: list[str] = []
        self.length = 0  # characters published
        self.saved_length = 0  # characters known to be in the database
        self.seq = 0  # deltas published
        self.in_flight: asyncio.Future[None] | None = None  # the delta being published
        self.control_channel = ""
        self.interrupted = asyncio.Event()
        self.interrupt_reason = ""  # "stopped" or "closed" (finished elsewhere)
        self.save_wanted = asyncio.Event()

    @property
    def text(self) -> str:
        return "".join(self.parts)

    async def prepare(self, *, client_id: str | None) -> None:
        """Announce the user's message, listen for stop and sync, then announce the reply.

        Nothing touches the database here: the reply is marked streaming by the first
        save, while the model is already being asked (time to first token).
        """
        await publish(self.conversation_id, message_created_event(self.start.user_message, client_id=client_id))
        try:
            self.control_channel = await self.layer.new_channel()
            await self.layer.group_add(reply_group(self.reply.pk), self.control_channel)
        except LAYER_DOWN as exc:
            # No stop or sync from other processes this time; the reply is still written.
            logger.warning("reply %s runs without its control channel: %s", self.reply.pk, exc)
            self.control_channel = ""
        # Only once stop and sync can reach this task is it announced as alive.
        try:
            await cache.aset(_heartbeat_key(self.reply.pk), time.time(), timeout=heartbeat_ttl())
        except Exception:
            logger.warning("could not record the heartbeat of reply %s", self.reply.pk, exc_info=True)
        await publish(self.conversation_id, started_event(self.reply, user_message=self.start.user_message))

    async def run(self) -> None:
        # Listening (stop, sync) goes on until the reply is closed; the writers stop first.
        listener = asyncio.create_task(self._control_loop())
        helpers = [listener, asyncio.create_task(self._heartbeat_loop()), asyncio.create_task(self._save_loop())]
        pump = asyncio.create_task(self._pump())
        status: str | None = Message.Status.FAILED
        error, detail = FAILED_ERROR, INTERRUPTED_DETAIL
        try:
            waiter = asyncio.create_task(self.interrupted.wait())
            try:
                done, _ = await asyncio.wait(
                    {pump, waiter}, timeout=settings.LIVE_REPLY_MAX_SECONDS, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                waiter.cancel()
            if pump in done:
                status, error, detail = self._outcome(pump.exception())
            elif self.interrupted.is_set():
                status, error, detail = (
                    (Message.Status.STOPPED, "", "") if self.interrupt_reason == "stopped" else (None, "", "")
                )
            else:
                error, detail = TIMEOUT_ERROR, TIMEOUT_DETAIL
        except asyncio.CancelledError:
            # The worker is shutting down: close the reply (text kept) rather than
            # leave it streaming, then let the cancellation through.
            await self._end(pump, helpers, status, error, detail)
            raise
        await self._end(pump, helpers, status, error, detail)

    def _outcome(self, exc: BaseException | None) -> tuple[str | None, str, str]:
        if exc is None:
            if self.text.strip():
                return Message.Status.COMPLETE, "", ""
            return Message.Status.FAILED, FAILED_ERROR, FAILED_DETAIL
        if isinstance(exc, AssistantTimeout):
            return Message.Status.FAILED, TIMEOUT_ERROR, TIMEOUT_DETAIL
        if isinstance(exc, AssistantBusy):
            return Message.Status.FAILED, BUSY_ERROR, BUSY_DETAIL
        if isinstance(exc, AssistantError):
            return Message.Status.FAILED, FAILED_ERROR, FAILED_DETAIL
        logger.error("live reply %s failed", self.reply.pk, exc_info=exc)
        return Message.Status.FAILED, FAILED_ERROR, FAILED_DETAIL

    async def _pump(self) -> None:
        stream = get_assistant().stream(
            self.start.history, toolbox=services.toolbox_for(self.start), options=services.options_for(self.start)
        )
        try:
            async for delta in stream:
                if not isinstance(delta, str):
                    await self._tool_call(delta)
                    continue
                if not delta:
                    continue
                # A stop may cancel the wait for the model, never a publish half
                # done: every delta a socket saw is in the saved text, and no other.
                self.in_flight = asyncio.ensure_future(self._publish(delta))
                await asyncio.shield(self.in_flight)
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()

    async def _publish(self, delta: str) -> None:
        # Published at once, before any save: time to first token is the model's own.
        # Best effort (``publish``): with the layer down the text is still kept and saved.
        await publish(
            self.conversation_id,
            {
                "type": "reply.delta",
                "conversation_id": str(self.conversation_id),
                "reply_id": str(self.reply.pk),
                "seq": self.seq + 1,
                "delta": delta,
            },
        )
        # Counted only once it is on the layer, so the state given to a joining
        # socket (``reply.state``) never includes a delta that may reach it later.
        self.parts.append(delta)
        self.length += len(delta)
        self.seq += 1
        if self.length - self.saved_length >= SAVE_CHARS:
            self.save_wanted.set()

    async def _tool_call(self, call: ToolCall) -> None:
        # The tool acted and its call is on record with the reply already (in the tool's own
        # transaction: services.reply_record_tool_call); the sockets see it now.
        await publish(self.conversation_id, tool_call_event(self.reply, call))

    async def _save_loop(self) -> None:
        first = True  # the first save, at once, marks the reply streaming
        while True:
            if not first:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.save_wanted.wait(), timeout=SAVE_INTERVAL_SECONDS)
                self.save_wanted.clear()
                if self.length == self.saved_length:
                    continue
            first = False
            length, text = self.length, self.text
            try:
                saved = await database_sync_to_async(services.reply_save_partial)(reply=self.reply, content=text)
            except (OperationalError, InterfaceError):
                # The database blinked: try again at the next interval; the final save keeps it all.
                logger.warning("could not save the partial text of reply %s", self.reply.pk, exc_info=True)
                first = False
                continue
            if saved:
                self.saved_length = length
            else:
                # Finished elsewhere (closed as stale, or stopped after this process
                # was presumed dead): stop writing.
                self._interrupt("closed")
                return

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(settings.LIVE_HEARTBEAT_SECONDS)
            try:
                await cache.aset(_heartbeat_key(self.reply.pk), time.time(), timeout=heartbeat_ttl())
            except Exception:
                logger.warning("could not record the heartbeat of reply %s", self.reply.pk, exc_info=True)

    async def _control_loop(self) -> None:
        pause = LISTEN_RETRY_SECONDS[0]
        while self.control_channel:
            try:
                message = await self.layer.receive(self.control_channel)
            except LAYER_DOWN as exc:
                # A Redis blip: keep listening once it is back (issue 12), rejoining the
                # reply's group, which a restarted Redis has forgotten.
                logger.warning(
                    "reply %s: stop and sync unreachable, listening again in %.1f s: %s", self.reply.pk, pause, exc
                )
                await asyncio.sleep(pause)
                pause = min(pause * 2, LISTEN_RETRY_SECONDS[1])
                with contextlib.suppress(*LAYER_DOWN):
                    await self.layer.group_add(reply_group(self.reply.pk), self.control_channel)
                continue
            pause = LISTEN_RETRY_SECONDS[0]
            kind = message.get("type")
            if kind == "reply.stop":
                self._interrupt("stopped")
            elif kind == "reply.sync" and isinstance(message.get("reply_to"), str):
                saved = self.saved_length
                await self.layer.send(
                    message["reply_to"],
                    {
                        "type": "reply.state",
                        "reply_id": str(self.reply.pk),
                        "seq": self.seq,
                        "saved_length": saved,
                        "tail": self.text[saved:],
                    },
                )

    def _interrupt(self, reason: str) -> None:
        if not self.interrupted.is_set():
            self.interrupt_reason = reason
            self.interrupted.set()

    async def _end(
        self, pump: asyncio.Task[None], helpers: list[asyncio.Task[None]], status: str | None, error: str, detail: str
    ) -> None:
        writers = [pump, *helpers[1:]]
        for task in writers:
            task.cancel()
        await asyncio.gather(*writers, return_exceptions=True)
        if self.in_flight is not None:
            await asyncio.gather(self.in_flight, return_exceptions=True)
        try:
            await self._finish(status, error, detail)
        finally:
            await self._leave()
            # Last: cancelling a wait on the Redis layer can take its poll interval (5 s).
            helpers[0].cancel()
            await asyncio.gather(helpers[0], return_exceptions=True)

    async def _finish(self, status: str | None, error: str, detail: str) -> None:
        closed = False
        if status is not None:
            text = self.text
            closed = await services.retry_while_database_down(
                lambda: database_sync_to_async(services.reply_finish)(reply=self.reply, content=text, status=status)
            )
        if not closed:
            # Someone else closed it (stale rule, stop of a presumed-dead process):
            # report what the database holds.
            current = await database_sync_to_async(_reply_refresh)(self.reply.pk)
            if current is None:
                # The conversation was deleted meanwhile: tell its sockets the reply is over.
                self.reply.status = Message.Status.FAILED
                event = finished_event(self.reply, seq=self.seq, error=DELETED_ERROR, detail=DELETED_DETAIL)
                await publish(self.conversation_id, event)
                return
            self.reply = current
            error = detail = ""
        await publish(self.conversation_id, finished_event(self.reply, seq=self.seq, error=error, detail=detail))
        if closed:
            services.title_later(self.start, self.reply)  # a first reply: a title, in a task of its own (issue 14)

    async def _leave(self) -> None:
        with contextlib.suppress(Exception):
            await self.layer.group_discard(reply_group(self.reply.pk), self.control_channel)
        # The heartbeat is not deleted (it expires by itself, as the HTTP writer's): a reply
        # whose last save gave up (the database down longer than FINAL_SAVE_RETRY_SECONDS)
        # is still open, and its beat, no longer written, must go stale so that the sweep
        # closes it once the database is back. Deleted, it read as "unknown" and the reply
        # stayed open, refusing sends, for LIVE_REPLY_MAX_SECONDS (issue 12).


async def start_generation(start: services.ChatStart, *, client_id: str | None = None) -> asyncio.Task[None]:
    """Write the reply of ``start`` in the background of this worker process.

    Publishes, in order, to the conversation's group: ``message.created`` (the user's
    message, with ``client_id`` so the sending tab recognises it), ``reply.started``,
    ``reply.delta`` (``seq`` 1, 2, ...), ``reply.finished``. Must run in the worker's
    event loop (a consumer, an async view): the task outlives the request or socket.

    Args:
        start: what ``services.chat_begin`` saved (its reply is pending).
        client_id: the sending client's id for its message, echoed back (optional).

    Returns:
        The running task.
    """
    generation = _Generation(start)
    await generation.prepare(client_id=client_id)
    # In a context of its own: started by a view (the page's Regenerate and Edit, issue 14), the
    # task must not inherit the request's ThreadSensitiveContext, whose executor ends with the
    # response (its database calls would then fail with "ThreadSensitiveContext has exited").
    task = asyncio.create_task(generation.run(), name=f"live-reply-{start.reply.pk}", context=contextvars.Context())
    _running[start.reply.pk] = task
    task.add_done_callback(_generation_done)
    return task


def _generation_done(task: asyncio.Task[None]) -> None:
    for pk, running in list(_running.items()):
        if running is task:
            del _running[pk]
    if not task.cancelled() and (exc := task.exception()) is not None:
        # E.g. the last save gave up (the database down past FINAL_SAVE_RETRY_SECONDS): the
        # reply stays open and the sweep closes it once the database is back (liveness).
        logger.warning("live reply task %s ended with %r", task.get_name(), exc)


async def fail_unstarted(start: services.ChatStart) -> None:
    """Close ``start``'s reply as ``failed`` at once: its generation could not be started (the
    channel layer down at that moment). It never stays pending (issue 12). Announced best effort."""
    closed = await services.retry_while_database_down(
        lambda: database_sync_to_async(services.reply_fail_unstarted)(reply=start.reply)
    )
    if closed:
        await publish(start.conversation.pk, finished_event(start.reply, seq=0))


def running_generations() -> list[asyncio.Task[None]]:
    """The generations this process is running (tests, shutdown)."""
    return list(_running.values())


async def stop_all(timeout: float = 10.0) -> None:
    """Cancel this process's generations and wait for them to close their replies (failed, text kept)."""
    tasks = running_generations()
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=timeout)


# --- One socket's view of a conversation ---------------------------------------

Send = Callable[[dict[str, Any]], Awaitable[None]]


class Subscription:
    """What one socket sees: its conversation's events, and a snapshot of any reply in progress.

    The snapshot handshake, so a socket that connects (or reconnects) mid-reply shows
    the text so far and then every later delta exactly once:

    1. join the conversation's group, so every later delta reaches this socket;
    2. ask the generation for its state (``request_sync``), holding back that reply's
       deltas meanwhile;
    3. on ``reply.state``: send ``reply.snapshot`` (saved text + unsaved tail, ``seq``),
       then the held deltas with a larger ``seq``. If nothing answers within
       ``SYNC_TIMEOUT_SECONDS``, the database's text is sent (stale replies are
       closed first).
    """

    def __init__(self, *, user_id: str, channel_name: str, send: Send) -> None:
        self.user_id = user_id
        self.channel_name = channel_name
        self.send = send
        self.conversation_id: uuid.UUID | None = None
        self._held: dict[str, list[dict[str, Any]]] = {}
        self._timers: set[asyncio.Task[None]] = set()

    async def join(self, conversation_id: uuid.UUID) -> None:
        """Follow ``conversation_id`` (already owner-checked)."""
        self.conversation_id = conversation_id
        await _layer().group_add(conversation_group(conversation_id), self.channel_name)

    async def leave(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        if self.conversation_id is not None:
            try:
                await _layer().group_discard(conversation_group(self.conversation_id), self.channel_name)
            except LAYER_DOWN:
                # Redis is gone: the group membership expires with it (channels_redis group_expiry).
                logger.warning("could not leave %s: channel layer unreachable", self.conversation_id)

    async def sync(self) -> list[str]:
        """Close stale replies, then start the snapshot handshake for each reply in progress.

        Returns:
            The ids of the replies in progress.
        """
        if self.conversation_id is None:
            return []
        await self.close_stale()
        replies = await database_sync_to_async(replies_in_progress)(conversation_id=self.conversation_id)
        for reply in replies:
            reply_id = str(reply.pk)
            if reply_id in self._held:
                continue
            self._held[reply_id] = []
            await request_sync(reply_id=reply.pk, reply_to=self.channel_name)
            timer = asyncio.create_task(self._timeout_later(reply_id))
            self._timers.add(timer)
            timer.add_done_callback(self._timers.discard)
        return [str(reply.pk) for reply in replies]

    async def close_stale(self) -> None:
        """Close the conversation's stale replies (``close_stale_replies``) and tell every socket."""
        if self.conversation_id is None:
            return
        await publish_closed(await database_sync_to_async(close_stale_replies)(conversation_id=self.conversation_id))

    async def _timeout_later(self, reply_id: str) -> None:
        await asyncio.sleep(SYNC_TIMEOUT_SECONDS)
        await _layer().send(self.channel_name, {"type": "reply.sync_timeout", "reply_id": reply_id})

    async def on_event(self, event: dict[str, Any]) -> None:
        """A conversation event from the group: relay it, or hold it during a handshake."""
        reply_id = event.get("reply_id")
        if event["type"] == "reply.delta" and reply_id in self._held:
            self._held[reply_id].append(event)
            return
        if event["type"] == "reply.finished" and reply_id in self._held:
            # Finished before the state arrived: the database has the final text.
            del self._held[reply_id]
            reply = await database_sync_to_async(_reply_refresh)(uuid.UUID(reply_id))
            if reply is not None:
                await self.send(snapshot_event(reply, seq=event["seq"]))
        await self.send(event)

    async def on_state(self, state: dict[str, Any]) -> None:
        """The generation's answer to ``request_sync``: send the snapshot, then the held deltas."""
        reply_id = state.get("reply_id")
        held = self._held.pop(reply_id, None) if isinstance(reply_id, str) else None
        if held is None:
            return  # answered late, or for a reply this socket does not follow
        reply = await database_sync_to_async(_reply_refresh)(uuid.UUID(reply_id))
        if reply is None:
            return
        seq = int(state["seq"])
        content = reply.content[: int(state["saved_length"])] + str(state["tail"])
        # As of delta ``seq`` the reply was streaming; ``reply.finished`` follows if it ended since.
        reply.status = Message.Status.STREAMING
        await self.send(snapshot_event(reply, content=content, seq=seq))
        for event in held:
            if event["seq"] > seq:
                await self.send(event)

    async def on_sync_timeout(self, reply_id: str) -> None:
        """No answer from the generation: close it if stale, else show the database's text."""
        held = self._held.pop(reply_id, None)
        if held is None or self.conversation_id is None:
            return
        await self.close_stale()
        reply = await database_sync_to_async(_reply_refresh)(uuid.UUID(reply_id))
        if reply is None:
            return
        if reply.status == Message.Status.PENDING and not reply.content:
            # Not started yet: its deltas will count from 1, and any that came are held.
            await self.send(snapshot_event(reply, seq=0))
            for event in held:
                await self.send(event)
            return
        # The position of the saved text is unknown; later deltas follow it.
        await self.send(snapshot_event(reply, seq=None))
