"""A conversation's model and instructions, the models on offer, and generated titles.

Issue 14, "Models and instructions" and "Titles" (docs/assistant.md): ``GET /api/models`` lists the
model server's models (the fake OpenAI server on loopback, ``conversations/tests/fake_openai.py``),
cached and narrowed by ``ASSISTANT_MODELS``; ``PATCH .../conversations/{id}`` sets ``model`` and
``instructions``; new conversations take the person's last choice; the request to the model server
carries both; after the first reply the model is asked for a title, never replacing the person's.
Errors are the contract's ``{"error", "detail"}`` bodies (contract: Errors; FR-014).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings as django_settings
from django.core.cache import cache

from conversations import catalog, services
from conversations.assistant import ChatOptions, ChatTurn, close_assistant, reset_assistant
from conversations.assistant.openai import TITLE_PROMPT, OpenAIAssistant
from conversations.models import Conversation, Message, Preference
from conversations.tests import test_live as live_tests
from conversations.tests.conftest import response_json
from conversations.tests.fake_openai import MODELS, FakeOpenAI
from conversations.tests.test_live import opened, receive_until, socket

pytestmark = pytest.mark.django_db

live_layer = live_tests.live_layer
OWN_PROMPT = django_settings.ASSISTANT_SYSTEM_PROMPT
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _no_remembered_models() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def model_server(settings, fake_openai: FakeOpenAI) -> FakeOpenAI:  # type: ignore[no-untyped-def]
    """The chat pointed at the fake model server, its default ``fake-model``, no allow-list, no titles."""
    settings.ASSISTANT_BACKEND = "openai"
    settings.OPENAI_BASE_URL = fake_openai.base_url
    settings.OPENAI_MODEL = "fake-model"
    settings.ASSISTANT_MODELS = []
    settings.ASSISTANT_AUTO_TITLES = False
    reset_assistant()
    return fake_openai


@pytest.fixture
def titles_on(settings, model_server: FakeOpenAI) -> FakeOpenAI:  # type: ignore[no-untyped-def]
    settings.ASSISTANT_AUTO_TITLES = True
    settings.ASSISTANT_TITLE_TIMEOUT_SECONDS = 5.0
    return model_server


def chat_requests(fake: FakeOpenAI) -> list[dict[str, Any]]:
    """The streamed requests: the chat turns (a title request is not streamed)."""
    return [body for body in fake.requests if body.get("stream")]


def title_requests(fake: FakeOpenAI) -> list[dict[str, Any]]:
    return [body for body in fake.requests if not body.get("stream")]


def system_of(body: dict[str, Any]) -> str | None:
    return next((m["content"] for m in body["messages"] if m["role"] == "system"), None)


def send(api, user_id: str, text: str, conversation_id: object = None) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    payload: dict[str, Any] = {"message": text}
    if conversation_id is not None:
        payload["conversation_id"] = str(conversation_id)
    response = api.post(f"/api/{user_id}/chat", payload, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def patch(api, user_id: str, conversation_id: object, **body: Any):  # type: ignore[no-untyped-def]
    return api.patch(f"/api/{user_id}/conversations/{conversation_id}", body, format="json")


# --- GET /api/models ------------------------------------------------------------------------


def test_the_models_are_the_servers_with_the_default_first(api, model_server: FakeOpenAI) -> None:  # type: ignore[no-untyped-def]
    """Issue 14: ``GET /api/models`` lists the server's ``/v1/models`` (several), the default first."""
    response = api.get("/api/models")
    assert response.status_code == 200
    assert response.json() == {
        "models": [{"id": "fake-model"}, *({"id": name} for name in sorted(MODELS[1:]))],
        "default": "fake-model",
    }


def test_the_allow_list_narrows_the_models_and_the_default_stays(api, settings, model_server: FakeOpenAI) -> None:  # type: ignore[no-untyped-def]
    """``ASSISTANT_MODELS`` keeps only the listed models the server offers; ``OPENAI_MODEL`` is always offered."""
    settings.ASSISTANT_MODELS = ["fake-small", "not-served-here"]
    assert api.get("/api/models").json()["models"] == [{"id": "fake-model"}, {"id": "fake-small"}]


