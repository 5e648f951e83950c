"""Share links (issue 15, "Share"): the API, the public page ``/s/<token>`` and the owner's dialog.

The public page is read with Django's test client and no session, as a stranger holding the link
would; the API with the personas' tokens (conftest.py).
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations import sharing
from conversations.models import Conversation, Message, ShareLink
from conversations.tests.factories import make_conversation

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def share_path(user_id: str, conversation_id: object) -> str:
    return f"/api/{user_id}/conversations/{conversation_id}/share"


def path_of(url: str) -> str:
    return urlsplit(url).path


def add_message(
    conversation: Conversation, text: str, *, role: str = "user", status: str = "complete", **fields: object
) -> Message:
    return Message.objects.create(
        conversation=conversation,
        user_id=conversation.user_id,
        role=role,
        status=status,
        content=text,
        created_at=fields.pop("created_at", timezone.now()),
        **fields,
    )


@pytest.fixture
def stranger() -> Client:
    """Someone holding the link: no session, no token."""
    return Client()


@pytest.fixture
def conversation(owner_id: str) -> Conversation:
    return make_conversation(owner_id, title="Trip planning", messages=4)


# --- The API ------------------------------------------------------------------------


def test_it_creates_a_link_and_answers_201_with_an_absolute_url(api, owner_id: str, conversation) -> None:
    response = api.post(share_path(owner_id, conversation.pk))
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"url", "created_at"}
    assert body["url"].startswith("http://testserver/s/")
    link = ShareLink.objects.get(conversation=conversation)
    assert body["url"] == f"http://testserver/s/{link.token}"
    assert dt.datetime.fromisoformat(body["created_at"]) == link.created_at


def test_the_token_carries_at_least_128_random_bits(api, owner_id: str, conversation) -> None:
    url = api.post(share_path(owner_id, conversation.pk)).json()["url"]
    token = url.rsplit("/", 1)[1]
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    assert len(raw) * 8 >= 128
    assert len(raw) == 32  # secrets.token_urlsafe(32)
    other = make_conversation(owner_id, messages=2)
    assert api.post(share_path(owner_id, other.pk)).json()["url"] != url


def test_the_public_page_shows_the_snapshot_and_not_later_messages(
    api, owner_id: str, conversation, stranger: Client
) -> None:
    url = api.post(share_path(owner_id, conversation.pk)).json()["url"]
    add_message(conversation, "written after sharing")
    page = stranger.get(path_of(url))
    assert page.status_code == 200
    html = page.content.decode()
    for i in range(4):
        assert f"message {i}" in html
    assert "written after sharing" not in html
    assert "Trip planning" in html
    assert "Shared conversation" in html
    shared_on = ShareLink.objects.get().created_at
    assert f'datetime="{shared_on.isoformat()}"' in html or shared_on.strftime("%Y") in html


def test_the_snapshot_boundary_follows_created_at_then_id(api, owner_id: str, stranger: Client) -> None:
    """A message at the boundary's very instant is inside only if its id sorts before (selectors._older_than)."""
    conversation = make_conversation(owner_id, title="Ties")
    instant = timezone.now() - dt.timedelta(minutes=5)
    add_message(conversation, "before the tie", created_at=instant, id=uuid.UUID(int=1))
    add_message(conversation, "the boundary", created_at=instant, id=uuid.UUID(int=5))
    url = api.post(share_path(owner_id, conversation.pk)).json()["url"]
    add_message(conversation, "same instant, later id", created_at=instant, id=uuid.UUID(int=9))
    html = stranger.get(path_of(url)).content.decode()
    assert "before the tie" in html
    assert "the boundary" in html
    assert "same instant, later id" not in html


