"""Versions and branches (issue 14): regenerate, edit any user message, switch versions.

``POST .../regenerate``, ``POST .../messages/{id}/edit`` and ``POST .../messages/{id}/activate``.
The conversation as shown (detail, message pages, the history sent to the model) is the active
branch only, oldest first; the choice of version is stored. Isolation as everywhere (FR-011,
SC-006): someone else's message is a 404.
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from conversations.assistant import set_assistant
from conversations.models import Message
from conversations.tests.assistants import RecordingAssistant
from conversations.tests.conftest import bearer_client
from conversations.tests.factories import make_conversation
from conversations.tests.test_api_retry import Broken, Echo, add

pytestmark = pytest.mark.django_db


def chat(api: APIClient, user_id: str, text: str, conversation_id: object = None) -> dict:
    body = {"message": text, **({"conversation_id": str(conversation_id)} if conversation_id else {})}
    response = api.post(f"/api/{user_id}/chat", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def shown(api: APIClient, user_id: str, conversation_id: object) -> list[tuple[str, int, int]]:
    """``(content, version, version_count)`` of the page's messages, oldest first."""
    response = api.get(f"/api/{user_id}/conversations/{conversation_id}/messages")
    assert response.status_code == 200
    return [(m["content"], m["version"], m["version_count"]) for m in response.json()["messages"]]


def regenerate(api: APIClient, user_id: str, conversation_id: object):
    return api.post(f"/api/{user_id}/conversations/{conversation_id}/regenerate")


def edit(api: APIClient, user_id: str, conversation_id: object, message_id: object, text: str):
    return api.post(
        f"/api/{user_id}/conversations/{conversation_id}/messages/{message_id}/edit", {"message": text}, format="json"
    )


def activate(api: APIClient, user_id: str, conversation_id: object, message_id: object):
    return api.post(f"/api/{user_id}/conversations/{conversation_id}/messages/{message_id}/activate")


class Counting:
    """Answers "reply N to <text>", N counting every request."""

    name = "counting"

    def __init__(self) -> None:
        self.calls = 0
        self.seen: list[list[str]] = []

    async def stream(self, history, *, toolbox=None, **options):  # type: ignore[no-untyped-def]
        self.calls += 1
        self.seen.append([turn.content for turn in history])
        yield f"reply {self.calls} to {history[-1].content}"


def test_regenerate_keeps_the_earlier_reply_as_version_1(api: APIClient, owner_id: str) -> None:
    set_assistant(Counting())
    first = chat(api, owner_id, "Hi")
    conversation_id = first["conversation_id"]

    response = regenerate(api, owner_id, conversation_id)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["message"] == "reply 2 to Hi"
    assert (body["version"], body["version_count"], body["status"]) == (2, 2, "complete")
    assert body["parent_id"] == first["parent_id"]
    assert shown(api, owner_id, conversation_id) == [("Hi", 1, 1), ("reply 2 to Hi", 2, 2)]
    earlier = Message.objects.get(pk=first["message_id"])
    assert (earlier.content, earlier.version, earlier.version_count, earlier.active) == ("reply 1 to Hi", 1, 2, False)
    # The user's message was not saved again.
    assert Message.objects.filter(conversation_id=conversation_id, role="user").count() == 1


def test_switching_versions_shows_each_reply_and_is_remembered(api: APIClient, owner_id: str) -> None:
    set_assistant(Counting())
    first = chat(api, owner_id, "Hi")
    conversation_id = first["conversation_id"]
    regenerate(api, owner_id, conversation_id)

    response = activate(api, owner_id, conversation_id, first["message_id"])

    assert response.status_code == 200
    page = response.json()
    assert [(m["content"], m["version"], m["version_count"]) for m in page["messages"]] == [
        ("Hi", 1, 1),
        ("reply 1 to Hi", 1, 2),
    ]
    assert page["has_more"] is False
    # Stored: a new read (another device) shows the same branch, and the detail agrees.
    assert shown(api, owner_id, conversation_id) == [("Hi", 1, 1), ("reply 1 to Hi", 1, 2)]
    detail = b"".join(api.get(f"/api/{owner_id}/conversations/{conversation_id}").streaming_content)
    assert b"reply 1 to Hi" in detail and b"reply 2 to Hi" not in detail


