from __future__ import annotations

from django.apps import AppConfig


class TasksConfig(AppConfig):
    """The user's tasks and the five tools that manage them (issue 13; contract: "Later features")."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "tasks"
