"""``python manage.py ensure_demo_user``: a user to try the chat with on a fresh machine."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Create (or reset the password of) a demo user and print how to sign in."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="demo")
        parser.add_argument("--password", default="demo-password")
        parser.add_argument("--staff", action="store_true", help="also let the user into the admin")
        parser.add_argument(
            "--base-url", default="http://127.0.0.1:8000", help="where the chat is served, for the sign-in hint"
        )

    def handle(self, *args: Any, username: str, password: str, staff: bool, base_url: str, **options: Any) -> None:
        user, created = get_user_model().objects.get_or_create(username=username)
        user.set_password(password)
        if staff:
            user.is_staff = user.is_superuser = True
        user.save()
        verb = "Created" if created else "Updated"
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb} demo user: sign in at {base_url.rstrip('/')}/accounts/login/ "
                f"as {username!r} with password {password!r} (user id {user.pk})."
            )
        )
