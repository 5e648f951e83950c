"""Pin and archive (issue 15, "Organise"): PATCH pinned/archived, the list's order and filter, one index range."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from conversations import selectors
from conversations.models import Conversation
from conversations.tests.factories import make_conversation
from conversations.tests.test_query_plans import _plan_nodes

pytestmark = pytest.mark.django_db

NOT_FOUND = {"error": "Not found", "detail": "Conversation not found"}


def patch(client: APIClient, user_id: str, conversation: Conversation, body: object):
    return client.patch(
        f"/api/{user_id}/conversations/{conversation.pk}", data=json.dumps(body), content_type="application/json"
    )


def listed(client: APIClient, user_id: str, query: str = "") -> list[str]:
    response = client.get(f"/api/{user_id}/conversations{query}")
    assert response.status_code == 200, response.content
    return [c["title"] for c in response.json()["conversations"]]


def shelf(user_id: str) -> list[Conversation]:
    start = timezone.now() - dt.timedelta(days=3)
    return [make_conversation(user_id, title=t, start=start + dt.timedelta(hours=i)) for i, t in enumerate("abcd")]


def test_pinned_conversations_come_first_then_newest_activity(api: APIClient, owner_id: str) -> None:
    a, b, _c, _d = shelf(owner_id)
    assert listed(api, owner_id) == ["d", "c", "b", "a"]
    response = patch(api, owner_id, b, {"pinned": True})
    assert response.status_code == 200 and response.json()["pinned"] is True and response.json()["archived"] is False
    patch(api, owner_id, a, {"pinned": True})
    assert listed(api, owner_id) == ["b", "a", "d", "c"]
    patch(api, owner_id, b, {"pinned": False})
    assert listed(api, owner_id) == ["a", "d", "c", "b"]
    # Organising is not activity: updated_at stays.
    b.refresh_from_db()
    assert b.updated_at == b.created_at


def test_archived_ones_leave_the_list_and_appear_with_archived_true(api: APIClient, owner_id: str) -> None:
    _a, _b, c, _d = shelf(owner_id)
    patch(api, owner_id, c, {"archived": True, "pinned": True})
    body = api.get(f"/api/{owner_id}/conversations").json()
    assert [x["title"] for x in body["conversations"]] == ["d", "b", "a"] and body["total"] == 3
    archived = api.get(f"/api/{owner_id}/conversations?archived=true").json()
    assert [x["title"] for x in archived["conversations"]] == ["c"] and archived["archived"] is True
    assert archived["total"] == 1
    # Still opens, still takes messages, and stays archived.
    assert api.get(f"/api/{owner_id}/conversations/{c.pk}").status_code == 200
    sent = api.post(
        f"/api/{owner_id}/chat",
        data=json.dumps({"conversation_id": str(c.pk), "message": "still here"}),
        content_type="application/json",
    )
    assert sent.status_code == 200
    assert listed(api, owner_id, "?archived=true") == ["c"]
    patch(api, owner_id, c, {"archived": False})
    assert listed(api, owner_id) == ["c", "d", "b", "a"]  # pinned all along


def test_title_and_flags_change_together_and_bad_ones_change_nothing(api: APIClient, owner_id: str) -> None:
    (a, *_) = shelf(owner_id)
    response = patch(api, owner_id, a, {"title": "Renamed", "pinned": True})
    assert (response.json()["title"], response.json()["pinned"]) == ("Renamed", True)
    for body, detail in (
        ({"pinned": 1}, "pinned must be true or false"),
        ({"archived": "true"}, "archived must be true or false"),
        ({"pinned": False, "color": "red"}, "Unknown field: color"),
    ):
        response = patch(api, owner_id, a, body)
        assert response.json() == {"error": "Validation error", "detail": detail}
    a.refresh_from_db()
    assert (a.title, a.pinned, a.archived) == ("Renamed", True, False)
    assert patch(api, owner_id, a, {}).json()["title"] == "Renamed"  # nothing asked, nothing changed
    response = api.get(f"/api/{owner_id}/conversations?archived=maybe")
    assert response.json() == {"error": "Validation error", "detail": "archived must be true or false"}


def test_someone_elses_conversation_cannot_be_pinned_or_archived(
    api: APIClient, owner_id: str, other_api: APIClient, other_id: str
) -> None:
    theirs = make_conversation(other_id, title="theirs")
    assert patch(api, owner_id, theirs, {"archived": True}).json() == NOT_FOUND
    assert patch(api, other_id, theirs, {"archived": True}).status_code == 403
    theirs.refresh_from_db()
    assert not theirs.archived and not theirs.pinned
    assert listed(api, owner_id, "?archived=true") == []


def test_chat_opens_the_newest_conversation_that_is_not_archived(client, owner, owner_id: str) -> None:  # type: ignore[no-untyped-def]
    _a, _b, c, d = shelf(owner_id)
    Conversation.objects.filter(pk=d.pk).update(archived=True)
    client.force_login(owner)
    assert client.get("/chat")["Location"] == f"/chat/{c.pk}"


def test_the_list_and_the_sidebar_read_one_range_of_the_shelf_index(on_postgres, owner_id: str) -> None:
    for i in range(30):
        make_conversation(owner_id, title=f"c{i}")
    make_conversation("someone-else", title="x")
    with CaptureQueriesContext(connection) as queries:
        selectors.conversation_sidebar_page(user_id=owner_id, limit=10, offset=0, archived=False)
        selectors.conversation_list(user_id=owner_id, limit=10, offset=0, archived=True)
    sidebar, _count, listing = (q["sql"] for q in queries.captured_queries)
    for sql in (sidebar, listing):
        nodes = _plan_nodes(sql, no_sorts=True)
        assert any(node.get("Index Name") == "conv_user_shelf_idx" for node in nodes), nodes
        assert not any(node["Node Type"] in ("Sort", "Incremental Sort", "Seq Scan") for node in nodes), nodes
