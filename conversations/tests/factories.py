"""Plain helpers that put conversations and messages in the database for tests."""

from __future__ import annotations

import datetime as dt
import itertools

from django.utils import timezone

from conversations.models import Conversation, Message


def make_conversation(
    user_id: str, *, title: str = "", messages: int = 0, start: dt.datetime | None = None
) -> Conversation:
    """A conversation of ``user_id`` with ``messages`` alternating user/assistant messages, one second apart."""
    start = start or timezone.now() - dt.timedelta(days=1)
    conversation = Conversation.objects.create(user_id=user_id, title=title, created_at=start, updated_at=start)
    if messages:
        rows = [
            Message(
                conversation=conversation,
                user_id=user_id,
                role=Message.Role.USER if i % 2 == 0 else Message.Role.ASSISTANT,
                content=f"message {i}",
                created_at=start + dt.timedelta(seconds=i),
            )
            for i in range(messages)
        ]
        for parent, child in itertools.pairwise(rows):
            child.parent_id = parent.pk  # one branch, each message after the one before (issue 14)
        Message.objects.bulk_create(rows, batch_size=5000)
        conversation.updated_at = start + dt.timedelta(seconds=messages)
        conversation.save(update_fields=["updated_at"])
    return conversation
