"""Tasks: what a person asks the assistant to keep for them (contract: "Later features").

Rules about who may read or write them live in ``tasks.services``; the models hold
fields, constraints and indexes only.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual
from django.utils import timezone

from conversations.models import USER_ID_MAX_LENGTH

TASK_TITLE_MAX_LENGTH = 200
TASK_DESCRIPTION_MAX_LENGTH = 2000


class Task(models.Model):
    """One task of one user (the JWT subject ``user_id``).

    ``number`` is what a person says ("task 3"): per user 1, 2, 3..., never reused for that
    user, even after a delete (``TaskCounter``). The API's ``task_id`` is this number.
    """

    id = models.BigAutoField(primary_key=True)
    user_id = models.CharField(max_length=USER_ID_MAX_LENGTH)
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=TASK_TITLE_MAX_LENGTH)
    description = models.TextField(blank=True, default="")
    completed = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["user_id", "number"]
        constraints = [
            # "task 3" names one task of a user; this unique index is also the lookup by
            # number and the list of all of a user's tasks in order.
            models.UniqueConstraint(fields=["user_id", "number"], name="task_user_number_unique"),
            models.CheckConstraint(condition=Q(number__gte=1), name="task_number_positive"),
            models.CheckConstraint(condition=~Q(title=""), name="task_title_not_empty"),
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("description"), TASK_DESCRIPTION_MAX_LENGTH),
                name="task_description_length",
            ),
        ]
        indexes = [
            # "This user's pending (or completed) tasks, in order" (list_tasks with a status).
            models.Index(fields=["user_id", "completed", "number"], name="task_user_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.number}. {self.title}"


class TaskCounter(models.Model):
    """The last task number given to a user, so numbers are never reused (a deleted task 3
    stays gone; the next task is 4). Locked with ``SELECT ... FOR UPDATE`` while a task is added."""

    user_id = models.CharField(max_length=USER_ID_MAX_LENGTH, primary_key=True)
    last_number = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.user_id}: {self.last_number}"
