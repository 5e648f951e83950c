"""The rules for tasks, shared by every door: the API, the page, the assistant's tools, MCP.

Every function takes the owner's ``user_id`` (the JWT subject, or the signed-in person's),
never a value a model chose: a task of another user is simply not found (issue 13;
contract: "Later features", "the user a tool acts for always comes from the request's
verified identity"). Writes are one transaction each.
"""

from __future__ import annotations

from typing import Literal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from conversations.services import text_reject_unstorable
from tasks.models import TASK_DESCRIPTION_MAX_LENGTH, TASK_TITLE_MAX_LENGTH, Task, TaskCounter

Status = Literal["all", "pending", "completed"]
STATUSES: tuple[Status, ...] = ("all", "pending", "completed")
# The most tasks one list returns (the API, list_tasks): a person's list, not a data dump.
LIST_MAX = 500


class TaskNotFound(Exception):
    """No task with this number for this user (404; a tool answers "task N not found").

    Args:
        number: the number asked for.
    """

    def __init__(self, number: object) -> None:
        super().__init__(f"Task {number} not found")
        self.number = number


def task_title_clean(title: object) -> str:
    """A task title as given by a person or a model, trimmed.

    Raises:
        ValidationError: not text, over 200 characters as given, blank, NUL or lone surrogates.
    """
    if not isinstance(title, str):
        raise ValidationError("Title must be text", code="invalid")
    # The panel shows these translated (conversations/page_i18n.py); the API and the tools, as they are.
    if len(title) > TASK_TITLE_MAX_LENGTH:
        raise ValidationError(
            gettext_noop("Title is too long: the limit is %(limit)s characters"),
            code="max_length",
            params={"limit": TASK_TITLE_MAX_LENGTH},
        )
    title = title.strip()
    if not title:
        raise ValidationError(gettext_noop("Title cannot be empty"), code="blank")
    text_reject_unstorable(title, what=gettext_noop("Title"))
    return title


def task_description_clean(description: object) -> str:
    """A task description (may be empty), trimmed.

    Raises:
        ValidationError: not text, over 2000 characters as given, NUL or lone surrogates.
    """
    if description is None:
        return ""
    if not isinstance(description, str):
        raise ValidationError("Description must be text", code="invalid")
    if len(description) > TASK_DESCRIPTION_MAX_LENGTH:
        raise ValidationError(
            f"Description is too long: the limit is {TASK_DESCRIPTION_MAX_LENGTH} characters", code="max_length"
        )
    description = description.strip()
    text_reject_unstorable(description, what="Description")
    return description


def task_list(*, user_id: str, status: Status = "all") -> list[Task]:
    """The user's tasks, by number (oldest first), at most ``LIST_MAX``.

    Args:
        status: ``all``, ``pending`` (not completed) or ``completed``.

    Raises:
        ValidationError: another status.
    """
    if status not in STATUSES:
        raise ValidationError("status must be one of all, pending, completed", code="invalid")
    tasks = Task.objects.filter(user_id=user_id)
    if status != "all":
        tasks = tasks.filter(completed=status == "completed")
    return list(tasks.order_by("number")[:LIST_MAX])


def task_get_for_user(*, user_id: str, number: int) -> Task:
    """The user's task ``number``.

    Raises:
        TaskNotFound: no such task for this user (someone else's is the same answer).
    """
    task = Task.objects.filter(user_id=user_id, number=number).first() if _is_number(number) else None
    if task is None:
        raise TaskNotFound(number)
    return task


def _is_number(number: object) -> bool:
    # Beyond PostgreSQL's integer a lookup would fail instead of finding nothing.
    return isinstance(number, int) and not isinstance(number, bool) and 1 <= number <= 2_147_483_647


@transaction.atomic
def task_create(*, user_id: str, title: str, description: str | None = "") -> Task:
    """Add a task; it takes the user's next number (never a number used before).

    Raises:
        ValidationError: a bad title or description (``task_title_clean``, ``task_description_clean``).
    """
    title = task_title_clean(title)
    description = task_description_clean(description)
    # The counter row is locked until commit: two adds at once get 4 and 5, never 4 twice.
    counter, _ = TaskCounter.objects.select_for_update().get_or_create(user_id=user_id)
    counter.last_number += 1
    counter.save(update_fields=["last_number"])
    now = timezone.now()
    return Task.objects.create(
        user_id=user_id,
        number=counter.last_number,
        title=title,
        description=description,
        created_at=now,
        updated_at=now,
    )


@transaction.atomic
def task_update(
    *,
    user_id: str,
    number: int,
    title: str | None = None,
    description: str | None = None,
    completed: bool | None = None,
) -> Task:
    """Change the given fields of the user's task ``number`` (``None`` leaves a field as it is).

    Raises:
        TaskNotFound: no such task for this user.
        ValidationError: a bad title or description, or ``completed`` not a boolean.
    """
    changes: dict[str, object] = {}
    if title is not None:
        changes["title"] = task_title_clean(title)
    if description is not None:
        changes["description"] = task_description_clean(description)
    if completed is not None:
        if not isinstance(completed, bool):
            raise ValidationError("completed must be true or false", code="invalid")
        changes["completed"] = completed
    task = (
        Task.objects.select_for_update().filter(user_id=user_id, number=number).first() if _is_number(number) else None
    )
    if task is None:
        raise TaskNotFound(number)
    if changes:
        for field, value in changes.items():
            setattr(task, field, value)
        task.updated_at = timezone.now()
        task.save(update_fields=[*changes, "updated_at"])
    return task


def task_complete(*, user_id: str, number: int) -> Task:
    """Mark the user's task ``number`` completed (already completed: unchanged).

    Raises:
        TaskNotFound: no such task for this user.
    """
    return task_update(user_id=user_id, number=number, completed=True)


@transaction.atomic
def task_delete(*, user_id: str, number: int) -> Task:
    """Delete the user's task ``number``; returns it as it was. Its number is not given again.

    Raises:
        TaskNotFound: no such task for this user.
    """
    task = (
        Task.objects.select_for_update().filter(user_id=user_id, number=number).first() if _is_number(number) else None
    )
    if task is None:
        raise TaskNotFound(number)
    Task.objects.filter(pk=task.pk).delete()
    return task


def task_find_by_words(*, user_id: str, words: str) -> list[Task]:
    """The user's tasks whose title contains ``words`` (case-insensitive), by number: "the meeting task".

    Returns at most a few; an empty ``words`` finds nothing.
    """
    words = words.strip()
    if not words:
        return []
    return list(Task.objects.filter(user_id=user_id, title__icontains=words).order_by("number")[:10])
