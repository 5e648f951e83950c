"""Keyset pages start the index scan at the cursor (issue 6; selectors.message_page, history_for_reply).

Without the redundant ``created_at <=`` bound, PostgreSQL used ``msg_conv_created_id_idx``
for the conversation only and filtered every newer message on the way: 50,000 rows
read for a page 50,000 messages back (BENCHMARKS.md).
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations import selectors
from conversations.tests.factories import make_conversation

pytestmark = pytest.mark.django_db


def _plan_nodes(sql: str, *, no_sorts: bool = False, analyze: bool = False) -> list[dict]:
    """Every node of PostgreSQL's plan for ``sql``, with sequential scans (and sorts) penalised."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE conversations_message")  # fresh statistics, as autovacuum would give
        cursor.execute("SET LOCAL enable_seqscan = off")
        if no_sorts:
            cursor.execute("SET LOCAL enable_sort = off")
            cursor.execute("SET LOCAL enable_incremental_sort = off")
        cursor.execute(("EXPLAIN (ANALYZE, FORMAT JSON) " if analyze else "EXPLAIN (FORMAT JSON) ") + sql)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    nodes, stack = [], [plan[0]["Plan"]]
    while stack:
        node = stack.pop()
        nodes.append(node)
        stack += node.get("Plans", [])
    return nodes


def _index_conditions(sql: str) -> list[str]:
    # On tiny test tables the planner may pick any plan; with scans and sorts penalised
    # only the keyset index gives the page order, and the question is what it can bound.
    return [
        node.get("Index Cond", "")
        for node in _plan_nodes(sql, no_sorts=True)
        if node.get("Index Name") == "msg_conv_created_id_idx"
    ]


def test_it_bounds_a_page_before_a_cursor_inside_the_index(on_postgres, owner_id: str) -> None:
    conversation = make_conversation(owner_id, messages=300)
    cursor = conversation.messages.order_by("created_at", "id")[150]
    with CaptureQueriesContext(connection) as queries:
        page = selectors.message_page(conversation=conversation, before=cursor.pk, limit=50)
    assert [m.content for m in page.messages] == [f"message {i}" for i in range(100, 150)]
    page_sql = queries.captured_queries[-1]["sql"]
    conditions = _index_conditions(page_sql)
    assert conditions and "created_at" in conditions[0]


def test_it_bounds_the_history_for_a_reply_inside_the_index(on_postgres, owner_id: str) -> None:
    conversation = make_conversation(owner_id, messages=300)
    before = conversation.messages.order_by("created_at", "id")[200]
    with CaptureQueriesContext(connection) as queries:
        rows = selectors.history_for_reply(
            conversation_id=conversation.pk, before=before, max_messages=10, max_chars=10_000
        )
    assert [m.content for m in rows] == [f"message {i}" for i in range(191, 201)]
    conditions = _index_conditions(queries.captured_queries[-1]["sql"])
    assert conditions and "created_at" in conditions[0]


def _indexes_used(sql: str) -> list[str]:
    return [node["Index Name"] for node in _plan_nodes(sql) if "Index Name" in node]


def test_it_finds_the_replies_still_being_written_without_reading_the_conversation(on_postgres, owner_id: str) -> None:
    # Every page, detail and chat turn checks for stale replies first: before the partial
    # index this read every message of the conversation (50 ms at 100,000; BENCHMARKS.md).
    from conversations import live
    from conversations.models import Message

    conversation = make_conversation(owner_id, messages=300)
    pending = Message.objects.create(
        conversation=conversation, user_id=owner_id, role="assistant", content="", status="pending"
    )
    with CaptureQueriesContext(connection) as queries:
        found = live.replies_in_progress(conversation_id=conversation.pk)
    assert [m.pk for m in found] == [pending.pk]
    assert _indexes_used(queries.captured_queries[-1]["sql"]) == ["msg_in_progress_idx"]


