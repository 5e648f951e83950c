"""Export and import of conversations (issue 15, "Export and import"): the rules for every door.

Export writes a conversation as Markdown, or any number of them as the "chat-export" JSON
document (docs/export.md), as byte chunks from keyset queries: memory stays at one chunk of
messages whatever the data's size, and the doors stream the chunks (``api.streaming``).

Import reads that document back, or a ChatGPT data export's ``conversations.json``, in one
transaction: a malformed file raises ``ImportInvalid`` naming what is wrong and nothing is
written. Each imported conversation records a fingerprint of its source in
``Conversation.import_key``, so importing the same file again creates nothing new.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
import unicodedata
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import quote

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.text import slugify
from django.utils.translation import gettext_noop

from conversations import selectors, services
from conversations.models import (
    IN_PROGRESS_STATUSES,
    INSTRUCTIONS_MAX_CHARS,
    MODEL_NAME_MAX_LENGTH,
    TITLE_MAX_LENGTH,
    Conversation,
    Message,
)

EXPORT_FORMAT = "chat-export"
EXPORT_VERSION = 1
MARKDOWN, JSON = "markdown", "json"
FORMATS = (MARKDOWN, JSON)
CONTENT_TYPES = {MARKDOWN: "text/markdown; charset=utf-8", JSON: "application/json"}
EXTENSIONS = {MARKDOWN: "md", JSON: "json"}

# Conversations read per query by the export of everything; their messages come in
# ``selectors.DETAIL_CHUNK_SIZE`` chunks.
EXPORT_CONVERSATION_CHUNK = 200
EXPORT_MESSAGE_CHUNK = selectors.DETAIL_CHUNK_SIZE
# Rows per INSERT, and conversations checked against earlier imports per query.
IMPORT_BATCH_SIZE = 1000
IMPORT_CONVERSATION_BATCH = 500

_MESSAGE_FIELDS = ("id", "role", "content", "status", "created_at", "tool_calls")
_ONE_MICROSECOND = dt.timedelta(microseconds=1)
_ROLE_HEADINGS = {Message.Role.USER: "You", Message.Role.ASSISTANT: "Assistant"}


class ImportInvalid(ValidationError):
    """The file is not one we can import; the message says what is wrong (a 400).

    The message is an English msgid marked with ``gettext_noop``, its paths, numbers and names in
    ``params``: the API sends the English (``exc.messages``), the settings page shows it translated
    (``page_i18n.error_text``; issue 16, "Two languages").
    """


class ImportTooLarge(Exception):
    """The file is over ``IMPORT_MAX_BYTES`` (a 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"The file is over the import limit of {limit} bytes.")
        self.limit = limit


@dataclass(frozen=True)
class ImportResult:
    """What an import did: conversations and messages created, conversations already there."""

    conversations: int = 0
    messages: int = 0
    skipped: int = 0


# --- Export ---------------------------------------------------------------------------


def _iso(value: dt.datetime) -> str:
    # As DRF writes date-times elsewhere in the API: ISO 8601, UTC as "Z".
    text = value.astimezone(dt.UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def export_filename(*, title: str, format: str) -> str:
    """A ``Content-Disposition`` value that downloads a file named after ``title``.

    ``filename`` is an ASCII slug (``conversation`` when nothing of the title is left);
    ``filename*`` (RFC 6266, RFC 8187) carries the title itself when it is not plain ASCII.

    Args:
        title: the conversation's title (may be empty).
        format: ``markdown`` or ``json``; gives the extension.
    """
    extension = EXTENSIONS[format]
    slug = slugify(title)[:80].strip("-") or "conversation"
    header = f'attachment; filename="{slug}.{extension}"'
    # Keep letters, digits and punctuation; drop what a file system or a header would not take.
    readable = "".join(c for c in title if unicodedata.category(c)[0] not in "CZ" or c == " ")
    readable = re.sub(r'[\\/:*?"<>|]+', "-", readable).strip(" .-")[:80]
    if readable and not readable.isascii():
        header += f"; filename*=UTF-8''{quote(f'{readable}.{extension}', safe='')}"
    return header


def export_all_filename() -> str:
    """The ``Content-Disposition`` of the export of all of a user's conversations."""
    return f'attachment; filename="conversations-{timezone.now():%Y-%m-%d}.json"'


def _conversation_head(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "title": row["title"],
        "created_at": _iso(row["created_at"]),
        "updated_at": _iso(row["updated_at"]),
        "pinned": row["pinned"],
        "archived": row["archived"],
        # Issue 14: its own model (null: the server's default) and instructions (null: none).
        "model": row["model"] or None,
        "instructions": row["instructions"] or None,
    }


def _message_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "role": row["role"],
        "content": row["content"],
        "status": row["status"],
        "created_at": _iso(row["created_at"]),
        "tool_calls": row["tool_calls"],
    }


