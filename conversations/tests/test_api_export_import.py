"""Export and import through the API (issue 15, "Export and import"; docs/export.md).

One conversation as Markdown or JSON, everything as one streamed JSON document, and the
import of that document or of a ChatGPT ``conversations.json``: round trip, an edited
branch, skipped system/tool/empty nodes, null times, re-import without duplicates,
malformed files (400, nothing written), the size limit (413), and isolation (FR-011).
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from chatsite.limits import RequestBodyLimitMiddleware
from conversations import export
from conversations.models import Conversation, Message
from conversations.tests.factories import make_conversation

pytestmark = pytest.mark.django_db

START = dt.datetime(2025, 3, 1, 9, 30, tzinfo=dt.UTC)


def post_json(client: APIClient, url: str, body: Any):
    raw = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(url, data=raw, content_type="application/json")


def body_of(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def a_rich_conversation(user_id: str) -> Conversation:
    """Pinned, with a tool call, a stopped reply and a failed empty one."""
    conversation = make_conversation(user_id, title="Groceries and more", messages=4, start=START)
    conversation.pinned = True
    conversation.save(update_fields=["pinned"])
    Message.objects.bulk_create(
        [
            Message(
                conversation=conversation,
                user_id=user_id,
                role="user",
                content="add milk",
                created_at=START + dt.timedelta(seconds=10),
            ),
            Message(
                conversation=conversation,
                user_id=user_id,
                role="assistant",
                content="Added task 1: **milk**.",
                created_at=START + dt.timedelta(seconds=11),
                tool_calls=[
                    {"name": "add_task", "arguments": {"title": "milk"}, "result": {"task_id": 1, "status": "created"}}
                ],
            ),
            Message(
                conversation=conversation,
                user_id=user_id,
                role="assistant",
                content="Half a rep",
                status="stopped",
                created_at=START + dt.timedelta(seconds=12),
            ),
            Message(
                conversation=conversation,
                user_id=user_id,
                role="assistant",
                content="",
                status="failed",
                created_at=START + dt.timedelta(seconds=13),
            ),
        ]
    )
    return conversation


def comparable(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The document's conversations without the ids a new home gives them."""
    out = []
    for conversation in sorted(document["conversations"], key=lambda c: c["title"]):
        conversation = {k: v for k, v in conversation.items() if k != "id"}
        conversation["messages"] = [{k: v for k, v in m.items() if k != "id"} for m in conversation["messages"]]
        out.append(conversation)
    return out


# --- Export -------------------------------------------------------------------------------


def test_it_round_trips_everything_into_another_user(
    api: APIClient, other_api: APIClient, owner_id: str, other_id: str
) -> None:
    a_rich_conversation(owner_id)
    archived = make_conversation(owner_id, title="Old stuff", messages=3, start=START - dt.timedelta(days=30))
    archived.archived = True
    archived.save(update_fields=["archived"])
    make_conversation(owner_id, title="Empty one", start=START + dt.timedelta(days=1))

    exported = api.get(f"/api/{owner_id}/export")
    document = json.loads(body_of(exported))
    imported = post_json(other_api, f"/api/{other_id}/import", document)

    assert imported.status_code == 200, imported.content
    assert imported.json() == {"conversations": 3, "messages": 11, "skipped": 0}
    again = json.loads(body_of(other_api.get(f"/api/{other_id}/export")))
    assert comparable(again) == comparable(document)
    assert Message.objects.filter(user_id=other_id).count() == 11
    assert set(Conversation.objects.filter(user_id=other_id).values_list("import_key", flat=True)) == {
        export._fingerprint("chat-export", c["id"]) for c in document["conversations"]
    }