def test_the_models_are_remembered_for_the_cache_time(api, settings, model_server: FakeOpenAI) -> None:  # type: ignore[no-untyped-def]
    """The server is asked once per ``ASSISTANT_MODELS_CACHE_SECONDS`` (Django's cache), not per request."""
    first = api.get("/api/models").json()
    model_server.models = ["fake-model", "fake-new"]
    assert api.get("/api/models").json() == first
    assert model_server.models_requests == 1
    catalog.forget_models()
    assert api.get("/api/models").json()["models"] == [{"id": "fake-model"}, {"id": "fake-new"}]
    settings.ASSISTANT_MODELS_CACHE_SECONDS = 0  # not kept at all
    catalog.forget_models()
    api.get("/api/models")
    api.get("/api/models")
    assert model_server.models_requests == 4


def test_offline_the_offline_assistant_is_the_one_model(api, fake_openai: FakeOpenAI) -> None:  # type: ignore[no-untyped-def]
    """Without a model server (the suite's default), the built-in assistant alone; no server is asked."""
    assert api.get("/api/models").json() == {"models": [{"id": "offline"}], "default": "offline"}
    assert fake_openai.models_requests == 0


def test_a_model_server_that_cannot_list_is_a_503_remembered_briefly(api, model_server: FakeOpenAI) -> None:  # type: ignore[no-untyped-def]
    model_server.models_mode = "error500"
    response = api.get("/api/models")
    assert response.status_code == 503
    assert response.json() == {
        "error": "Assistant unavailable",
        "detail": "The model server could not be reached to list its models. Please try again.",
    }
    model_server.models_mode = "ok"
    assert api.get("/api/models").status_code == 503  # not asked again for UNREACHABLE_SECONDS
    assert model_server.models_requests == 1


def test_the_models_need_a_token_or_the_pages_session(anon_api, client, owner) -> None:  # type: ignore[no-untyped-def]
    response = anon_api.get("/api/models")
    assert response.status_code == 401 and response.json()["error"] == "Unauthorized"
    client.force_login(owner)
    assert client.get("/api/models").json()["default"] == "offline"


def test_the_models_are_in_the_openapi_schema(api) -> None:  # type: ignore[no-untyped-def]
    schema = api.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/models"]["get"]
    assert operation["operationId"] == "models_list"
    assert set(operation["responses"]) >= {"200", "401", "503"}
    body = schema["paths"]["/api/{user_id}/conversations/{conversation_id}"]["patch"]["requestBody"]
    ref = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    fields = schema["components"]["schemas"][ref]["properties"]
    assert fields["model"]["maxLength"] == 200
    assert {"type": "string", "maxLength": 4000, "pattern": r"^[^\x00]+$"} in fields["instructions"]["oneOf"]


# --- PATCH model and instructions -----------------------------------------------------------


def test_patch_sets_the_model_and_instructions_shown_by_the_detail_and_summary(api, owner_id, model_server) -> None:  # type: ignore[no-untyped-def]
    conversation_id = send(api, owner_id, "Hello")["conversation_id"]
    response = patch(api, owner_id, conversation_id, model="fake-large", instructions="  Answer in French.  ")
    assert response.status_code == 200
    assert (response.json()["model"], response.json()["instructions"]) == ("fake-large", "Answer in French.")
    detail = response_json(api.get(f"/api/{owner_id}/conversations/{conversation_id}"))
    assert (detail["model"], detail["instructions"]) == ("fake-large", "Answer in French.")
    listed = api.get(f"/api/{owner_id}/conversations").json()["conversations"][0]
    assert (listed["model"], listed["instructions"]) == ("fake-large", "Answer in French.")
    assert Preference.objects.get(user_id=owner_id).model == "fake-large"  # the person's last choice


