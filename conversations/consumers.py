"""The WebSocket door (issue "Live replies"): thin; the rules live in ``live`` and ``services``.

Protocol (docs/live.md): the server sends ``ready``, ``conversation.created``,
``message.created``, ``reply.started``, ``reply.delta``, ``reply.snapshot``,
``reply.finished`` and ``error``; the client sends ``send``, ``stop``, ``retry``
and ``sync``. Every error is ``{"type": "error", "error", "detail"}`` (contract:
Errors; FR-014). A refused socket is accepted, told why, then closed with a code:
4401 not signed in or bad token (FR-012), 4404 not one of the user's
conversations (FR-011, SC-006: same answer as a missing one).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.core.exceptions import ValidationError

from conversations import live, selectors, services
from conversations.auth import user_id_of

logger = logging.getLogger(__name__)

CLOSE_UNAUTHORIZED = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_UNAVAILABLE = 1011
LIVE_UNAVAILABLE = "Live updates are unavailable right now; messages are still sent and saved."
CLIENT_ID_MAX_CHARS = 100


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
        except ValueError:
            await self.send_json(_error("Validation error", "Messages on this socket must be JSON objects."))
            return
        if not isinstance(content, dict):
            await self.send_json(_error("Validation error", "Messages on this socket must be JSON objects."))
            return
        await self.receive_json(content)

    async def receive_json(self, content: dict[str, Any], **kwargs: Any) -> None:
        action = content.get("type")
        if action == "send":
            await self._send_message(content)
        elif action == "stop":
            await self._stop(content)
        elif action == "retry":
            await self._retry()
        elif action == "sync":
            await self.subscription.sync()  # type: ignore[union-attr]
        else:
            await self.send_json(_error("Validation error", "Unknown action: use send, stop, retry or sync."))

    async def _send_message(self, content: dict[str, Any]) -> None:
        client_id = content.get("client_id")
        client_id = str(client_id)[:CLIENT_ID_MAX_CHARS] if client_id is not None else None
        text = content.get("message")
        subscription = self.subscription
        assert subscription is not None
        try:
            if not isinstance(text, str):
                raise ValidationError("Message content cannot be empty")
            services.message_text_clean(text)
            start, closed = await database_sync_to_async(live.chat_begin_live)(
                user_id=self.user_id, conversation_id=subscription.conversation_id, text=text
            )
        except ValidationError as exc:
            await self.send_json(_error("Validation error", exc.messages[0], client_id=client_id))
            return
        except selectors.ConversationNotFound:
            await self.send_json(_error("Not found", "Conversation not found", client_id=client_id))
            return
        except live.ReplyInProgress:
            await self.send_json(
                _error(
                    "Reply in progress",
                    "The assistant is still answering. Wait for it or press Stop, then send again.",
                    client_id=client_id,
                )
            )
            return
        for reply in closed:
            await live.publish(reply.conversation_id, live.finished_event(reply, seq=0))
        if subscription.conversation_id is None:
            await subscription.join(start.conversation.pk)
            await self.send_json(
                {
                    "type": "conversation.created",
                    "conversation_id": str(start.conversation.pk),
                    "title": start.conversation.title,
                }
            )
        await live.start_generation(start, client_id=client_id)

    async def _retry(self) -> None:
        """Ask again for the conversation's failed newest reply (FR-014a), streamed like a send.

        ``services.retry_begin`` prepares a new pending reply in place of the failed
        one without saving the user's message again (FR-017); stale replies are
        closed first (and announced) so a reply whose process died can be retried. The events are those of a send:
        ``message.created`` (the existing message, ``client_id`` null),
        ``reply.started`` ... ``reply.finished``.
        """
        subscription = self.subscription
        assert subscription is not None
        if subscription.conversation_id is None:
            await self.send_json(_error("Not found", "Conversation not found"))
            return
        await subscription.close_stale()
        try:
            start = await database_sync_to_async(services.retry_begin)(
                user_id=self.user_id, conversation_id=subscription.conversation_id
            )
        except selectors.ConversationNotFound:
            await self.send_json(_error("Not found", "Conversation not found"))
            return
        except services.ReplyInProgress:
            await self.send_json(
                _error(
                    "Reply in progress",
                    "The assistant is still answering. Wait for it or press Stop, then send again.",
                )
            )
            return
        except services.NothingToRetry:
            await self.send_json(
                _error("Nothing to retry", "There is nothing to retry: the reply has already arrived.")
            )
            return
        await live.start_generation(start)

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

    async def reply_finished(self, event: dict[str, Any]) -> None:
        await self.subscription.on_event(event)  # type: ignore[union-attr]

    async def reply_state(self, event: dict[str, Any]) -> None:
        await self.subscription.on_state(event)  # type: ignore[union-attr]

    async def reply_sync_timeout(self, event: dict[str, Any]) -> None:
        await self.subscription.on_sync_timeout(str(event["reply_id"]))  # type: ignore[union-attr]