def test_the_json_document_has_the_documented_shape(api: APIClient, owner_id: str) -> None:
    conversation = a_rich_conversation(owner_id)

    response = api.get(f"/api/{owner_id}/conversations/{conversation.pk}/export?format=json")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == 'attachment; filename="groceries-and-more.json"'
    document = json.loads(body_of(response))
    assert document["format"] == "chat-export" and document["version"] == 1 and document["exported_at"]
    [item] = document["conversations"]
    assert item["id"] == str(conversation.pk)
    assert item["title"] == "Groceries and more"
    assert item["created_at"] == "2025-03-01T09:30:00Z"
    assert (item["pinned"], item["archived"], item["model"], item["instructions"]) == (True, False, None, None)
    assert [(m["role"], m["status"]) for m in item["messages"]][-4:] == [
        ("user", "complete"),
        ("assistant", "complete"),
        ("assistant", "stopped"),
        ("assistant", "failed"),
    ]
    assert set(item["messages"][0]) == {"id", "role", "content", "status", "created_at", "tool_calls"}
    assert item["messages"][5]["tool_calls"][0]["name"] == "add_task"


def test_it_exports_one_conversation_as_markdown(api: APIClient, owner_id: str) -> None:
    conversation = a_rich_conversation(owner_id)

    response = api.get(f"/api/{owner_id}/conversations/{conversation.pk}/export?format=markdown")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="groceries-and-more.md"'
    text = body_of(response).decode()
    assert text.startswith("# Groceries and more\n")
    assert "\n## You · 2025-03-01 09:30:00 UTC\n\nmessage 0\n" in text
    assert "\n## Assistant · 2025-03-01 09:30:01 UTC\n\nmessage 1\n" in text
    assert "_Tools used: add_task._\n\nAdded task 1: **milk**.\n" in text  # the Markdown source, as written
    assert "Half a rep\n\n_(This reply is stopped.)_" in text
    assert text.index("message 0") < text.index("message 3") < text.index("add milk")
    # Markdown is the default.
    assert api.get(f"/api/{owner_id}/conversations/{conversation.pk}/export")["Content-Type"].startswith(
        "text/markdown"
    )


def test_the_file_name_is_safe_ascii_with_the_utf8_title_beside_it(api: APIClient, owner_id: str) -> None:
    conversation = make_conversation(owner_id, title='Café "Zürich" / 東京?', messages=2)

    response = api.get(f"/api/{owner_id}/conversations/{conversation.pk}/export?format=markdown")

    assert response["Content-Disposition"] == (
        "attachment; filename=\"cafe-zurich.md\"; filename*=UTF-8''Caf%C3%A9%20-Z%C3%BCrich-%20-%20%E6%9D%B1%E4%BA%AC.md"
    )
    untitled = make_conversation(owner_id, title="")
    assert api.get(f"/api/{owner_id}/conversations/{untitled.pk}/export")["Content-Disposition"] == (
        'attachment; filename="conversation.md"'
    )


def test_an_unknown_format_is_a_400(api: APIClient, owner_id: str) -> None:
    conversation = make_conversation(owner_id, title="x", messages=2)
    response = api.get(f"/api/{owner_id}/conversations/{conversation.pk}/export?format=pdf")
    assert response.status_code == 400
    assert response.json() == {"error": "Validation error", "detail": "format must be markdown or json"}


def test_export_all_is_streamed_in_chunks_and_parses(
    api: APIClient, owner_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export, "EXPORT_CONVERSATION_CHUNK", 2)
    monkeypatch.setattr(export, "EXPORT_MESSAGE_CHUNK", 3)
    for i in range(5):
        make_conversation(owner_id, title=f"c{i}", messages=7, start=START + dt.timedelta(hours=i))

    response = api.get(f"/api/{owner_id}/export")

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"].startswith('attachment; filename="conversations-')
    chunks = list(response.streaming_content)
    assert len(chunks) > 20  # written as it is read, not built whole
    document = json.loads(b"".join(chunks))
    assert [c["title"] for c in document["conversations"]] == ["c0", "c1", "c2", "c3", "c4"]
    assert [len(c["messages"]) for c in document["conversations"]] == [7] * 5
    assert [m["content"] for m in document["conversations"][4]["messages"]] == [f"message {i}" for i in range(7)]