def test_editing_a_middle_message_branches_and_the_old_branch_comes_back(api: APIClient, owner_id: str) -> None:
    set_assistant(Counting())
    conversation_id = chat(api, owner_id, "one")["conversation_id"]
    second = chat(api, owner_id, "two", conversation_id)
    chat(api, owner_id, "three", conversation_id)

    response = edit(api, owner_id, conversation_id, second["parent_id"], "TWO")

    assert response.status_code == 200, response.content
    reply = response.json()
    assert reply["message"] == "reply 4 to TWO"
    edited = Message.objects.get(pk=reply["parent_id"])
    assert (edited.role, edited.content, edited.version, edited.version_count) == ("user", "TWO", 2, 2)
    assert shown(api, owner_id, conversation_id) == [
        ("one", 1, 1),
        ("reply 1 to one", 1, 1),
        ("TWO", 2, 2),
        ("reply 4 to TWO", 1, 1),
    ]
    # The old version and what followed it are kept, off the branch shown.
    assert Message.objects.filter(conversation_id=conversation_id).count() == 8

    old = activate(api, owner_id, conversation_id, second["parent_id"]).json()
    assert [m["content"] for m in old["messages"]] == [
        "one",
        "reply 1 to one",
        "two",
        "reply 2 to two",
        "three",
        "reply 3 to three",
    ]
    assert old["messages"][2]["version"] == 1 and old["messages"][2]["version_count"] == 2

    back = activate(api, owner_id, conversation_id, edited.pk).json()
    assert [m["content"] for m in back["messages"]] == ["one", "reply 1 to one", "TWO", "reply 4 to TWO"]


def test_a_new_message_continues_the_branch_shown(api: APIClient, owner_id: str) -> None:
    set_assistant(Counting())
    conversation_id = chat(api, owner_id, "one")["conversation_id"]
    second = chat(api, owner_id, "two", conversation_id)
    edit(api, owner_id, conversation_id, second["parent_id"], "TWO")
    activate(api, owner_id, conversation_id, second["parent_id"])

    chat(api, owner_id, "after two", conversation_id)

    assert [c for c, _, _ in shown(api, owner_id, conversation_id)] == [
        "one",
        "reply 1 to one",
        "two",
        "reply 2 to two",
        "after two",
        "reply 4 to after two",
    ]


def test_the_model_sees_the_branch_shown_only(api: APIClient, owner_id: str) -> None:
    """An edit far back in a long conversation: the history is the edited branch, not what followed the old version."""
    conversation = make_conversation(owner_id, messages=400)
    target = conversation.messages.order_by("created_at", "id")[100]  # a user message ("message 100")
    recording = RecordingAssistant("ok")
    set_assistant(recording)

    response = edit(api, owner_id, conversation.pk, target.pk, "edited 100")

    assert response.status_code == 200, response.content
    history = [turn.content for turn in recording.seen[0]]
    assert history[-1] == "edited 100"
    assert "message 100" not in history and "message 101" not in history and "message 399" not in history
    assert history[-2] == "message 99"
    page = shown(api, owner_id, conversation.pk)
    assert [c for c, _, _ in page[-3:]] == ["message 99", "edited 100", "ok"]
    # Paging back from the branch's end reaches the start through the shared turns.
    response = api.get(f"/api/{owner_id}/conversations/{conversation.pk}/messages", {"limit": 200})
    body = response.json()
    assert body["has_more"] is False and len(body["messages"]) == 102

    # Switching back restores all 400, and the next message answers from there.
    activate(api, owner_id, conversation.pk, target.pk)
    chat(api, owner_id, "more", conversation.pk)
    assert [turn.content for turn in recording.seen[-1]][-3:] == ["message 398", "message 399", "more"]


def test_edit_of_the_first_message_makes_a_second_first_version(api: APIClient, owner_id: str) -> None:
    set_assistant(Counting())
    first = chat(api, owner_id, "hello")
    conversation_id = first["conversation_id"]
    chat(api, owner_id, "next", conversation_id)

    reply = edit(api, owner_id, conversation_id, first["parent_id"], "HELLO").json()

    assert shown(api, owner_id, conversation_id) == [("HELLO", 2, 2), ("reply 3 to HELLO", 1, 1)]
    activate(api, owner_id, conversation_id, first["parent_id"])
    assert [c for c, _, _ in shown(api, owner_id, conversation_id)] == [
        "hello",
        "reply 1 to hello",
        "next",
        "reply 2 to next",
    ]
    activate(api, owner_id, conversation_id, reply["message_id"])
    assert [c for c, _, _ in shown(api, owner_id, conversation_id)] == ["HELLO", "reply 3 to HELLO"]


