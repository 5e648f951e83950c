"""Hostile input: clear 400s or text stored exactly as sent, never a 500.

Runs on whichever database the suite uses (PostgreSQL with ``DATABASE_URL``, else
SQLite); the CI runs both. Message length is counted in Python ``len`` units, i.e.
Unicode code points: "😀" is 1, "👍🏽" (emoji + skin tone) is 2, a flag is 2
(contract: POST chat, 1..4000 chars; Errors 400/413).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from conversations.models import Conversation, Message
from conversations.tests.conftest import response_json
from conversations.tests.factories import make_conversation

pytestmark = pytest.mark.django_db

LIMIT = 65536  # DJANGO_MAX_REQUEST_BYTES' default
TOO_LARGE = {"error": "Payload too large", "detail": f"The request body is over the limit of {LIMIT} bytes."}


def chat_raw(client: APIClient, user_id: str, raw: bytes | str, **extra: Any) -> Any:
    return client.post(f"/api/{user_id}/chat", data=raw, content_type="application/json", **extra)


def chat(client: APIClient, user_id: str, body: Any) -> Any:
    return chat_raw(client, user_id, json.dumps(body))


def stored_messages(client: APIClient, user_id: str, conversation_id: str) -> list[dict[str, Any]]:
    """The conversation read back through the detail endpoint."""
    response = client.get(f"/api/{user_id}/conversations/{conversation_id}")
    assert response.status_code == 200
    return response_json(response)["messages"]


def assert_contract_400(response: Any) -> str:
    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body) == {"error", "detail"} and body["error"] == "Validation error"
    assert body["detail"] and "Traceback" not in body["detail"]
    return body["detail"]


# --- Stored exactly as sent ------------------------------------------------------------------

EXACT = {
    "control characters": "bell\x07 escape\x1b[31mred\x1b[0m tab\t cr\r lf\n unit-sep\x1f del\x7f c1\x85\x9f",
    "right-to-left override": "invoice\u202eexe.pdf and \u2066isolate\u2069 \u200f",
    "zero-width and joiners": "a\u200bb\u200dc\ufeffd\u2060e",
    "noncharacters and the last code point": "\ufffe\uffff\U0010ffff\U000e0001",
    "combining marks": "Z\u0351\u0352\u0353\u0354a\u0300\u0301\u0302l\u0303g\u0304o",
    "html and sql": "<script>alert(1)</script>'; DROP TABLE conversations_message; --",
    "surrounding whitespace": "   kept as sent   \n\n",
    "4000 emoji (one code point each)": "😀" * 4000,
    "4000 characters": "x" * 4000,
    "mixed astral": "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 " * 400,
}


@pytest.mark.parametrize("text", EXACT.values(), ids=EXACT.keys())
def test_it_stores_unusual_text_exactly_as_sent(api: APIClient, owner_id: str, text: str) -> None:
    assert len(text) <= 4000
    response = chat(api, owner_id, {"message": text})
    assert response.status_code == 200, response.content
    conversation_id = response.json()["conversation_id"]
    messages = stored_messages(api, owner_id, conversation_id)
    assert messages[0]["role"] == "user"
    assert messages[0]["content"] == text


def test_it_stores_text_sent_as_raw_utf8_and_as_json_escapes_alike(api: APIClient, owner_id: str) -> None:
    text = "naïve 😀 \u202e שלום"
    raw_utf8 = json.dumps({"message": text}, ensure_ascii=False).encode("utf-8")
    escaped = json.dumps({"message": text}, ensure_ascii=True)
    for body in (raw_utf8, escaped):
        response = chat_raw(api, owner_id, body)
        assert response.status_code == 200
        assert stored_messages(api, owner_id, response.json()["conversation_id"])[0]["content"] == text


def test_it_keeps_unusual_titles_as_sent_once_trimmed(api: APIClient, owner_id: str) -> None:
    conversation = make_conversation(owner_id)
    # "😀" * 197: 200 characters as sent with the padding (the limit counts what is sent, as the schema does).
    for title in ("\u202eevil\u202c title", "<img src=x onerror=alert(1)>", "😀" * 197, "tab\there\x07"):
        response = api.patch(
            f"/api/{owner_id}/conversations/{conversation.id}",
            data=json.dumps({"title": f"  {title} "}),
            content_type="application/json",
        )
        assert response.status_code == 200, (title, response.content)
        assert response_json(api.get(f"/api/{owner_id}/conversations/{conversation.id}"))["title"] == title


# --- Clear 400s ------------------------------------------------------------------------------


def test_4000_characters_pass_and_4001_do_not(api: APIClient, owner_id: str) -> None:
    assert chat(api, owner_id, {"message": "é" * 4000}).status_code == 200
    detail = assert_contract_400(chat(api, owner_id, {"message": "é" * 4001}))
    assert detail == "Message is too long: 4001 characters, the limit is 4000"


def test_emoji_made_of_several_code_points_count_each_one(api: APIClient, owner_id: str) -> None:
    thumbs = "👍🏽"  # U+1F44D U+1F3FD
    assert len(thumbs) == 2
    assert chat(api, owner_id, {"message": thumbs * 2000}).status_code == 200
    assert_contract_400(chat(api, owner_id, {"message": thumbs * 2000 + "!"}))


@pytest.mark.parametrize(
    "raw, expected_detail",
    [
        ('{"message": "\\u0000"}', "Message cannot contain NUL characters"),
        ('{"message": "before\\u0000after"}', "Message cannot contain NUL characters"),
        ('{"message": "\\ud800"}', "Message contains invalid Unicode (a lone surrogate)"),
        ('{"message": "low \\udfff alone"}', "Message contains invalid Unicode (a lone surrogate)"),
        ('{"message": "\\udc00\\ud800"}', "Message contains invalid Unicode (a lone surrogate)"),
        ('{"message": " \\u3000\\u2028\\u00a0\\t"}', "Message content cannot be empty"),
        ('{"message": ""}', "Message content cannot be empty"),
        ('{"message": null}', "Message content cannot be empty"),
        ('{"message": 42}', "Message must be a string"),
        ('{"message": true}', "Message must be a string"),
        ('{"message": NaN}', "Message must be a string"),
        ('{"message": ["hi"]}', "Message must be a string"),
        ('{"message": {"text": "hi"}}', "Message must be a string"),
        ("{}", "Message is required"),
        ('{"message": "hi", "role": "assistant"}', "Unknown field: role"),
        ('{"message": "hi", "user_id": "someone-else"}', "Unknown field: user_id"),
    ],
)
def test_it_refuses_bad_messages_with_a_clear_400(
    api: APIClient, owner_id: str, raw: str, expected_detail: str
) -> None:
    assert assert_contract_400(chat_raw(api, owner_id, raw)) == expected_detail
    assert Message.objects.count() == 0


@pytest.mark.parametrize(
    "raw",
    [
        b'{"message": ',
        b"{'message': 'single quotes'}",
        b'{"message": "hi"} trailing',
        b"\xff\xfe{\x00}\x00",  # UTF-16 with a BOM
        b'{"message": "\xc3\x28 invalid utf-8"}',
        b"[" * 60000,  # nesting deep enough to exhaust Python's recursion limit
        b'{"a":' * 10000 + b"1" + b"}" * 10000,
    ],
    ids=["truncated", "single-quotes", "trailing", "utf-16", "bad-utf8", "deep-list", "deep-object"],
)
def test_it_answers_unparsable_bodies_with_400(api: APIClient, owner_id: str, raw: bytes) -> None:
    assert assert_contract_400(chat_raw(api, owner_id, raw)) == "The request body is not valid JSON."
    assert Message.objects.count() == 0


@pytest.mark.parametrize("raw", ["[]", '"hello"', "42", "null", '[{"message": "hi"}]'])
def test_it_refuses_a_body_that_is_not_an_object(api: APIClient, owner_id: str, raw: str) -> None:
    assert_contract_400(chat_raw(api, owner_id, raw))
    assert Message.objects.count() == 0


@pytest.mark.parametrize("conversation_id", [42, True, ["x"], {"id": 1}])
def test_it_refuses_a_conversation_id_of_the_wrong_type(api: APIClient, owner_id: str, conversation_id: Any) -> None:
    assert_contract_400(chat(api, owner_id, {"message": "hi", "conversation_id": conversation_id}))


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "limit=-1",
        "limit=abc",
        "limit=1e3",
        "offset=-1",
        "offset=x",
        "offset=99999999999999999999999999",
        "limit=99999999999999999999999999",
        "limit=%00",
        "offset=1%002",
    ],
)
def test_it_answers_bad_list_parameters_with_400(api: APIClient, owner_id: str, query: str) -> None:
    assert_contract_400(api.get(f"/api/{owner_id}/conversations?{query}"))


def test_it_answers_a_huge_but_valid_offset_with_an_empty_page(api: APIClient, owner_id: str) -> None:
    make_conversation(owner_id)
    body = api.get(f"/api/{owner_id}/conversations?offset=2147483647").json()
    assert body["conversations"] == [] and body["total"] == 1


@pytest.mark.parametrize("before", ["not-a-uuid", "%00", "00000000-0000-0000-0000-000000000000", "x" * 5000])
def test_it_answers_a_bad_message_cursor_with_400(api: APIClient, owner_id: str, before: str) -> None:
    conversation = make_conversation(owner_id, messages=3)
    assert_contract_400(api.get(f"/api/{owner_id}/conversations/{conversation.id}/messages", {"before": before}))


@pytest.mark.parametrize(
    "conversation_id", ["%00", "..", "x" * 5000, "00000000-0000-0000-0000-000000000000%00", "' OR 1=1 --"]
)
def test_it_answers_a_hostile_conversation_id_in_the_path_with_404(
    api: APIClient, owner_id: str, conversation_id: str
) -> None:
    response = api.get(f"/api/{owner_id}/conversations/{conversation_id}")
    assert response.status_code == 404
    assert set(response.json()) == {"error", "detail"}


# --- Too large: refused before being read ------------------------------------------------------


def test_it_refuses_a_declared_huge_body_without_reading_it(api: APIClient, owner_id: str) -> None:
    """The test client's payload raises if more is read than it holds: a 413 proves nothing was."""
    response = chat_raw(api, owner_id, b'{"message": "hi"}', CONTENT_LENGTH=str(10**12))
    assert response.status_code == 413
    assert response.json() == TOO_LARGE
    assert Conversation.objects.count() == 0