def test_a_model_the_server_does_not_offer_is_a_400(api, owner_id, settings, model_server) -> None:  # type: ignore[no-untyped-def]
    """Issue 14: "A model that the server does not list is a 400"; one outside the allow-list too."""
    conversation_id = send(api, owner_id, "Hello")["conversation_id"]
    response = patch(api, owner_id, conversation_id, model="gpt-imaginary")
    assert response.status_code == 400
    assert response.json() == {
        "error": "Validation error",
        "detail": "Unknown model “gpt-imaginary”: choose one of the models the server offers (GET /api/models).",
    }
    settings.ASSISTANT_MODELS = ["fake-small"]
    assert patch(api, owner_id, conversation_id, model="fake-large").status_code == 400
    assert patch(api, owner_id, conversation_id, model=5).json()["detail"] == "model must be a string"
    conversation = Conversation.objects.get(pk=conversation_id)
    assert conversation.model == "" and not Preference.objects.filter(user_id=owner_id).exists()


def test_instructions_up_to_4000_characters_and_empty_clears_them(api, owner_id) -> None:  # type: ignore[no-untyped-def]
    conversation_id = send(api, owner_id, "Hello")["conversation_id"]
    assert patch(api, owner_id, conversation_id, instructions="x" * 4000).status_code == 200
    too_long = patch(api, owner_id, conversation_id, instructions="x" * 4001)
    assert too_long.status_code == 400
    assert too_long.json() == {
        "error": "Validation error",
        "detail": "Instructions are too long: 4001 characters, the limit is 4000",
    }
    assert patch(api, owner_id, conversation_id, instructions="a\x00b").status_code == 400
    assert patch(api, owner_id, conversation_id, instructions=None).json()["detail"] == "instructions must be a string"
    assert Conversation.objects.get(pk=conversation_id).instructions == "x" * 4000
    assert patch(api, owner_id, conversation_id, instructions="").json()["instructions"] == ""


def test_offline_the_model_is_the_offline_assistant_and_nothing_else(api, owner_id) -> None:  # type: ignore[no-untyped-def]
    conversation_id = send(api, owner_id, "Hello")["conversation_id"]
    assert patch(api, owner_id, conversation_id, model="offline").json()["model"] == "offline"
    assert Conversation.objects.get(pk=conversation_id).model == ""  # follows a model server configured later
    assert patch(api, owner_id, conversation_id, model="fake-model").status_code == 400


def test_an_unreachable_server_refuses_a_model_with_503_but_takes_the_default(api, owner_id, model_server) -> None:  # type: ignore[no-untyped-def]
    conversation_id = send(api, owner_id, "Hello")["conversation_id"]
    model_server.models_mode = "error500"
    response = patch(api, owner_id, conversation_id, model="fake-large")
    assert response.status_code == 503 and response.json()["error"] == "Assistant unavailable"
    assert patch(api, owner_id, conversation_id, model="fake-model").json()["model"] == "fake-model"


def test_someone_elses_conversation_is_a_404_and_unchanged(api, other_api, owner_id, other_id) -> None:  # type: ignore[no-untyped-def]
    conversation_id = send(api, owner_id, "Hello")["conversation_id"]
    response = patch(other_api, other_id, conversation_id, instructions="Mine now")
    assert response.status_code == 404 and response.json()["error"] == "Not found"
    assert Conversation.objects.get(pk=conversation_id).instructions == ""


def test_a_title_given_by_patch_or_the_page_is_the_persons(api, client, owner, owner_id) -> None:  # type: ignore[no-untyped-def]
    """Issue 14, "Titles": a title the person set is marked, so a generated one never replaces it."""
    first = send(api, owner_id, "Hello")["conversation_id"]
    second = send(api, owner_id, "Hello again")["conversation_id"]
    assert not Conversation.objects.get(pk=first).title_set_by_user
    assert patch(api, owner_id, first, title="Mine").status_code == 200
    client.force_login(owner)
    assert client.post(f"/chat/{second}/rename", {"title": "Also mine"}, **HTMX).status_code == 200
    assert list(Conversation.objects.order_by("created_at").values_list("title", "title_set_by_user")) == [
        ("Mine", True),
        ("Also mine", True),
    ]


