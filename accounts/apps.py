from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class AccountsConfig(AppConfig):
    """Who may sign up, and the approval of new accounts (issue 16); sign-in itself is django-allauth's."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"
    # allauth's own app ("account") is "Accounts" in the admin already.
    verbose_name = gettext_lazy("Sign-up approval")

    def ready(self) -> None:
        # Every new user gets its Account row; the approval cache follows the rows.
        # drf: registers the session scheme with drf-spectacular.
        from accounts import drf, signals  # noqa: F401