def test_it_shows_finished_messages_only(api, owner_id: str, stranger: Client) -> None:
    """Failed replies are left out; a reply being written when shared stays out even once it is finished."""
    conversation = make_conversation(owner_id, title="Finished only")
    base = timezone.now() - dt.timedelta(minutes=10)
    add_message(conversation, "first question", created_at=base)
    add_message(conversation, "partial text of a failed reply", role="assistant", status="failed", created_at=base)
    add_message(
        conversation, "stopped half", role="assistant", status="stopped", created_at=base + dt.timedelta(seconds=1)
    )
    add_message(conversation, "second question", created_at=base + dt.timedelta(seconds=2))
    pending = add_message(
        conversation, "", role="assistant", status="pending", created_at=base + dt.timedelta(seconds=3)
    )
    url = api.post(share_path(owner_id, conversation.pk)).json()["url"]
    Message.objects.filter(pk=pending.pk).update(status="complete", content="finished after sharing")

    html = stranger.get(path_of(url)).content.decode()
    assert "first question" in html
    assert "second question" in html
    assert "stopped half" in html and "Stopped." in html
    assert "partial text of a failed reply" not in html
    assert "finished after sharing" not in html


def test_revoking_answers_204_and_the_page_becomes_the_friendly_404(
    api, owner_id: str, conversation, stranger: Client
) -> None:
    url = api.post(share_path(owner_id, conversation.pk)).json()["url"]
    assert stranger.get(path_of(url)).status_code == 200

    response = api.delete(share_path(owner_id, conversation.pk))
    assert response.status_code == 204
    assert not ShareLink.objects.exists()
    page = stranger.get(path_of(url))
    assert page.status_code == 404
    html = page.content.decode()
    assert "<h1>Not found</h1>" in html
    assert "The requested resource was not found." in html
    assert "message 0" not in html and "Trip planning" not in html


def test_revoking_a_conversation_that_is_not_shared_is_a_404(api, owner_id: str, conversation) -> None:
    response = api.delete(share_path(owner_id, conversation.pk))
    assert response.status_code == 404
    assert response.json() == {"error": "Not found", "detail": "This conversation is not shared."}


def test_sharing_again_makes_a_new_link_with_a_new_snapshot_and_ends_the_old_one(
    api, owner_id: str, conversation, stranger: Client
) -> None:
    first = api.post(share_path(owner_id, conversation.pk)).json()["url"]
    add_message(conversation, "added between the two shares")
    conversation.title = "Renamed later"
    conversation.save(update_fields=["title"])

    second = api.post(share_path(owner_id, conversation.pk))
    assert second.status_code == 201
    assert second.json()["url"] != first
    assert ShareLink.objects.filter(conversation=conversation).count() == 1
    assert stranger.get(path_of(first)).status_code == 404
    html = stranger.get(path_of(second.json()["url"])).content.decode()
    assert "added between the two shares" in html
    assert "Renamed later" in html


def test_the_page_keeps_the_title_it_was_shared_with(api, owner_id: str, conversation, stranger: Client) -> None:
    url = api.post(share_path(owner_id, conversation.pk)).json()["url"]
    conversation.title = "A title given after sharing"
    conversation.save(update_fields=["title"])
    html = stranger.get(path_of(url)).content.decode()
    assert "Trip planning" in html
    assert "A title given after sharing" not in html


def test_deleting_the_conversation_ends_its_link(api, owner_id: str, conversation, stranger: Client) -> None:
    url = api.post(share_path(owner_id, conversation.pk)).json()["url"]
    assert api.delete(f"/api/{owner_id}/conversations/{conversation.pk}").status_code == 204
    assert not ShareLink.objects.exists()
    assert stranger.get(path_of(url)).status_code == 404


def test_the_database_itself_cascades_a_raw_sql_delete_to_the_link(on_postgres, api, owner_id, conversation) -> None:
    api.post(share_path(owner_id, conversation.pk))
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM conversations_conversation WHERE id = %s", [conversation.pk])
    assert not ShareLink.objects.exists()


# --- Isolation (FR-011, FR-013, SC-006) -----------------------------------------------


