"""The baseline: a minimal psycopg program doing the SQL of one chat turn, nothing else.

The statements are the ones Django sends for ``POST /api/{user_id}/chat`` with a new
conversation (captured with ``CaptureQueriesContext`` around ``services.chat_send``;
``tests/test_bench.py`` checks they still match): two transactions,

1. read the person's preferences (the model and instructions a new conversation takes,
   issue 14), insert the conversation, then the user's message and the pending reply in one
   statement (a new conversation's history is its first message: nothing is read back);
2. update the reply's text and status, bump the conversation's ``updated_at``.

Client-side parameter binding (``ClientCursor``) as Django's PostgreSQL backend uses
by default; one persistent connection per client, so this is the floor the web
server's chat turn is compared with.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid

import psycopg

from bench.stats import LoadResult, from_latencies

REPLY_TEXT = (
    "You wrote: “{text}”.\n\nI am the built-in **offline assistant**: I cannot hold a conversation, but I can "
    "manage your tasks. Try “add a task to buy milk”, “show my tasks”, “what's pending?”, “mark task 1 complete”, "
    "“rename task 1 to Buy oat milk” or “delete task 1”. This is message 1 of our conversation, and it has been "
    "saved.\n\nTo get real answers, connect a model: set `OPENAI_API_KEY` (OpenAI) or `OPENAI_BASE_URL` (any "
    "OpenAI-compatible server such as Ollama, vLLM or LM Studio) and `OPENAI_MODEL`, then restart the server."
)

SELECT_PREFERENCES = 'SELECT "model", "instructions" FROM "conversations_preference" WHERE "user_id" = %s'
INSERT_CONVERSATION = (
    'INSERT INTO "conversations_conversation" ("id", "user_id", "title", "created_at", "updated_at") '
    "VALUES (%s, %s, %s, %s, %s)"
)
# Both messages in one statement, as Django 5.2's bulk_create sends it on PostgreSQL (UNNEST of arrays).
INSERT_MESSAGES = (
    'INSERT INTO "conversations_message" ("id", "conversation_id", "user_id", "role", "content", "status", "created_at") '
    "SELECT * FROM UNNEST(%s::uuid[], %s::uuid[], %s::varchar[], %s::varchar[], %s::text[], %s::varchar[], "
    "%s::timestamptz[])"
)
UPDATE_REPLY = (
    'UPDATE "conversations_message" SET "content" = %s, "status" = %s '
    "WHERE (\"id\" = %s AND \"status\" IN ('pending', 'streaming'))"
)
UPDATE_CONVERSATION = (
    'UPDATE "conversations_conversation" SET "updated_at" = %s WHERE ("id" = %s AND "updated_at" < %s)'
)
# The statements of one turn, in order (transaction control aside).
TURN_STATEMENTS = (
    SELECT_PREFERENCES,
    INSERT_CONVERSATION,
    INSERT_MESSAGES,
    UPDATE_REPLY,
    UPDATE_CONVERSATION,
)


def chat_turn(conn: psycopg.Connection, *, user_id: str, text: str) -> uuid.UUID:
    """Run one chat turn's SQL on ``conn`` (two transactions); returns the new conversation id."""
    now = dt.datetime.now(dt.UTC)
    conversation_id, message_id, reply_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(SELECT_PREFERENCES, (user_id,))
        cur.fetchone()
        cur.execute(INSERT_CONVERSATION, (conversation_id, user_id, text[:60], now, now))
        cur.execute(
            INSERT_MESSAGES,
            (
                [message_id, reply_id],
                [conversation_id, conversation_id],
                [user_id, user_id],
                ["user", "assistant"],
                [text, ""],
                ["complete", "pending"],
                [now, now + dt.timedelta(microseconds=1)],
            ),
        )
    done = dt.datetime.now(dt.UTC)
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(UPDATE_REPLY, (REPLY_TEXT.format(text=text), "complete", reply_id))
        cur.execute(UPDATE_CONVERSATION, (done, conversation_id, done))
    return conversation_id


def run_baseline(*, dsn: str, clients: int, seconds: float, user_ids: list[str], text: str) -> LoadResult:
    """``clients`` threads, each with its own connection, run chat turns back to back for ``seconds``.

    Users are taken round-robin from ``user_ids``, each client from its own offset.
    """
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    start_gate = threading.Barrier(clients + 1)
    stop_at = [float("inf")]  # set once every client is connected

    def client(index: int) -> None:
        with psycopg.connect(dsn, autocommit=True, cursor_factory=psycopg.ClientCursor) as conn:
            start_gate.wait()
            position = index * 7919
            while time.perf_counter() < stop_at[0]:
                position += 1
                began = time.perf_counter()
                try:
                    chat_turn(conn, user_id=user_ids[position % len(user_ids)], text=text)
                except psycopg.Error:
                    errors[index] += 1
                    continue
                latencies[index].append((time.perf_counter() - began) * 1000)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    start_gate.wait()
    began = time.perf_counter()
    stop_at[0] = began + seconds
    for thread in threads:
        thread.join(timeout=seconds + 30)
    elapsed = time.perf_counter() - began
    return from_latencies([x for per in latencies for x in per], seconds=elapsed, errors=sum(errors))
