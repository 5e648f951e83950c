"""Search (issue 15, "Search"): ``GET /api/{user_id}/search``, full-text on PostgreSQL, the fallback elsewhere.

Tests that need PostgreSQL's full-text search take ``on_postgres``; the rest run on both
databases, and the fallback's own rules are checked by calling it directly, so they run on
PostgreSQL too.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from conversations import search
from conversations.models import Conversation, Message
from conversations.tests.factories import make_conversation
from conversations.tests.test_query_plans import _plan_nodes

pytestmark = pytest.mark.django_db


def say(conversation: Conversation, content: str, *, minutes_ago: float = 0, role: str = "user") -> Message:
    return Message.objects.create(
        conversation=conversation,
        user_id=conversation.user_id,
        role=role,
        content=content,
        created_at=timezone.now() - dt.timedelta(minutes=minutes_ago),
    )


def found(client: APIClient, user_id: str, q: str, **params: object) -> dict:
    response = client.get(f"/api/{user_id}/search", {"q": q, **params})
    assert response.status_code == 200, response.content
    return response.json()


def contents(client: APIClient, user_id: str, q: str) -> list[str]:
    """The found messages' texts, in the order answered."""
    ids = [r["message_id"] for r in found(client, user_id, q)["results"] if r["message_id"]]
    by_id = {str(m.pk): m.content for m in Message.objects.filter(pk__in=ids)}
    return [by_id[i] for i in ids]


# --- Both databases ---------------------------------------------------------------------


def test_it_finds_only_the_users_own_messages(
    api: APIClient, owner_id: str, other_api: APIClient, other_id: str, anon_api: APIClient
) -> None:
    mine = make_conversation(owner_id, title="Mine")
    theirs = make_conversation(other_id, title="Theirs")
    message = say(mine, "the zebra crossing")
    say(theirs, "the zebra crossing")
    body = found(api, owner_id, "zebra")
    assert body["query"] == "zebra"
    assert [(r["conversation_id"], r["message_id"], r["title"]) for r in body["results"]] == [
        (str(mine.pk), str(message.pk), "Mine")
    ]
    assert "<mark>zebra</mark>" in body["results"][0]["snippet"].lower()
    assert {r["conversation_id"] for r in found(other_api, other_id, "zebra")["results"]} == {str(theirs.pk)}
    assert api.get(f"/api/{other_id}/search", {"q": "zebra"}).status_code == 403
    response = anon_api.get(f"/api/{owner_id}/search", {"q": "zebra"})
    assert response.status_code == 401 and response.json()["error"] == "Unauthorized"


def test_it_searches_archived_conversations_and_titles(api: APIClient, owner_id: str) -> None:
    shelved = make_conversation(owner_id, title="Giraffe notes")
    Conversation.objects.filter(pk=shelved.pk).update(archived=True)
    say(shelved, "nothing about long necks here")
    titled = found(api, owner_id, "giraffe")["results"]
    assert [(r["conversation_id"], r["message_id"]) for r in titled] == [(str(shelved.pk), None)]
    assert titled[0]["title"] == "Giraffe notes"
    assert titled[0]["snippet"].lower() == "<mark>giraffe</mark> notes"
    assert len(found(api, owner_id, "necks")["results"]) == 1


def test_it_leaves_out_replies_without_text(api: APIClient, owner_id: str) -> None:
    conversation = make_conversation(owner_id, title="")
    say(conversation, "tell me about okapis")
    Message.objects.create(conversation=conversation, user_id=owner_id, role="assistant", content="", status="failed")
    results = found(api, owner_id, "okapis")["results"]
    assert len(results) == 1 and results[0]["title"] == ""


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({}, "q is required"),
        ({"q": ""}, "Search query cannot be empty"),
        ({"q": " \t\n "}, "Search query cannot be empty"),
        ({"q": "z" * 201}, "Search query must be at most 200 characters"),
        ({"q": "zebra", "limit": "0"}, "limit must be an integer between 1 and 50"),
        ({"q": "zebra", "limit": "51"}, "limit must be an integer between 1 and 50"),
        ({"q": "zebra", "limit": "ten"}, "limit must be an integer between 1 and 50"),
        ({"q": "zebra", "limit": ""}, "limit must be an integer between 1 and 50"),
    ],
)
def test_a_bad_query_is_a_400_with_the_contract_body(
    api: APIClient, owner_id: str, params: dict[str, str], detail: str
) -> None:
    response = api.get(f"/api/{owner_id}/search", params)
    assert response.status_code == 400
    assert response.json() == {"error": "Validation error", "detail": detail}