def test_export_all_of_nobody_is_an_empty_document(api: APIClient, owner_id: str) -> None:
    document = json.loads(body_of(api.get(f"/api/{owner_id}/export")))
    assert document["conversations"] == []


# --- Isolation (FR-011, SC-006) -------------------------------------------------------------


def test_every_endpoint_needs_a_token(anon_api: APIClient, owner_id: str) -> None:
    conversation = make_conversation(owner_id, title="mine", messages=2)
    assert anon_api.get(f"/api/{owner_id}/conversations/{conversation.pk}/export").status_code == 401
    assert anon_api.get(f"/api/{owner_id}/export").status_code == 401
    response = post_json(anon_api, f"/api/{owner_id}/import", [])
    assert response.status_code == 401
    assert response.json()["error"] == "Unauthorized"


def test_nobody_exports_or_imports_for_someone_else(other_api: APIClient, owner_id: str, other_id: str) -> None:
    conversation = make_conversation(owner_id, title="mine", messages=2)
    forbidden = {"error": "Forbidden", "detail": "User ID in path does not match authenticated user"}

    assert other_api.get(f"/api/{owner_id}/conversations/{conversation.pk}/export").json() == forbidden
    assert other_api.get(f"/api/{owner_id}/export").json() == forbidden
    response = post_json(other_api, f"/api/{owner_id}/import", chatgpt_export())
    assert response.status_code == 403 and response.json() == forbidden
    assert not Conversation.objects.filter(user_id=other_id).exists()

    mine_via_theirs = other_api.get(f"/api/{other_id}/conversations/{conversation.pk}/export?format=json")
    assert mine_via_theirs.status_code == 404
    assert mine_via_theirs.json() == {"error": "Not found", "detail": "Conversation not found"}
    assert other_api.get(f"/api/{other_id}/conversations/not-a-uuid/export").status_code == 404
    everything = json.loads(body_of(other_api.get(f"/api/{other_id}/export")))
    assert everything["conversations"] == []


# --- ChatGPT's conversations.json ----------------------------------------------------------


def node(node_id: str, parent: str | None, children: list[str], message: dict[str, Any] | None) -> dict[str, Any]:
    return {"id": node_id, "message": message, "parent": parent, "children": children}


def message(
    node_id: str,
    role: str,
    text: Any,
    create_time: float | None,
    *,
    content_type: str = "text",
    recipient: str = "all",
    hidden: bool = False,
) -> dict[str, Any]:
    content: dict[str, Any] = {"content_type": content_type}
    if content_type in ("text", "multimodal_text"):
        content["parts"] = text
    else:
        content["text"] = text
    return {
        "id": node_id,
        "author": {"role": role, "name": None, "metadata": {}},
        "create_time": create_time,
        "update_time": None,
        "content": content,
        "status": "finished_successfully",
        "end_turn": True,
        "weight": 1.0,
        "metadata": {"is_visually_hidden_from_conversation": True} if hidden else {"model_slug": "gpt-4o"},
        "recipient": recipient,
        "channel": None,
    }


T0 = 1_717_000_000.0  # 2024-05-29 16:26:40 UTC


