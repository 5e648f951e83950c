"""The page's small comforts, server side (issue 14, "On the page"): when each message was sent,
the composer's focus, the shortcuts dialog and the highlighted code's stylesheet.
Their behaviour in a browser: test_page_polish_browser.py."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.utils import timezone

from conversations.models import Message
from conversations.templatetags.chat import message_time, sent_ago
from conversations.tests.factories import make_conversation

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
NOW = dt.datetime(2026, 3, 12, 15, 30, tzinfo=dt.UTC)


@pytest.fixture
def page(client: Client, owner) -> Client:
    client.force_login(owner)
    return client


@pytest.mark.parametrize(
    ("sent", "words"),
    [
        (NOW, "just now"),
        (NOW - dt.timedelta(seconds=59), "just now"),
        (NOW + dt.timedelta(seconds=5), "just now"),  # a clock a little ahead
        (NOW - dt.timedelta(minutes=5), "5 min ago"),
        (NOW - dt.timedelta(minutes=59, seconds=59), "59 min ago"),
        (NOW - dt.timedelta(hours=3, minutes=10), "3 h ago"),
        (NOW.replace(hour=0, minute=5), "15 h ago"),
        (NOW.replace(hour=23, minute=59) - dt.timedelta(days=1), "yesterday"),
        (NOW.replace(hour=0, minute=1) - dt.timedelta(days=1), "yesterday"),
        (NOW - dt.timedelta(days=2), "10 Mar"),
        (dt.datetime(2026, 1, 1, 9, tzinfo=dt.UTC), "1 Jan"),
        (dt.datetime(2025, 12, 31, 9, tzinfo=dt.UTC), "31 Dec 2025"),
    ],
)
def test_it_words_when_a_message_was_sent(settings, sent: dt.datetime, words: str) -> None:
    settings.TIME_ZONE = "UTC"
    assert sent_ago(sent, NOW) == words


def test_yesterday_and_today_are_the_site_time_zones(settings) -> None:
    settings.TIME_ZONE = "America/New_York"  # 15:30 UTC is 11:30 there; 03:00 UTC was 23:00 the day before
    with timezone.override("America/New_York"):
        assert sent_ago(NOW.replace(hour=3), NOW) == "yesterday"
        assert sent_ago(NOW.replace(hour=5), NOW) == "10 h ago"


def test_the_time_element_has_the_moment_and_the_full_date_on_hover() -> None:
    sent = timezone.now() - dt.timedelta(minutes=5)
    html = message_time(sent)
    iso = sent.astimezone(dt.UTC).isoformat(timespec="seconds")
    assert html.startswith(f'<time datetime="{iso}" title="')
    assert html.endswith(" data-relative>5 min ago</time>")
    assert re.search(r'title="\w+day \d{1,2} \w+ \d{4}, \d\d:\d\d"', html), html


def test_every_message_shows_when_it_was_sent(page: Client, owner_id: str) -> None:
    conv = make_conversation(
        owner_id, title="Times", messages=2, start=timezone.now() - dt.timedelta(minutes=10, seconds=30)
    )
    body = page.get(f"/chat/{conv.pk}").content.decode()
    times = re.findall(
        r'<footer class="msg__meta"><time datetime="([^"]+)" title="[^"]+" data-relative>([^<]+)</time>', body
    )
    assert [words for _, words in times] == ["10 min ago", "10 min ago"]
    stored = [
        m.created_at.astimezone(dt.UTC).isoformat(timespec="seconds") for m in conv.messages.order_by("created_at")
    ]
    assert [iso for iso, _ in times] == stored
    # The markup the page's script copies for a message it shows before the server's copy: stamped in the browser.
    assert body.count('<footer class="msg__meta"><time data-relative>just now</time></footer>') == 2


def test_a_message_fetched_alone_shows_its_time_too(page: Client, owner_id: str) -> None:
    conv = make_conversation(owner_id, messages=1)
    reply = Message.objects.create(conversation=conv, user_id=owner_id, role="assistant", content="Hi")
    body = page.get(f"/chat/{conv.pk}/messages/{reply.pk}", **HX).content.decode()
    assert "data-relative>just now</time>" in body


def test_the_composer_is_focused_when_a_conversation_opens(page: Client, owner_id: str) -> None:
    conv = make_conversation(owner_id, messages=2)
    for response in (page.get(f"/chat/{conv.pk}"), page.get(f"/chat/{conv.pk}", **HX), page.get("/chat/new", **HX)):
        textarea = re.search(r"<textarea id=\"composer-text\"[^>]*>", response.content.decode())[0]
        assert " autofocus" in textarea and 'aria-keyshortcuts="Shift+Escape"' in textarea


def test_the_chat_page_has_the_shortcuts_dialog_and_its_scripts(page: Client) -> None:
    body = page.get("/chat/new").content.decode()
    assert '<dialog id="shortcuts" class="keys-dialog" aria-labelledby="shortcuts-title">' in body
    assert '<h2 id="shortcuts-title">Keyboard shortcuts</h2>' in body
    assert '<form method="dialog"><button type="submit" class="btn">Close</button></form>' in body
    for name in ("times", "drafts", "shortcuts"):
        assert f'<script src="/static/js/{name}.js" defer></script>' in body
    # Before chat.js: they must hear the first pane's chat:pane and see Escape before chat.js acts on it.
    assert body.index("/static/js/shortcuts.js") < body.index("/static/js/chat.js")
    assert '<link rel="stylesheet" href="/static/css/code.css">' in body
    assert 'aria-keyshortcuts="Control+Shift+O"' in body and 'aria-keyshortcuts="Escape"' in body
