"""Share links (issue 15, "Share"): the rules behind the API's and the page's "Share".

A link (``ShareLink``) shows one conversation, read-only and without signing in, *as it was
when it was shared*: its title then, and its messages up to and including the newest one
shown at that moment. Messages added later never appear. The doors (``api/share_views.py``,
``share_page_views.py``, the public page in ``share_page_views.shared``) only call these.

- **Sharing again replaces the link.** ``share_create`` on a shared conversation makes a new
  token and a new snapshot, as ChatGPT's "Update link" makes a new snapshot; the old URL stops
  working at once (a 404), so a link never starts showing more than it showed when it was handed
  out. ``share_ensure`` (the page's Share button) keeps an existing link instead, so opening the
  dialog again does not break the link people already have.
- **Revoking forgets the token.** ``share_revoke`` deletes the row: the URL is a 404 from then on,
  the same answer as a token that never existed.
- **What is shown**: the user's messages and the finished replies (``complete``, or ``stopped``
  with the text that had arrived). Failed replies, replies still being written and empty ones are
  left out, as they are from the history the assistant is shown (``selectors.history_for_reply``).
  A message deleted afterwards (a reply replaced by Retry, the whole conversation deleted) is
  gone from the link too.
- **Long conversations**: the page shows the newest ``SHARED_MESSAGES_MAX`` messages of the
  snapshot and says that older ones are left out, so one request never loads 100,000 rows.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from conversations.models import SHARE_TOKEN_BYTES, Conversation, Message, ShareLink
from conversations.selectors import _older_than

SHARED_MESSAGES_MAX = 500
# token_urlsafe's alphabet and about its length (43); anything else is not a token and needs no query.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{32,64}")


class ShareNotFound(Exception):
    """No link has this token (unknown or revoked), or the conversation is not shared."""


@dataclass(frozen=True)
class SharedConversation:
    """What the public page shows: nothing of the owner but the conversation's own words.

    ``messages`` are oldest first; ``truncated`` says older messages of the snapshot were left
    out (more than ``SHARED_MESSAGES_MAX``).
    """

    title: str
    shared_at: dt.datetime
    messages: list[Message]
    truncated: bool


def _shown() -> Q:
    """The messages a shared page shows: the user's, and finished replies with text."""
    return (Q(role=Message.Role.USER) | Q(status__in=[Message.Status.COMPLETE, Message.Status.STOPPED])) & ~Q(
        content=""
    )


def _snapshot(conversation: Conversation) -> dict[str, object]:
    """A new token and the boundary of what the link shows: the newest message shown now."""
    newest = (
        Message.objects.filter(conversation=conversation, active=True)
        .filter(_shown())
        .order_by("-created_at", "-id")
        .values_list("created_at", "id")
        .first()
    )
    until_created_at, until_message_id = newest if newest is not None else (None, None)
    return {
        "token": secrets.token_urlsafe(SHARE_TOKEN_BYTES),
        "title": conversation.title,
        "created_at": timezone.now(),
        "until_created_at": until_created_at,
        "until_message_id": until_message_id,
    }


@transaction.atomic
def share_create(*, conversation: Conversation) -> ShareLink:
    """Share ``conversation`` as it is now, replacing its link if it has one.

    Args:
        conversation: an already owner-checked conversation.

    Returns:
        The link, with a new token (``secrets.token_urlsafe(32)``: 256 bits) and a new snapshot;
        a previous token of this conversation no longer finds anything.
    """
    link, _created = ShareLink.objects.update_or_create(conversation=conversation, defaults=_snapshot(conversation))
    return link


def share_ensure(*, conversation: Conversation) -> ShareLink:
    """The conversation's link as it stands, or a new one if it is not shared (the page's Share button).

    Args:
        conversation: an already owner-checked conversation.
    """
    link = ShareLink.objects.filter(conversation=conversation).first()
    if link is not None:
        return link
    link, _created = ShareLink.objects.get_or_create(conversation=conversation, defaults=_snapshot(conversation))
    return link


def share_revoke(*, conversation: Conversation) -> None:
    """Stop sharing ``conversation``: its link is deleted and its URL answers 404.

    Args:
        conversation: an already owner-checked conversation.

    Raises:
        ShareNotFound: the conversation is not shared.
    """
    deleted, _ = ShareLink.objects.filter(conversation=conversation).delete()
    if not deleted:
        raise ShareNotFound


def share_get(token: str) -> SharedConversation:
    """The snapshot a link shows, for anyone holding its token (no owner check: the token is the key).

    Two queries: the link, then at most ``SHARED_MESSAGES_MAX + 1`` messages read backwards from
    the boundary along ``msg_conv_created_id_idx``.

    Args:
        token: the last part of ``/s/<token>``, as received (possibly garbage).

    Raises:
        ShareNotFound: malformed, unknown or revoked token.
    """
    if not _TOKEN_SHAPE.fullmatch(token):
        raise ShareNotFound
    link = ShareLink.objects.filter(token=token).first()
    if link is None:
        raise ShareNotFound
    messages: list[Message] = []
    if link.until_created_at is not None:
        messages = list(
            Message.objects.filter(conversation_id=link.conversation_id, active=True)
            .filter(_older_than(link.until_created_at, link.until_message_id, inclusive=True))
            .filter(_shown())
            .order_by("-created_at", "-id")
            .only("id", "role", "status", "content", "created_at")[: SHARED_MESSAGES_MAX + 1]
        )
    truncated = len(messages) > SHARED_MESSAGES_MAX
    messages = messages[:SHARED_MESSAGES_MAX]
    messages.reverse()
    return SharedConversation(title=link.title, shared_at=link.created_at, messages=messages, truncated=truncated)