def test_a_query_of_200_characters_is_fine_and_answered_trimmed(api: APIClient, owner_id: str) -> None:
    assert found(api, owner_id, "z" * 200)["results"] == []
    assert found(api, owner_id, "  zebra  ")["query"] == "zebra"


def test_the_limit_cuts_the_results(api: APIClient, owner_id: str) -> None:
    conversation = make_conversation(owner_id, title="Stripes")
    for i in range(25):
        say(conversation, f"zebra number {i}", minutes_ago=i)
    assert len(found(api, owner_id, "zebra")["results"]) == 20
    assert len(found(api, owner_id, "zebra", limit=3)["results"]) == 3
    assert len(found(api, owner_id, "zebra", limit=50)["results"]) == 25


def test_a_query_with_nothing_to_look_for_finds_nothing(api: APIClient, owner_id: str) -> None:
    say(make_conversation(owner_id), "zebra")
    say(make_conversation(owner_id), "lion")
    assert found(api, owner_id, "-zebra")["results"] == []
    assert found(api, owner_id, "or")["results"] == []


def test_the_operation_and_its_query_parameters_are_in_the_schema(api: APIClient) -> None:
    schema = api.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/{user_id}/search"]["get"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert parameters["q"]["required"] is True and parameters["q"]["schema"]["maxLength"] == 200
    assert parameters["limit"]["schema"]["maximum"] == 50
    assert {"200", "400", "401", "403"} <= set(operation["responses"])


# --- The fallback (run directly, so on either database) ---------------------------------


def test_the_fallback_needs_every_word_case_insensitively_newest_first(owner_id: str) -> None:
    conversation = make_conversation(owner_id, title="Safari")
    old = say(conversation, "A ZEBRA met a lion", minutes_ago=10)
    new = say(conversation, "lion and zebra again", minutes_ago=1)
    only = say(conversation, "only a zebra", minutes_ago=5)
    say(make_conversation("someone-else"), "zebra lion", minutes_ago=0)
    rows = search.search_fallback(user_id=owner_id, query='"zebra lion"', limit=10)
    assert [r.message_id for r in rows] == [new.pk, old.pk]
    assert rows[1].snippet == "A <mark>ZEBRA</mark> met a <mark>lion</mark>"
    excluded = search.search_fallback(user_id=owner_id, query="zebra -met", limit=10)
    assert [r.message_id for r in excluded] == [new.pk, only.pk]


def test_the_fallback_snippet_is_a_short_escaped_excerpt(owner_id: str) -> None:
    conversation = make_conversation(owner_id)
    say(conversation, "<b>bold</b> " + "filler " * 40 + "<script>alert(1)</script> zebra " + "tail " * 60)
    (row,) = search.search_fallback(user_id=owner_id, query="zebra", limit=5)
    assert row.snippet.startswith("… ") and row.snippet.endswith(" …")
    assert "&lt;script&gt;alert(1)&lt;/script&gt; <mark>zebra</mark>" in row.snippet
    assert "<script" not in row.snippet and "<b>" not in row.snippet
    assert len(row.snippet) < 300


# --- PostgreSQL: full-text search -------------------------------------------------------


def test_it_stems_words(on_postgres: None, api: APIClient, owner_id: str) -> None:
    say(make_conversation(owner_id), "I saw a zebra at the zoo")
    say(make_conversation(owner_id), "Running late")
    assert contents(api, owner_id, "zebras") == ["I saw a zebra at the zoo"]
    assert contents(api, owner_id, "runs") == ["Running late"]


def test_a_quoted_phrase_needs_the_words_side_by_side(on_postgres: None, api: APIClient, owner_id: str) -> None:
    conversation = make_conversation(owner_id)
    say(conversation, "the quick brown fox")
    say(conversation, "brown is not quick")
    assert contents(api, owner_id, '"quick brown"') == ["the quick brown fox"]
    assert sorted(contents(api, owner_id, "quick brown")) == ["brown is not quick", "the quick brown fox"]


