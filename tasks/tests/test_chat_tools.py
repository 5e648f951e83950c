"""The assistant acts (issue 13): the five task tools through a chat turn, on every door.

With a model (the fake OpenAI server on loopback, answering with tool calls whose
arguments arrive in pieces) the turn runs an Agents SDK agent; without one the offline
assistant understands the same requests in plain English. The user a tool acts for is
always the request's verified identity (contract: "Later features").
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from rest_framework.test import APIClient

from conversations.assistant import reset_assistant
from conversations.assistant.agent import ROUNDS_EXHAUSTED
from conversations.models import Message
from conversations.tests import test_live as live_tests
from conversations.tests.fake_openai import DEFAULT_REPLY, FakeOpenAI
from conversations.tests.test_live import opened, receive_until, socket
from tasks import services
from tasks.models import Task

pytestmark = pytest.mark.django_db

# A fresh channel layer for the socket tests (conversations/tests/test_live.py's).
live_layer = live_tests.live_layer


def chat(client: APIClient, user_id: str, message: str, conversation_id: object = None) -> dict[str, Any]:
    body: dict[str, Any] = {"message": message}
    if conversation_id is not None:
        body["conversation_id"] = str(conversation_id)
    response = client.post(f"/api/{user_id}/chat", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()


def titles(user_id: str) -> list[tuple[int, str, bool]]:
    return list(Task.objects.filter(user_id=user_id).order_by("number").values_list("number", "title", "completed"))


@pytest.fixture
def model(fake_openai: FakeOpenAI, settings) -> Iterator[FakeOpenAI]:  # type: ignore[no-untyped-def]
    """The OpenAI-compatible backend against the fake model server, tools on."""
    settings.ASSISTANT_BACKEND = "openai"
    settings.OPENAI_BASE_URL = fake_openai.base_url
    settings.OPENAI_MODEL = "fake-model"
    settings.ASSISTANT_MAX_TOOL_ROUNDS = 3
    reset_assistant()
    yield fake_openai
    reset_assistant()


# --- The offline assistant: plain English, the same tools ------------------------------


def test_offline_add_list_complete_rename_delete_by_chat(api: APIClient, owner_id: str) -> None:
    added = chat(api, owner_id, "add a task to buy groceries")
    assert added["tool_calls"] == [
        {
            "name": "add_task",
            "arguments": {"title": "Buy groceries"},
            "result": {"task_id": 1, "status": "created", "title": "Buy groceries"},
        }
    ]
    assert added["message"] == "Added task 1: “Buy groceries”."
    conversation_id = added["conversation_id"]
    chat(api, owner_id, "Remind me to call mom.", conversation_id)
    assert titles(owner_id) == [(1, "Buy groceries", False), (2, "Call mom", False)]

    done = chat(api, owner_id, "mark task 2 as complete", conversation_id)
    assert done["tool_calls"][0]["result"] == {"task_id": 2, "status": "completed", "title": "Call mom"}
    pending = chat(api, owner_id, "what's pending?", conversation_id)
    assert pending["tool_calls"][0]["result"] == [{"id": 1, "title": "Buy groceries", "completed": False}]
    assert "Buy groceries" in pending["message"] and "Call mom" not in pending["message"]
    completed = chat(api, owner_id, "What have I completed?", conversation_id)
    assert completed["tool_calls"][0]["arguments"] == {"status": "completed"}
    assert "Call mom" in completed["message"]
    every = chat(api, owner_id, "show me all my tasks", conversation_id)
    assert [t["id"] for t in every["tool_calls"][0]["result"]] == [1, 2]

    renamed = chat(api, owner_id, "change task 1 to 'Buy oat milk'", conversation_id)
    assert renamed["tool_calls"][0]["result"] == {"task_id": 1, "status": "updated", "title": "Buy oat milk"}
    deleted = chat(api, owner_id, "delete task 2", conversation_id)
    assert deleted["tool_calls"][0]["result"]["status"] == "deleted"
    assert titles(owner_id) == [(1, "Buy oat milk", False)]


def test_offline_deletes_a_task_named_by_its_words_after_listing(api: APIClient, owner_id: str) -> None:
    services.task_create(user_id=owner_id, title="Team meeting notes")
    services.task_create(user_id=owner_id, title="Buy milk")
    reply = chat(api, owner_id, "delete the meeting task")
    assert [call["name"] for call in reply["tool_calls"]] == ["list_tasks", "delete_task"]
    assert reply["tool_calls"][1]["result"] == {"task_id": 1, "status": "deleted", "title": "Team meeting notes"}
    assert titles(owner_id) == [(2, "Buy milk", False)]


def test_offline_says_so_gracefully_when_a_task_is_not_found(api: APIClient, owner_id: str) -> None:
    reply = chat(api, owner_id, "mark task 7 complete")
    assert reply["tool_calls"][0]["result"] == {"error": "task 7 not found"}
    assert reply["message"].startswith("I could not find task 7.")
    assert reply["status"] == "complete"


def test_offline_anything_else_gets_help_that_says_what_it_can_do_and_no_tool(api: APIClient, owner_id: str) -> None:
    reply = chat(api, owner_id, "Tell me a joke")
    assert reply["tool_calls"] == []
    assert "add a task to buy milk" in reply["message"] and "OPENAI_BASE_URL" in reply["message"]
    assert not Task.objects.exists()


def test_a_person_cannot_reach_another_persons_task_by_number(
    api: APIClient, owner_id: str, other_api: APIClient, other_id: str
) -> None:
    services.task_create(user_id=other_id, title="Theirs")
    for message in ("mark task 1 complete", "delete task 1", "rename task 1 to Mine now"):
        reply = chat(api, owner_id, message)
        assert reply["tool_calls"][0]["result"] == {"error": "task 1 not found"}
    assert titles(other_id) == [(1, "Theirs", False)]
    assert chat(api, owner_id, "show my tasks")["tool_calls"][0]["result"] == []


def test_tool_calls_survive_a_refresh_on_the_detail_and_the_message_pages(api: APIClient, owner_id: str) -> None:
    reply = chat(api, owner_id, "add a task to water the plants")
    path = f"/api/{owner_id}/conversations/{reply['conversation_id']}"
    detail = json.loads(b"".join(api.get(path).streaming_content))
    assert [m["tool_calls"] for m in detail["messages"]] == [[], reply["tool_calls"]]
    page = api.get(f"{path}/messages").json()
    assert page["messages"][1]["tool_calls"][0]["result"]["title"] == "Water the plants"


def test_a_tool_call_shows_on_the_page_escaped(api: APIClient, owner, owner_id: str, client) -> None:  # type: ignore[no-untyped-def]
    reply = chat(api, owner_id, "add a task to <script>alert(1)</script> *now*")
    client.force_login(owner)
    page = client.get(f"/chat/{reply['conversation_id']}").content.decode()
    assert "<script>alert(1)" not in page
    assert "Added task 1: &lt;script&gt;alert(1)&lt;/script&gt; *now*" in page  # the summary line, as text
    assert "&quot;status&quot;: &quot;created&quot;" in page  # the result, expandable


# --- With a model: an Agents SDK agent over Chat Completions ---------------------------


def test_the_agent_calls_each_tool_and_answers_after_the_results(
    api: APIClient, owner_id: str, model: FakeOpenAI
) -> None:
    model.tool_script = [
        [{"name": "add_task", "arguments": {"title": "Buy milk", "description": "2 litres"}}],
        "Added it.",
    ]
    reply = chat(api, owner_id, "I need milk")
    assert reply["message"] == "Added it."
    assert reply["tool_calls"] == [
        {
            "name": "add_task",
            "arguments": {"title": "Buy milk", "description": "2 litres"},
            "result": {"task_id": 1, "status": "created", "title": "Buy milk"},
        }
    ]
    assert Task.objects.get(user_id=owner_id).description == "2 litres"
    # The model got the result back, and the tools with a system prompt that says what they are for.
    assert json.loads(model.tool_results(1)[0]["content"]) == reply["tool_calls"][0]["result"]
    first = model.requests[0]
    assert sorted(tool["function"]["name"] for tool in first["tools"]) == [
        "add_task",
        "complete_task",
        "delete_task",
        "list_tasks",
        "update_task",
    ]
    assert "add_task" in first["messages"][0]["content"] and first["messages"][0]["role"] == "system"

    services.task_create(user_id=owner_id, title="Call mom")
    for step, expected in (
        (
            {"name": "list_tasks", "arguments": {"status": "pending"}},
            [{"id": 1, "title": "Buy milk", "completed": False}, {"id": 2, "title": "Call mom", "completed": False}],
        ),
        (
            {"name": "complete_task", "arguments": {"task_id": 1}},
            {"task_id": 1, "status": "completed", "title": "Buy milk"},
        ),
        (
            {"name": "update_task", "arguments": {"task_id": 2, "title": "Call mom tonight"}},
            {"task_id": 2, "status": "updated", "title": "Call mom tonight"},
        ),
        (
            {"name": "delete_task", "arguments": {"task_id": 1}},
            {"task_id": 1, "status": "deleted", "title": "Buy milk"},
        ),
    ):
        model.requests.clear()
        model.tool_script = [[step], "Done."]
        reply = chat(api, owner_id, "go", reply["conversation_id"])
        assert reply["tool_calls"] == [{**step, "result": expected}], step
    assert titles(owner_id) == [(2, "Call mom tonight", False)]


def test_an_injected_user_id_changes_nothing_of_anyone_else(
    api: APIClient, owner_id: str, other_id: str, model: FakeOpenAI
) -> None:
    services.task_create(user_id=other_id, title="Theirs")
    model.tool_script = [
        [
            {"name": "complete_task", "arguments": {"task_id": 1, "user_id": other_id}},
            {"name": "add_task", "arguments": {"title": "Planted", "user_id": other_id}},
        ],
        "Done.",
    ]
    reply = chat(api, owner_id, "do it")
    assert reply["tool_calls"][0]["result"] == {"error": "task 1 not found"}
    assert reply["tool_calls"][1]["result"]["status"] == "created"
    assert titles(other_id) == [(1, "Theirs", False)]
    assert titles(owner_id) == [(1, "Planted", False)]


def test_malformed_arguments_give_the_model_an_error_and_the_turn_goes_on(
    api: APIClient, owner_id: str, model: FakeOpenAI
) -> None:
    model.tool_script = [
        [
            {"name": "add_task", "arguments": '{"title": "unterminated'},
            {"name": "complete_task", "arguments": {"task_id": "three"}},
            {"name": "add_task", "arguments": {"title": "   "}},
        ],
        "Sorry, that did not work.",
    ]
    reply = chat(api, owner_id, "add something")
    assert reply["status"] == "complete" and reply["message"] == "Sorry, that did not work."
    assert [call["result"] for call in reply["tool_calls"]] == [
        {"error": "add_task: the arguments are not valid JSON"},
        {"error": "complete_task: task_id must be a task number, such as 3"},
        {"error": "add_task: Title cannot be empty"},
    ]
    assert [json.loads(m["content"]) for m in model.tool_results(1)] == [c["result"] for c in reply["tool_calls"]]
    assert not Task.objects.exists()


def test_a_tool_that_raises_gives_the_model_an_error_and_the_turn_goes_on(
    api: APIClient, owner_id: str, model: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**kwargs: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(services, "task_create", broken)
    model.tool_script = [[{"name": "add_task", "arguments": {"title": "Milk"}}], "It failed, sorry."]
    reply = chat(api, owner_id, "add milk")
    assert reply["tool_calls"][0]["result"] == {"error": "add_task failed unexpectedly; try again"}
    assert reply["message"] == "It failed, sorry."


def test_a_model_asking_for_tools_forever_is_stopped_after_a_few_rounds(
    api: APIClient, owner_id: str, model: FakeOpenAI
) -> None:
    model.tool_script = ["forever"]
    reply = chat(api, owner_id, "loop")
    assert reply["status"] == "complete"
    # ASSISTANT_MAX_TOOL_ROUNDS = 3: three rounds, then a request without tools, answered in words.
    assert [call["name"] for call in reply["tool_calls"]] == ["list_tasks"] * 3
    assert len(model.requests) == 4
    assert [request.get("tool_choice") for request in model.requests] == [None, None, None, "none"]
    assert model.requests[3]["tool_choice"] == "none"
    assert reply["message"] == DEFAULT_REPLY


def test_a_model_that_ignores_tool_choice_acts_no_more_after_the_last_round(
    api: APIClient, owner_id: str, model: FakeOpenAI
) -> None:
    model.tool_script = [[{"name": "add_task", "arguments": {"title": "Again"}}], "forever"]
    model.honour_tool_choice = False
    reply = chat(api, owner_id, "loop")
    # Three rounds acted; the call of the fourth request was refused without acting.
    assert [call["name"] for call in reply["tool_calls"]] == ["add_task"] * 3
    assert titles(owner_id) == [(1, "Again", False), (2, "Again", False), (3, "Again", False)]
    assert len(model.requests) == 4
    assert reply["status"] == "complete" and reply["message"] == ROUNDS_EXHAUSTED


def test_a_turn_whose_tools_acted_but_whose_model_said_nothing_says_what_was_done(
    api: APIClient, owner_id: str, model: FakeOpenAI
) -> None:
    model.tool_script = [[{"name": "add_task", "arguments": {"title": "Quiet *one*"}}], ""]
    reply = chat(api, owner_id, "add quietly")
    assert reply["status"] == "complete"
    assert reply["message"] == "Done:\n\n- Added task 1: Quiet \\*one\\*"
    assert titles(owner_id) == [(1, "Quiet *one*", False)]


def test_a_retry_after_a_failure_keeps_what_the_tools_did_and_tells_the_model(
    api: APIClient, owner_id: str, model: FakeOpenAI
) -> None:
    model.tool_script = [[{"name": "add_task", "arguments": {"title": "Once"}}], "never sent"]
    requests = []

    def second_fails(body: dict[str, Any], client: Any) -> str:
        requests.append(body)
        return "ok" if len(requests) == 1 else "error500"

    original, model._mode_for_this_request = model._mode_for_this_request, second_fails  # type: ignore[method-assign]
    try:
        failed = api.post(
            f"/api/{owner_id}/chat", data=json.dumps({"message": "add once"}), content_type="application/json"
        )
    finally:
        model._mode_for_this_request = original  # type: ignore[method-assign]
    assert failed.status_code == 503
    conversation_id = Message.objects.get(role="user").conversation_id

    model.requests.clear()
    model.tool_script = ["Already added it."]
    retried = api.post(f"/api/{owner_id}/conversations/{conversation_id}/retry")
    assert retried.status_code == 200
    body = retried.json()
    assert body["message"] == "Already added it."
    # The failed reply's call is kept on the new one, and the model was told it already ran.
    assert [call["result"] for call in body["tool_calls"]] == [{"task_id": 1, "status": "created", "title": "Once"}]
    system = model.requests[0]["messages"][0]["content"]
    assert "already called" in system and '"title": "Once"' in system
    assert titles(owner_id) == [(1, "Once", False)]


def test_offline_a_retry_does_not_act_twice(api: APIClient, owner_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from conversations.assistant.offline import OfflineAssistant

    original = OfflineAssistant._chunks

    async def broken(self: OfflineAssistant, text: str):  # type: ignore[no-untyped-def]
        raise RuntimeError("the reply broke after the tool acted")
        yield ""  # pragma: no cover

    monkeypatch.setattr(OfflineAssistant, "_chunks", broken)
    failed = api.post(
        f"/api/{owner_id}/chat", data=json.dumps({"message": "add a task to pay rent"}), content_type="application/json"
    )
    assert failed.status_code == 500
    assert titles(owner_id) == [(1, "Pay rent", False)]
    reply = Message.objects.get(role="assistant")
    assert reply.status == "failed" and reply.tool_calls[0]["result"]["status"] == "created"

    monkeypatch.setattr(OfflineAssistant, "_chunks", original)
    retried = api.post(f"/api/{owner_id}/conversations/{reply.conversation_id}/retry").json()
    assert retried["message"] == "Already done: Added task 1: Pay rent."
    assert len(retried["tool_calls"]) == 1 and titles(owner_id) == [(1, "Pay rent", False)]


def test_with_tools_off_the_model_gets_a_plain_request(
    api: APIClient,
    owner_id: str,
    model: FakeOpenAI,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    settings.ASSISTANT_TOOLS = False
    reset_assistant()
    model.tool_script = [[{"name": "add_task", "arguments": {"title": "Milk"}}]]
    reply = chat(api, owner_id, "add a task to buy milk")
    assert reply["tool_calls"] == [] and "tools" not in model.requests[0]
    assert not Task.objects.exists()


def test_a_model_failure_after_a_tool_call_keeps_the_call_on_the_failed_reply(
    api: APIClient, owner_id: str, model: FakeOpenAI
) -> None:
    model.tool_script = [[{"name": "add_task", "arguments": {"title": "Kept"}}], "never sent"]
    model.mode, model.fail_times = "error500", None
    original = model._mode_for_this_request
    seen = []

    def second_fails(body: dict[str, Any], client: Any) -> str:
        seen.append(1)
        return "ok" if len(seen) == 1 else "error500"

    model._mode_for_this_request = second_fails  # type: ignore[method-assign]
    try:
        response = api.post(f"/api/{owner_id}/chat", data=json.dumps({"message": "x"}), content_type="application/json")
    finally:
        model._mode_for_this_request = original  # type: ignore[method-assign]
    assert response.status_code == 503
    reply = Message.objects.get(role="assistant")
    assert reply.status == "failed"
    assert reply.tool_calls[0]["result"] == {"task_id": 1, "status": "created", "title": "Kept"}
    assert titles(owner_id) == [(1, "Kept", False)]


# --- Over the socket: each tool call shown as it happens -------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("live_layer")
async def test_the_socket_announces_each_tool_call_before_the_text(owner_id: str) -> None:
    communicator = socket(owner_id)
    await opened(communicator)
    await communicator.send_json_to({"type": "send", "message": "add a task to buy bread", "client_id": "k-1"})
    events = await receive_until(communicator, "reply.finished")
    kinds = [event["type"] for event in events]
    call = next(event for event in events if event["type"] == "reply.tool_call")
    assert kinds.index("reply.tool_call") < kinds.index("reply.delta")
    assert call["tool_call"]["result"] == {"task_id": 1, "status": "created", "title": "Buy bread"}
    assert call["summary"] == "Added task 1: Buy bread"
    reply = await Message.objects.aget(pk=call["reply_id"])
    assert reply.status == "complete" and reply.tool_calls == [call["tool_call"]]
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("live_layer")
async def test_the_socket_runs_the_agent_with_a_model(owner_id: str, model: FakeOpenAI) -> None:
    model.tool_script = [[{"name": "add_task", "arguments": {"title": "From the socket"}}], "Added."]
    communicator = socket(owner_id)
    await opened(communicator)
    await communicator.send_json_to({"type": "send", "message": "please", "client_id": "k-2"})
    events = await receive_until(communicator, "reply.finished")
    assert [e["summary"] for e in events if e["type"] == "reply.tool_call"] == ["Added task 1: From the socket"]
    assert "".join(e["delta"] for e in events if e["type"] == "reply.delta") == "Added."
    assert await sync_to_async(titles)(owner_id) == [(1, "From the socket", False)]
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("live_layer")
@pytest.mark.parametrize(
    ("message", "result"),
    [
        ("show my tasks", [{"id": 1, "title": "Existing", "completed": False}]),
        ("mark task 1 complete", {"task_id": 1, "status": "completed", "title": "Existing"}),
        ("rename task 1 to Renamed", {"task_id": 1, "status": "updated", "title": "Renamed"}),
        ("delete task 1", {"task_id": 1, "status": "deleted", "title": "Existing"}),
    ],
)
async def test_every_tool_works_over_the_socket(owner_id: str, message: str, result: object) -> None:
    await sync_to_async(services.task_create)(user_id=owner_id, title="Existing")
    communicator = socket(owner_id)
    await opened(communicator)
    await communicator.send_json_to({"type": "send", "message": message, "client_id": "k-each"})
    events = await receive_until(communicator, "reply.finished")
    calls = [event["tool_call"] for event in events if event["type"] == "reply.tool_call"]
    assert [call["result"] for call in calls] == [result]
    reply = await Message.objects.aget(pk=events[-1]["reply_id"])
    assert reply.tool_calls == calls and reply.status == "complete"
    await communicator.disconnect()
