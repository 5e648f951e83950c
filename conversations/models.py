"""Conversations and their messages (contract: Data model).

Rules about who may read or write them live in ``services`` and ``selectors``;
the models hold fields, constraints and indexes only.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q, Value
from django.utils import timezone

from conversations.indexes import TimeOrderBrinIndex

TITLE_MAX_LENGTH = 200
MODEL_NAME_MAX_LENGTH = 200
INSTRUCTIONS_MAX_CHARS = 4000
USER_ID_MAX_LENGTH = 255


class Conversation(models.Model):
    """One thread between a user (the JWT subject ``user_id``) and the assistant."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user_id = models.CharField(max_length=USER_ID_MAX_LENGTH, db_index=True)
    title = models.CharField(max_length=TITLE_MAX_LENGTH, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # Moved forward whenever a message is added (contract: Data model).
    updated_at = models.DateTimeField(default=timezone.now, db_index=True)
    # Issue 15, "Organise": pinned ones head the list; archived ones leave it (still open and searchable).
    pinned = models.BooleanField(default=False, db_default=False)
    archived = models.BooleanField(default=False, db_default=False)
    # Issue 15, "Export and import": where an imported conversation came from (a fingerprint of
    # its source), so that importing the same file twice creates nothing new. Null for the rest.
    import_key = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001 (null: not imported; unique when set)
    # Issue 14, "Models and instructions": the model its replies are asked of ("" = the server's
    # default, settings.OPENAI_MODEL) and its own system prompt, sent with the assistant's own.
    model = models.CharField(max_length=MODEL_NAME_MAX_LENGTH, blank=True, default="", db_default="")
    instructions = models.TextField(blank=True, default="", db_default="")
    # Issue 14, "Titles": True once the person named it (PATCH, the page's rename); a title they
    # set is never replaced by a generated one.
    title_set_by_user = models.BooleanField(default=False, db_default=False)

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [
            # "This user's conversations, newest activity first" (the API list's order by default).
            models.Index(fields=["user_id", "-updated_at", "-id"], name="conv_user_updated_idx"),
            # The list and sidebar as people see them: not archived (or only archived), pinned
            # first, then newest activity (issue 15). One index range per page.
            models.Index(fields=["user_id", "archived", "-pinned", "-updated_at", "-id"], name="conv_user_shelf_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["user_id", "import_key"],
                condition=Q(import_key__isnull=False),
                name="conv_user_import_key_unique",
            ),
        ]

    def __str__(self) -> str:
        return self.title or f"Conversation {self.id}"


class Message(models.Model):
    """One message of a conversation, by the user or the assistant.

    Assistant messages carry a ``status``: a reply is ``pending`` until the model
    starts, ``streaming`` while text arrives, then ``complete``, ``failed`` or
    ``stopped`` with whatever text arrived kept in ``content``.
    """

    class Role(models.TextChoices):
        USER = "user"
        ASSISTANT = "assistant"

    class Status(models.TextChoices):
        PENDING = "pending"
        STREAMING = "streaming"
        COMPLETE = "complete"
        FAILED = "failed"
        STOPPED = "stopped"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # ON DELETE CASCADE is also declared in the database itself (migration 0002).
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    user_id = models.CharField(max_length=USER_ID_MAX_LENGTH, db_index=True)
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.COMPLETE)
    created_at = models.DateTimeField(default=timezone.now)
    # The tools the assistant called while writing this reply, in order (issue 13):
    # [{"name", "arguments", "result"}]; empty for user messages and replies without tools.
    # A database default too, so rows written by plain SQL (bench/) need not name it.
    tool_calls = models.JSONField(default=list, db_default=Value([], output_field=models.JSONField()), blank=True)
    # Versions and branches (issue 14). The messages of a conversation form a tree: ``parent`` is
    # the message this one follows (null for a first message). Children of one parent are the
    # *versions* of one turn: an edited user message, a regenerated reply. ``version`` numbers
    # them 1, 2, 3... in the order they were made and ``version_count`` is how many the turn has
    # (kept on every version, so a page reads no other row). ``selected`` marks the version
    # chosen among its siblings (exactly one per turn), remembered while its branch is not shown;
    # ``active`` marks the messages of the branch shown: the root's selected version, its
    # selected child, and so on. Every child is created after its parent, so the active branch
    # in ``(created_at, id)`` order is the conversation as shown, one range of msg_conv_active_idx.
    # DO_NOTHING: a message is only deleted with its conversation (the database cascades) or as a
    # reply without children (Retry), and Django must not load a conversation's messages to
    # delete it (issue 6).
    parent = models.ForeignKey(
        "self", on_delete=models.DO_NOTHING, null=True, blank=True, related_name="+", db_index=False
    )
    version = models.PositiveSmallIntegerField(default=1, db_default=1)
    version_count = models.PositiveSmallIntegerField(default=1, db_default=1)
    selected = models.BooleanField(default=True, db_default=True)
    active = models.BooleanField(default=True, db_default=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            # The contract's index on created_at, as BRIN: a B-tree here misled PostgreSQL's
            # planner into reading pages through it (conversations/indexes.py).
            TimeOrderBrinIndex(fields=["created_at"], name="msg_created_at_brin"),
            # Keyset pagination of the conversation as shown (its active branch, issue 14): "the
            # newest N" and "the page before this message" are both a range scan of this index.
            models.Index(
                fields=["conversation", "-created_at", "-id"], condition=Q(active=True), name="msg_conv_created_id_idx"
            ),
            # The versions of a turn (the children of one parent) and the walks along a branch.
            models.Index(fields=["conversation", "parent", "created_at", "id"], name="msg_conv_parent_idx"),
            # "This conversation's replies still being written" (the stale check every page,
            # detail and chat turn makes): only the few unfinished rows are in it, so the
            # check costs the same in a conversation of 100,000 messages as in one of 2
            # (before: a scan of the whole conversation, 50 ms at 100,000; issue 6).
            models.Index(
                fields=["conversation", "created_at", "id"],
                condition=Q(status__in=["pending", "streaming"]),
                name="msg_in_progress_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(role__in=["user", "assistant"]), name="message_role_valid"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "streaming", "complete", "failed", "stopped"]),
                name="message_status_valid",
            ),
            # Content is never empty, except for an assistant reply that has not
            # produced text yet or ended without any.
            models.CheckConstraint(
                condition=~Q(content="") | (Q(role="assistant") & ~Q(status="complete")),
                name="message_content_not_empty",
            ),
            models.CheckConstraint(
                condition=Q(version__gte=1, version__lte=models.F("version_count")), name="message_version_valid"
            ),
            # Only a selected version can be on the branch shown.
            models.CheckConstraint(condition=Q(active=False) | Q(selected=True), name="message_active_selected"),
            # A user's own message is always complete.
            models.CheckConstraint(
                condition=~Q(role="user") | Q(status="complete"),
                name="message_user_status_complete",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:40]}"

    @property
    def is_finished(self) -> bool:
        """True when no more text will be added to this message."""
        return self.status not in IN_PROGRESS_STATUSES