def test_export_and_import_keep_the_model_and_instructions(api, owner_id, model_server) -> None:  # type: ignore[no-untyped-def]
    """docs/export.md: a conversation's model and instructions make the round trip (null: none of its own)."""
    conversation_id = send(api, owner_id, "Hello")["conversation_id"]
    send(api, owner_id, "Plain one")
    patch(api, owner_id, conversation_id, model="fake-small", instructions="Be terse.")
    document = response_json(api.get(f"/api/{owner_id}/export"))
    exported = [(item["model"], item["instructions"]) for item in document["conversations"]]
    assert exported == [("fake-small", "Be terse."), (None, None)]
    Conversation.objects.all().delete()
    assert api.post(f"/api/{owner_id}/import", document, format="json").status_code == 200
    imported = Conversation.objects.order_by("created_at").values_list("model", "instructions")
    assert list(imported) == [("fake-small", "Be terse."), ("", "")]


# --- New conversations and the request to the model server ----------------------------------


def test_new_conversations_take_the_persons_last_choice(api, other_api, owner_id, other_id, model_server) -> None:  # type: ignore[no-untyped-def]
    first = send(api, owner_id, "Hello")["conversation_id"]
    assert patch(api, owner_id, first, model="fake-small").status_code == 200
    newer = send(api, owner_id, "A new one")["conversation_id"]
    assert Conversation.objects.get(pk=newer).model == "fake-small"
    assert chat_requests(model_server)[-1]["model"] == "fake-small"
    # Someone else's choice is their own: a new conversation of theirs uses the default.
    theirs = send(other_api, other_id, "Hi")["conversation_id"]
    assert Conversation.objects.get(pk=theirs).model == ""
    assert chat_requests(model_server)[-1]["model"] == "fake-model"
    assert response_json(other_api.get(f"/api/{other_id}/conversations/{theirs}"))["model"] == "fake-model"


def test_the_request_carries_the_conversations_model_and_instructions(api, owner_id, model_server) -> None:  # type: ignore[no-untyped-def]
    """The conversation's model, and its instructions after the assistant's own prompt (agent turn, with tools)."""
    conversation_id = send(api, owner_id, "Hello")["conversation_id"]
    assert chat_requests(model_server)[-1]["model"] == "fake-model"
    without = system_of(chat_requests(model_server)[-1])
    assert without is not None and without.startswith(OWN_PROMPT)
    patch(api, owner_id, conversation_id, model="fake-large", instructions="Always answer in French.")
    send(api, owner_id, "And now?", conversation_id)
    sent = chat_requests(model_server)[-1]
    assert sent["model"] == "fake-large"
    assert system_of(sent) == f"{without}\n\nAlways answer in French."
    assert [m["role"] for m in sent["messages"]].count("system") == 1  # one system message, for strict templates


def test_a_plain_request_carries_them_too(api, owner_id, settings, model_server) -> None:  # type: ignore[no-untyped-def]
    """With ``ASSISTANT_TOOLS=0`` (a plain streamed request): the same model and system message."""
    settings.ASSISTANT_TOOLS = False
    reset_assistant()
    conversation_id = send(api, owner_id, "Hello")["conversation_id"]
    patch(api, owner_id, conversation_id, model="fake-vision", instructions="Be terse.")
    send(api, owner_id, "Again", conversation_id)
    sent = model_server.requests[-1]
    assert sent["model"] == "fake-vision"
    assert sent["messages"][0] == {"role": "system", "content": f"{OWN_PROMPT}\n\nBe terse."}
    assert model_server.system_message(len(model_server.requests) - 1) == f"{OWN_PROMPT}\n\nBe terse."


async def test_the_offline_assistant_ignores_the_options() -> None:
    from conversations.assistant.offline import OfflineAssistant

    history = [ChatTurn("user", "hello")]
    plain = [part async for part in OfflineAssistant().stream(history)]
    given = [part async for part in OfflineAssistant().stream(history, options=ChatOptions("x", "Be terse."))]
    assert given == plain


# --- Titles ---------------------------------------------------------------------------------


def chat_and_title(user_id: str, text: str, conversation_id: object = None) -> Message:
    """A chat turn through the service, then every title it asked for, on one event loop (as a server runs)."""

    async def turn() -> Message:
        reply = await services.chat_send(user_id=user_id, conversation_id=conversation_id, text=text)
        await services.titles_settled()
        await close_assistant()  # this loop's connections to the model server
        return reply

    return async_to_sync(turn)()