@pytest.mark.parametrize("method", ["post", "delete"])
def test_it_answers_401_without_a_valid_token(anon_api, owner_id: str, conversation, method: str) -> None:
    response = getattr(anon_api, method)(share_path(owner_id, conversation.pk))
    assert response.status_code == 401
    assert response.json() == {"error": "Unauthorized", "detail": "Invalid or expired JWT token"}
    anon_api.credentials(HTTP_AUTHORIZATION="Bearer not-a-jwt")
    assert getattr(anon_api, method)(share_path(owner_id, conversation.pk)).status_code == 401
    assert not ShareLink.objects.exists()


@pytest.mark.parametrize("method", ["post", "delete"])
def test_it_answers_403_when_the_path_user_is_not_the_token_subject(
    other_api, owner_id: str, conversation, method: str
) -> None:
    response = getattr(other_api, method)(share_path(owner_id, conversation.pk))
    assert response.status_code == 403
    assert response.json()["error"] == "Forbidden"
    assert not ShareLink.objects.exists()


@pytest.mark.parametrize("method", ["post", "delete"])
def test_someone_elses_conversation_is_a_404_and_stays_as_it_was(
    api, other_api, owner_id: str, other_id: str, conversation, method: str, stranger: Client
) -> None:
    url = api.post(share_path(owner_id, conversation.pk)).json()["url"]
    response = getattr(other_api, method)(share_path(other_id, conversation.pk))
    assert response.status_code == 404
    assert response.json() == {"error": "Not found", "detail": "Conversation not found"}
    link = ShareLink.objects.get()
    assert url.endswith(link.token)  # neither replaced nor revoked
    assert stranger.get(path_of(url)).status_code == 200


@pytest.mark.parametrize("conversation_id", ["not-a-uuid", str(uuid.uuid4())])
def test_an_unknown_or_malformed_conversation_id_is_a_404(api, owner_id: str, conversation_id: str) -> None:
    assert api.post(share_path(owner_id, conversation_id)).status_code == 404
    assert api.delete(share_path(owner_id, conversation_id)).status_code == 404


# --- The public page ------------------------------------------------------------------


@pytest.mark.parametrize("token", ["A" * 43, "x", "a" * 200, "bad%20token", "a.b"])
def test_an_unknown_or_malformed_token_is_the_friendly_404(stranger: Client, token: str) -> None:
    page = stranger.get(f"/s/{token}")
    assert page.status_code == 404
    assert "The requested resource was not found." in page.content.decode()
    assert page["X-Robots-Tag"] == "noindex"


def test_the_page_is_noindex_no_referrer_and_not_cached(api, owner_id: str, conversation, stranger: Client) -> None:
    page = stranger.get(path_of(api.post(share_path(owner_id, conversation.pk)).json()["url"]))
    html = page.content.decode()
    assert '<meta name="robots" content="noindex">' in html
    head = html.split("</head>")[0]
    assert 'name="robots"' in head  # in the head, where crawlers read it
    assert page["X-Robots-Tag"] == "noindex"
    assert page["Referrer-Policy"] == "no-referrer"
    assert "no-store" in page["Cache-Control"]


def test_it_answers_head_too(api, owner_id: str, conversation, stranger: Client) -> None:
    url = api.post(share_path(owner_id, conversation.pk)).json()["url"]
    assert stranger.head(path_of(url)).status_code == 200
    assert stranger.post(path_of(url)).status_code == 405


