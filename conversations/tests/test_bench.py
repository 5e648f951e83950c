"""The bench harness imports and its SQL baseline stays the chat turn's SQL (issue 6).

No timing here: the benchmarks run with ``make bench``, never in the test suite.
"""

from __future__ import annotations

import re

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bench import baseline
from bench.scenarios import SCENARIOS
from conversations import services
from conversations.models import Conversation, Message

_SHAPE = re.compile(r'^(INSERT INTO|UPDATE|SELECT .*? FROM) "(\w+)"', re.S)


def _shape(sql: str) -> tuple[str, str]:
    match = _SHAPE.match(sql)
    assert match, sql
    verb = match.group(1).split()[0]
    return verb, match.group(2)


def test_the_bench_knows_every_scenario_of_the_issue() -> None:
    assert set(SCENARIOS) == {"chat", "chat_configs", "pages", "list", "detail", "slow_model", "live"}


@pytest.mark.django_db
def test_the_baseline_sends_the_statements_of_one_chat_turn() -> None:
    with CaptureQueriesContext(connection) as queries:
        async_to_sync(services.chat_send)(user_id="bench-user", conversation_id=None, text="hello")
    sent = [q["sql"] for q in queries.captured_queries if q["sql"] not in ("BEGIN", "COMMIT")]
    sent = [sql for sql in sent if not sql.startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]
    assert [_shape(sql) for sql in sent] == [_shape(sql) for sql in baseline.TURN_STATEMENTS]


@pytest.mark.django_db(transaction=True)
def test_the_baseline_runs_one_chat_turn(on_postgres) -> None:
    connection.ensure_connection()
    conversation_id = baseline.chat_turn(connection.connection, user_id="bench-user", text="hello")
    conversation = Conversation.objects.get(pk=conversation_id)
    assert conversation.user_id == "bench-user"
    messages = list(conversation.messages.order_by("created_at", "id"))
    assert [(m.role, m.status) for m in messages] == [("user", "complete"), ("assistant", "complete")]
    assert messages[1].content.startswith("You wrote: “hello”") and Message.objects.count() == 2