def test_after_the_first_reply_the_model_titles_the_conversation(owner_id, titles_on: FakeOpenAI) -> None:  # type: ignore[no-untyped-def]
    titles_on.completion_reply = '**Title: "Planning a Trip to Rome."**'
    reply = chat_and_title(owner_id, "Can you help me plan a week in Rome in June with two kids?")
    conversation = Conversation.objects.get(pk=reply.conversation_id)
    assert conversation.title == "Planning a Trip to Rome"
    assert not conversation.title_set_by_user
    (asked,) = title_requests(titles_on)
    assert asked["model"] == "fake-model" and "tools" not in asked
    assert asked["messages"][0] == {"role": "system", "content": TITLE_PROMPT}
    assert "week in Rome" in asked["messages"][1]["content"] and reply.content in asked["messages"][1]["content"]
    # Later replies ask for nothing more.
    chat_and_title(owner_id, "And in July?", conversation.pk)
    assert len(title_requests(titles_on)) == 1
    assert Conversation.objects.get(pk=conversation.pk).title == "Planning a Trip to Rome"


def test_the_title_request_never_delays_the_reply(owner_id, titles_on: FakeOpenAI) -> None:  # type: ignore[no-untyped-def]
    titles_on.completion_reply, titles_on.completion_latency = "Slow title", 1.0

    async def turn() -> tuple[Message, str, float]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        reply = await services.chat_send(user_id=owner_id, conversation_id=None, text="Hello there")
        answered_after = loop.time() - started
        title_then = (await Conversation.objects.aget(pk=reply.conversation_id)).title
        await services.titles_settled()
        await close_assistant()  # this loop's connections to the model server
        return reply, title_then, answered_after

    reply, title_then, answered_after = async_to_sync(turn)()
    assert reply.status == "complete" and answered_after < 1.0
    assert title_then == "Hello there"  # the reply came first, with the title from the message
    assert Conversation.objects.get(pk=reply.conversation_id).title == "Slow title"


def test_a_title_the_person_set_meanwhile_is_kept(owner_id, titles_on: FakeOpenAI) -> None:  # type: ignore[no-untyped-def]
    titles_on.completion_reply, titles_on.completion_latency = "Generated", 0.5

    async def turn() -> Message:
        reply = await services.chat_send(user_id=owner_id, conversation_id=None, text="Hello there")
        conversation = await Conversation.objects.aget(pk=reply.conversation_id)
        await sync_to_async(services.conversation_rename)(conversation=conversation, title="My own title")
        await services.titles_settled()
        await close_assistant()  # this loop's connections to the model server
        return reply

    reply = async_to_sync(turn)()
    assert Conversation.objects.get(pk=reply.conversation_id).title == "My own title"


def test_no_title_is_asked_for_a_conversation_the_person_named_first(owner_id, titles_on: FakeOpenAI) -> None:  # type: ignore[no-untyped-def]
    conversation = services.conversation_create(user_id=owner_id)
    services.conversation_rename(conversation=conversation, title="Named first")
    chat_and_title(owner_id, "Hello there", conversation.pk)
    assert title_requests(titles_on) == []
    assert Conversation.objects.get(pk=conversation.pk).title == "Named first"


@pytest.mark.parametrize(
    ("fault", "value"),
    [("completion_mode", "error500"), ("completion_latency", 2.0), ("completion_reply", "  \n\n")],
    ids=["fails", "times-out", "says-nothing"],
)
def test_when_the_title_request_fails_the_first_message_titles_it(owner_id, settings, titles_on, fault, value) -> None:  # type: ignore[no-untyped-def]
    settings.ASSISTANT_TITLE_TIMEOUT_SECONDS = 0.3
    setattr(titles_on, fault, value)
    reply = chat_and_title(owner_id, "What is   the boiling point of water at the top of Everest?")
    assert reply.status == "complete"
    assert Conversation.objects.get(pk=reply.conversation_id).title == services.title_from_message(
        "What is the boiling point of water at the top of Everest?"
    )