def test_it_refuses_a_body_one_byte_over_the_limit(api: APIClient, owner_id: str) -> None:
    skeleton = json.dumps({"message": ""})
    exact = json.dumps({"message": " " * (LIMIT - len(skeleton) + 1)})
    assert len(exact) == LIMIT + 1
    response = chat_raw(api, owner_id, exact)
    assert (response.status_code, response.json()) == (413, TOO_LARGE)
    at_limit = json.dumps({"message": "x" + " " * (LIMIT - len(skeleton) - 1)})
    assert len(at_limit) == LIMIT
    # Within the byte limit, so parsed: then refused for its length, not its size.
    assert chat_raw(api, owner_id, at_limit).status_code == 400


def test_it_refuses_oversized_renames_too(api: APIClient, owner_id: str) -> None:
    conversation = make_conversation(owner_id, title="small")
    response = api.patch(
        f"/api/{owner_id}/conversations/{conversation.id}",
        data=b'{"title": "x"}',
        content_type="application/json",
        CONTENT_LENGTH=str(10**9),
    )
    assert (response.status_code, response.json()) == (413, TOO_LARGE)
    conversation.refresh_from_db()
    assert conversation.title == "small"


def test_the_schemas_text_pattern_names_exactly_pythons_whitespace() -> None:
    """The OpenAPI pattern must not depend on a regex dialect's ``\\s`` (ECMA-262 leaves out U+001C..U+001F)."""
    import re

    from conversations.api.serializers import PYTHON_WHITESPACE_CLASS, TEXT_PATTERN

    whitespace = re.compile(f"[{PYTHON_WHITESPACE_CLASS}]")
    assert [c for c in range(0x110000) if whitespace.fullmatch(chr(c))] == [
        c for c in range(0x110000) if chr(c).isspace()
    ]
    pattern = re.compile(TEXT_PATTERN)
    for blank in ("\x1c\x1d\x1c", " \t\n", "\x85\u3000"):
        assert not pattern.match(blank)
    for text in ("a", " a ", "\ufeff"):
        assert pattern.match(text)


def test_a_message_of_separator_characters_only_is_refused_as_empty(api: APIClient, owner_id: str) -> None:
    response = api.post(f"/api/{owner_id}/chat", {"message": "\x1c\x1d\x1c"}, format="json")
    assert (response.status_code, response_json(response)) == (
        400,
        {"error": "Validation error", "detail": "Message content cannot be empty"},
    )
    assert not Message.objects.exists()