def _conversation_json_chunks(conversation: Conversation, row: dict[str, Any]) -> Iterator[bytes]:
    yield _dumps(_conversation_head(row))[:-1] + b',"messages":['
    first = True
    for rows in selectors.conversation_message_chunks(
        conversation=conversation, fields=_MESSAGE_FIELDS, chunk_size=EXPORT_MESSAGE_CHUNK
    ):
        items = _dumps([_message_json(message) for message in rows])[1:-1]
        yield items if first else b"," + items
        first = False
    yield b"]}"


def _document_chunks(conversations: Iterable[tuple[Conversation, dict[str, Any]]]) -> Iterator[bytes]:
    head = {"format": EXPORT_FORMAT, "version": EXPORT_VERSION, "exported_at": _iso(timezone.now())}
    yield _dumps(head)[:-1] + b',"conversations":['
    for index, (conversation, row) in enumerate(conversations):
        if index:
            yield b","
        yield from _conversation_json_chunks(conversation, row)
    yield b"]}\n"


_CONVERSATION_FIELDS = ("id", "title", "created_at", "updated_at", "pinned", "archived", "model", "instructions")


def _row_of(conversation: Conversation) -> dict[str, Any]:
    return {name: getattr(conversation, name) for name in _CONVERSATION_FIELDS}


def conversation_json_chunks(*, conversation: Conversation) -> Iterator[bytes]:
    """One owner-checked conversation as a chat-export document (docs/export.md), in byte chunks."""
    return _document_chunks([(conversation, _row_of(conversation))])


def _user_conversations(user_id: str) -> Iterator[tuple[Conversation, dict[str, Any]]]:
    # Keyset over (created_at, id), which never change, so a conversation that gets a new
    # message while the export runs is neither skipped nor written twice.
    rows = Conversation.objects.filter(user_id=user_id).order_by("created_at", "id").values(*_CONVERSATION_FIELDS)
    after: Q | None = None
    while True:
        chunk = list((rows.filter(after) if after is not None else rows)[:EXPORT_CONVERSATION_CHUNK])
        for row in chunk:
            yield Conversation(pk=row["id"], user_id=user_id), row
        if len(chunk) < EXPORT_CONVERSATION_CHUNK:
            return
        last = chunk[-1]
        after = Q(created_at__gt=last["created_at"]) | Q(created_at=last["created_at"], id__gt=last["id"])


def export_all_chunks(*, user_id: str) -> Iterator[bytes]:
    """All of ``user_id``'s conversations, oldest first, as one chat-export document in byte chunks.

    Conversations are read ``EXPORT_CONVERSATION_CHUNK`` at a time and their messages in
    chunks (``selectors.conversation_message_chunks``), so memory stays at one chunk.
    """
    return _document_chunks(_user_conversations(user_id))


def conversation_markdown_chunks(*, conversation: Conversation) -> Iterator[bytes]:
    """One owner-checked conversation as Markdown, in byte chunks.

    A title heading, then each message under a heading with its role and time (UTC);
    messages are written as they are (an assistant's reply is already Markdown). A reply
    that did not finish says so; a reply's tool calls are listed by name.
    """
    title = conversation.title or "Untitled conversation"
    yield (
        f"# {title}\n\n_Started {conversation.created_at.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC. "
        f"Exported {timezone.now().astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC._\n"
    ).encode()
    for rows in selectors.conversation_message_chunks(
        conversation=conversation, fields=_MESSAGE_FIELDS, chunk_size=EXPORT_MESSAGE_CHUNK
    ):
        yield "".join(_message_markdown(row) for row in rows).encode()