def chatgpt_export() -> list[dict[str, Any]]:
    """Two conversations as ChatGPT's data export writes them.

    The first has a system prompt, an edited second question (its node ``a1`` has two
    children; ``current_node`` is on the newer branch), a browsing tool call and its result,
    a message without a time, an image-only message and an empty last reply. The second
    has no conversation_id, only ``id``, and is archived.
    """
    lisbon = {
        "title": "Weekend in Lisbon",
        "create_time": T0,
        "update_time": T0 + 900,
        "mapping": {
            "root": node("root", None, ["sys"], None),
            "sys": node("sys", "root", ["u1"], message("sys", "system", [""], None, hidden=True)),
            "u1": node("u1", "sys", ["a1"], message("u1", "user", ["Plan a weekend in Lisbon"], T0 + 10)),
            "a1": node(
                "a1",
                "u1",
                ["u2-old", "u2-new"],
                message("a1", "assistant", ["**Saturday**: Alfama.\n\n**Sunday**: Belém."], T0 + 20),
            ),
            "u2-old": node("u2-old", "a1", ["a2-old"], message("u2-old", "user", ["And Porto?"], T0 + 30)),
            "a2-old": node("a2-old", "u2-old", [], message("a2-old", "assistant", ["Porto is 3 h away."], T0 + 40)),
            "u2-new": node("u2-new", "a1", ["call"], message("u2-new", "user", ["Where to eat?"], None)),
            "call": node(
                "call",
                "u2-new",
                ["result"],
                message(
                    "call", "assistant", 'search("Lisbon food")', T0 + 60, content_type="code", recipient="browser"
                ),
            ),
            "result": node(
                "result",
                "call",
                ["image"],
                message("result", "tool", "", T0 + 61, content_type="tether_browsing_display"),
            ),
            "image": node(
                "image",
                "result",
                ["a2-new"],
                message("image", "user", [{"content_type": "image_asset_pointer", "asset_pointer": "file-1"}], T0 + 62),
            ),
            "a2-new": node(
                "a2-new",
                "image",
                ["empty"],
                message("a2-new", "assistant", ["Try *pastéis de nata* ", "in Belém."], T0 + 70),
            ),
            "empty": node("empty", "a2-new", [], message("empty", "assistant", [""], T0 + 80)),
        },
        "moderation_results": [],
        "current_node": "empty",
        "plugin_ids": None,
        "conversation_id": "6650f8a2-0000-4000-8000-000000000001",
        "conversation_template_id": None,
        "gizmo_id": None,
        "is_archived": False,
        "safe_urls": [],
        "default_model_slug": "gpt-4o",
        "id": "6650f8a2-0000-4000-8000-000000000001",
    }
    untimed = {
        "title": "Untimed",
        "create_time": T0 + 5000,
        "update_time": T0 + 6000,
        "mapping": {
            "r": node("r", None, ["q"], None),
            "q": node("q", "r", ["a"], message("q", "user", ["hello"], None)),
            "a": node("a", "q", [], message("a", "assistant", ["hi"], None)),
        },
        "current_node": "a",
        "is_archived": True,
        "id": "6650f8a2-0000-4000-8000-000000000002",
    }
    return [lisbon, untimed]


def test_it_imports_a_chatgpt_export_keeping_the_current_branch_only(api: APIClient, owner_id: str) -> None:
    response = post_json(api, f"/api/{owner_id}/import", chatgpt_export())

    assert response.status_code == 200, response.content
    assert response.json() == {"conversations": 2, "messages": 6, "skipped": 0}
    lisbon = Conversation.objects.get(user_id=owner_id, title="Weekend in Lisbon")
    messages = list(lisbon.messages.order_by("created_at", "id"))
    assert [(m.role, m.content) for m in messages] == [
        ("user", "Plan a weekend in Lisbon"),
        ("assistant", "**Saturday**: Alfama.\n\n**Sunday**: Belém."),
        ("user", "Where to eat?"),
        ("assistant", "Try *pastéis de nata* \n\nin Belém."),
    ]
    assert {m.status for m in messages} == {"complete"} and {m.user_id for m in messages} == {owner_id}
    epoch = dt.datetime.fromtimestamp
    assert messages[0].created_at == epoch(T0 + 10, tz=dt.UTC)
    # No time: the conversation's, which is earlier, so just after the message before it.
    assert messages[2].created_at == messages[1].created_at + dt.timedelta(microseconds=1)
    assert messages[3].created_at == epoch(T0 + 70, tz=dt.UTC)
    assert lisbon.created_at == epoch(T0, tz=dt.UTC) and lisbon.updated_at == epoch(T0 + 900, tz=dt.UTC)
    assert not lisbon.archived and not lisbon.pinned

    untimed = Conversation.objects.get(user_id=owner_id, title="Untimed")
    q, a = untimed.messages.order_by("created_at", "id")
    assert (q.content, a.content) == ("hello", "hi")
    assert q.created_at == epoch(T0 + 5000, tz=dt.UTC) and a.created_at > q.created_at
    assert untimed.archived