def test_a_script_in_a_reply_and_html_in_the_title_are_escaped(api, owner_id: str, stranger: Client) -> None:
    conversation = make_conversation(
        owner_id, title='<img src=x onerror="alert(1)">Evil</title><script>alert(2)</script>'
    )
    base = timezone.now() - dt.timedelta(minutes=1)
    add_message(conversation, "<script>alert('user')</script>", created_at=base)
    add_message(
        conversation,
        "Here: <script>alert('reply')</script> [click](javascript:alert(3)) <img src=x onerror=alert(4)>\n\n**bold**",
        role="assistant",
        created_at=base + dt.timedelta(seconds=1),
    )
    html = stranger.get(path_of(api.post(share_path(owner_id, conversation.pk)).json()["url"])).content.decode()
    assert "<script>alert" not in html
    assert "onerror=" not in html.replace("onerror=&quot;", "").replace("onerror=alert(4)&gt;", "")
    assert 'href="javascript:' not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;Evil&lt;/title&gt;&lt;script&gt;" in html
    assert "&lt;script&gt;alert(&#x27;user&#x27;)&lt;/script&gt;" in html
    assert "&lt;script&gt;alert('reply')&lt;/script&gt;" in html  # nh3's escaping of the Markdown's text
    assert "<strong>bold</strong>" in html  # the same sanitised Markdown as the chat


def test_nothing_of_the_owner_is_on_the_page(owner, owner_id: str, api, conversation, stranger: Client) -> None:
    owner.username = "ada-lovelace-1815"
    owner.save(update_fields=["username"])
    make_conversation(owner_id, title="My other secret conversation", messages=2)
    url = api.post(share_path(owner_id, conversation.pk)).json()["url"]
    message_ids = [str(pk) for pk in conversation.messages.values_list("id", flat=True)]

    as_owner = Client()
    as_owner.force_login(owner)
    for client in (stranger, as_owner):  # the same page for everyone, the owner included
        html = client.get(path_of(url)).content.decode()
        assert "ada-lovelace-1815" not in html
        assert "Sign out" not in html
        assert "My other secret conversation" not in html
        assert str(conversation.pk) not in html
        assert not any(message_id in html for message_id in message_ids)
        assert 'id="sidebar"' not in html
        assert "message 3" in html


def test_a_long_conversation_shows_its_newest_messages_with_a_note(
    api, owner_id: str, stranger: Client, django_assert_num_queries
) -> None:
    conversation = make_conversation(owner_id, title="Long", messages=sharing.SHARED_MESSAGES_MAX + 3)
    url = api.post(share_path(owner_id, conversation.pk)).json()["url"]
    with django_assert_num_queries(2):  # the link, then one page of messages
        page = stranger.get(path_of(url))
    html = page.content.decode()
    assert html.count('<article class="msg msg--') == sharing.SHARED_MESSAGES_MAX
    assert f"only its newest {sharing.SHARED_MESSAGES_MAX} messages are shown" in html
    assert ">message 2<" not in html
    assert ">message 3<" in html
    assert f">message {sharing.SHARED_MESSAGES_MAX + 2}<" in html


def test_a_short_conversation_has_no_note(api, owner_id: str, conversation, stranger: Client) -> None:
    html = stranger.get(path_of(api.post(share_path(owner_id, conversation.pk)).json()["url"])).content.decode()
    assert "messages are shown here" not in html


def test_the_operations_are_in_the_openapi_schema(client: Client) -> None:
    schema = client.get("/api/schema/?format=json").json()
    operations = schema["paths"]["/api/{user_id}/conversations/{conversation_id}/share"]
    assert operations["post"]["operationId"] == "conversations_share_create"
    assert set(operations["post"]["responses"]) >= {"201", "401", "403", "404"}
    assert operations["delete"]["operationId"] == "conversations_share_destroy"
    assert set(operations["delete"]["responses"]) >= {"204", "401", "403", "404"}


# --- The owner's dialog on the chat page --------------------------------------------


@pytest.fixture
def signed_in(client: Client, owner) -> Client:
    client.force_login(owner)
    return client


def test_the_share_button_opens_the_dialog_with_a_new_link(signed_in: Client, conversation, stranger) -> None:
    response = signed_in.post(f"/chat/{conversation.pk}/share", **HX)
    assert response.status_code == 200
    html = response.content.decode()
    link = ShareLink.objects.get(conversation=conversation)
    assert html.startswith('<dialog id="share-dialog"') or '<dialog id="share-dialog"' in html
    assert "data-share-open" in html
    assert f'value="http://testserver/s/{link.token}"' in html
    assert "Copy" in html and "Stop sharing" in html and "Update link" in html
    assert "<html" not in html  # the fragment only
    assert stranger.get(f"/s/{link.token}").status_code == 200


