"""What "nothing lost" means, checked on the stored messages after a fault test.

Rows come straight from the database (the ORM, or psycopg for a throwaway
cluster), ordered by conversation, then ``(created_at, id)``: the order every door
shows them in (FR-005).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

FINISHED = {"complete", "failed", "stopped"}

ROWS_SQL = (
    "SELECT conversation_id::text, id::text, role, content, status, created_at FROM conversations_message "
    "ORDER BY conversation_id, created_at, id"
)


@dataclass(frozen=True)
class Row:
    conversation_id: str
    id: str
    role: str
    content: str
    status: str
    created_at: Any


def rows_from_orm() -> list[Row]:
    """Every stored message, in display order, through the ORM (the test's database)."""
    from conversations.models import Message

    fields = ("conversation_id", "id", "role", "content", "status", "created_at")
    return [
        Row(str(c), str(i), r, t, s, at)
        for c, i, r, t, s, at in Message.objects.order_by("conversation_id", "created_at", "id").values_list(*fields)
    ]


def by_conversation(rows: Iterable[Row]) -> dict[str, list[Row]]:
    grouped: dict[str, list[Row]] = {}
    for row in rows:
        grouped.setdefault(row.conversation_id, []).append(row)
    return grouped


def problems(rows: list[Row], *, allow_open: bool = False) -> list[str]:
    """Every broken rule, as sentences (empty: consistent).

    * each conversation reads user, assistant, user, assistant...: every reply right
      after its own user message, no reply without one, no user message without its reply;
    * no user message stored twice (the tests send each text once);
    * no reply left ``pending`` or ``streaming`` (unless ``allow_open``).
    """
    found: list[str] = []
    for conversation_id, messages in by_conversation(rows).items():
        roles = [m.role for m in messages]
        expected = ["user", "assistant"] * (len(roles) // 2) + (["user"] if len(roles) % 2 else [])
        if roles != expected or len(roles) % 2:
            found.append(f"conversation {conversation_id} reads {''.join(r[0] for r in roles)}, not (ua)*")
    twice = [text for text, count in Counter(r.content for r in rows if r.role == "user").items() if count > 1]
    found += [f"user message stored {sum(r.content == t for r in rows)} times: {t!r}" for t in twice]
    if not allow_open:
        found += [f"reply {r.id} left {r.status}" for r in rows if r.role == "assistant" and r.status not in FINISHED]
    return found


def reply_to(rows: list[Row]) -> dict[str, Row]:
    """Each user message's text -> the reply stored right after it."""
    replies: dict[str, Row] = {}
    for messages in by_conversation(rows).values():
        for first, second in pairwise(messages):
            if first.role == "user" and second.role == "assistant":
                replies[first.content] = second
    return replies
