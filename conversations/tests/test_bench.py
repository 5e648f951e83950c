"""The bench harness imports and its SQL baseline stays the chat turn's SQL (issue 6).

No timing here: the benchmarks run with ``make bench``, never in the test suite.
"""

from __future__ import annotations

import re

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bench import baseline, dataset
from bench.browser import Scroll, Visit, pane_window, scrolls_that_worked
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
    assert set(SCENARIOS) == {"chat", "chat_configs", "pages", "list", "detail", "slow_model", "live", "browser"}


def test_the_browser_bench_reads_where_the_pane_is_in_the_conversation() -> None:
    index_of = {f"m{i}": i for i in range(10)}
    assert pane_window(["m3", "m4", "m5"], index_of) == (3, True)
    assert pane_window(["m3", "m5", "m6"], index_of) == (3, False)  # a gap
    assert pane_window(["m3", "m3", "m4"], index_of) == (3, False)  # a repeat
    assert pane_window(["m5", "m4"], index_of) == (5, False)  # out of order
    assert pane_window(["m3", "other"], index_of) == (None, False)  # not this conversation's
    assert pane_window([], index_of) == (None, False)


def test_the_browser_bench_counts_the_scrolls_that_reached_further_back() -> None:
    assert scrolls_that_worked([950, 900, 850], start=1000) == 3
    assert scrolls_that_worked([950, 950, 900], start=1000) == 1  # the second one brought nothing older
    assert scrolls_that_worked([950, None, 850], start=1000) == 1  # it stopped loading
    assert scrolls_that_worked([], start=1000) == 0


def test_the_browser_bench_sums_up_a_visit() -> None:
    last = dataset.LONG_MESSAGES - 1
    times = {"ttfb_ms": 1, "dom_content_loaded_ms": 2, "ready_ms": 3, "keydown_ms": 4, "interactive_ms": 5}
    visit = Visit(**times, load_ms=6, wall_ms=7, elements_open=50, dom_nodes_open=300)
    visit.scrolls = [
        Scroll(loaded=True, ms=40, elements=100, oldest=last - 99, consecutive=True),
        Scroll(loaded=True, ms=60, elements=150, oldest=last - 149, consecutive=True),
        Scroll(loaded=False, ms=10_000, elements=150, oldest=last - 149, consecutive=True),
    ]
    assert (visit.max_elements, visit.scrolls_ok, visit.messages_back, visit.page_ms) == (150, 2, 150, 50)
    assert visit.as_dict()["scrolls_ok"] == 2


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


async def test_the_model_client_floor_holds_its_streams_and_counts_them(fake_openai) -> None:
    """bench/client_floor.py: the baseline of the 2 s-model rows (closed loop of streams, no server)."""
    from bench.client_floor import hold

    fake_openai.latency = 0.2
    result = await hold(fake_openai.base_url, in_flight=3, seconds=1.0)
    assert result["errors"] == 0
    assert len(result["latencies_ms"]) >= 3  # each of the 3 loops finished at least one reply in the second
    assert all(200 <= ms < 1000 for ms in result["latencies_ms"])
    assert result["streams"] >= len(result["latencies_ms"])  # plus the wave still open at the end
    assert result["cpu_s"] > 0
    assert len(fake_openai.requests) == result["streams"]
