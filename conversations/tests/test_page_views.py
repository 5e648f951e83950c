"""The chat page's views and htmx fragments, server side (issue 4).

Query counts are pinned (style.md, convention 7). A signed-in page request costs
two queries before the view runs: the session and the user.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from conversations.assistant import AssistantError, AssistantTimeout, set_assistant
from conversations.models import Conversation, Message
from conversations.tests.assistants import FailingAssistant
from conversations.tests.conftest import PASSWORD
from conversations.tests.factories import make_conversation

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def page(client: Client, owner) -> Client:
    """The owner, signed in to the page."""
    client.force_login(owner)
    return client


def test_it_sends_anonymous_visitors_to_login_and_back(client: Client) -> None:
    """SC-005."""
    response = client.get("/chat")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/chat"


def test_it_answers_an_anonymous_htmx_request_with_a_session_expired_fragment(client: Client, owner_id: str) -> None:
    """FR-014a: an htmx call never gets the login page swapped into the pane."""
    conv = make_conversation(owner_id, messages=2)
    response = client.get(f"/chat/{conv.pk}", HTTP_HX_CURRENT_URL=f"http://testserver/chat/{conv.pk}", **HX)
    assert response.status_code == 401
    body = response.content.decode()
    assert "Your session has expired. Please sign in again." in body
    assert f'href="/accounts/login/?next=%2Fchat%2F{conv.pk}"' in body


def test_it_signs_in_with_the_styled_login_page_and_returns_to_chat(client: Client, owner) -> None:
    page = client.get("/accounts/login/?next=/chat")
    assert page.status_code == 200
    assert b'href="/static/css/app.css"' in page.content
    # django-allauth's form (issue 16): one field for the username or the e-mail address.
    assert b'<label for="id_login">Username or email</label>' in page.content
    response = client.post("/accounts/login/", {"login": "owner", "password": PASSWORD, "next": "/chat"})
    assert response.status_code == 302
    assert response["Location"] == "/chat"


def test_it_signs_out_with_a_post(page: Client) -> None:
    response = page.post("/accounts/logout/")
    assert response.status_code == 302
    assert page.get("/chat").status_code == 302


def test_it_shows_the_empty_state_with_a_welcome_line_and_the_nav_link(page: Client, django_assert_num_queries) -> None:
    """FR-001, FR-002: session, user, newest conversation, sidebar."""
    with django_assert_num_queries(4):
        response = page.get("/chat")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Welcome! How can I help you today?" in body
    assert '<nav class="topnav" aria-label="Main">' in body
    assert '<a href="/chat" aria-current="page">Chat</a>' in body
    assert 'role="log" aria-live="polite"' in body
    assert '<label for="composer-text" class="visually-hidden">Message</label>' in body
    assert 'maxlength="4000"' in body
    assert "X-CSRFToken" in body


def test_it_ships_htmx_from_the_package_not_a_cdn(page: Client) -> None:
    body = page.get("/chat/new").content.decode()
    assert '<script src="/static/django_htmx/htmx-2.min.js" defer></script>' in body
    assert "https://" not in body.split("<body")[0]


def test_it_opens_the_newest_conversation(page: Client, owner_id: str) -> None:
    """FR-002: /chat continues where the user left off."""
    import datetime as dt

    from django.utils import timezone

    make_conversation(owner_id, title="old", start=timezone.now() - dt.timedelta(days=3))
    newest = make_conversation(owner_id, title="new", start=timezone.now() - dt.timedelta(hours=1))
    response = page.get("/chat")
    assert response.status_code == 302
    assert response["Location"] == f"/chat/{newest.pk}"


def test_it_renders_a_conversation_with_its_newest_page_only(
    page: Client, owner_id: str, django_assert_num_queries
) -> None:
    """SC-004, SC-011: session, user, conversation, one message page, sidebar."""
    conv = make_conversation(owner_id, title="Big one", messages=180)
    with django_assert_num_queries(5):
        response = page.get(f"/chat/{conv.pk}")
    body = response.content.decode()
    assert response.status_code == 200
    assert (
        body.count('<article class="msg') - body.count("<template data-live-template") == 50
    )  # minus the live templates
    assert "message 179" in body and "message 130" in body and "message 129" not in body
    assert "data-older" in body
    assert f'id="conv-{conv.pk}"' in body and 'aria-current="page"' in body
    assert "<title>Big one · Chat</title>" in body


def test_it_swaps_only_the_pane_for_htmx(page: Client, owner_id: str, django_assert_num_queries) -> None:
    conv = make_conversation(owner_id, title="Pane", messages=3)
    with django_assert_num_queries(4):
        response = page.get(f"/chat/{conv.pk}", **HX)
    body = response.content.decode()
    assert body.startswith('<title>Pane · Chat</title>\n<section id="pane"')
    assert "<title>Pane · Chat</title>" in body
    assert "<html" not in body and "conversation-list" not in body
    assert "HX-Request" in response["Vary"]


def test_it_renders_the_whole_page_for_an_htmx_history_restore(page: Client, owner_id: str) -> None:
    conv = make_conversation(owner_id, messages=1)
    response = page.get(f"/chat/{conv.pk}", HTTP_HX_HISTORY_RESTORE_REQUEST="true", **HX)
    assert b"<html" in response.content


def test_it_never_shows_another_users_conversation(page: Client, other_id: str) -> None:
    """FR-011, SC-006: the same 404 page as a missing conversation."""
    theirs = make_conversation(other_id, title="Secret plans", messages=2)
    for url in (f"/chat/{theirs.pk}", f"/chat/{theirs.pk}/messages", f"/chat/{theirs.pk}?before=x"):
        response = page.get(url)
        assert response.status_code == 404
        assert b"Secret plans" not in response.content and b"message 0" not in response.content
        assert b"The requested resource was not found." in response.content
    assert page.post(f"/chat/{theirs.pk}/rename", {"title": "mine"}).status_code == 404
    assert page.post(f"/chat/{theirs.pk}/delete").status_code == 404
    assert page.post(f"/chat/{theirs.pk}/send", {"text": "hi"}).status_code == 404
    assert page.post(f"/chat/{theirs.pk}/retry").status_code == 404
    assert Conversation.objects.get(pk=theirs.pk).title == "Secret plans"
    assert Message.objects.filter(conversation=theirs).count() == 2


def test_it_leaves_other_users_out_of_the_sidebar(page: Client, owner_id: str, other_id: str) -> None:
    make_conversation(owner_id, title="Mine")
    make_conversation(other_id, title="Theirs")
    body = page.get("/chat/new").content.decode()
    assert "Mine" in body and "Theirs" not in body


def test_it_serves_older_and_newer_pages_of_messages(page: Client, owner_id: str, django_assert_num_queries) -> None:
    """SC-011: keyset pages: session, user, conversation, cursor, rows."""
    conv = make_conversation(owner_id, messages=120)
    first_page = list(Message.objects.filter(conversation=conv).order_by("created_at", "id"))
    cursor = first_page[70]
    with django_assert_num_queries(5):
        older = page.get(f"/chat/{conv.pk}/messages?before={cursor.pk}", **HX)
    body = older.content.decode()
    assert body.count('<article class="msg') == 50
    assert "message 20<" in body and "message 69<" in body and "message 70<" not in body
    assert 'data-has-older="true"' in body and 'data-has-newer="true"' in body

    newer = page.get(f"/chat/{conv.pk}/messages?after={first_page[100].pk}", **HX).content.decode()
    assert newer.count('<article class="msg') == 19
    assert 'data-has-newer="false"' in newer

    oldest = page.get(f"/chat/{conv.pk}/messages?before={first_page[10].pk}", **HX).content.decode()
    assert oldest.count('<article class="msg') == 10 and 'data-has-older="false"' in oldest
    assert page.get(f"/chat/{conv.pk}/messages?before=nope", **HX).status_code == 404


def test_it_pages_the_sidebar(page: Client, owner_id: str, django_assert_num_queries) -> None:
    for i in range(35):
        make_conversation(owner_id, title=f"conv {i}")
    first = page.get("/chat/new").content.decode()
    assert first.count('class="conv-item"') == 30
    assert "offset=30" in first
    with django_assert_num_queries(3):
        more = page.get("/chat/conversations?offset=30", **HX).content.decode()
    assert more.count('class="conv-item"') == 5 and "offset=" not in more


def test_it_escapes_user_text_and_renders_replies_as_sanitised_markdown(page: Client, owner_id: str) -> None:
    conv = make_conversation(owner_id)
    Message.objects.create(conversation=conv, user_id=owner_id, role="user", content="<script>alert(1)</script> *hi*")
    Message.objects.create(
        conversation=conv,
        user_id=owner_id,
        role="assistant",
        content="**bold**\n\n```python\nprint('x')\n```\n\n<img src=x onerror=alert(1)> [a](javascript:alert(1))",
    )
    body = page.get(f"/chat/{conv.pk}").content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; *hi*" in body
    assert "<strong>bold</strong>" in body
    assert '<pre><code class="language-python">' in body
    assert "onerror" not in body.replace("&lt;img src=x onerror=alert(1)&gt;", "")
    assert 'href="javascript' not in body


def test_it_sends_a_message_and_answers_with_the_turn(page: Client, owner_id: str) -> None:
    """FR-004..FR-010: the first message creates the conversation; the fragment has both messages."""
    response = page.post("/chat/send", {"text": "Hello <b>there</b>"}, **HX)
    assert response.status_code == 200
    conv = Conversation.objects.get(user_id=owner_id)
    body = response.content.decode()
    assert f'data-conversation-id="{conv.pk}"' in body
    assert "Hello &lt;b&gt;there&lt;/b&gt;" in body
    assert "offline assistant" in body
    assert [m.role for m in Message.objects.filter(conversation=conv)] == ["user", "assistant"]

    again = page.post(f"/chat/{conv.pk}/send", {"text": "Second"}, **HX)
    assert again.status_code == 200
    assert Message.objects.filter(conversation=conv).count() == 4


def test_it_redirects_after_a_plain_form_post(page: Client, owner_id: str) -> None:
    """Without JavaScript: post, redirect, get."""
    response = page.post("/chat/send", {"text": "No JS here"})
    conv = Conversation.objects.get(user_id=owner_id)
    assert response.status_code == 302 and response["Location"] == f"/chat/{conv.pk}"
    assert "No JS here" in page.get(response["Location"]).content.decode()


@pytest.mark.parametrize(
    ("text", "detail"),
    [("   \n ", "Message content cannot be empty"), ("x" * 4001, "Message is too long: 4001 characters")],
)
def test_it_refuses_an_invalid_message_and_keeps_the_text(page: Client, text: str, detail: str) -> None:
    fragment = page.post("/chat/send", {"text": text}, **HX)
    assert fragment.status_code == 400 and detail in fragment.content.decode()
    plain = page.post("/chat/send", {"text": text})
    assert plain.status_code == 400
    body = plain.content.decode()
    assert detail in body
    assert f">{text}</textarea>" in body  # FR-017: the typed text is kept
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    ("error", "status", "sentence"),
    [
        (AssistantError("down"), 503, "The assistant could not answer right now."),
        (AssistantTimeout("slow"), 504, "Request timed out. Please try again."),
    ],
)
def test_it_keeps_the_message_and_offers_retry_when_the_assistant_fails(
    page: Client, owner_id: str, error: Exception, status: int, sentence: str
) -> None:
    """FR-014a, FR-017."""
    set_assistant(FailingAssistant(error))
    response = page.post("/chat/send", {"text": "Are you there?"}, **HX)
    assert response.status_code == status
    body = response.content.decode()
    conv = Conversation.objects.get(user_id=owner_id)
    assert sentence in body
    assert f'action="/chat/{conv.pk}/retry"' in body and ">Retry</button>" in body
    assert "Are you there?" in body
    user_message, reply = Message.objects.filter(conversation=conv)
    assert user_message.content == "Are you there?" and reply.status == "failed"


def test_it_retries_a_failed_reply_without_repeating_the_message(page: Client, owner_id: str) -> None:
    set_assistant(FailingAssistant(AssistantError("down")))
    page.post("/chat/send", {"text": "Once"}, **HX)
    conv = Conversation.objects.get(user_id=owner_id)
    again = page.post(f"/chat/{conv.pk}/retry", **HX)
    assert again.status_code == 503 and "The assistant could not answer right now." in again.content.decode()

    from conversations.assistant import reset_assistant

    reset_assistant()
    response = page.post(f"/chat/{conv.pk}/retry", **HX)
    assert response.status_code == 200
    assert "offline assistant" in response.content.decode()
    messages = list(Message.objects.filter(conversation=conv))
    assert [(m.role, m.status) for m in messages] == [("user", "complete"), ("assistant", "complete")]
    assert page.post(f"/chat/{conv.pk}/retry", **HX).status_code == 409


def test_it_shows_retry_only_on_the_newest_failed_reply(page: Client, owner_id: str) -> None:
    conv = make_conversation(owner_id)
    Message.objects.create(conversation=conv, user_id=owner_id, role="user", content="q")
    Message.objects.create(conversation=conv, user_id=owner_id, role="assistant", content="", status="failed")
    body = page.get(f"/chat/{conv.pk}").content.decode()
    assert "The assistant could not answer right now." in body and ">Retry</button>" in body
    Message.objects.create(conversation=conv, user_id=owner_id, role="user", content="next")
    assert ">Retry</button>" not in page.get(f"/chat/{conv.pk}").content.decode()


def test_it_serves_one_message_as_rendered_markdown_for_the_live_page(
    page: Client, owner_id: str, django_assert_num_queries
) -> None:
    """Issue 5: once a reply has streamed, the page swaps in the server's sanitised Markdown."""
    conv = make_conversation(owner_id, title="Live", messages=2)
    reply = Message.objects.create(
        conversation=conv, user_id=owner_id, role="assistant", content="**Bold** <script>x()</script>"
    )
    with django_assert_num_queries(5):  # session, user, conversation, message, newest id
        response = page.get(f"/chat/{conv.pk}/messages/{reply.pk}", **HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert body.count('<article class="msg') == 1 and f'data-id="{reply.pk}"' in body
    assert "<strong>Bold</strong>" in body and "<script>" not in body
    assert 'data-status="complete"' in body and 'id="conv-header"' in body
    assert f'data-conversation-url="/chat/{conv.pk}"' in body


def test_it_words_a_failed_live_reply_and_offers_retry_only_when_newest(page: Client, owner_id: str) -> None:
    """FR-014a: the live page shows the same sentences as the HTTP path."""
    conv = make_conversation(owner_id, messages=1)
    failed = Message.objects.create(
        conversation=conv, user_id=owner_id, role="assistant", content="Half", status="failed"
    )
    timeout = page.get(f"/chat/{conv.pk}/messages/{failed.pk}?reason=timeout", **HX).content.decode()
    assert "Request timed out. Please try again." in timeout and f"/chat/{conv.pk}/retry" in timeout
    plain = page.get(f"/chat/{conv.pk}/messages/{failed.pk}", **HX).content.decode()
    assert "The assistant could not answer right now." in plain
    Message.objects.create(conversation=conv, user_id=owner_id, role="user", content="Later")
    older = page.get(f"/chat/{conv.pk}/messages/{failed.pk}", **HX).content.decode()
    assert "The assistant could not answer this message." in older and "/retry" not in older


def test_it_serves_no_message_of_another_users_conversation(page: Client, owner_id: str, other_id: str) -> None:
    """FR-011, SC-006."""
    theirs = make_conversation(other_id, messages=2)
    message = Message.objects.filter(conversation=theirs).first()
    assert page.get(f"/chat/{theirs.pk}/messages/{message.pk}", **HX).status_code == 404
    mine = make_conversation(owner_id, messages=1)
    assert page.get(f"/chat/{mine.pk}/messages/{message.pk}", **HX).status_code == 404


def test_it_renames_a_conversation(page: Client, owner_id: str) -> None:
    conv = make_conversation(owner_id, title="Before")
    response = page.post(f"/chat/{conv.pk}/rename", {"title": "  After  "}, **HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert '<h1 id="pane-title" class="pane__title">After</h1>' in body
    assert f'<li id="conv-{conv.pk}" class="conv-item" hx-swap-oob="true">' in body
    conv.refresh_from_db()
    assert conv.title == "After"

    bad = page.post(f"/chat/{conv.pk}/rename", {"title": "   "}, **HX)
    assert bad.status_code == 400 and "Title cannot be empty" in bad.content.decode()
    plain = page.post(f"/chat/{conv.pk}/rename", {"title": "Plain"})
    assert plain.status_code == 302
    conv.refresh_from_db()
    assert conv.title == "Plain"


def test_it_deletes_a_conversation(page: Client, owner_id: str) -> None:
    conv = make_conversation(owner_id, messages=4)
    response = page.post(f"/chat/{conv.pk}/delete")
    assert response.status_code == 302 and response["Location"] == reverse("chat")
    assert not Conversation.objects.filter(pk=conv.pk).exists()
    assert not Message.objects.exists()


def test_it_says_the_session_expired_when_the_csrf_cookie_is_gone(owner) -> None:
    """FR-014a: a refused post is explained, not a technical 403."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    response = client.post("/chat/send", {"text": "hi"}, **HX)
    assert response.status_code == 403
    assert "Your session has expired. Please sign in again." in response.content.decode()
    page = client.post("/chat/send", {"text": "hi"})
    assert page.status_code == 403 and b"Sign in again" in page.content
