"""Data model rules (contract: Data model; issue 2)."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from conversations.models import Conversation, Message
from conversations.services import title_from_message
from conversations.tests.factories import make_conversation

pytestmark = pytest.mark.django_db


def test_it_refuses_a_role_outside_user_and_assistant() -> None:
    conversation = make_conversation("u1")
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(conversation=conversation, user_id="u1", role="system", content="hi")


def test_it_refuses_an_empty_user_message() -> None:
    conversation = make_conversation("u1")
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(conversation=conversation, user_id="u1", role="user", content="")


def test_it_refuses_an_empty_complete_assistant_reply() -> None:
    conversation = make_conversation("u1")
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(conversation=conversation, user_id="u1", role="assistant", content="", status="complete")


def test_it_allows_an_empty_pending_assistant_reply() -> None:
    conversation = make_conversation("u1")
    reply = Message.objects.create(
        conversation=conversation, user_id="u1", role="assistant", content="", status="pending"
    )
    assert reply.is_finished is False


def test_it_refuses_an_unknown_status() -> None:
    conversation = make_conversation("u1")
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(conversation=conversation, user_id="u1", role="assistant", content="x", status="lost")


def test_it_deletes_messages_with_their_conversation_through_the_orm() -> None:
    conversation = make_conversation("u1", messages=4)
    conversation.delete()
    assert Message.objects.count() == 0


@pytest.mark.postgres
def test_the_database_itself_cascades_a_raw_sql_delete(on_postgres: None) -> None:
    conversation = make_conversation("u1", messages=6)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM conversations_conversation WHERE id = %s", [conversation.pk])
    assert Message.objects.filter(conversation_id=conversation.pk).count() == 0


@pytest.mark.postgres
def test_the_foreign_key_is_declared_on_delete_cascade(on_postgres: None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT confdeltype FROM pg_constraint WHERE contype = 'f' "
            "AND conrelid = 'conversations_message'::regclass AND confrelid = 'conversations_conversation'::regclass"
        )
        assert [row[0] for row in cursor.fetchall()] == ["c"]


@pytest.mark.postgres
def test_the_schema_has_the_checks_and_indexes(on_postgres: None) -> None:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "conversations_message")
        conversation_constraints = connection.introspection.get_constraints(cursor, "conversations_conversation")
    checks = {name for name, c in constraints.items() if c["check"]}
    assert {"message_role_valid", "message_content_not_empty", "message_status_valid"} <= checks
    keyset = constraints["msg_conv_created_id_idx"]
    assert keyset["index"] and keyset["columns"] == ["conversation_id", "created_at", "id"]
    assert keyset["orders"] == ["ASC", "DESC", "DESC"]
    indexed = {tuple(c["columns"]) for c in constraints.values() if c["index"]}
    assert {("user_id",), ("conversation_id",), ("created_at",)} <= indexed
    assert conversation_constraints["conv_user_updated_idx"]["columns"] == ["user_id", "updated_at", "id"]


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("  Hello   world \n", "Hello world"),
        ("x" * 60, "x" * 60),
        ("word " * 30, ("word " * 12).strip() + "…"),
        ("y" * 80, "y" * 60 + "…"),
    ],
)
def test_title_from_message_folds_whitespace_and_cuts_near_60_characters(text: str, title: str) -> None:
    assert title_from_message(text) == title


def test_conversations_are_listed_newest_activity_first_by_default() -> None:
    old = make_conversation("u1", messages=2)
    new = make_conversation("u1", messages=4)
    assert list(Conversation.objects.all()) == [new, old]
