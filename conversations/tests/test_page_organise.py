"""Pin, archive and the sidebar's date headings on the page (issue 15, "Organise")."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from conversations import views
from conversations.models import Conversation
from conversations.tests.factories import make_conversation

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def headings(html: str) -> list[str]:
    return re.findall(r'<h3 class="conv-group__title">([^<]+)</h3>', html)


def titles(html: str) -> list[str]:
    return re.findall(r'<span class="conv-item__title">([^<]+)</span>', html)


@pytest.fixture
def signed_in(client, owner):  # type: ignore[no-untyped-def]
    client.force_login(owner)
    return client


def test_the_sidebar_groups_by_date_with_pinned_first(signed_in, owner_id: str) -> None:  # type: ignore[no-untyped-def]
    now = timezone.localtime()
    for title, days in (("today", 0), ("yesterday", 1), ("week", 5), ("month", 20), ("old", 75), ("older", 400)):
        make_conversation(owner_id, title=title, start=now - dt.timedelta(days=days, minutes=1))
    pinned = make_conversation(owner_id, title="pinned", start=now - dt.timedelta(days=90))
    Conversation.objects.filter(pk=pinned.pk).update(pinned=True)
    html = signed_in.get("/chat/conversations").content.decode()
    old_month = timezone.localtime(now - dt.timedelta(days=75, minutes=1))
    older_month = timezone.localtime(now - dt.timedelta(days=400, minutes=1))
    assert headings(html) == [
        "Pinned",
        "Today",
        "Yesterday",
        "Previous 7 days",
        "Previous 30 days",
        f"{old_month:%B %Y}",
        f"{older_month:%B %Y}",
    ]
    assert titles(html) == ["pinned", "today", "yesterday", "week", "month", "old", "older"]


def test_load_more_does_not_repeat_the_heading_it_continues(signed_in, owner_id: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(views, "SIDEBAR_PAGE", 2)
    now = timezone.now()
    for i in range(4):
        make_conversation(owner_id, title=f"c{i}", start=now - dt.timedelta(minutes=10 - i))
    first = signed_in.get("/chat/conversations").content.decode()
    assert headings(first) == ["Today"] and titles(first) == ["c3", "c2"]
    more = re.search(r'hx-get="(/chat/conversations\?offset=2[^"]+)"', first).group(1).replace("&amp;", "&")
    second = signed_in.get(more).content.decode()
    assert headings(second) == [] and titles(second) == ["c1", "c0"]


def test_pin_and_archive_from_the_header(signed_in, owner_id: str) -> None:  # type: ignore[no-untyped-def]
    a = make_conversation(owner_id, title="alpha")
    b = make_conversation(owner_id, title="beta")
    response = signed_in.post(f"/chat/{a.pk}/organise", {"pinned": "1"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert ">Unpin<" in html and 'hx-swap-oob="innerHTML"' in html
    assert titles(html) == ["alpha", "beta"] and headings(html)[0] == "Pinned"

    html = signed_in.post(f"/chat/{a.pk}/organise", {"archived": "1"}, **HTMX).content.decode()
    assert ">Unarchive<" in html and ">Archived<" in html  # the badge, and the sidebar's Archived link
    assert titles(html) == ["beta"]
    archived = signed_in.get("/chat/conversations?archived=1").content.decode()
    assert titles(archived) == ["alpha"] and "All conversations" in archived
    # Without script: post, then back to the conversation.
    response = signed_in.post(f"/chat/{a.pk}/organise", {"archived": "0", "pinned": "0"})
    assert response.status_code == 302 and response["Location"] == f"/chat/{a.pk}"
    a.refresh_from_db()
    assert (a.pinned, a.archived) == (False, False)
    b.refresh_from_db()
    assert (b.pinned, b.archived) == (False, False)


def test_an_empty_archive_says_so(signed_in) -> None:  # type: ignore[no-untyped-def]
    assert "No archived conversations." in signed_in.get("/chat/conversations?archived=1").content.decode()


def test_someone_elses_conversation_cannot_be_organised(signed_in, other_id: str) -> None:  # type: ignore[no-untyped-def]
    theirs = make_conversation(other_id, title="theirs")
    assert signed_in.post(f"/chat/{theirs.pk}/organise", {"archived": "1"}, **HTMX).status_code == 404
    theirs.refresh_from_db()
    assert not theirs.archived


def test_the_sidebar_stays_one_query(signed_in, owner_id: str, django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    for i in range(5):
        make_conversation(owner_id, title=f"c{i}")
    with django_assert_num_queries(3):  # the session, the user, one page of conversations
        signed_in.get("/chat/conversations?archived=1")