def test_offline_or_switched_off_no_title_is_asked(owner_id, settings, fake_openai, titles_on) -> None:  # type: ignore[no-untyped-def]
    settings.ASSISTANT_AUTO_TITLES = False
    reply = chat_and_title(owner_id, "Hello there")
    assert Conversation.objects.get(pk=reply.conversation_id).title == "Hello there"
    settings.ASSISTANT_AUTO_TITLES = True
    settings.ASSISTANT_BACKEND = "offline"
    settings.OPENAI_BASE_URL = ""
    reset_assistant()
    reply = chat_and_title(owner_id, "Hello offline")
    assert Conversation.objects.get(pk=reply.conversation_id).title == "Hello offline"
    assert title_requests(fake_openai) == []


def test_a_title_uses_the_conversations_model(owner_id, titles_on: FakeOpenAI) -> None:  # type: ignore[no-untyped-def]
    Preference.objects.create(user_id=owner_id, model="fake-small")
    titles_on.completion_reply = "Small talk"
    reply = chat_and_title(owner_id, "Hello there")
    assert [body["model"] for body in titles_on.requests] == ["fake-small", "fake-small"]
    assert Conversation.objects.get(pk=reply.conversation_id).title == "Small talk"


@pytest.mark.parametrize(
    ("answer", "title"),
    [
        ("Trip to Rome", "Trip to Rome"),
        ('"Trip to Rome."', "Trip to Rome"),
        ("<think>The user wants a trip.</think>\n\n## Title: Trip to Rome\nMore text", "Trip to Rome"),
        ("«Voyage à Rome»", "Voyage à Rome"),
        ("", ""),
        ("<think>never finished", ""),
        ("bad\x00title", ""),
        ("word " * 40, services.title_from_message("word " * 40)),
    ],
)
def test_a_suggested_title_is_cleaned(answer: str, title: str) -> None:
    assert services.title_suggested_clean(answer) == title


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("live_layer")
async def test_a_socket_reply_is_titled_and_the_page_told(owner_id, titles_on: FakeOpenAI) -> None:  # type: ignore[no-untyped-def]
    """The live door: the turn carries the conversation's model, then ``conversation.title`` reaches the socket."""
    await Preference.objects.acreate(user_id=owner_id, model="fake-large")
    titles_on.completion_reply = "Socket title"
    communicator = socket(owner_id)
    await opened(communicator)
    await communicator.send_json_to({"type": "send", "message": "Hello over the socket", "client_id": "c-1"})
    events = await receive_until(communicator, "conversation.title")
    created = next(e for e in events if e["type"] == "conversation.created")
    assert events[-1] == {
        "type": "conversation.title",
        "conversation_id": created["conversation_id"],
        "title": "Socket title",
    }
    assert [e["type"] for e in events].index("reply.finished") < len(events) - 1  # the reply first
    assert [body["model"] for body in titles_on.requests] == ["fake-large", "fake-large"]
    assert (await Conversation.objects.aget(pk=created["conversation_id"])).title == "Socket title"
    await communicator.disconnect()


async def test_a_title_request_is_one_plain_completion(fake_openai: FakeOpenAI) -> None:
    fake_openai.completion_reply = "A title"
    assistant = OpenAIAssistant(model="fake-model", base_url=fake_openai.base_url, system_prompt="Be brief.")
    try:
        answer = await assistant.title([ChatTurn("user", "Hi"), ChatTurn("assistant", "Hello!")])
    finally:
        await assistant.aclose()
    assert answer == "A title"
    (sent,) = fake_openai.requests
    assert not sent.get("stream") and sent["max_tokens"] > 0
    assert sent["messages"][1] == {"role": "user", "content": "User: Hi\n\nAssistant: Hello!"}


# --- The page -------------------------------------------------------------------------------


@pytest.fixture
def signed_in(client, owner):  # type: ignore[no-untyped-def]
    client.force_login(owner)
    return client