def test_importing_the_same_file_twice_creates_nothing_new(api: APIClient, owner_id: str) -> None:
    assert post_json(api, f"/api/{owner_id}/import", chatgpt_export()).json()["conversations"] == 2
    counts = Conversation.objects.count(), Message.objects.count()

    again = post_json(api, f"/api/{owner_id}/import", chatgpt_export())

    assert again.status_code == 200
    assert again.json() == {"conversations": 0, "messages": 0, "skipped": 2}
    assert (Conversation.objects.count(), Message.objects.count()) == counts


def test_a_conversation_without_an_id_is_known_again_by_its_content(api: APIClient, owner_id: str) -> None:
    data = chatgpt_export()[1:]
    del data[0]["id"]
    assert post_json(api, f"/api/{owner_id}/import", data).json()["conversations"] == 1
    assert post_json(api, f"/api/{owner_id}/import", data).json() == {"conversations": 0, "messages": 0, "skipped": 1}


def test_a_conversation_without_an_id_or_times_is_known_again_too(api: APIClient, owner_id: str) -> None:
    data = chatgpt_export()[1:]
    for key in ("id", "conversation_id", "create_time", "update_time"):
        data[0].pop(key, None)
    for node in data[0]["mapping"].values():
        if node.get("message"):
            node["message"]["create_time"] = None
    assert post_json(api, f"/api/{owner_id}/import", data).json()["conversations"] == 1
    # The times were the import's own (now): they must not make the second import look new.
    assert post_json(api, f"/api/{owner_id}/import", data).json() == {"conversations": 0, "messages": 0, "skipped": 1}


def test_ones_own_export_imported_back_creates_nothing_new(api: APIClient, owner_id: str) -> None:
    a_rich_conversation(owner_id)
    deleted = make_conversation(owner_id, title="Deleted since", messages=2)
    document = json.loads(body_of(api.get(f"/api/{owner_id}/export")))
    deleted.delete()
    # The one still here is skipped; the one deleted since comes back.
    assert post_json(api, f"/api/{owner_id}/import", document).json() == {
        "conversations": 1,
        "messages": 2,
        "skipped": 1,
    }
    assert sorted(Conversation.objects.values_list("title", flat=True)) == sorted(
        [document["conversations"][0]["title"], "Deleted since"]
    )


def test_the_same_file_imports_again_for_another_user(
    api: APIClient, other_api: APIClient, owner_id: str, other_id: str
) -> None:
    post_json(api, f"/api/{owner_id}/import", chatgpt_export())
    response = post_json(other_api, f"/api/{other_id}/import", chatgpt_export())
    assert response.json() == {"conversations": 2, "messages": 6, "skipped": 0}


def test_it_takes_the_file_as_a_multipart_field(api: APIClient, owner_id: str) -> None:
    upload = SimpleUploadedFile("conversations.json", json.dumps(chatgpt_export()).encode(), "application/json")

    response = api.post(f"/api/{owner_id}/import", {"file": upload}, format="multipart")

    assert response.status_code == 200, response.content
    assert response.json() == {"conversations": 2, "messages": 6, "skipped": 0}


def test_a_multipart_post_without_the_file_is_a_400(api: APIClient, owner_id: str) -> None:
    response = api.post(f"/api/{owner_id}/import", {"other": "x"}, format="multipart")
    assert response.status_code == 400
    assert "field file" in response.json()["detail"]


# --- Malformed files: 400, nothing written ---------------------------------------------------


def chatgpt_with(change: Any) -> list[dict[str, Any]]:
    data = chatgpt_export()
    data = [data[0], copy.deepcopy(data[1]), copy.deepcopy(data[1]), copy.deepcopy(data[1])]
    for index, item in enumerate(data[1:], start=1):
        item["id"] = f"id-{index}"
    change(data)
    return data


