"""Bench data, bulk-loaded with COPY and kept between runs (ids are deterministic).

* ``bench-long``: one conversation of 100,000 messages (the page scenario);
* ``bench-many``: 10,000 conversations of 2 messages each (the list scenario);
* ``bench-detail``: conversations of 100 (warm-up), 1,000, 10,000 and 50,000 messages
  (the detail scenario);
* ``bench-chat-0000`` .. ``bench-chat-0999``: the chat clients (their rows are made by the load);
* ``bench-crowd-0000`` .. ``bench-crowd-0999``: 100 conversations each, the rest of the population.
"""

from __future__ import annotations

import datetime as dt
import uuid

import psycopg

NAMESPACE = uuid.UUID("6b1f4c52-63a3-4c1c-9a59-0d6c1d0a5b1e")
EPOCH = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)

LONG_USER = "bench-long"
LONG_MESSAGES = 100_000
MANY_USER = "bench-many"
MANY_CONVERSATIONS = 10_000
DETAIL_USER = "bench-detail"
DETAIL_SIZES = (1_000, 10_000, 50_000)
DETAIL_WARMUP = 100
CHAT_USERS = 1_000
# Everyone else: so that the planner's statistics look like a shared database, not one user's.
CROWD_USERS = 1_000
CROWD_CONVERSATIONS = 100

_WORDS = (
    "the of and to in is that for it as with was on be at by this had not are but from or have an they which "
    "one you were her all she there would their we him been has when who will more no if out so said what up"
).split()


def bench_id(*parts: object) -> uuid.UUID:
    """The deterministic id of a bench row, e.g. ``bench_id("long", 17)``."""
    return uuid.uuid5(NAMESPACE, "/".join(map(str, parts)))


def chat_user(index: int) -> str:
    return f"bench-chat-{index:04d}"


def long_conversation_id() -> uuid.UUID:
    return bench_id("long")


def long_message_id(index: int) -> uuid.UUID:
    """The ``index``-th message (0 = oldest) of the 100,000-message conversation."""
    return bench_id("long", index)


def detail_conversation_id(size: int) -> uuid.UUID:
    return bench_id("detail", size)


def _text(i: int) -> str:
    # 20..60 words of varied text, about 100..300 characters.
    n = 20 + (i * 7) % 41
    return " ".join(_WORDS[(i * 13 + k * 5) % len(_WORDS)] for k in range(n)).capitalize() + "."


def _message_rows(conversation_id: uuid.UUID, user_id: str, count: int, tag: str, start: dt.datetime):
    for i in range(count):
        role = "user" if i % 2 == 0 else "assistant"
        yield (bench_id(tag, i), conversation_id, user_id, role, _text(i), "complete", start + dt.timedelta(seconds=i))


def _conversation_has(cur: psycopg.Cursor, conversation_id: uuid.UUID, messages: int) -> bool:
    cur.execute("SELECT count(*) FROM conversations_message WHERE conversation_id = %s", (conversation_id,))
    return cur.fetchone()[0] == messages


def _load_conversation(
    cur: psycopg.Cursor, *, conversation_id: uuid.UUID, user_id: str, title: str, tag: str, messages: int
) -> None:
    cur.execute("DELETE FROM conversations_conversation WHERE id = %s", (conversation_id,))
    last = EPOCH + dt.timedelta(seconds=max(messages - 1, 0))
    cur.execute(
        "INSERT INTO conversations_conversation (id, user_id, title, created_at, updated_at) VALUES (%s, %s, %s, %s, %s)",
        (conversation_id, user_id, title, EPOCH, last),
    )
    with cur.copy(
        "COPY conversations_message (id, conversation_id, user_id, role, content, status, created_at) FROM STDIN"
    ) as copy:
        for row in _message_rows(conversation_id, user_id, messages, tag, EPOCH):
            copy.write_row(row)


def ensure_dataset(dsn: str, log=print) -> None:
    """Load whatever part of the bench data is missing (idempotent), then ``VACUUM ANALYZE``."""
    loaded = False
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        if not _conversation_has(cur, long_conversation_id(), LONG_MESSAGES):
            log(f"loading {LONG_MESSAGES:,} messages for {LONG_USER} ...")
            _load_conversation(
                cur, conversation_id=long_conversation_id(), user_id=LONG_USER, title="A very long conversation",
                tag="long", messages=LONG_MESSAGES,
            )  # fmt: skip
            loaded = True
        for size in (DETAIL_WARMUP, *DETAIL_SIZES):
            if not _conversation_has(cur, detail_conversation_id(size), size):
                log(f"loading a {size:,}-message conversation for {DETAIL_USER} ...")
                _load_conversation(
                    cur, conversation_id=detail_conversation_id(size), user_id=DETAIL_USER,
                    title=f"{size} messages", tag=f"detail-{size}", messages=size,
                )  # fmt: skip
                loaded = True
        cur.execute("SELECT count(*) FROM conversations_conversation WHERE user_id = %s", (MANY_USER,))
        if cur.fetchone()[0] != MANY_CONVERSATIONS:
            log(f"loading {MANY_CONVERSATIONS:,} conversations for {MANY_USER} ...")
            cur.execute("DELETE FROM conversations_conversation WHERE user_id = %s", (MANY_USER,))
            with cur.copy(
                "COPY conversations_conversation (id, user_id, title, created_at, updated_at) FROM STDIN"
            ) as copy:
                for i in range(MANY_CONVERSATIONS):
                    at = EPOCH + dt.timedelta(minutes=i)
                    copy.write_row((bench_id("many", i), MANY_USER, f"Conversation {i}", at, at))
            with cur.copy(
                "COPY conversations_message (id, conversation_id, user_id, role, content, status, created_at) FROM STDIN"
            ) as copy:
                for i in range(MANY_CONVERSATIONS):
                    at = EPOCH + dt.timedelta(minutes=i)
                    for row in _message_rows(bench_id("many", i), MANY_USER, 2, f"many-{i}", at):
                        copy.write_row(row)
            loaded = True
        cur.execute("SELECT count(*) FROM conversations_conversation WHERE user_id LIKE 'bench-crowd-%%'")
        if cur.fetchone()[0] != CROWD_USERS * CROWD_CONVERSATIONS:
            log(f"loading {CROWD_USERS * CROWD_CONVERSATIONS:,} conversations of {CROWD_USERS:,} other users ...")
            cur.execute("DELETE FROM conversations_conversation WHERE user_id LIKE 'bench-crowd-%%'")
            with cur.copy(
                "COPY conversations_conversation (id, user_id, title, created_at, updated_at) FROM STDIN"
            ) as copy:
                for u in range(CROWD_USERS):
                    for i in range(CROWD_CONVERSATIONS):
                        at = EPOCH + dt.timedelta(minutes=i, seconds=u)
                        copy.write_row((bench_id("crowd", u, i), f"bench-crowd-{u:04d}", f"Conversation {i}", at, at))
            loaded = True
        conn.commit()
    if loaded:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE conversations_conversation")
            conn.execute("VACUUM ANALYZE conversations_message")


def delete_chat_rows(dsn: str) -> None:
    """Remove what the chat load created (its conversations cascade to their messages)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM conversations_conversation WHERE user_id LIKE 'bench-chat-%%'")
        conn.execute("VACUUM ANALYZE conversations_conversation")
        conn.execute("VACUUM ANALYZE conversations_message")
