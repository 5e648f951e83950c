"""Idempotency keys: a request that starts a reply, repeated with the same key, saves nothing new.

The ``Idempotency-Key`` request header of the IETF httpapi draft
(draft-ietf-httpapi-idempotency-key-header-07) on ``POST /api/{user_id}/chat``, ``.../retry``
and the page's sends, and ``client_id`` of a socket ``send`` (issue 12, "Exactly once"):

* the first request with a key saves its messages and records the key in the same
  transaction (``key_record``), so the key is on record exactly when the messages are;
* a repeat with the same key and the same request is given the first request's result
  (``key_find`` returns the record; the doors replay it): nothing is saved again;
* a repeat while the first is still running: 409 on HTTP (the draft's "conflict");
  the socket replays the events so far instead;
* the same key with a different request: 422 (``IdempotencyKeyReused``);
* keys are per user (another user's key is another key) and kept
  ``IDEMPOTENCY_KEY_SECONDS`` (default 24 hours), then removed by the sweep.

Failed validation (400), an unknown conversation (404) or a reply in progress (409) save
nothing, so they record no key either: a repeat is simply tried again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from conversations.models import IDEMPOTENCY_KEY_MAX_CHARS, IdempotencyKey

CHAT = "chat"
RETRY = "retry"
REGENERATE = "regenerate"  # issue 14
EDIT = "edit"  # issue 14: ``text`` is the message id and the new text


class IdempotencyKeyReused(Exception):
    """The key was already used for a different request (HTTP 422; draft section 2.7)."""


class IdempotencyKeyInUse(Exception):
    """The first request with this key is still being answered (HTTP 409; draft section 2.7)."""


class IdempotencyKeyTaken(Exception):
    """A concurrent request recorded the same key first (internal: the caller replays it)."""


@dataclass(frozen=True)
class Idempotency:
    """A request's key and what identifies the request (``fingerprint``, SHA-256 hex)."""

    key: str
    operation: str
    fingerprint: str
    # The fingerprint the same request would have without a conversation id: a first message
    # sent to "a new conversation" may be repeated to the conversation it created.
    fingerprint_without_conversation: str
    conversation_id: str | None


def key_clean(raw: object) -> str:
    """Check an ``Idempotency-Key`` (or a socket ``client_id``) and return it.

    Rules: 1..255 characters of visible ASCII (an sf-string of RFC 8941 without quotes;
    UUIDs, as the page sends, fit).

    Raises:
        django.core.exceptions.ValidationError: with a sentence for a person.
    """
    text = raw if isinstance(raw, str) else ""
    if not text or len(text) > IDEMPOTENCY_KEY_MAX_CHARS or not all(" " <= ch <= "~" for ch in text):
        raise ValidationError(
            f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX_CHARS} visible ASCII characters", code="key"
        )
    return text


def key_from_header(raw: str | None) -> str | None:
    """The key of an ``Idempotency-Key`` header value, or ``None`` when the header is absent.

    The draft writes the key as a structured-field string (``"..."``, RFC 8941 section 3.3.3);
    a bare token is accepted too, and both name the same key.

    Raises:
        django.core.exceptions.ValidationError: a malformed key (``key_clean``).
    """
    if raw is None:
        return None
    raw = raw.strip()
    if len(raw) >= 3 and raw[0] == raw[-1] == '"':
        raw = raw[1:-1]
    return key_clean(raw)


def _fingerprint(operation: str, conversation_id: str | None, text: str | None) -> str:
    body = json.dumps([operation, conversation_id, text], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()


def idempotency_for(
    *, key: str, operation: str, conversation_id: uuid.UUID | str | None, text: str | None = None
) -> Idempotency:
    """The ``Idempotency`` of a request: ``operation`` (``CHAT`` or ``RETRY``) on ``conversation_id``
    (``None``: a new conversation) with the message ``text`` (for ``CHAT``). ``key`` is already clean."""
    conversation = str(conversation_id) if conversation_id is not None else None
    return Idempotency(
        key=key,
        operation=operation,
        fingerprint=_fingerprint(operation, conversation, text),
        fingerprint_without_conversation=_fingerprint(operation, None, text),
        conversation_id=conversation,
    )


def key_find(*, user_id: str, idempotency: Idempotency) -> IdempotencyKey | None:
    """The record of ``idempotency.key`` for ``user_id``, if the key was used before.

    Raises:
        IdempotencyKeyReused: the key was used for a different request.
    """
    row = IdempotencyKey.objects.filter(user_id=user_id, key=idempotency.key).first()
    if row is None:
        return None
    same = row.fingerprint == idempotency.fingerprint or (
        # First sent to a new conversation, repeated to the conversation it created.
        row.fingerprint == idempotency.fingerprint_without_conversation
        and idempotency.conversation_id == str(row.conversation_id)
    )
    if not same:
        raise IdempotencyKeyReused
    return row


def key_record(
    *,
    user_id: str,
    idempotency: Idempotency,
    conversation_id: uuid.UUID,
    message_id: uuid.UUID,
    reply_id: uuid.UUID,
) -> None:
    """Record the key in the caller's transaction (a savepoint, so a clash leaves it usable).

    Raises:
        IdempotencyKeyTaken: a concurrent request with the same key was recorded first
            (on PostgreSQL this insert waits for it to commit); roll back and replay it.
    """
    try:
        with transaction.atomic():
            IdempotencyKey.objects.create(
                user_id=user_id,
                key=idempotency.key,
                fingerprint=idempotency.fingerprint,
                conversation_id=conversation_id,
                message_id=message_id,
                reply_id=reply_id,
            )
    except IntegrityError:
        raise IdempotencyKeyTaken from None


def key_answered(*, user_id: str, key: str, status: int) -> None:
    """Remember the HTTP status the first request with ``key`` answered (200, 503, 504)."""
    IdempotencyKey.objects.filter(user_id=user_id, key=key, response_status__isnull=True).update(response_status=status)


def keys_delete_expired(*, batch: int = 1000) -> int:
    """Delete keys older than ``IDEMPOTENCY_KEY_SECONDS`` (at most ``batch`` per call). Returns how many."""
    cutoff = timezone.now() - dt.timedelta(seconds=settings.IDEMPOTENCY_KEY_SECONDS)
    ids = list(IdempotencyKey.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True)[:batch])
    if not ids:
        return 0
    deleted, _ = IdempotencyKey.objects.filter(pk__in=ids).delete()
    return deleted