def _drop_mapping(data: list[dict[str, Any]]) -> None:
    del data[3]["mapping"]


def _parts_not_a_list(data: list[dict[str, Any]]) -> None:
    data[3]["mapping"]["q"]["message"]["content"]["parts"] = "hello"


def _content_not_an_object(data: list[dict[str, Any]]) -> None:
    data[2]["mapping"]["a"]["message"]["content"] = ["hi"]


def _unknown_parent(data: list[dict[str, Any]]) -> None:
    data[1]["mapping"]["q"]["parent"] = "nowhere"


def _bad_time(data: list[dict[str, Any]]) -> None:
    data[1]["mapping"]["q"]["message"]["create_time"] = "yesterday"


def _huge_time(data: list[dict[str, Any]]) -> None:
    data[1]["mapping"]["q"]["message"]["create_time"] = 10**400  # too large for a float


def _parent_loop(data: list[dict[str, Any]]) -> None:
    mapping = data[1]["mapping"]
    root = next(node_id for node_id, node in mapping.items() if node.get("parent") is None)
    mapping[root]["parent"] = data[1]["current_node"]  # the branch leads back to itself


def deeply_nested_tool_calls() -> dict[str, Any]:
    nested: Any = "bottom"
    for _ in range(600):
        nested = [nested]
    message = {"id": "m1", "role": "assistant", "content": "hi", "status": "complete"}
    message |= {"created_at": "2025-03-01T09:30:00Z", "tool_calls": [{"name": "x", "arguments": nested, "result": {}}]}
    conversation = {"id": "c1", "title": "deep", "created_at": "2025-03-01T09:30:00Z"}
    conversation |= {"updated_at": "2025-03-01T09:30:00Z", "messages": [message]}
    return {"format": "chat-export", "version": 1, "conversations": [conversation]}


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        pytest.param(
            b"this is not json", "The file is not valid JSON: Expecting value: line 1 column 1 (char 0).", id="not-json"
        ),
        pytest.param(b'{"conversations": [', "The file is not valid JSON", id="cut-short"),
        pytest.param(b"\xff\xfe{}", "The file is not UTF-8 text.", id="not-utf8"),
        pytest.param({"hello": "world"}, "The file is neither a chat export", id="wrong-shape"),
        pytest.param(42, "The file is neither a chat export", id="a-number"),
        pytest.param([], "The file holds no conversations.", id="empty-list"),
        pytest.param(["x"], "conversations[0] must be an object", id="list-of-strings"),
        pytest.param(chatgpt_with(_drop_mapping), "conversations[3].mapping is missing", id="missing-mapping"),
        pytest.param(
            chatgpt_with(_parts_not_a_list),
            "conversations[3].mapping.q.message.content.parts must be a list",
            id="parts",
        ),
        pytest.param(
            chatgpt_with(_content_not_an_object),
            "conversations[2].mapping.a.message.content must be an object",
            id="content-not-an-object",
        ),
        pytest.param(chatgpt_with(_unknown_parent), "conversations[1].mapping has no node 'nowhere'", id="parent"),
        pytest.param(
            chatgpt_with(_bad_time),
            "conversations[1].mapping.q.message.create_time must be a number of seconds (Unix time) or null",
            id="time",
        ),
        pytest.param(
            chatgpt_with(_huge_time),
            "conversations[1].mapping.q.message.create_time must be a number of seconds (Unix time) or null",
            id="huge-time",
        ),
        pytest.param(chatgpt_with(_parent_loop), "conversations[1].mapping has a cycle", id="parent-loop"),
        pytest.param(
            deeply_nested_tool_calls(), "A tool call is nested more than 64 levels deep.", id="deep-tool-calls"
        ),
        pytest.param(
            {"format": "chat-export", "version": 2, "conversations": []}, "version must be 1", id="future-version"
        ),
        pytest.param(
            {"format": "chat-export", "version": 1, "conversations": {}},
            "conversations must be a list",
            id="not-a-list",
        ),
    ],
)
def test_a_malformed_file_is_a_400_saying_what_is_wrong_and_nothing_is_written(
    api: APIClient, owner_id: str, body: Any, detail: str
) -> None:
    response = post_json(api, f"/api/{owner_id}/import", body)

    assert response.status_code == 400
    assert response.json()["error"] == "Validation error"
    assert response.json()["detail"].startswith(detail)
    assert not Conversation.objects.exists() and not Message.objects.exists()


