"""The page's send and retry with an ``Idempotency-Key`` (issue 12, "The page gives every message a key").

The page's script sends one key per message and one per Retry click, the same key on
every resend of it (static/js/chat.js). These are the server side of that: a repeat
saves nothing and answers with the first send's turn, whatever happened to it; a key
used for another text is refused with a sentence; a reply still being written answers
409 with a sentence and saves nothing.
"""

from __future__ import annotations

import re
import uuid

import pytest
from django.test import Client

from conversations import idempotency, services
from conversations.assistant import AssistantBusy, AssistantError, reset_assistant, set_assistant
from conversations.models import Conversation, IdempotencyKey, Message
from conversations.tests.assistants import FailingAssistant, RecordingAssistant
from conversations.tests.factories import make_conversation

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
IN_PROGRESS = (
    "A reply is still being written in this conversation. Wait for it to finish (or stop it), then send again."
)


@pytest.fixture
def page(client: Client, owner) -> Client:
    """The owner, signed in to the page."""
    client.force_login(owner)
    return client


def keyed(key: str) -> dict[str, str]:
    return {**HX, "HTTP_IDEMPOTENCY_KEY": key}


def ids_in(body: str) -> list[str]:
    """The message ids of a turn fragment, in order."""
    return re.findall(r'<article class="msg[^"]*" id="msg-[^"]+" data-id="([^"]+)"', body)


def test_a_repeated_key_gives_the_same_turn_and_saves_nothing_twice(page: Client, owner_id: str) -> None:
    assistant = RecordingAssistant("Once only.")
    set_assistant(assistant)
    key = str(uuid.uuid4())
    first = page.post("/chat/send", {"text": "Exactly once"}, **keyed(key))
    conversation = Conversation.objects.get(user_id=owner_id)
    # Repeated to "a new conversation" (the answer was lost), then to the conversation it created.
    again = page.post("/chat/send", {"text": "Exactly once"}, **keyed(key))
    moved = page.post(f"/chat/{conversation.pk}/send", {"text": "Exactly once"}, **keyed(f'"{key}"'))
    assert [r.status_code for r in (first, again, moved)] == [200, 200, 200]
    turn = ids_in(first.content.decode())
    assert len(turn) == 2
    assert ids_in(again.content.decode()) == turn and ids_in(moved.content.decode()) == turn
    assert "Once only." in again.content.decode()
    assert Conversation.objects.filter(user_id=owner_id).count() == 1
    assert [(m.role, m.content) for m in Message.objects.filter(conversation=conversation)] == [
        ("user", "Exactly once"),
        ("assistant", "Once only."),
    ]
    assert len(assistant.seen) == 1  # the model was asked once
    assert IdempotencyKey.objects.filter(user_id=owner_id, key=key).count() == 1


def test_a_key_used_for_another_text_is_refused_with_a_sentence(page: Client, owner_id: str) -> None:
    conversation = make_conversation(owner_id)
    key = str(uuid.uuid4())
    assert page.post(f"/chat/{conversation.pk}/send", {"text": "First text"}, **keyed(key)).status_code == 200
    refused = page.post(f"/chat/{conversation.pk}/send", {"text": "Another text"}, **keyed(key))
    assert refused.status_code == 422
    body = refused.content.decode()
    assert "This message was already sent with a different text. Reload the page, then send it again." in body
    assert 'role="alert"' in body
    assert list(Message.objects.filter(role="user").values_list("content", flat=True)) == ["First text"]


def test_a_malformed_key_is_refused_and_nothing_is_saved(page: Client) -> None:
    refused = page.post("/chat/send", {"text": "hi"}, **keyed("not\u00e9ascii"))
    assert refused.status_code == 400
    assert "Idempotency-Key must be 1 to 255 visible ASCII characters" in refused.content.decode()
    assert not Message.objects.exists()


def test_a_send_while_a_reply_is_being_written_answers_409_with_the_sentence(page: Client, owner_id: str) -> None:
    conversation = make_conversation(owner_id)
    services.chat_begin(user_id=owner_id, conversation_id=conversation.pk, text="Still answering")
    refused = page.post(f"/chat/{conversation.pk}/send", {"text": "Next"}, **keyed(str(uuid.uuid4())))
    assert refused.status_code == 409
    assert IN_PROGRESS in refused.content.decode()
    assert Message.objects.filter(conversation=conversation).count() == 2  # nothing saved
    plain = page.post(f"/chat/{conversation.pk}/send", {"text": "Next"})  # without JavaScript: the page, text kept
    assert (
        plain.status_code == 409
        and IN_PROGRESS in plain.content.decode()
        and ">Next</textarea>" in plain.content.decode()
    )


