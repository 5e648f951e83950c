"""Deleting an account and the defaults of new conversations (issue 16, "Settings").

``account_services.account_delete`` must leave nothing of the person in any table, and nothing
of anyone else gone. "Any table" is found in the app registry, not listed here: every model
(Django's own, allauth's and ``accounts``' once installed, the many-to-many tables too) with a
``user_id`` column or a foreign key to the user model, and the rows that point at those rows
(messages and share links of a conversation). A foreign key that only mentions the person in
someone else's row (``on_delete=SET_NULL``, e.g. who approved an account) must be cleared instead.
A new table with a ``user_id`` fails ``test_every_table_of_a_person_is_deleted_by_the_service``
until ``account_services.USER_ID_MODELS`` names it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.apps import apps
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.query import QuerySet

from conversations import account_services, idempotency, services, sharing
from conversations.models import Conversation, Message, Preference
from conversations.tests.factories import make_conversation
from tasks import services as task_services

pytestmark = pytest.mark.django_db


# --- Every table of a person, from the app registry ----------------------------------------


CLEARED = (models.SET_NULL, models.SET_DEFAULT)


def user_fields() -> Iterator[tuple[type[models.Model], models.Field]]:
    """Each model's field that names a person: a foreign key to the user model, or a ``user_id`` column."""
    user_model = get_user_model()
    for model in apps.get_models(include_auto_created=True):
        for field in model._meta.concrete_fields:
            if field.is_relation and field.related_model is user_model:
                yield model, field
            elif field.name == "user_id" and not field.is_relation:
                yield model, field


def rows_of(user_pk: Any) -> dict[str, set[Any]]:
    """The primary keys of every row of the user ``user_pk`` in every table, by model label: the user
    row, their own rows, and (to a fixed point) every row with a foreign key to one of those.
    Someone else's row that only mentions them (a ``SET_NULL`` key) is not theirs: see ``mentions_of``."""
    user_model = get_user_model()
    found: dict[type[models.Model], set[Any]] = {
        user_model: set(user_model.objects.filter(pk=user_pk).values_list("pk", flat=True))
    }
    for model, field in user_fields():
        if field.is_relation and field.remote_field.on_delete in CLEARED:
            continue
        value = user_pk if field.is_relation else str(user_pk)
        found.setdefault(model, set()).update(
            model._default_manager.filter(**{field.name: value}).values_list("pk", flat=True)
        )
    changed = True
    while changed:
        changed = False
        for model in apps.get_models(include_auto_created=True):
            for field in model._meta.concrete_fields:
                if not field.is_relation or field.related_model not in found or field.related_model is model:
                    continue
                if field.remote_field.on_delete in CLEARED:
                    continue
                pointing = set(
                    model._default_manager.filter(**{f"{field.name}__in": found[field.related_model]}).values_list(
                        "pk", flat=True
                    )
                )
                if not pointing <= found.get(model, set()):
                    found.setdefault(model, set()).update(pointing)
                    changed = True
    return {model._meta.label: pks for model, pks in found.items() if pks}


def mentions_of(user_pk: Any) -> dict[str, int]:
    """How many rows of each model still hold a foreign key to the user ``user_pk``."""
    counts = {}
    for model, field in user_fields():
        if field.is_relation and (count := model._default_manager.filter(**{field.name: user_pk}).count()):
            counts[f"{model._meta.label}.{field.name}"] = count
    return counts


def still_there(rows: dict[str, set[Any]]) -> dict[str, set[Any]]:
    """Which of ``rows`` (as ``rows_of`` gives them) are still in the database."""
    left = {}
    for label, pks in rows.items():
        model = apps.get_model(label)
        kept = set(model._default_manager.filter(pk__in=pks).values_list("pk", flat=True))
        if kept:
            left[label] = kept
    return left


