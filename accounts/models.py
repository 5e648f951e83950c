"""An account's standing beside Django's user: approved, or awaiting approval (issue 16)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Account(models.Model):
    """One per user, created with it (``accounts.signals``).

    ``approved_at`` is empty while a person who signed up with ``SIGNUP_MODE=approval`` waits for a
    staff member; every other account (made in the admin, by ``createsuperuser`` or
    ``ensure_demo_user``, signed up in ``open`` mode, or older than this table) is approved when made.
    Approval is one way: to shut someone out, a staff member makes the user inactive or deletes it.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="account"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        indexes = [
            # The admin's "awaiting approval" list: the few waiting rows, not every account.
            models.Index(fields=["user"], name="accounts_awaiting_idx", condition=Q(approved_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"account of user {self.user_id}"

    @property
    def is_approved(self) -> bool:
        return self.approved_at is not None