def test_activating_a_reply_inside_a_hidden_branch_shows_its_whole_path(api: APIClient, owner_id: str) -> None:
    set_assistant(Counting())
    conversation_id = chat(api, owner_id, "a")["conversation_id"]
    b = chat(api, owner_id, "b", conversation_id)
    c = chat(api, owner_id, "c", conversation_id)
    regenerate(api, owner_id, conversation_id)  # reply 4 to c: a second version of c's reply
    edit(api, owner_id, conversation_id, b["parent_id"], "B")  # hides b, c and both replies to c

    # The first reply to c, two hidden turns deep: b's turn and c's reply's turn switch back.
    page = activate(api, owner_id, conversation_id, c["message_id"]).json()

    assert [(m["content"], m["version"]) for m in page["messages"]] == [
        ("a", 1),
        ("reply 1 to a", 1),
        ("b", 1),
        ("reply 2 to b", 1),
        ("c", 1),
        ("reply 3 to c", 1),
    ]
    assert Message.objects.filter(conversation_id=conversation_id, active=True).count() == 6


def test_each_version_keeps_its_own_tool_calls_and_a_tool_acts_again(api: APIClient, owner_id: str) -> None:
    """The offline assistant's task tool: a regenerated turn adds the task again (nothing is rolled back)."""
    from tasks.models import Task

    first = chat(api, owner_id, "add a task to water the plants")
    assert [call["name"] for call in first["tool_calls"]] == ["add_task"]

    second = regenerate(api, owner_id, first["conversation_id"]).json()

    assert [call["name"] for call in second["tool_calls"]] == ["add_task"]
    assert second["tool_calls"][0]["result"] != first["tool_calls"][0]["result"]
    assert Task.objects.filter(user_id=owner_id, title__icontains="water the plants").count() == 2
    kept = Message.objects.get(pk=first["message_id"]).tool_calls
    assert [call["result"] for call in kept] == [call["result"] for call in first["tool_calls"]]


def test_retry_of_a_failed_regeneration_keeps_the_versions(api: APIClient, owner_id: str) -> None:
    set_assistant(Counting())
    first = chat(api, owner_id, "Hi")
    conversation_id = first["conversation_id"]
    set_assistant(Broken())
    assert regenerate(api, owner_id, conversation_id).status_code == 503
    assert shown(api, owner_id, conversation_id) == [("Hi", 1, 1), ("Par", 2, 2)]

    set_assistant(Echo())
    response = api.post(f"/api/{owner_id}/conversations/{conversation_id}/retry")

    assert response.status_code == 200
    assert (response.json()["version"], response.json()["version_count"]) == (2, 2)
    assert shown(api, owner_id, conversation_id) == [("Hi", 1, 1), ("Answer to Hi", 2, 2)]
    assert activate(api, owner_id, conversation_id, first["message_id"]).status_code == 200
    assert shown(api, owner_id, conversation_id) == [("Hi", 1, 1), ("reply 1 to Hi", 1, 2)]


def test_edit_refuses_an_assistant_message(api: APIClient, owner_id: str) -> None:
    set_assistant(Counting())
    first = chat(api, owner_id, "Hi")
    response = edit(api, owner_id, first["conversation_id"], first["message_id"], "no")
    assert response.status_code == 400
    assert response.json() == {
        "error": "Validation error",
        "detail": "Only your own messages can be edited, not the assistant's replies.",
    }


@pytest.mark.parametrize("text", ["", "   ", "x" * 4001])
def test_edit_checks_the_text_like_a_send(api: APIClient, owner_id: str, text: str) -> None:
    set_assistant(Counting())
    first = chat(api, owner_id, "Hi")
    response = edit(api, owner_id, first["conversation_id"], first["parent_id"], text)
    assert response.status_code == 400 and response.json()["error"] == "Validation error"
    assert Message.objects.filter(conversation_id=first["conversation_id"]).count() == 2