def test_a_repeat_while_the_first_reply_is_being_written_renders_the_turn_in_progress(
    page: Client, owner_id: str
) -> None:
    conversation = make_conversation(owner_id)
    key = str(uuid.uuid4())
    first = idempotency.idempotency_for(
        key=key, operation=idempotency.CHAT, conversation_id=conversation.pk, text="Slow one"
    )
    start = services.chat_begin(user_id=owner_id, conversation_id=conversation.pk, text="Slow one", idempotency=first)
    response = page.post(f"/chat/{conversation.pk}/send", {"text": "Slow one"}, **keyed(key))
    assert response.status_code == 202
    body = response.content.decode()
    assert ids_in(body) == [str(start.user_message.pk), str(start.reply.pk)]
    assert "The assistant is still writing this reply…" in body
    assert Message.objects.filter(conversation=conversation).count() == 2


def test_a_repeat_of_a_failed_send_shows_the_failure_with_retry_again(page: Client, owner_id: str) -> None:
    set_assistant(FailingAssistant(AssistantError("down")))
    key = str(uuid.uuid4())
    first = page.post("/chat/send", {"text": "Fails"}, **keyed(key))
    reset_assistant()
    again = page.post("/chat/send", {"text": "Fails"}, **keyed(key))
    assert first.status_code == again.status_code == 503
    body = again.content.decode()
    assert "The assistant could not answer right now. Please try again." in body and ">Retry</button>" in body
    assert ids_in(body) == ids_in(first.content.decode())
    assert Message.objects.count() == 2 and Message.objects.get(role="assistant").status == "failed"


def test_a_rate_limited_model_says_the_assistant_is_busy(page: Client) -> None:
    set_assistant(FailingAssistant(AssistantBusy("429")))
    response = page.post("/chat/send", {"text": "Busy?"}, **keyed(str(uuid.uuid4())))
    assert response.status_code == 503
    assert "The assistant is busy right now. Please wait a moment, then try again." in response.content.decode()
    reply = Message.objects.get(role="assistant")
    live = page.get(f"/chat/{reply.conversation_id}/messages/{reply.pk}?reason=busy", **HX).content.decode()
    assert "The assistant is busy right now." in live and ">Retry</button>" in live


def test_a_repeated_retry_key_retries_once(page: Client, owner_id: str) -> None:
    set_assistant(FailingAssistant(AssistantError("down")))
    page.post("/chat/send", {"text": "Again please"}, **keyed(str(uuid.uuid4())))
    conversation = Conversation.objects.get(user_id=owner_id)
    assistant = RecordingAssistant("Second time lucky.")
    set_assistant(assistant)
    key = str(uuid.uuid4())
    first = page.post(f"/chat/{conversation.pk}/retry", **keyed(key))
    again = page.post(f"/chat/{conversation.pk}/retry", **keyed(key))
    assert first.status_code == again.status_code == 200
    assert ids_in(first.content.decode()) == ids_in(again.content.decode())
    assert "Second time lucky." in again.content.decode()
    assert len(assistant.seen) == 1
    replies = Message.objects.filter(conversation=conversation, role="assistant")
    assert [(m.status, m.content) for m in replies] == [("complete", "Second time lucky.")]
    # A new click (a new key) after the reply arrived: nothing to retry, said in a sentence.
    late = page.post(f"/chat/{conversation.pk}/retry", **keyed(str(uuid.uuid4())))
    assert late.status_code == 409 and 'data-error="nothing-to-retry"' in late.content.decode()


def test_a_retry_that_fails_again_shows_the_new_reply_with_retry(page: Client, owner_id: str) -> None:
    set_assistant(FailingAssistant(AssistantError("down")))
    page.post("/chat/send", {"text": "Still down"}, **keyed(str(uuid.uuid4())))
    conversation = Conversation.objects.get(user_id=owner_id)
    response = page.post(f"/chat/{conversation.pk}/retry", **keyed(str(uuid.uuid4())))
    assert response.status_code == 503
    body = response.content.decode()
    new_reply = Message.objects.get(conversation=conversation, role="assistant")
    assert ids_in(body) == [str(new_reply.pk)]  # the page swaps in the reply that exists now
    assert "The assistant could not answer right now. Please try again." in body and ">Retry</button>" in body


def test_a_retry_while_a_reply_is_being_written_answers_409_with_the_sentence(page: Client, owner_id: str) -> None:
    conversation = make_conversation(owner_id)
    services.chat_begin(user_id=owner_id, conversation_id=conversation.pk, text="Being answered")
    refused = page.post(f"/chat/{conversation.pk}/retry", **keyed(str(uuid.uuid4())))
    assert refused.status_code == 409
    body = refused.content.decode()
    assert IN_PROGRESS in body and 'data-error="reply-in-progress"' in body
    assert Message.objects.filter(conversation=conversation).count() == 2
