"""The WebSocket door (issue "Live replies"): thin; the rules live in ``live`` and ``services``.

Protocol (docs/live.md): the server sends ``ready``, ``conversation.created``,
``message.created``, ``reply.started``, ``reply.delta``, ``reply.snapshot``,
``reply.finished``, ``conversation.title`` and ``error``; the client sends ``send``, ``stop``, ``retry``
and ``sync``. Every error is ``{"type": "error", "error", "detail"}`` (contract:
Errors; FR-014). A refused socket is accepted, told why, then closed with a code:
4401 not signed in, bad token (FR-012) or an account awaiting approval, 4404 not one of the user's
conversations (FR-011, SC-006: same answer as a missing one).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_noop

from accounts import approval
from conversations import events, idempotency, live, selectors, services
from conversations.api.errors import (
    DATABASE_DOWN,
    INTERNAL_DETAIL,
    REPLY_IN_PROGRESS_DETAIL,
    UNAVAILABLE_DETAIL,
    UNAVAILABLE_ERROR,
)
from conversations.auth import user_id_of

logger = logging.getLogger(__name__)

CLOSE_UNAUTHORIZED = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_UNAVAILABLE = 1011
# The protocol's details are English; the page's script shows these translated (conversations/page_text.py).
LIVE_UNAVAILABLE = gettext_noop("Live updates are unavailable right now; messages are still sent and saved.")
CLIENT_ID_MAX_CHARS = 100
CLIENT_ID_INVALID_DETAIL = f"client_id must be 1 to {CLIENT_ID_MAX_CHARS} visible ASCII characters (e.g. a UUID)."
CLIENT_ID_REUSED_DETAIL = gettext_noop(
    "This message id was already used for a different message. Reload the page and send it again."
)
FAILED_TO_START_ERROR = "Assistant unavailable"
FAILED_TO_START_DETAIL = gettext_noop(
    "Your message is saved, but the assistant could not start answering. Press Retry in a moment."
)


def _client_key(client_id: str) -> str:
    """A ``send``'s ``client_id`` as its idempotency key (``idempotency.key_clean``).

    Raises:
        ValidationError: not 1..100 visible ASCII characters, with a sentence naming ``client_id``.
    """
    try:
        return idempotency.key_clean(client_id)
    except ValidationError:
        raise ValidationError(CLIENT_ID_INVALID_DETAIL) from None


def _error(error: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"type": "error", "error": error, "detail": detail, **extra}


class ChatConsumer(AsyncJsonWebsocketConsumer):
    """One chat page (or API client) following one conversation live."""

    subscription: live.Subscription | None = None

    async def connect(self) -> None:
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.send_json(_error("Unauthorized", "Your session has expired. Please sign in again."))
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        if await approval.ais_pending(user_id_of(user)):
            # Refused as a bad token is (issue 16), saying why.
            await self.send_json(_error(approval.PENDING_ERROR, approval.PENDING_DETAIL))
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        self.user_id = user_id_of(user)
        self.subscription = live.Subscription(user_id=self.user_id, channel_name=self.channel_name, send=self.send_json)
        raw_id = self.scope["url_route"]["kwargs"].get("conversation_id")
        if raw_id is not None:
            try:
                conversation = await database_sync_to_async(selectors.conversation_get_for_user)(
                    user_id=self.user_id, conversation_id=raw_id
                )
            except selectors.ConversationNotFound:
                self.subscription = None
                await self.send_json(_error("Not found", "Conversation not found"))
                await self.close(code=CLOSE_NOT_FOUND)
                return
        try:
            if raw_id is not None:
                await self.subscription.join(conversation.pk)
            in_progress = await self.subscription.sync()
        except live.LAYER_DOWN:
            # Redis (the channel layer) is unreachable: no live updates, say so and
            # close; the page goes on with plain requests (static/js/live.js).
            logger.warning("channel layer unreachable: socket refused", exc_info=True)
            self.subscription = None
            await self.send_json(_error("Service unavailable", LIVE_UNAVAILABLE))
            await self.close(code=CLOSE_UNAVAILABLE)
            return
        await self.send_json(
            {
                "type": "ready",
                "conversation_id": str(self.subscription.conversation_id)
                if self.subscription.conversation_id
                else None,
                "replies_in_progress": in_progress,
            }
        )

    async def disconnect(self, code: int) -> None:
        if self.subscription is not None:
            await self.subscription.leave()

    # --- From the client ---------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        if self.subscription is None:
            return
        try:
            content = json.loads(text_data or "")
        except (ValueError, RecursionError):
            # RecursionError: a frame nested thousands deep (issue 12); answered, the socket stays.
            await self.send_json(_error("Validation error", "Messages on this socket must be JSON objects."))
            return
        if not isinstance(content, dict):
            await self.send_json(_error("Validation error", "Messages on this socket must be JSON objects."))
            return
        await self.receive_json(content)

    async def receive_json(self, content: dict[str, Any], **kwargs: Any) -> None:
        """Run one action; a database or channel-layer outage, or a bug, answers an ``error``
        event with a sentence for a person and the socket stays open (issue 12)."""
        action = content.get("type")
        handler = {
            "send": self._send_message,
            "stop": self._stop,
            "retry": self._retry,
            "regenerate": self._regenerate,
            "edit": self._edit,
            "sync": self._resync,
        }.get(action if isinstance(action, str) else "")
        if handler is None:
            await self.send_json(
                _error("Validation error", "Unknown action: use send, stop, retry, regenerate, edit or sync.")
            )
            return
        client_id = content.get("client_id") if action == "send" else None
        extra = {"client_id": client_id} if isinstance(client_id, str) else {}
        try:
            await handler(content)
        except DATABASE_DOWN:
            logger.warning("socket action %s: database unreachable", action, exc_info=True)
            await self.send_json(_error(UNAVAILABLE_ERROR, UNAVAILABLE_DETAIL, **extra))
        except live.LAYER_DOWN:
            logger.warning("socket action %s: channel layer unreachable", action, exc_info=True)
            await self.send_json(_error(UNAVAILABLE_ERROR, LIVE_UNAVAILABLE, **extra))
        except Exception:
            logger.exception("socket action %s failed", action)
            await self.send_json(_error("Internal server error", INTERNAL_DETAIL, **extra))

    async def _resync(self, content: dict[str, Any]) -> None:
        await self.subscription.sync()  # type: ignore[union-attr]

    async def _send_message(self, content: dict[str, Any]) -> None:
        """``send``: save the message and start its reply; ``client_id`` is its idempotency key.

        A ``client_id`` sent before (a reconnect, a second click) saves nothing new: the
        first send's events are replayed to this socket (``_replay``). The same
        ``client_id`` with another text is refused (issue 12, "Exactly once").
        """
        raw_client_id = content.get("client_id")
        client_id = str(raw_client_id)[:CLIENT_ID_MAX_CHARS] if raw_client_id is not None else None
        text = content.get("message")
        subscription = self.subscription
        assert subscription is not None
        try:
            if not isinstance(text, str):
                raise ValidationError("Message content cannot be empty")
            services.message_text_clean(text)
            key = (
                idempotency.idempotency_for(
                    key=_client_key(client_id),
                    operation=idempotency.CHAT,
                    conversation_id=subscription.conversation_id,
                    text=text,
                )
                if client_id is not None
                else None
            )
            start = await database_sync_to_async(services.chat_begin)(
                user_id=self.user_id, conversation_id=subscription.conversation_id, text=text, idempotency=key
            )
        except ValidationError as exc:
            await self.send_json(_error("Validation error", exc.messages[0], client_id=client_id))
            return
        except selectors.ConversationNotFound:
            await self.send_json(_error("Not found", "Conversation not found", client_id=client_id))
            return
        except services.ReplyInProgress:
            await self.send_json(_error("Reply in progress", REPLY_IN_PROGRESS_DETAIL, client_id=client_id))
            return
        except idempotency.IdempotencyKeyReused:
            await self.send_json(_error("Validation error", CLIENT_ID_REUSED_DETAIL, client_id=client_id))
            return
        await live.publish_closed(list(start.closed))
        if start.replayed:
            await self._replay(start, client_id=client_id)
            return
        await self._start(start, client_id=client_id)

    async def _follow(self, start: services.ChatStart) -> bool:
        """Join ``start``'s conversation if this socket follows none yet (a send on ``/ws/chat``).

        Returns:
            Whether it was joined now (then ``_announce_created`` tells this socket).
        """
        subscription = self.subscription
        assert subscription is not None
        if subscription.conversation_id is not None:
            return False
        await subscription.join(start.conversation.pk)
        return True

    async def _announce_created(self, start: services.ChatStart) -> None:
        await self.send_json(
            {
                "type": "conversation.created",
                "conversation_id": str(start.conversation.pk),
                "title": start.conversation.title,
            }
        )

    async def _start(self, start: services.ChatStart, *, client_id: str | None) -> None:
        """Follow the conversation and start the generation; if that fails part-way (the channel
        layer down at that moment), close the new reply as failed at once, never leaving it pending.

        This socket is told about a new conversation only once the generation runs: a socket
        closed right after its send (the page went away) must not fail the reply, which is
        written all the same and replayed to a repeat of the send (issue 12). The events of
        the generation reach this socket through the layer, after this handler returns, so
        ``conversation.created`` still comes first.
        """
        joined = False
        try:
            joined = await self._follow(start)
            await live.start_generation(start, client_id=client_id)
        except BaseException as exc:
            await asyncio.shield(live.fail_unstarted(start))
            if isinstance(exc, Exception):
                logger.warning("reply %s could not be started", start.reply.pk, exc_info=True)
                failed = live.finished_event(start.reply, seq=0)
                with contextlib.suppress(Exception):
                    if joined:
                        await self._announce_created(start)
                    await self.send_json(failed)
                    await self.send_json(_error(FAILED_TO_START_ERROR, FAILED_TO_START_DETAIL, client_id=client_id))
                return
            raise
        if joined:
            await self._announce_created(start)

    async def _replay(self, start: services.ChatStart, *, client_id: str | None) -> None:
        """A ``send`` repeated with its ``client_id``: show this socket what the first one did.

        ``message.created`` (with the ``client_id``) and ``reply.started``; then, for a reply
        still being written, the snapshot handshake (text so far, then the live deltas), and
        for a finished one its ``reply.finished``. Nothing is saved.
        """
        if await self._follow(start):
            await self._announce_created(start)
        reply = start.reply
        await self.send_json(live.message_created_event(start.user_message, client_id=client_id))
        await self.send_json(live.started_event(reply, user_message=start.user_message))
        if reply.is_finished:
            await self.send_json(live.snapshot_event(reply, seq=None))
            await self.send_json(live.finished_event(reply, seq=0))
        else:
            await self.subscription.sync()  # type: ignore[union-attr]

    async def _retry(self, content: dict[str, Any]) -> None:
        """Ask again for the conversation's failed newest reply (FR-014a), streamed like a send.

        ``services.retry_begin`` prepares a new pending reply in place of the failed
        one without saving the user's message again (FR-017); stale replies are
        closed first (and announced) so a reply whose process died can be retried. The events are those of a send:
        ``message.created`` (the existing message, ``client_id`` null),
        ``reply.started`` ... ``reply.finished``.
        """
        await self._begin_turn(services.retry_begin, changes_branch=False)

    async def _regenerate(self, content: dict[str, Any]) -> None:
        """A new version of the conversation's newest reply (issue 14), streamed like a retry.

        ``{"type": "regenerate"}``; the reply shown stays stored as an earlier version. Events:
        ``message.created`` (the message it answers, ``client_id`` null), ``reply.started`` ...
        ``reply.finished``; the new reply's ``version`` is in the page's next read.
        """
        await self._begin_turn(services.regenerate_begin)

    async def _edit(self, content: dict[str, Any]) -> None:
        """``{"type": "edit", "message_id", "message"}``: a new version of one of the person's
        messages and its reply (issue 14), streamed like a send; ``message.created`` carries the
        new version (a new id), whose branch is now the one shown."""
        text = content.get("message")
        try:
            if not isinstance(text, str):
                raise ValidationError("Message content cannot be empty")
            text = services.message_text_clean(text)
        except ValidationError as exc:
            await self.send_json(_error("Validation error", exc.messages[0]))
            return
        await self._begin_turn(services.edit_begin, message_id=content.get("message_id"), text=text)

    async def _begin_turn(self, begin: Any, *, changes_branch: bool = True, **kwargs: Any) -> None:
        """Save what ``begin`` saves for the followed conversation and stream its reply; refusals as
        events. ``changes_branch``: tell the conversation's other pages (``conversation.branch``)."""
        subscription = self.subscription
        assert subscription is not None
        if subscription.conversation_id is None:
            await self.send_json(_error("Not found", "Conversation not found"))
            return
        try:
            start = await database_sync_to_async(begin)(
                user_id=self.user_id, conversation_id=subscription.conversation_id, **kwargs
            )
        except selectors.ConversationNotFound:
            await self.send_json(_error("Not found", "Conversation not found"))
            return
        except services.MessageMissing:
            await self.send_json(_error("Not found", "Message not found"))
            return
        except services.NotEditable:
            await self.send_json(_error("Validation error", "Only your own messages can be edited."))
            return
        except services.ReplyInProgress:
            await self.send_json(_error("Reply in progress", REPLY_IN_PROGRESS_DETAIL))
            return
        except services.NothingToRegenerate:
            await self.send_json(
                _error("Nothing to regenerate", "The conversation does not end with a finished reply.")
            )
            return
        except services.NothingToRetry:
            await self.send_json(
                _error("Nothing to retry", "There is nothing to retry: the reply has already arrived.")
            )
            return
        await live.publish_closed(list(start.closed))
        if changes_branch:
            await events.publish_branch(start.conversation.pk)  # other pages show the new branch
        await self._start(start, client_id=None)

    async def _stop(self, content: dict[str, Any]) -> None:
        conversation_id = self.subscription.conversation_id if self.subscription else None
        try:
            if conversation_id is None:
                raise live.ReplyNotFound
            await live.request_stop(
                user_id=self.user_id, reply_id=content.get("reply_id"), conversation_id=conversation_id
            )
        except live.ReplyNotFound:
            await self.send_json(_error("Not found", "Reply not found"))

    # --- From the channel layer ---------------------------------------------------

    async def message_created(self, event: dict[str, Any]) -> None:
        await self.subscription.on_event(event)  # type: ignore[union-attr]

    async def reply_started(self, event: dict[str, Any]) -> None:
        await self.subscription.on_event(event)  # type: ignore[union-attr]

    async def reply_delta(self, event: dict[str, Any]) -> None:
        await self.subscription.on_event(event)  # type: ignore[union-attr]

    async def reply_tool_call(self, event: dict[str, Any]) -> None:
        await self.subscription.on_event(event)  # type: ignore[union-attr]

    async def reply_finished(self, event: dict[str, Any]) -> None:
        await self.subscription.on_event(event)  # type: ignore[union-attr]

    async def conversation_title(self, event: dict[str, Any]) -> None:
        await self.subscription.on_event(event)  # type: ignore[union-attr]

    async def conversation_branch(self, event: dict[str, Any]) -> None:
        await self.subscription.on_event(event)  # type: ignore[union-attr]

    async def reply_state(self, event: dict[str, Any]) -> None:
        await self.subscription.on_state(event)  # type: ignore[union-attr]

    async def reply_sync_timeout(self, event: dict[str, Any]) -> None:
        await self.subscription.on_sync_timeout(str(event["reply_id"]))  # type: ignore[union-attr]