def fill(user: Any) -> None:
    """Something of ``user`` in every table the chat has, and in Django's (and allauth's) user tables."""
    user_id = str(user.pk)
    account_services.preference_save(user_id=user_id, model="", instructions="Be brief.")
    key = idempotency.idempotency_for(key="k-1", operation=idempotency.CHAT, conversation_id=None, text="Hello")
    start = services.chat_begin(user_id=user_id, conversation_id=None, text="Hello", idempotency=key)
    services.reply_finish(reply=start.reply, content="Hi there", status=Message.Status.COMPLETE)
    sharing.share_create(conversation=start.conversation)
    make_conversation(user_id, title="Older", messages=4)
    task_services.task_create(user_id=user_id, title="Buy milk")
    task_services.task_create(user_id=user_id, title="Call mum")
    user.groups.add(Group.objects.get_or_create(name="readers")[0])
    user.user_permissions.add(Permission.objects.order_by("pk").first())
    LogEntry.objects.create(
        user=user,
        content_type=ContentType.objects.get_for_model(Conversation),
        object_id=str(start.conversation.pk),
        object_repr="Hello",
        action_flag=ADDITION,
    )
    if apps.is_installed("allauth.account"):
        from allauth.account.models import EmailAddress

        EmailAddress.objects.create(user=user, email=f"{user.get_username()}@example.com", verified=True, primary=True)


def mention(holder: Any, mentioned: Any) -> None:
    """Make ``holder``'s rows mention ``mentioned`` wherever a ``SET_NULL`` key to the user allows
    (``accounts.Account.approved_by``: who approved their account)."""
    user_model = get_user_model()
    for model, field in user_fields():
        if not field.is_relation or field.remote_field.on_delete not in CLEARED:
            continue
        for own in model._meta.concrete_fields:
            if own.is_relation and own.related_model is user_model and own.remote_field.on_delete is models.CASCADE:
                model._default_manager.filter(**{own.name: holder}).update(**{field.name: mentioned})


@pytest.fixture
def filled(owner, other_user) -> None:
    fill(owner)
    fill(other_user)
    mention(other_user, owner)


# --- Deleting an account ----------------------------------------------------------------


@pytest.mark.usefixtures("filled")
def test_it_deletes_everything_of_the_person_and_nothing_of_anyone_else(owner, other_user) -> None:
    mine, theirs = rows_of(owner.pk), rows_of(other_user.pk)
    owner_pk = owner.pk
    for label in (
        "auth.User",
        "conversations.Conversation",
        "conversations.Message",
        "conversations.ShareLink",
        "conversations.IdempotencyKey",
        "conversations.Preference",
        "tasks.Task",
        "tasks.TaskCounter",
        "admin.LogEntry",
        "auth.User_groups",
        "auth.User_user_permissions",
    ):
        assert mine.get(label), f"the test put no {label} of the owner"
    assert len(mine["conversations.Message"]) == 6
    mentioned = mentions_of(owner.pk)

    deleted = account_services.account_delete(user=owner)

    assert still_there(mine) == {}
    assert rows_of(owner_pk) == {}
    assert mentions_of(owner_pk) == {}  # cleared in the others' rows that named them ...
    assert rows_of(other_user.pk) == theirs  # ... which are still there
    if apps.is_installed("accounts"):
        assert mentioned.get("accounts.Account.approved_by") == 1
    assert rows_of(other_user.pk) == theirs and still_there(theirs) == theirs
    assert deleted.user_id == str(owner_pk)
    assert deleted.rows["conversations.Conversation"] == 2
    assert deleted.rows["conversations.Message"] == 6
    assert deleted.rows["tasks.Task"] == 2
    assert deleted.rows["auth.User"] == 1
    assert Group.objects.filter(name="readers").exists()  # shared, not the person's


def test_every_table_of_a_person_is_deleted_by_the_service() -> None:
    """A table keyed by ``user_id`` must be in ``USER_ID_MODELS``; a foreign key to the user must
    cascade (the person's row) or be cleared (someone else's row mentioning them), never block."""
    by_user_id = {model for model, field in user_fields() if not field.is_relation}
    assert by_user_id == set(account_services.USER_ID_MODELS)
    for model, field in user_fields():
        if field.is_relation:
            on_delete = field.remote_field.on_delete
            assert on_delete is models.CASCADE or on_delete in CLEARED, f"{model._meta.label}.{field.name}"
    for model in account_services.CONVERSATION_MODELS:
        to_conversation = [f for f in model._meta.concrete_fields if f.related_model is Conversation]
        assert to_conversation and all(f.remote_field.on_delete is models.CASCADE for f in to_conversation)