def test_the_header_has_a_model_select_with_the_conversations_model(signed_in, owner_id, model_server) -> None:  # type: ignore[no-untyped-def]
    conversation = services.conversation_create(user_id=owner_id, title="Chat")
    services.conversation_configure(conversation=conversation, model="fake-small")
    html = signed_in.get(f"/chat/{conversation.pk}").content.decode()
    assert '<label for="model-select" class="model-picker__label">Model</label>' in html
    picker = re.search(r'<form id="model-picker".*?</form>', html, re.S)
    assert picker is not None
    assert re.findall(r'<option value="([^"]+)"', picker.group()) == ["fake-model", *sorted(MODELS[1:])]
    assert '<option value="fake-small" selected>fake-small</option>' in picker.group()


def test_the_select_posts_the_model_and_gets_itself_back(signed_in, owner_id, model_server) -> None:  # type: ignore[no-untyped-def]
    conversation = services.conversation_create(user_id=owner_id, title="Chat")
    response = signed_in.post(f"/chat/{conversation.pk}/model", {"model": "fake-large"}, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="model-picker"' in html
    assert '<option value="fake-large" selected>' in html and "Model set to fake-large." in html
    assert Conversation.objects.get(pk=conversation.pk).model == "fake-large"
    assert Preference.objects.get(user_id=owner_id).model == "fake-large"
    refused = signed_in.post(f"/chat/{conversation.pk}/model", {"model": "nope"}, **HTMX)
    assert refused.status_code == 400 and "Unknown model “nope”" in refused.content.decode()
    assert 'aria-invalid="true"' in refused.content.decode()
    # Without script: back to the conversation.
    plain = signed_in.post(f"/chat/{conversation.pk}/model", {"model": "fake-small"})
    assert plain.status_code == 302 and plain["Location"] == f"/chat/{conversation.pk}"


def test_the_settings_dialog_saves_instructions_and_shows_errors_by_the_field(signed_in, owner_id) -> None:  # type: ignore[no-untyped-def]
    conversation = services.conversation_create(user_id=owner_id, title="Chat")
    url = f"/chat/{conversation.pk}/settings"
    dialog = signed_in.get(url, **HTMX).content.decode()
    assert "data-dialog-open" in dialog and '<label for="conversation-instructions">Instructions</label>' in dialog
    saved = signed_in.post(url, {"instructions": "Answer like a pirate."}, **HTMX)
    assert saved.status_code == 200 and "Instructions saved." in saved.content.decode()
    assert Conversation.objects.get(pk=conversation.pk).instructions == "Answer like a pirate."
    refused = signed_in.post(url, {"instructions": "x" * 4001}, **HTMX)
    html = refused.content.decode()
    assert refused.status_code == 400
    assert 'id="conversation-instructions-error"' in html and "the limit is 4000" in html
    assert 'aria-invalid="true"' in html
    assert Conversation.objects.get(pk=conversation.pk).instructions == "Answer like a pirate."
    # Without script: a page of its own, then back to the conversation.
    assert "<dialog" in signed_in.get(url).content.decode()
    assert signed_in.post(url, {"instructions": ""})["Location"] == f"/chat/{conversation.pk}"
    assert Conversation.objects.get(pk=conversation.pk).instructions == ""


def test_someone_elses_conversation_settings_are_a_404(client, other_user, owner_id) -> None:  # type: ignore[no-untyped-def]
    conversation = services.conversation_create(user_id=owner_id, title="Chat")
    client.force_login(other_user)
    assert client.get(f"/chat/{conversation.pk}/settings", **HTMX).status_code == 404
    assert client.post(f"/chat/{conversation.pk}/model", {"model": "offline"}, **HTMX).status_code == 404
    assert client.post(f"/chat/{conversation.pk}/settings", {"instructions": "x"}, **HTMX).status_code == 404


def test_the_select_shows_the_current_model_while_the_server_cannot_list(signed_in, owner_id, model_server) -> None:  # type: ignore[no-untyped-def]
    conversation = services.conversation_create(user_id=owner_id, title="Chat")
    services.conversation_configure(conversation=conversation, model="fake-small")
    model_server.models_mode = "error500"
    html = signed_in.get(f"/chat/{conversation.pk}").content.decode()
    assert '<option value="fake-small" selected>fake-small</option>' in html
    assert "could not be reached to list its models" in html