def _message_markdown(row: dict[str, Any]) -> str:
    when = row["created_at"].astimezone(dt.UTC)
    parts = [f"\n## {_ROLE_HEADINGS.get(row['role'], row['role'])} · {when:%Y-%m-%d %H:%M:%S} UTC\n\n"]
    names = [call.get("name", "?") for call in row["tool_calls"] or [] if isinstance(call, dict)]
    if names:
        parts.append(f"_Tools used: {', '.join(names)}._\n\n")
    if row["content"]:
        parts.append(row["content"].rstrip("\n") + "\n")
    if row["status"] != Message.Status.COMPLETE:
        parts.append(f"\n_(This reply is {row['status']}.)_\n")
    return "".join(parts)


# --- Import: reading the file -----------------------------------------------------------


def import_read(source: bytes | str | IO[bytes]) -> Any:
    """The parsed JSON of a conversations file: bytes, text or a binary file (an upload).

    Raises:
        ImportTooLarge: over ``IMPORT_MAX_BYTES``.
        ImportInvalid: empty, not UTF-8 or not JSON.
    """
    limit = settings.IMPORT_MAX_BYTES
    if isinstance(source, str):
        raw = source.encode("utf-8", "surrogatepass")
    elif isinstance(source, bytes):
        raw = source
    else:
        raw = source.read(limit + 1)
    if len(raw) > limit:
        raise ImportTooLarge(limit)
    if not raw.strip():
        raise ImportInvalid(gettext_noop("The file is empty."))
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ImportInvalid(gettext_noop("The file is not UTF-8 text.")) from None
    except RecursionError:
        raise ImportInvalid(gettext_noop("The file is not valid JSON: it is nested too deeply.")) from None
    except ValueError as exc:
        # The parser's reason stays as Python words it ("Expecting value: line 1 column 1 (char 0)").
        message = gettext_noop("The file is not valid JSON: %(reason)s.")
        raise ImportInvalid(message, params={"reason": str(exc)}) from None


# --- Import: what a file holds, whatever its format -----------------------------------


@dataclass
class _ImportedMessage:
    role: str
    content: str
    status: str
    created_at: dt.datetime
    tool_calls: list[Any] = field(default_factory=list)


@dataclass
class _ImportedConversation:
    key: str
    title: str
    created_at: dt.datetime
    updated_at: dt.datetime
    pinned: bool
    archived: bool
    messages: list[_ImportedMessage]
    # A chat export's own conversation id: the importer's conversation of that id is this one.
    source_id: str = ""
    model: str = ""  # issue 14: "" is the server's default
    instructions: str = ""


