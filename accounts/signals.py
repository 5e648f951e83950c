"""Every new user gets its Account row (``services.account_create``); the approval cache follows the rows.

Users come from many places (sign-up, the admin, ``createsuperuser``, ``ensure_demo_user``, single
sign-on later), so the row is made where they all pass: the user's first save.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts import approval, services
from accounts.models import Account


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="accounts_user_created")
def _user_created(sender: Any, instance: Any, created: bool, raw: bool, **kwargs: Any) -> None:
    if created and not raw:
        services.account_create(user=instance)


@receiver(post_save, sender=Account, dispatch_uid="accounts_account_saved")
def _account_saved(sender: Any, instance: Account, **kwargs: Any) -> None:
    approval.remember(instance.user_id, approved=instance.is_approved)


@receiver(post_delete, sender=Account, dispatch_uid="accounts_account_deleted")
def _account_deleted(sender: Any, instance: Account, **kwargs: Any) -> None:
    approval.remember(instance.user_id, approved=False)
