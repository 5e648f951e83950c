"""Search on the page (issue 15): results as you type in the sidebar, opening a conversation at a message."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from conversations.models import Message
from conversations.tests.factories import make_conversation

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def signed_in(client, owner):  # type: ignore[no-untyped-def]
    client.force_login(owner)
    return client


def deep_conversation(owner_id: str, *, messages: int = 300, at: int = 100):
    conversation = make_conversation(owner_id, title="Long one", messages=messages)
    target = Message.objects.filter(conversation=conversation).order_by("created_at", "id")[at]
    Message.objects.filter(pk=target.pk).update(content="the zebra crossing <b>plan</b>")
    return conversation, target


def test_results_appear_with_marked_escaped_snippets_and_only_ones_own(signed_in, owner_id, other_id) -> None:  # type: ignore[no-untyped-def]
    conversation, target = deep_conversation(owner_id)
    make_conversation(other_id, title="zebra of someone else", messages=2)
    html = signed_in.get("/chat/search?q=zebra", **HTMX).content.decode()
    assert f"/chat/{conversation.pk}?at={target.pk}" in html
    assert "<mark>zebra</mark>" in html and "&lt;b&gt;plan&lt;/b&gt;" in html and "<b>plan" not in html
    assert "someone else" not in html
    assert (
        "Nothing found for “nothing-like-this”."
        in signed_in.get("/chat/search?q=nothing-like-this", **HTMX).content.decode()
    )
    assert signed_in.get("/chat/search?q=", **HTMX).content.decode().strip() == ""
    too_long = signed_in.get("/chat/search?q=" + "x" * 201, **HTMX).content.decode()
    assert "Search query must be at most 200 characters" in too_long


def test_without_script_the_search_is_a_page(signed_in, owner_id) -> None:  # type: ignore[no-untyped-def]
    deep_conversation(owner_id)
    html = signed_in.get("/chat/search?q=zebra").content.decode()
    assert "<h1>Search conversations</h1>" in html and "<mark>zebra</mark>" in html


def test_a_result_opens_the_conversation_at_its_message_even_far_back(signed_in, owner_id) -> None:  # type: ignore[no-untyped-def]
    conversation, target = deep_conversation(owner_id, messages=300, at=100)
    html = signed_in.get(f"/chat/{conversation.pk}?at={target.pk}").content.decode()
    assert f'data-found-id="{target.pk}"' in html
    assert f'msg--found" id="msg-{target.pk}"' in html and html.count("msg--found") == 1
    # The target, the ten after it and older ones; newer pages load from the "Show newer" link.
    assert "message 110" in html and "message 111" not in html and "message 61" in html
    # The links themselves (their words are also in the page's script text: conversations/page_text.py).
    assert "data-newer href" in html and "data-older href" in html


def test_a_result_near_the_end_opens_the_newest_page(signed_in, owner_id) -> None:  # type: ignore[no-untyped-def]
    conversation, target = deep_conversation(owner_id, messages=30, at=25)
    html = signed_in.get(f"/chat/{conversation.pk}?at={target.pk}").content.decode()
    assert "msg--found" in html and "data-newer href" not in html


def test_a_message_of_another_conversation_is_not_found(signed_in, owner_id, other_id) -> None:  # type: ignore[no-untyped-def]
    mine = make_conversation(owner_id, title="mine", messages=2)
    theirs = make_conversation(other_id, title="theirs", messages=2, start=timezone.now() - dt.timedelta(hours=1))
    message = Message.objects.filter(conversation=theirs).first()
    assert signed_in.get(f"/chat/{mine.pk}?at={message.pk}").status_code == 404
    assert signed_in.get(f"/chat/{mine.pk}?at=not-a-uuid").status_code == 404


def test_opening_at_a_message_reads_two_bounded_ranges_of_the_keyset_index(on_postgres, owner_id) -> None:  # type: ignore[no-untyped-def]
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from conversations import selectors
    from conversations.tests.test_query_plans import _index_conditions

    conversation, target = deep_conversation(owner_id, messages=600, at=200)
    with CaptureQueriesContext(connection) as queries:
        page, newest = selectors.message_page_around(conversation=conversation, message_id=target.pk, limit=50)
    assert not newest and page.messages[-11].pk == target.pk and len(page.messages) == 50
    # The cursor lookup, then the ten newer and the fifty up to them: each starts inside the index at the
    # message, so a message 50,000 back costs what one near the end does (issue 15).
    reads = [q["sql"] for q in queries.captured_queries if q["sql"].endswith(("LIMIT 11", "LIMIT 51"))]
    assert len(reads) == 2, [q["sql"][-20:] for q in queries.captured_queries]
    for sql in reads:
        conditions = _index_conditions(sql)
        assert conditions and "created_at" in conditions[0], sql