def _fingerprint(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def _content_key(source: str, conversation: _ImportedConversation) -> str:
    # No id in the file: the same content is the same conversation. Times are left out: a
    # file without them gets the time of the import, which would make every import new.
    body = [conversation.title, *(f"{m.role}:{m.content}" for m in conversation.messages)]
    return _fingerprint(source, "content", *body)


def _storable(text: str) -> str:
    """``text`` as PostgreSQL can store it: no NUL, lone surrogates replaced."""
    text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


# Tool-call arguments and results nest a few levels; a file that nests deeper is refused
# (the recursion below would otherwise hit Python's limit: a 500, not a 400).
JSON_DEPTH_MAX = 64


def _storable_json(value: Any, depth: int = 0) -> Any:
    if depth > JSON_DEPTH_MAX:
        raise ImportInvalid(
            gettext_noop("A tool call is nested more than %(depth)s levels deep."), params={"depth": JSON_DEPTH_MAX}
        )
    if isinstance(value, str):
        return _storable(value)
    if isinstance(value, list):
        return [_storable_json(item, depth + 1) for item in value]
    if isinstance(value, dict):
        return {_storable(str(key)): _storable_json(item, depth + 1) for key, item in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _title(value: Any, messages: list[_ImportedMessage]) -> str:
    title = _storable(value).strip() if isinstance(value, str) else ""
    if not title:
        first = next((m.content for m in messages if m.role == Message.Role.USER), "")
        title = services.title_from_message(first)
    return title[:TITLE_MAX_LENGTH]


def _utc(value: dt.datetime) -> dt.datetime:
    if timezone.is_naive(value):
        return value.replace(tzinfo=dt.UTC)
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        # A time at the very edge of the calendar (year 1 or 9999) with an offset that
        # takes it past the edge: kept at the edge.
        return value.replace(tzinfo=dt.UTC)


def _strictly_after(previous: dt.datetime | None, value: dt.datetime) -> dt.datetime:
    # Messages are ordered by time: two at the same instant could swap places, so each
    # comes at least a microsecond after the one before it in the file.
    if previous is not None and value <= previous:
        try:
            return previous + _ONE_MICROSECOND
        except OverflowError:
            return previous
    return value


# --- The chat-export document --------------------------------------------------------


# What a value must be, one whole sentence per kind (so that each translates as a whole).
MUST_BE_OBJECT = gettext_noop("%(path)s must be an object")
MUST_BE_LIST = gettext_noop("%(path)s must be a list")
MUST_BE_STRING = gettext_noop("%(path)s must be a string")
MUST_BE_FLAG = gettext_noop("%(path)s must be true or false")
_MUST_BE = {
    str: MUST_BE_STRING,
    list: MUST_BE_LIST,
    dict: MUST_BE_OBJECT,
    bool: MUST_BE_FLAG,
}


def _invalid(message: str, path: str, **params: Any) -> ImportInvalid:
    """``ImportInvalid`` for the value at ``path`` (``conversations[3].mapping``): ``message`` is a msgid."""
    return ImportInvalid(message, params={"path": path, **params})


def _require(container: dict[str, Any], name: str, kind: type, where: str) -> Any:
    path = f"{where}.{name}" if where else name
    if name not in container:
        raise _invalid(gettext_noop("%(path)s is missing"), path)
    value = container[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise _invalid(_MUST_BE[kind], path)
    return value


def _datetime(container: dict[str, Any], name: str, where: str) -> dt.datetime:
    text = _require(container, name, str, where)
    try:
        value = parse_datetime(text)
    except ValueError:
        value = None
    if value is None:
        path = f"{where}.{name}" if where else name
        raise _invalid(gettext_noop("%(path)s must be an ISO 8601 date and time"), path)
    return _utc(value)


def _optional_string(container: dict[str, Any], name: str, where: str) -> None:
    if name in container and (not isinstance(container[name], str) or not container[name]):
        raise _invalid(gettext_noop("%(path)s must be a non-empty string"), f"{where}.{name}")


def _flag(container: dict[str, Any], name: str, where: str) -> bool:
    value = container.get(name, False)
    if not isinstance(value, bool):
        raise _invalid(MUST_BE_FLAG, f"{where}.{name}")
    return value


def _export_message(item: Any, where: str, previous: dt.datetime | None) -> _ImportedMessage | None:
    if not isinstance(item, dict):
        raise _invalid(MUST_BE_OBJECT, where)
    role = _require(item, "role", str, where)
    if role not in Message.Role.values:
        raise _invalid(gettext_noop("%(path)s must be user or assistant"), f"{where}.role")
    content = _storable(_require(item, "content", str, where))
    status = item.get("status", Message.Status.COMPLETE)
    if status not in Message.Status.values:
        statuses = ", ".join(Message.Status.values)
        raise _invalid(gettext_noop("%(path)s must be one of %(values)s"), f"{where}.status", values=statuses)
    if role == Message.Role.USER:
        status = Message.Status.COMPLETE  # a person's message is always whole (the database's rule)
    elif status in IN_PROGRESS_STATUSES:
        status = Message.Status.FAILED  # nobody is writing it any more (the stale rule's answer)
    _optional_string(item, "id", where)
    tool_calls = item.get("tool_calls", [])
    if not isinstance(tool_calls, list):
        raise _invalid(MUST_BE_LIST, f"{where}.tool_calls")
    for index, call in enumerate(tool_calls):
        # As the API writes them: {"name", "arguments", "result"} (issue 13).
        if not isinstance(call, dict) or not {"name", "arguments", "result"} <= set(call):
            message = gettext_noop("%(path)s must be an object with name, arguments and result")
            raise _invalid(message, f"{where}.tool_calls[{index}]")
        if not isinstance(call["name"], str) or not call["name"]:
            raise _invalid(gettext_noop("%(path)s must be a non-empty string"), f"{where}.tool_calls[{index}].name")
    created_at = _strictly_after(previous, _datetime(item, "created_at", where))
    if not content.strip() and (role == Message.Role.USER or status == Message.Status.COMPLETE):
        return None  # the database keeps no empty message but an unfinished reply
    return _ImportedMessage(role, content, status, created_at, _storable_json(tool_calls))


def _export_conversation(item: Any, where: str) -> _ImportedConversation:
    if not isinstance(item, dict):
        raise _invalid(MUST_BE_OBJECT, where)
    created_at = _datetime(item, "created_at", where)
    updated_at = _datetime(item, "updated_at", where)
    raw_messages = _require(item, "messages", list, where)
    messages: list[_ImportedMessage] = []
    previous: dt.datetime | None = None
    for index, raw in enumerate(raw_messages):
        message = _export_message(raw, f"{where}.messages[{index}]", previous)
        if message is not None:
            messages.append(message)
            previous = message.created_at
    title = item.get("title")
    if title is not None and not isinstance(title, str):
        raise _invalid(MUST_BE_STRING, f"{where}.title")
    source_id = _require(item, "id", str, where)
    if not source_id:
        raise _invalid(gettext_noop("%(path)s must not be empty"), f"{where}.id")
    settings_of: dict[str, str] = {}
    for name in ("model", "instructions"):
        value = item.get(name)
        if value is not None and not isinstance(value, str):
            raise _invalid(gettext_noop("%(path)s must be a string or null"), f"{where}.{name}")
        settings_of[name] = _storable(value or "").strip()
    # Issue 14: a model name no server could list is dropped (the default is used); instructions are cut.
    if len(settings_of["model"]) > MODEL_NAME_MAX_LENGTH:
        settings_of["model"] = ""
    settings_of["instructions"] = settings_of["instructions"][:INSTRUCTIONS_MAX_CHARS]
    conversation = _ImportedConversation(
        key=_fingerprint(EXPORT_FORMAT, source_id),
        source_id=source_id,
        title=_title(title, messages),
        created_at=created_at,
        updated_at=updated_at,  # as it was, for a faithful round trip
        pinned=_flag(item, "pinned", where),
        archived=_flag(item, "archived", where),
        messages=messages,
        **settings_of,
    )
    return conversation


def _export_document(data: dict[str, Any]) -> Iterator[_ImportedConversation]:
    version = data.get("version")
    if version != EXPORT_VERSION or isinstance(version, bool):
        raise ImportInvalid(
            gettext_noop("version must be %(version)s: this file is a version this site cannot read"),
            params={"version": EXPORT_VERSION},
        )
    if "exported_at" in data:
        _datetime(data, "exported_at", "")
    conversations = _require(data, "conversations", list, "")
    for index, item in enumerate(conversations):
        yield _export_conversation(item, f"conversations[{index}]")


# --- ChatGPT's conversations.json -----------------------------------------------------


def _unix_time(value: Any, where: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        finite = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        finite = False
    if not finite:
        raise _invalid(gettext_noop("%(path)s must be a number of seconds (Unix time) or null"), where)
    try:
        return dt.datetime.fromtimestamp(value, tz=dt.UTC)
    except (OverflowError, OSError, ValueError):
        raise _invalid(gettext_noop("%(path)s is out of range"), where) from None


def _chatgpt_path(mapping: dict[str, Any], item: dict[str, Any], where: str) -> list[tuple[str, dict[str, Any]]]:
    """The nodes from the root down to ``current_node`` (the branch the person last saw)."""
    current = item.get("current_node")
    if current is None:
        # Older exports may lack it: the newest leaf, then.
        leaves = [key for key, node in mapping.items() if isinstance(node, dict) and not node.get("children")]
        if not leaves:
            return []
        current = max(leaves, key=lambda key: _node_time(mapping[key]))
    if not isinstance(current, str):
        raise _invalid(MUST_BE_STRING, f"{where}.current_node")
    path: list[tuple[str, dict[str, Any]]] = []
    seen: set[str] = set()
    node_id: Any = current
    while node_id is not None:
        if not isinstance(node_id, str) or node_id not in mapping:
            message = gettext_noop("%(path)s has no node %(node)s")
            raise _invalid(message, f"{where}.mapping", node=repr(str(node_id)[:80]))
        if node_id in seen:
            message = gettext_noop("%(path)s has a cycle at node %(node)s")
            raise _invalid(message, f"{where}.mapping", node=repr(node_id[:80]))
        seen.add(node_id)
        node = mapping[node_id]
        if not isinstance(node, dict):
            raise _invalid(MUST_BE_OBJECT, f"{where}.mapping.{node_id[:80]}")
        path.append((node_id, node))
        node_id = node.get("parent")
    path.reverse()
    return path


def _node_time(node: dict[str, Any]) -> float:
    message = node.get("message")
    value = message.get("create_time") if isinstance(message, dict) else None
    if not isinstance(value, int | float) or isinstance(value, bool):
        return 0.0
    try:
        return float(value)
    except OverflowError:
        return 0.0


def _chatgpt_text(message: dict[str, Any], where: str) -> str | None:
    """The message's text (its string parts), or ``None`` when it has none to keep."""
    content = message.get("content")
    if content is None:
        return None
    if not isinstance(content, dict):
        raise _invalid(MUST_BE_OBJECT, f"{where}.content")
    if "parts" not in content:
        return None  # code, execution output, browsing results...: not a text message
    parts = content["parts"]
    if not isinstance(parts, list):
        raise _invalid(MUST_BE_LIST, f"{where}.content.parts")
    return _storable("\n\n".join(part for part in parts if isinstance(part, str)))


def _chatgpt_conversation(item: Any, where: str) -> _ImportedConversation:
    if not isinstance(item, dict):
        raise _invalid(MUST_BE_OBJECT, where)
    mapping = _require(item, "mapping", dict, where)
    created_at = _unix_time(item.get("create_time"), f"{where}.create_time")
    updated_at = _unix_time(item.get("update_time"), f"{where}.update_time")
    fallback = created_at or updated_at
    messages: list[_ImportedMessage] = []
    previous: dt.datetime | None = None
    for node_id, node in _chatgpt_path(mapping, item, where):
        message = node.get("message")
        node_where = f"{where}.mapping.{node_id[:80]}.message"
        if message is None:
            continue
        if not isinstance(message, dict):
            raise _invalid(MUST_BE_OBJECT, node_where)
        author = message.get("author")
        role = author.get("role") if isinstance(author, dict) else None
        if role not in Message.Role.values:
            continue  # system and tool messages
        metadata = message.get("metadata")
        if isinstance(metadata, dict) and metadata.get("is_visually_hidden_from_conversation"):
            continue
        if message.get("recipient", "all") != "all":
            continue  # the assistant writing to a tool, not to the person
        text = _chatgpt_text(message, node_where)
        if text is None or not text.strip():
            continue
        when = _unix_time(message.get("create_time"), f"{node_where}.create_time") or fallback or previous
        when = _strictly_after(previous, when or timezone.now())
        messages.append(_ImportedMessage(role, text, Message.Status.COMPLETE, when))
        previous = when
    first = messages[0].created_at if messages else None
    created = created_at or first or updated_at or timezone.now()
    conversation = _ImportedConversation(
        key="",
        title=_title(item.get("title"), messages),
        created_at=min(created, first) if first else created,
        updated_at=max(t for t in (updated_at, previous, created) if t is not None),
        pinned=False,
        archived=item.get("is_archived") is True,
        messages=messages,
    )
    source_id = item.get("conversation_id") or item.get("id")
    if isinstance(source_id, str) and source_id:
        conversation.key = _fingerprint("chatgpt", source_id)
    else:
        conversation.key = _content_key("chatgpt", conversation)
    return conversation


def _chatgpt_document(data: list[Any]) -> Iterator[_ImportedConversation]:
    for index, item in enumerate(data):
        yield _chatgpt_conversation(item, f"conversations[{index}]")


def _conversations_in(data: Any) -> Iterator[_ImportedConversation]:
    if isinstance(data, dict) and data.get("format") == EXPORT_FORMAT:
        return _export_document(data)
    if isinstance(data, list) and data:
        return _chatgpt_document(data)
    if isinstance(data, list):
        raise ImportInvalid(gettext_noop("The file holds no conversations."))
    raise ImportInvalid(
        gettext_noop(
            'The file is neither a chat export (an object with "format": "chat-export") '
            "nor a ChatGPT conversations.json (a list of conversations)."
        )
    )


# --- Import: writing ------------------------------------------------------------------


def conversations_import(*, user_id: str, data: Any) -> ImportResult:
    """Import the conversations of a parsed file (``import_read``) for ``user_id``.

    The file is a chat-export document (docs/export.md) or a ChatGPT ``conversations.json``.
    One transaction: all of it or nothing. A conversation whose ``import_key`` the user
    already has is skipped (counted in ``skipped``), so a second import of the same file
    creates nothing; so is a chat export's conversation the user still has (their own
    export imported back). Messages get new ids and ``user_id``; each comes strictly after
    the one before it.

    Raises:
        ImportInvalid: the file's shape is wrong; the message names where
            (``conversations[3].mapping is missing``).
    """
    try:
        try:
            return _import(user_id, data)
        except IntegrityError:
            # Another import of the same file committed first: its conversations are now
            # skipped ones. (A second clash would be a real fault, and is raised.)
            return _import(user_id, data)
    except (RecursionError, OverflowError) as exc:
        # A backstop: a shape this module did not foresee is the file's fault, not a 500.
        raise ImportInvalid(
            gettext_noop("The file could not be read: %(reason)s."), params={"reason": type(exc).__name__}
        ) from None


@transaction.atomic
def _import(user_id: str, data: Any) -> ImportResult:
    created = messages = skipped = 0
    seen: set[str] = set()
    batch: list[_ImportedConversation] = []

    def flush() -> None:
        nonlocal created, messages, skipped
        keys = [item.key for item in batch]
        existing = set(
            Conversation.objects.filter(user_id=user_id, import_key__in=keys).values_list("import_key", flat=True)
        )
        # One's own export imported back: the conversations it came from are still here.
        ids = {pk for item in batch if (pk := selectors.parse_uuid(item.source_id)) is not None}
        originals = set(Conversation.objects.filter(user_id=user_id, pk__in=ids).values_list("pk", flat=True))
        fresh = [
            item for item in batch if item.key not in existing and selectors.parse_uuid(item.source_id) not in originals
        ]
        skipped += len(batch) - len(fresh)
        rows = [
            Conversation(
                id=uuid.uuid4(),
                user_id=user_id,
                title=item.title,
                created_at=item.created_at,
                updated_at=item.updated_at,
                pinned=item.pinned,
                archived=item.archived,
                import_key=item.key,
                model=item.model,
                instructions=item.instructions,
            )
            for item in fresh
        ]
        Conversation.objects.bulk_create(rows, batch_size=IMPORT_BATCH_SIZE)
        pending: list[Message] = []
        for row, item in zip(rows, fresh, strict=True):
            parent_id = None  # one branch: each message follows the one before it (issue 14)
            for message in item.messages:
                pending.append(
                    Message(
                        conversation_id=row.id,
                        user_id=user_id,
                        role=message.role,
                        content=message.content,
                        status=message.status,
                        created_at=message.created_at,
                        tool_calls=message.tool_calls,
                        parent_id=parent_id,
                    )
                )
                parent_id = pending[-1].id
                if len(pending) >= IMPORT_BATCH_SIZE:
                    Message.objects.bulk_create(pending)
                    messages += len(pending)
                    pending = []
        Message.objects.bulk_create(pending)
        messages += len(pending)
        created += len(rows)
        batch.clear()

    for conversation in _conversations_in(data):
        if conversation.key in seen:
            skipped += 1  # the same conversation twice in one file
            continue
        seen.add(conversation.key)
        batch.append(conversation)
        if len(batch) >= IMPORT_CONVERSATION_BATCH:
            flush()
    flush()
    return ImportResult(conversations=created, messages=messages, skipped=skipped)