def test_a_bad_message_in_a_chat_export_is_a_400_naming_it(
    api: APIClient, other_api: APIClient, owner_id: str, other_id: str
) -> None:
    make_conversation(owner_id, title="one", messages=2)
    make_conversation(owner_id, title="two", messages=2, start=START)
    document = json.loads(body_of(api.get(f"/api/{owner_id}/export")))
    document["conversations"][1]["messages"][1]["role"] = "system"

    response = post_json(other_api, f"/api/{other_id}/import", document)

    assert response.json() == {
        "error": "Validation error",
        "detail": "conversations[1].messages[1].role must be user or assistant",
    }
    assert not Conversation.objects.filter(user_id=other_id).exists()


def test_imported_rows_keep_the_databases_rules(api: APIClient, owner_id: str) -> None:
    """A user's message is complete; an empty one is left out; an unfinished reply is failed (text kept)."""
    document = {
        "format": "chat-export",
        "version": 1,
        "conversations": [
            {
                "id": "x",
                "title": None,
                "created_at": "2025-01-01T00:00:00Z",
                "updated_at": "2025-01-01T00:00:00Z",
                "messages": [
                    {
                        "role": "user",
                        "content": "first\x00 words",
                        "status": "failed",
                        "created_at": "2025-01-01T00:00:01Z",
                    },
                    {"role": "user", "content": "", "created_at": "2025-01-01T00:00:02Z"},
                    {"role": "assistant", "content": "", "created_at": "2025-01-01T00:00:03Z"},
                    {
                        "role": "assistant",
                        "content": "half",
                        "status": "streaming",
                        "created_at": "2025-01-01T00:00:03Z",
                    },
                ],
            }
        ],
    }

    response = post_json(api, f"/api/{owner_id}/import", document)

    assert response.json() == {"conversations": 1, "messages": 2, "skipped": 0}
    conversation = Conversation.objects.get()
    assert conversation.title == "first words"  # none given: from the first message, as the chat does
    assert [(m.role, m.content, m.status) for m in conversation.messages.order_by("created_at")] == [
        ("user", "first words", "complete"),
        ("assistant", "half", "failed"),
    ]


# --- The size limit: 413 ------------------------------------------------------------------------


def test_a_file_over_the_limit_is_a_413(api: APIClient, owner_id: str, settings: Any) -> None:
    settings.IMPORT_MAX_BYTES = 2048
    too_big = json.dumps(chatgpt_export() * 3).encode()
    assert len(too_big) > 2048
    expected = {"error": "Payload too large", "detail": "The file is over the import limit of 2048 bytes."}

    as_body = post_json(api, f"/api/{owner_id}/import", too_big)
    upload = SimpleUploadedFile("conversations.json", too_big, "application/json")
    as_file = api.post(f"/api/{owner_id}/import", {"file": upload}, format="multipart")

    assert (as_body.status_code, as_body.json()) == (413, expected)
    assert (as_file.status_code, as_file.json()) == (413, expected)
    assert not Conversation.objects.exists()