def test_pressing_share_again_keeps_the_link(signed_in: Client, conversation) -> None:
    signed_in.post(f"/chat/{conversation.pk}/share", **HX)
    token = ShareLink.objects.get().token
    signed_in.post(f"/chat/{conversation.pk}/share", **HX)
    assert ShareLink.objects.get().token == token


def test_update_link_makes_a_new_one(signed_in: Client, conversation, stranger) -> None:
    signed_in.post(f"/chat/{conversation.pk}/share", **HX)
    old = ShareLink.objects.get().token
    html = signed_in.post(f"/chat/{conversation.pk}/share/update", **HX).content.decode()
    new = ShareLink.objects.get().token
    assert new != old
    assert f"/s/{new}" in html
    assert stranger.get(f"/s/{old}").status_code == 404


def test_stop_sharing_swaps_the_dialog_to_not_shared(signed_in: Client, conversation, stranger) -> None:
    signed_in.post(f"/chat/{conversation.pk}/share", **HX)
    token = ShareLink.objects.get().token
    response = signed_in.post(f"/chat/{conversation.pk}/share/stop", **HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Not shared." in html
    assert "Create link" in html
    assert "/s/" not in html
    assert stranger.get(f"/s/{token}").status_code == 404
    # A second click (another tab) finds it already stopped: the same answer.
    assert signed_in.post(f"/chat/{conversation.pk}/share/stop", **HX).status_code == 200


def test_without_javascript_the_dialog_is_a_page(signed_in: Client, conversation) -> None:
    response = signed_in.post(f"/chat/{conversation.pk}/share")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html
    assert "<dialog" in html and " open>" in html
    assert "Back to the conversation" in html
    assert "HX-Request" in response["Vary"]


def test_the_dialog_is_the_owners_only(client: Client, other_user, conversation) -> None:
    client.force_login(other_user)
    for action in ("share", "share/update", "share/stop"):
        assert client.post(f"/chat/{conversation.pk}/{action}", **HX).status_code == 404
    assert not ShareLink.objects.exists()


def test_the_dialog_needs_a_session(client: Client, conversation) -> None:
    assert client.post(f"/chat/{conversation.pk}/share", **HX).status_code == 401
    response = client.post(f"/chat/{conversation.pk}/share")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert client.get(f"/chat/{conversation.pk}/share").status_code == 405
    assert not ShareLink.objects.exists()


def test_the_share_partial_renders_the_button_without_a_query(conversation, django_assert_num_queries, rf) -> None:
    from django.template.loader import render_to_string

    with django_assert_num_queries(0):
        html = render_to_string("conversations/_share.html", {"conversation": conversation}, request=rf.get("/"))
    assert f'hx-post="/chat/{conversation.pk}/share"' in html
    assert 'hx-target="#share-dialog"' in html
    assert '<dialog id="share-dialog"' in html


def test_the_snapshot_is_read_backwards_from_its_boundary_inside_the_index(on_postgres, owner_id: str) -> None:
    """One range of msg_conv_created_id_idx bounded by the boundary (test_query_plans.py's check)."""
    from conversations.tests.test_query_plans import _index_conditions

    conversation = make_conversation(owner_id, title="Plan", messages=300)
    link = sharing.share_create(conversation=conversation)
    add_message(conversation, "after")
    with CaptureQueriesContext(connection) as queries:
        shared = sharing.share_get(link.token)
    assert len(shared.messages) == 300
    conditions = _index_conditions(queries.captured_queries[-1]["sql"])
    assert conditions, "the snapshot's messages are not read through msg_conv_created_id_idx"
    assert any("created_at <=" in condition for condition in conditions)