# A reply still being written: the stale rule's, the partial saves' and the retry's
# "unfinished" (the partial index msg_in_progress_idx lists the same two).
IN_PROGRESS_STATUSES = (Message.Status.PENDING, Message.Status.STREAMING)


IDEMPOTENCY_KEY_MAX_CHARS = 255


class IdempotencyKey(models.Model):
    """A client's key for one request that starts a reply, so that a repeat saves nothing new.

    ``Idempotency-Key`` of the IETF httpapi draft (draft-ietf-httpapi-idempotency-key-header)
    on ``POST .../chat`` and ``.../retry`` and the page's sends, and ``client_id`` of a
    socket ``send`` (issue 12, "Exactly once"). Keys are per user; the row is written in the
    same transaction as the messages it created, so a key is on record exactly when its
    messages are. ``fingerprint`` (SHA-256 of the operation and its request) tells a repeat
    from a different request under the same key. Kept ``IDEMPOTENCY_KEY_SECONDS`` (at
    least 24 hours), then deleted by the sweep (``conversations.sweeper``).

    The message ids are plain UUIDs, not foreign keys: a foreign key to ``Message`` would
    make Django fetch every message id of a conversation being deleted (to null the
    references) instead of one DELETE. A key whose messages are gone answers 404.
    """

    id = models.BigAutoField(primary_key=True)
    user_id = models.CharField(max_length=USER_ID_MAX_LENGTH)
    key = models.CharField(max_length=IDEMPOTENCY_KEY_MAX_CHARS)
    fingerprint = models.CharField(max_length=64)
    conversation_id = models.UUIDField()
    message_id = models.UUIDField()  # the user's message the request saved (or answered again)
    reply_id = models.UUIDField()  # the reply the request started
    # The HTTP status the first request answered (200, 503, 504); null until it has.
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user_id", "key"], name="idempotency_user_key_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.key}"


class Preference(models.Model):
    """A person's choices that outlive one conversation (issue 14: new conversations take the
    model last chosen; issue 16: default instructions). One row per JWT subject, made on first use."""

    user_id = models.CharField(max_length=USER_ID_MAX_LENGTH, primary_key=True)
    model = models.CharField(max_length=MODEL_NAME_MAX_LENGTH, blank=True, default="")
    instructions = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"preferences of {self.user_id}"


SHARE_TOKEN_BYTES = 32  # secrets.token_urlsafe(32): 256 random bits, 43 URL-safe characters


class ShareLink(models.Model):
    """A public, read-only link to a snapshot of one conversation (issue 15, "Share").

    Anyone with ``/s/<token>`` sees the conversation's title and its messages up to and
    including the boundary ``(until_created_at, until_message_id)`` in the ``(created_at, id)``
    order (``selectors._older_than``): the newest shown message when the link was made, so
    later messages never appear. ``title`` is the title at that moment. One link per
    conversation; sharing again replaces the token and the snapshot (``conversations.sharing``).
    The boundary is a plain UUID, not a foreign key: Retry may replace that message, and the
    boundary still holds as a position. Null boundary: nothing was shown when shared.
    """

    id = models.BigAutoField(primary_key=True)
    # ON DELETE CASCADE is also declared in the database itself on PostgreSQL (migration 0008).
    conversation = models.OneToOneField(Conversation, on_delete=models.CASCADE, related_name="share_link")
    token = models.CharField(max_length=64, unique=True)
    title = models.CharField(max_length=TITLE_MAX_LENGTH, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    until_created_at = models.DateTimeField(null=True, blank=True)
    until_message_id = models.UUIDField(null=True, blank=True)

    class Meta:
        constraints = [
            # Both halves of the boundary or neither.
            models.CheckConstraint(
                condition=Q(until_created_at__isnull=True, until_message_id__isnull=True)
                | Q(until_created_at__isnull=False, until_message_id__isnull=False),
                name="sharelink_boundary_whole",
            ),
        ]

    def __str__(self) -> str:
        return f"share of {self.conversation_id}"