def test_a_file_over_the_request_limit_but_within_the_import_limit_is_taken(
    api: APIClient, owner_id: str, settings: Any
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    data = chatgpt_export()
    data[0]["mapping"]["u1"]["message"]["content"]["parts"] = ["x" * 100_000]

    response = post_json(api, f"/api/{owner_id}/import", data)

    assert response.status_code == 200, response.content


def through_the_body_limit(
    path: str, size: int, *, method: str = "POST", signed_in: bool = True
) -> tuple[int, bytes, bool]:
    """POST a ``size``-byte body to ``path`` through ``RequestBodyLimitMiddleware``:
    the status, the body, and whether the app behind it (Django) was called."""
    called = False
    sent: list[dict[str, Any]] = []

    async def django(scope: Any, receive: Any, send: Any) -> None:
        nonlocal called
        called = True
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    chunks = iter([b"x" * 4096] * (size // 4096))

    async def receive() -> dict[str, Any]:
        chunk = next(chunks, None)
        return {"type": "http.request", "body": chunk or b"", "more_body": chunk is not None}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [(b"content-length", str(size).encode())]
    if signed_in:
        headers.append((b"authorization", b"Bearer eyJ.not-checked-here"))
    scope = {"type": "http", "http_version": "1.1", "method": method, "path": path, "headers": headers}
    asyncio.run(RequestBodyLimitMiddleware(django)(scope, receive, send))
    return sent[0]["status"], sent[1]["body"], called


def test_the_servers_body_limit_is_lifted_for_the_import_paths_only(settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 65536
    settings.IMPORT_MAX_BYTES = 262144

    results = {path: through_the_body_limit(path, 131072) for path in ("/api/7/import", "/chat/import", "/api/7/chat")}
    # Over the file limit plus its multipart envelope (64 KiB): refused before Django.
    status, body, called = through_the_body_limit("/api/7/import", 266240 + 65536)

    assert results["/api/7/import"] == (200, b"ok", True)
    assert results["/chat/import"] == (200, b"ok", True)
    assert results["/api/7/chat"][0] == 413 and not results["/api/7/chat"][2]
    assert (status, called) == (413, False)
    assert json.loads(body) == {
        "error": "Payload too large",
        "detail": f"The request body is over the limit of {262144 + 65536} bytes.",
    }
    # Within the envelope: the import itself measures the file (and answers in its own words).
    assert through_the_body_limit("/api/7/import", 266240)[2] is True
    # Anonymous posts and other methods keep the ordinary limit: nobody unknown gets 50 MiB held.
    assert through_the_body_limit("/api/7/import", 131072, signed_in=False)[:1] == (413,)
    assert through_the_body_limit("/api/7/import", 131072, method="PUT")[:1] == (413,)


def test_a_session_cookie_lifts_the_limit_for_the_page_import(settings: Any) -> None:
    from chatsite.limits import body_limit

    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 65536
    settings.IMPORT_MAX_BYTES = 262144
    cookie = settings.SESSION_COOKIE_NAME.encode() + b"=abc; csrftoken=x"
    scope = {"method": "POST", "path": "/chat/import", "headers": [(b"cookie", cookie)]}
    assert body_limit(scope) == 262144 + 65536
    assert body_limit({**scope, "headers": [(b"cookie", b"csrftoken=x")]}) == 65536


# --- The page's downloads (a session, not a token) ---------------------------------------------


def test_the_page_downloads_with_the_session_and_only_its_own(client: Any, owner: Any, other_user: Any) -> None:
    conversation = make_conversation(str(owner.pk), title="Mine", messages=2)
    assert client.get(f"/chat/{conversation.pk}/export").status_code == 302  # to the login page

    client.force_login(owner)
    markdown = client.get(f"/chat/{conversation.pk}/export")
    as_json = client.get(f"/chat/{conversation.pk}/export?format=json")
    everything = client.get("/chat/export")

    assert markdown["Content-Disposition"] == 'attachment; filename="mine.md"'
    assert body_of(markdown).decode().startswith("# Mine\n")
    assert json.loads(body_of(as_json))["conversations"][0]["title"] == "Mine"
    assert everything.streaming and len(json.loads(body_of(everything))["conversations"]) == 1
    assert client.get(f"/chat/{conversation.pk}/export?format=pdf").status_code == 400
    client.force_login(other_user)
    assert client.get(f"/chat/{conversation.pk}/export").status_code == 404
    assert json.loads(body_of(client.get("/chat/export")))["conversations"] == []