def test_a_minus_excludes_and_or_widens(on_postgres: None, api: APIClient, owner_id: str) -> None:
    conversation = make_conversation(owner_id)
    say(conversation, "zebra and lion")
    say(conversation, "zebra alone")
    say(conversation, "a hippo")
    assert contents(api, owner_id, "zebra -lion") == ["zebra alone"]
    assert sorted(contents(api, owner_id, "lion or hippo")) == ["a hippo", "zebra and lion"]


def test_better_matches_come_first(on_postgres: None, api: APIClient, owner_id: str) -> None:
    conversation = make_conversation(owner_id, title="Holiday")
    say(conversation, "one zebra here", minutes_ago=5)
    say(conversation, "zebra there, another zebra", minutes_ago=10)  # older, but twice
    assert contents(api, owner_id, "zebra") == ["zebra there, another zebra", "one zebra here"]
    titled = make_conversation(owner_id, title="Zebra facts", start=timezone.now() - dt.timedelta(days=30))
    results = found(api, owner_id, "zebra")["results"]
    assert (results[0]["conversation_id"], results[0]["message_id"]) == (str(titled.pk), None)
    assert results[0]["snippet"] == "<mark>Zebra</mark> facts"


def test_the_snippet_is_escaped_and_marks_the_words_only(on_postgres: None, api: APIClient, owner_id: str) -> None:
    say(make_conversation(owner_id, title="<img src=x onerror=alert(1)> zebra"), "<script>alert(1)</script> zebra")
    results = found(api, owner_id, "zebra")["results"]
    snippets = {bool(r["message_id"]): r["snippet"] for r in results}
    message, title = snippets[True], snippets[False]
    assert "&lt;script&gt;" in message and "<mark>zebra</mark>" in message and "<script" not in message
    assert "&lt;img" in title and "<img" not in title and "<mark>zebra</mark>" in title
    for snippet in (message, title):
        assert snippet.replace("<mark>", "").replace("</mark>", "").count("<") == 0


def test_text_holding_the_sentinels_cannot_make_tags(on_postgres: None, owner_id: str) -> None:
    say(make_conversation(owner_id), "zebra \ue000<b>\ue001 stripes")
    (row,) = search.search_fulltext(user_id=owner_id, query="zebra", limit=5)
    assert "<mark>zebra</mark>" in row.snippet and "&lt;b&gt;" in row.snippet
    assert row.snippet.count("<mark>") == row.snippet.count("</mark>") == 1
    assert "\ue000" not in row.snippet and "\ue001" not in row.snippet


def test_a_long_message_gives_a_short_snippet(on_postgres: None, owner_id: str) -> None:
    say(make_conversation(owner_id), " ".join(["filler"] * 300 + ["zebra"] + ["tail"] * 300))
    (row,) = search.search_fulltext(user_id=owner_id, query="zebra", limit=5)
    assert "<mark>zebra</mark>" in row.snippet and len(row.snippet.split()) <= 40


def test_it_reads_the_gin_index_joined_to_the_owners_conversations(on_postgres: None, owner_id: str) -> None:
    for i in range(20):
        make_conversation(f"someone-{i}", messages=300)
    conversation = make_conversation(owner_id, title="Zebra trip", messages=300)
    say(conversation, "a rare zebra sighting")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE conversations_conversation")
    with CaptureQueriesContext(connection) as queries:
        rows = search.search_fulltext(user_id=owner_id, query="zebras", limit=10)
    assert [r.message_id is None for r in rows] == [True, False]
    message_sql, title_sql = (q["sql"] for q in queries.captured_queries)
    assert "websearch_to_tsquery" in message_sql and "ts_rank" in message_sql and "ts_headline" in message_sql
    message_indexes = {node.get("Index Name") for node in _plan_nodes(message_sql)}
    assert "msg_content_fts_idx" in message_indexes
    title_indexes = {node.get("Index Name") for node in _plan_nodes(title_sql)}
    # The title GIN index or one of the owner's indexes (the planner picks by the statistics of the moment).
    assert any(name and (name == "conv_title_fts_idx" or "user" in name) for name in title_indexes), title_indexes
    # The owner, via the conversation (in the ranked candidates' subquery).
    assert re.search(rf'U\d+\."user_id" = \'{re.escape(owner_id)}\'', message_sql), message_sql
