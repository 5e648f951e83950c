from __future__ import annotations

from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "conversations"

    def ready(self) -> None:
        # Registers the JWT scheme with drf-spectacular.
        from conversations.api import schema  # noqa: F401