def test_someone_elses_message_or_conversation_is_a_404(api: APIClient, owner_id: str, other_id: str) -> None:
    set_assistant(Counting())
    mine = chat(api, owner_id, "mine")
    theirs = chat(bearer_client(other_id), other_id, "theirs")
    message_not_found = {"error": "Not found", "detail": "Message not found"}
    # Their message inside my conversation's path: not a message of mine.
    for call in (edit, lambda a, u, c, m: activate(a, u, c, m)):
        args = (api, owner_id, mine["conversation_id"], theirs["parent_id"])
        response = call(*args, "x") if call is edit else call(*args)
        assert (response.status_code, response.json()) == (404, message_not_found)
        response = (
            call(api, owner_id, mine["conversation_id"], "not-a-uuid", "x")
            if call is edit
            else call(api, owner_id, mine["conversation_id"], "not-a-uuid")
        )
        assert response.status_code == 404
    # Their conversation under my path: the conversation 404.
    for response in (
        regenerate(api, owner_id, theirs["conversation_id"]),
        edit(api, owner_id, theirs["conversation_id"], theirs["parent_id"], "x"),
        activate(api, owner_id, theirs["conversation_id"], theirs["message_id"]),
    ):
        assert (response.status_code, response.json()["detail"]) == (404, "Conversation not found")
    # Their path with my token: 403.
    assert regenerate(api, other_id, theirs["conversation_id"]).status_code == 403
    assert Message.objects.filter(conversation_id=theirs["conversation_id"]).count() == 2


def test_regenerate_while_a_reply_is_written_is_a_409(api: APIClient, owner_id: str) -> None:
    conversation = make_conversation(owner_id)
    question = add(conversation, "user", "Wait", age=2)
    add(conversation, "assistant", "Half", status="streaming", age=1).__class__.objects.filter(
        conversation=conversation, role="assistant"
    ).update(parent=question)
    for response in (
        regenerate(api, owner_id, conversation.pk),
        edit(api, owner_id, conversation.pk, question.pk, "Now"),
        activate(api, owner_id, conversation.pk, question.pk),
    ):
        assert response.status_code == 409
        assert response.json()["error"] == "Reply in progress"
    assert Message.objects.filter(conversation=conversation).count() == 2


def test_regenerate_with_no_finished_reply_at_the_end_is_a_409(api: APIClient, owner_id: str) -> None:
    empty = make_conversation(owner_id)
    response = regenerate(api, owner_id, empty.pk)
    assert (response.status_code, response.json()) == (
        409,
        {"error": "Nothing to regenerate", "detail": "The conversation does not end with a finished reply."},
    )


def test_regenerate_and_edit_need_a_token(anon_api: APIClient, owner_id: str) -> None:
    conversation = make_conversation(owner_id, messages=2)
    assert regenerate(anon_api, owner_id, conversation.pk).status_code == 401
    assert edit(anon_api, owner_id, conversation.pk, conversation.messages.first().pk, "x").status_code == 401


def test_a_repeated_idempotency_key_regenerates_once(api: APIClient, owner_id: str) -> None:
    set_assistant(Counting())
    first = chat(api, owner_id, "Hi")
    url = f"/api/{owner_id}/conversations/{first['conversation_id']}/regenerate"
    one = api.post(url, HTTP_IDEMPOTENCY_KEY="regen-1")
    two = api.post(url, HTTP_IDEMPOTENCY_KEY="regen-1")
    assert one.status_code == two.status_code == 200
    assert one.json()["message_id"] == two.json()["message_id"]
    assert Message.objects.filter(conversation_id=first["conversation_id"], role="assistant").count() == 2


def test_showing_a_version_deep_in_a_hidden_branch_takes_a_few_statements(owner_id: str) -> None:
    """One recursive read finds the hidden ancestry, whatever its depth (before: three statements a message)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from conversations import services

    conversation = make_conversation(owner_id, messages=60)
    first = conversation.messages.order_by("created_at", "id").first()
    start = services.edit_begin(user_id=owner_id, conversation_id=conversation.pk, message_id=first.pk, text="new")
    services.reply_finish(reply=start.reply, content="answer", status="complete")
    deepest = conversation.messages.filter(active=False).order_by("-created_at", "-id").first()

    with CaptureQueriesContext(connection) as queries:
        services.version_activate(user_id=owner_id, conversation_id=conversation.pk, message_id=deepest.pk)

    assert len(queries.captured_queries) <= 14, [q["sql"][:80] for q in queries.captured_queries]
    shown = list(conversation.messages.filter(active=True).order_by("created_at", "id"))
    assert [m.content for m in shown] == [f"message {i}" for i in range(60)]
    assert conversation.messages.filter(content="new", selected=False, active=False).exists()