@pytest.mark.usefixtures("filled")
@pytest.mark.parametrize("failing", ["conversations.Preference", "auth.User"])
def test_nothing_is_deleted_when_a_later_step_fails(owner, other_user, monkeypatch, failing: str) -> None:
    """One transaction: the conversations are deleted first, so a failure after them must bring them back."""
    mine, theirs = rows_of(owner.pk), rows_of(other_user.pk)
    delete = QuerySet.delete
    failing_model = apps.get_model(failing)

    def delete_or_fail(queryset: QuerySet, *args: Any, **kwargs: Any) -> Any:
        if queryset.model is failing_model:
            raise RuntimeError("the database went away")
        return delete(queryset, *args, **kwargs)

    def user_delete_fails(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(QuerySet, "delete", delete_or_fail)
    if failing_model is get_user_model():
        monkeypatch.setattr(failing_model, "delete", user_delete_fails)  # the last step: user.delete()

    with pytest.raises(RuntimeError):
        account_services.account_delete(user=owner)

    assert still_there(mine) == mine
    assert rows_of(owner.pk) == mine and rows_of(other_user.pk) == theirs


def test_staff_may_delete_themselves(owner) -> None:
    owner.is_staff = True
    owner.save(update_fields=["is_staff"])
    account_services.account_delete(user=owner)
    assert not get_user_model().objects.filter(pk=owner.pk).exists()


def test_the_last_superuser_is_not_deleted(django_user_model) -> None:
    admin = django_user_model.objects.create_superuser(username="admin", password="x")
    django_user_model.objects.create_superuser(username="retired", password="x", is_active=False)
    make_conversation(str(admin.pk), messages=2)

    with pytest.raises(ValidationError) as refused:
        account_services.account_delete(user=admin)

    assert refused.value.code == "last_superuser"
    assert refused.value.messages == [account_services.LAST_SUPERUSER]
    assert django_user_model.objects.filter(pk=admin.pk).exists()
    assert Message.objects.filter(user_id=str(admin.pk)).count() == 2


def test_a_superuser_may_go_while_another_remains(django_user_model) -> None:
    admin = django_user_model.objects.create_superuser(username="admin", password="x")
    django_user_model.objects.create_superuser(username="deputy", password="x")
    account_services.account_delete(user=admin)
    assert list(django_user_model.objects.values_list("username", flat=True)) == ["deputy"]


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("", account_services.CONFIRM_EMPTY),
        ("   ", account_services.CONFIRM_EMPTY),
        ("Owner", account_services.CONFIRM_WRONG),
        ("other", account_services.CONFIRM_WRONG),
    ],
)
def test_the_confirmation_must_be_the_username(owner, typed: str, error: str) -> None:
    with pytest.raises(ValidationError) as refused:
        account_services.account_delete_confirmation_clean(user=owner, typed=typed)
    assert refused.value.messages == [error]


def test_the_confirmation_ignores_surrounding_spaces(owner) -> None:
    assert account_services.account_delete_confirmation_clean(user=owner, typed=" owner\n") == "owner"


# --- Defaults of new conversations --------------------------------------------------------


def test_new_conversations_take_the_default_instructions(owner_id, other_id) -> None:
    account_services.preference_save(user_id=owner_id, model="", instructions="Answer in French.")

    start = services.chat_begin(user_id=owner_id, conversation_id=None, text="Hello")
    empty = services.conversation_create(user_id=owner_id)
    theirs = services.chat_begin(user_id=other_id, conversation_id=None, text="Hello")

    assert start.conversation.instructions == "Answer in French."  # read back from the INSERT
    assert Conversation.objects.get(pk=start.conversation.pk).instructions == "Answer in French."
    assert empty.instructions == "Answer in French."
    assert theirs.conversation.instructions == ""
    assert services.options_for(start).instructions == "Answer in French."


def test_a_conversation_keeps_its_instructions_when_the_default_changes(owner_id) -> None:
    account_services.preference_save(user_id=owner_id, model="", instructions="Be brief.")
    start = services.chat_begin(user_id=owner_id, conversation_id=None, text="Hello")
    account_services.preference_save(user_id=owner_id, model="", instructions="Be thorough.")
    assert Conversation.objects.get(pk=start.conversation.pk).instructions == "Be brief."


def test_the_preference_is_one_row_per_person(owner_id) -> None:
    assert account_services.preference_get(user_id=owner_id).pk == owner_id  # unsaved, empty
    assert account_services.preference_get(user_id=owner_id).instructions == ""
    account_services.preference_save(user_id=owner_id, model="", instructions="One")
    account_services.preference_save(user_id=owner_id, model="", instructions="Two")
    assert list(Preference.objects.values_list("user_id", "instructions")) == [(owner_id, "Two")]