@pytest.mark.parametrize("unfinished", [False, True])
def test_the_ownership_lookup_tells_whether_a_reply_is_unfinished_from_the_partial_index(
    on_postgres, owner_id: str, unfinished: bool
) -> None:
    # The stale check's question, asked with the conversation (issue 6): no scan of its messages.
    from conversations.models import Message

    conversation = make_conversation(owner_id, messages=300)
    if unfinished:
        Message.objects.create(
            conversation=conversation, user_id=owner_id, role="assistant", content="", status="streaming"
        )
    with CaptureQueriesContext(connection) as queries:
        found = selectors.conversation_get_for_user(user_id=owner_id, conversation_id=conversation.pk)
    assert found.pk == conversation.pk and found.has_unfinished_replies is unfinished
    assert "msg_in_progress_idx" in _indexes_used(queries.captured_queries[-1]["sql"])


def test_the_newest_page_reads_the_keyset_index_when_one_conversation_is_most_of_the_table(
    on_postgres, owner_id: str
) -> None:
    """Issue 6: a long conversation that is a large share of all messages, older than the rest.

    With a B-tree on ``created_at`` PostgreSQL read this page by walking it backwards from the
    newest message of the table, filtering by conversation, through every newer message of the
    others (40 ms in the bench database). The contract's ``created_at`` index is BRIN on
    PostgreSQL (``conversations/indexes.py``), which gives no order, so the page comes from
    ``msg_conv_created_id_idx``. Fails with the B-tree (migration 0003's schema).
    """
    long = make_conversation(owner_id, messages=6000, start=timezone.now() - dt.timedelta(days=30))
    for i in range(6):
        make_conversation(f"{owner_id}-other-{i}", messages=500)  # newer than every message of ``long``
    with CaptureQueriesContext(connection) as queries:
        page = selectors.message_page(conversation=long, limit=50)
    assert [m.content for m in page.messages] == [f"message {i}" for i in range(5950, 6000)]
    nodes = _plan_nodes(queries.captured_queries[-1]["sql"])
    used = {node.get("Index Name") for node in nodes} - {None}
    assert "msg_conv_created_id_idx" in used
    assert not any(name.startswith("conversations_message_created_at") for name in used), used


def _analyzed_scans(sql: str) -> list[dict]:
    """The index scans of ``sql`` as PostgreSQL ran it (EXPLAIN ANALYZE), scans and sorts penalised."""
    return [node for node in _plan_nodes(sql, no_sorts=True, analyze=True) if "Index Name" in node]


def test_pages_of_a_branched_conversation_read_one_range_of_the_index(on_postgres, owner_id: str) -> None:
    """Issue 14: after an edit 50,000 messages back, the newest page and a page 50,000 back each
    read one range of ``msg_conv_created_id_idx`` (partial: the branch shown only), no more rows
    than the page, and none of the 9,900 messages of the hidden branch.
    """
    from conversations import services

    conversation = make_conversation(owner_id, messages=60_000, start=timezone.now() - dt.timedelta(days=2))
    ordered = conversation.messages.order_by("created_at", "id")
    target = ordered[50_100]  # a user message ("message 50100")
    start = services.edit_begin(user_id=owner_id, conversation_id=conversation.pk, message_id=target.pk, text="edited")
    services.reply_finish(reply=start.reply, content="answer", status="complete")

    with CaptureQueriesContext(connection) as queries:
        newest = selectors.message_page(conversation=conversation, limit=50)
    assert [m.content for m in newest.messages][-3:] == ["message 50099", "edited", "answer"]
    scans = _analyzed_scans(queries.captured_queries[-1]["sql"])
    assert [scan["Index Name"] for scan in scans] == ["msg_conv_created_id_idx"]
    assert scans[0]["Actual Rows"] == 51 and not scans[0].get("Rows Removed by Filter")

    cursor = ordered[102]  # 50,000 messages before the end of the branch shown
    with CaptureQueriesContext(connection) as queries:
        back = selectors.message_page(conversation=conversation, before=cursor.pk, limit=50)
    assert [m.content for m in back.messages] == [f"message {i}" for i in range(52, 102)]
    scans = _analyzed_scans(queries.captured_queries[-1]["sql"])
    assert [scan["Index Name"] for scan in scans] == ["msg_conv_created_id_idx"]
    assert "created_at" in scans[0]["Index Cond"]
    # The one row the filter drops is the cursor itself (``created_at <=`` bounds the range).
    assert scans[0]["Actual Rows"] == 51 and scans[0].get("Rows Removed by Filter", 0) <= 1
